"""Interval arithmetic on numpy arrays with outward rounding, for enclosing derivatives over boxes.

An :class:`Interval` holds ``lo`` and ``hi`` arrays of one shape (any shape; scalars too) and encloses
every real number between them. Every operation rounds its result outward by one ulp (``np.nextafter``)
on each side, which covers the rounding of the float operation (at most half an ulp for + - * /, and
the libm error of sin, cos, exp, ... which is below one ulp for numpy's implementations), so results
enclose the exact real values. The functions at the bottom (``sin``, ``cos``, ...) are what
:mod:`.expr` hands to ``sympy.lambdify`` so that compiled expressions run on intervals.
"""

from __future__ import annotations

import numpy as np

_INF = np.inf


def _down(x):
    return np.nextafter(x, -_INF)


def _up(x):
    return np.nextafter(x, _INF)


class Interval:
    """The box ``[lo, hi]`` (elementwise); ``lo`` and ``hi`` are float arrays of the same shape."""

    __slots__ = ("lo", "hi")
    __array_priority__ = 1000  # numpy scalars and arrays defer to our reflected operators

    def __init__(self, lo, hi=None):
        lo = np.asarray(lo, dtype=np.float64)
        hi = lo if hi is None else np.asarray(hi, dtype=np.float64)
        self.lo, self.hi = np.broadcast_arrays(lo, hi)

    @staticmethod
    def of(x) -> "Interval":
        return x if isinstance(x, Interval) else Interval(x)

    @staticmethod
    def _rounded(lo: np.ndarray, hi: np.ndarray) -> "Interval":
        """``[lo, hi]`` rounded outward; lo and hi are float arrays of one shape (no checks: the fast path
        of the operators)."""
        out = object.__new__(Interval)
        out.lo, out.hi = _down(lo), _up(hi)
        return out

    def __repr__(self):
        return f"Interval({self.lo!r}, {self.hi!r})"

    @property
    def mid(self) -> np.ndarray:
        return (self.lo + self.hi) / 2

    @property
    def mag(self) -> np.ndarray:
        """``max |x|`` over the interval."""
        return np.maximum(np.abs(self.lo), np.abs(self.hi))

    def __add__(self, other):
        o = Interval.of(other)
        return Interval._rounded(self.lo + o.lo, self.hi + o.hi)

    __radd__ = __add__

    def __neg__(self):
        return Interval(-self.hi, -self.lo)

    def __pos__(self):
        return self

    def __sub__(self, other):
        o = Interval.of(other)
        return Interval._rounded(self.lo - o.hi, self.hi - o.lo)

    def __rsub__(self, other):
        return Interval.of(other) - self

    def __mul__(self, other):
        o = Interval.of(other)
        a, b, c, d = self.lo * o.lo, self.lo * o.hi, self.hi * o.lo, self.hi * o.hi
        # fmin/fmax skip a NaN (0 * inf): 0 is in the factor then, so 0 * o is covered by the others;
        # only when all four are NaN (0 * [inf, inf]) is the product 0
        lo, hi = np.fmin(np.fmin(a, b), np.fmin(c, d)), np.fmax(np.fmax(a, b), np.fmax(c, d))
        return Interval._rounded(np.where(np.isnan(lo), 0.0, lo), np.where(np.isnan(hi), 0.0, hi))

    __rmul__ = __mul__

    def reciprocal(self) -> "Interval":
        if np.any((self.lo <= 0) & (self.hi >= 0)):
            return Interval(np.full(self.lo.shape, -_INF), np.full(self.lo.shape, _INF))
        return Interval._rounded(1.0 / self.hi, 1.0 / self.lo)

    def __truediv__(self, other):
        return self * Interval.of(other).reciprocal()

    def __rtruediv__(self, other):
        return Interval.of(other) * self.reciprocal()

    def __pow__(self, k):
        if isinstance(k, Interval) or not float(k).is_integer():
            if float(k) == 0.5:
                return sqrt(self)
            return exp(log(self) * k)
        k = int(k)
        if k < 0:
            return (self ** (-k)).reciprocal()
        if k == 0:
            return Interval(np.ones_like(self.lo))
        a, b = self.lo ** k, self.hi ** k
        if k % 2:
            return Interval._rounded(a, b)
        lo = np.where((self.lo <= 0) & (self.hi >= 0), 0.0, np.minimum(a, b))
        return Interval(_down(lo), _up(np.maximum(a, b)))


def _periodic(x: Interval, fn, peak: float) -> Interval:
    """``fn`` (sin or cos shifted so that its maxima are at ``peak + 2 pi k``) over ``x``."""
    lo, hi = x.lo, x.hi
    a, b = fn(lo), fn(hi)
    out_lo, out_hi = np.minimum(a, b), np.maximum(a, b)
    two_pi = 2 * np.pi
    # a maximum peak + 2 pi k or a minimum peak + pi + 2 pi k inside [lo, hi] (with a little slack
    # for the rounding of the float pi: a spurious extremum only widens the result)
    k_max = np.ceil((lo - peak) / two_pi - 1e-12)
    has_max = peak + two_pi * k_max <= hi + 1e-12
    k_min = np.ceil((lo - peak - np.pi) / two_pi - 1e-12)
    has_min = peak + np.pi + two_pi * k_min <= hi + 1e-12
    wide = (hi - lo) >= two_pi
    out_hi = np.where(has_max | wide, 1.0, _up(out_hi))
    out_lo = np.where(has_min | wide, -1.0, _down(out_lo))
    return Interval(np.maximum(out_lo, -1.0), np.minimum(out_hi, 1.0))


def sin(x):
    if not isinstance(x, Interval):
        return np.sin(x)
    return _periodic(x, np.sin, np.pi / 2)


def cos(x):
    if not isinstance(x, Interval):
        return np.cos(x)
    return _periodic(x, np.cos, 0.0)


def tan(x):
    if not isinstance(x, Interval):
        return np.tan(x)
    return sin(x) / cos(x)


def _monotone(fn):
    def f(x):
        if not isinstance(x, Interval):
            return fn(x)
        return Interval._rounded(fn(x.lo), fn(x.hi))
    f.__name__ = fn.__name__
    return f


exp = _monotone(np.exp)
tanh = _monotone(np.tanh)
atan = _monotone(np.arctan)


def sqrt(x):
    if not isinstance(x, Interval):
        return np.sqrt(x)
    return Interval(np.maximum(_down(np.sqrt(np.maximum(x.lo, 0.0))), 0.0), _up(np.sqrt(x.hi)))


def log(x):
    if not isinstance(x, Interval):
        return np.log(x)
    return Interval._rounded(np.log(x.lo), np.log(x.hi))


def Abs(x):
    if not isinstance(x, Interval):
        return np.abs(x)
    lo = np.where((x.lo <= 0) & (x.hi >= 0), 0.0, np.minimum(np.abs(x.lo), np.abs(x.hi)))
    return Interval(lo, x.mag)


MODULE = {"sin": sin, "cos": cos, "tan": tan, "exp": exp, "tanh": tanh, "atan": atan, "sqrt": sqrt,
          "log": log, "Abs": Abs}
"""Name -> function table for ``sympy.lambdify(..., modules=[MODULE])`` on intervals."""
