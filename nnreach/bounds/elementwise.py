"""Linear relaxations and exact ranges of the functions of :class:`~nnreach.network.ops.Unary` (sin,
cos, exp, abs, floor, ceil, powers with a constant exponent) and of products of two tensors
(:class:`~nnreach.network.ops.Product`), on intervals.

These functions need not be monotone, so lines may have negative slopes; the analyses that use them
(back-substitution, forward symbolic bounds, interval images) pick each line by the sign of the
coefficient it meets, never by the slope's sign.

* A function ``f`` of :class:`Unary` on ``[l, u]`` gets two parallel lines with the chord's slope
  ``k`` (for sin and cos over a period or more, slope 0): the intercepts are the minimum and maximum of
  ``g(x) = f(x) - k x`` over ``[l, u]``. ``f`` is smooth on the interval (or, for abs, has a kink at 0),
  so ``g`` takes its extremes at ``l``, ``u``, a kink, or a point where ``f'(x) = k``, which each
  function solves in closed form (:func:`_stationary`); evaluating ``g`` at those points gives the
  exact extremes, up to rounding, which :func:`_widen` covers. For a convex ``f`` these lines are the
  chord above and the tangent parallel to it below. With slope 0 the intercepts are the exact range.
* Floor and ceil jump at the integers: ``g`` for floor is ``n - k x`` on each ``[n, n + 1)``, so its
  supremum is at ``l`` or an integer and its infimum at ``u`` or just left of an integer; the values
  at the integers are linear in ``n``, so only the first and last integers of the interval count.
  ``ceil(x) = -floor(-x)``.
* Powers ``x ** p``: for an integer ``p >= 0`` on any interval; for other ``p`` only where ``x ** p``
  is real and finite (``l >= 0``, and ``0`` not in ``[l, u]`` for ``p < 0``): elsewhere a one-line
  :class:`~nnreach.errors.UnsupportedError`, as for any interval on which a line would be infinite
  (``exp`` of large inputs).
* A product ``z = x y`` on a box (McCormick): ``z >= l_y x + l_x y - l_x l_y`` and ``z >= u_y x + u_x y -
  u_x u_y``; ``z <= u_y x + l_x y - l_x u_y`` and ``z <= l_y x + u_x y - u_x l_y``. Their averages are sound
  too, and have the same slopes ``(m_y, m_x)`` (the midpoints) above and below: those are used.

Shapes: bounds are arrays of one shape; every line array has that shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UnsupportedError
from ..network.ops import Unary
from .relaxations import Relaxation

TWO_PI = 2 * np.pi


def _widen(k, lo_bias, hi_bias, l, u, f_scale) -> tuple[np.ndarray, np.ndarray]:
    """Intercepts moved apart by the rounding of ``f(x) - k x`` near the values involved."""
    scale = 1.0 + f_scale + np.abs(k) * (np.abs(l) + np.abs(u)) + np.abs(lo_bias) + np.abs(hi_bias)
    eps = 64 * np.finfo(np.float64).eps * scale
    return lo_bias - eps, hi_bias + eps


def _pow_real(p: float, l: np.ndarray, u: np.ndarray) -> None:
    """Raise unless ``x ** p`` is real and finite on every ``[l, u]``."""
    integer = float(p).is_integer()
    if p < 0 and np.any((l <= 0) & (u >= 0)):
        raise UnsupportedError(f"Pow {p:g} of an input whose bounds contain 0 (there it is infinite)")
    if not integer and np.any(l < 0):
        raise UnsupportedError(f"Pow {p:g} of an input whose bounds reach below 0 (there it is not real)")


def _stationary(op: Unary, k: np.ndarray, l: np.ndarray, u: np.ndarray) -> list[np.ndarray]:
    """Points of ``[l, u]`` where ``f(x) - k x`` may have an interior extreme: where ``f'(x) = k`` and
    kinks; arrays of the shape of ``l``, NaN where there is none."""
    name = op.name
    if name in ("Sin", "Cos"):   # f'(x) = cos(x + s): x = +-arccos(k) - s + 2 pi n; [l, u] holds one n at most
        shift = 0.0 if name == "Sin" else np.pi / 2
        base = np.arccos(np.clip(k, -1.0, 1.0))
        points = []
        for t in (base - shift, -base - shift):
            first = t + TWO_PI * np.ceil((l - t) / TWO_PI)
            points += [first, first - TWO_PI, first + TWO_PI]   # the neighbours absorb the rounding of ceil
        return points
    if name == "Exp":            # e^x = k
        with np.errstate(divide="ignore", invalid="ignore"):
            return [np.where(k > 0, np.log(np.where(k > 0, k, 1.0)), np.nan)]
    if name == "Abs":
        return [np.zeros_like(l)]
    if name == "Pow":            # p x^(p - 1) = k
        p = op.exponent
        if p in (0.0, 1.0):       # constant or identity: f(x) - k x is linear
            return []
        q, r = p - 1.0, k / p
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            root = np.abs(r) ** (1.0 / q)
            if float(q).is_integer() and int(q) % 2:     # odd q: one real root, of the sign of r
                return [np.sign(r) * root]
            if float(q).is_integer():                    # even q: +-root where r > 0
                return [np.where(r > 0, root, np.nan), np.where(r > 0, -root, np.nan)]
            return [np.where(r > 0, root, np.nan)]       # x >= 0 only
    raise UnsupportedError(f"no linear relaxation for {op.describe()}")


def _floor_lines(l: np.ndarray, u: np.ndarray) -> tuple:
    """Slope and intercepts of parallel lines around ``floor`` on ``[l, u]``."""
    fl, fu = np.floor(l), np.floor(u)
    k = np.where(u > l, (fu - fl) / np.maximum(u - l, 1e-300), 0.0)
    first, last = np.ceil(l), fu                       # integers in [l, u] (first > last: none)
    has = first <= last
    hi = np.maximum(fl - k * l, np.where(has, np.maximum(first * (1 - k), last * (1 - k)), -np.inf))
    after, inside = fl + 1, fu > l                     # integers in (l, u]: the jumps; left limits n - 1
    lo = np.minimum(fu - k * u, np.where(after <= u, (after - 1) - k * after, np.inf))
    lo = np.minimum(lo, np.where(inside, (fu - 1) - k * fu, np.inf))
    return k, lo, hi


def relax_unary(op: Unary, l: np.ndarray, u: np.ndarray, flat: bool = False) -> Relaxation:
    """Parallel lines below and above ``op`` on ``[l, u]`` (``l <= u``); with ``flat``, of slope 0 (the
    range; floor and ceil take their own slope)."""
    l, u = np.asarray(l, np.float64), np.asarray(u, np.float64)
    if op.name == "Pow":
        _pow_real(op.exponent, l, u)
    k, lo, hi = _step_lines(op, l, u) if op.name in ("Floor", "Ceil") else _smooth_lines(op, l, u, flat)
    k, lo, hi = _finite(f"{op.describe()} has no finite linear bounds on the bounds of its input", k, lo, hi)
    return Relaxation(k, lo, k.copy(), hi)


def _step_lines(op: Unary, l: np.ndarray, u: np.ndarray) -> tuple:
    """Slope and widened intercepts of the lines around floor or ceil on ``[l, u]``."""
    a, b = (l, u) if op.name == "Floor" else (-u, -l)
    k, lo, hi = _floor_lines(a, b)
    if op.name == "Ceil":           # ceil(x) = -floor(-x): the lines turn over
        lo, hi = -hi, -lo
    return (k, *_widen(k, lo, hi, l, u, np.abs(l) + np.abs(u)))


def _smooth_lines(op: Unary, l: np.ndarray, u: np.ndarray, flat: bool) -> tuple:
    """Slope and widened intercepts of the lines around a smooth (or, for abs, kinked) ``op`` on ``[l, u]``."""
    with np.errstate(over="ignore", invalid="ignore"):
        fl, fu = op.forward(l), op.forward(u)
        k = np.where(u > l, (fu - fl) / np.maximum(u - l, 1e-300), 0.0)
        if op.name in ("Sin", "Cos"):
            k = np.where(u - l >= TWO_PI, 0.0, k)
        if flat:
            k = np.zeros_like(k)
        values = [fl - k * l, fu - k * u]
        for x in _stationary(op, k, l, u):
            inside = (x >= l) & (x <= u)
            values.append(np.where(inside, op.forward(np.where(inside, x, l)) - k * np.where(inside, x, l), np.nan))
        stack = np.stack(values)
        lo, hi = np.nanmin(stack, axis=0), np.nanmax(stack, axis=0)
        return (k, *_widen(k, lo, hi, l, u, np.abs(fl) + np.abs(fu)))


def _finite(message: str, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """``arrays``, unless one holds an infinite or NaN entry: then an UnsupportedError with ``message``."""
    if not all(np.all(np.isfinite(v)) for v in arrays):
        raise UnsupportedError(message)
    return arrays


def unary_range(op: Unary, l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of ``op`` over ``[l, u]``: the exact range, widened by rounding (lines of slope 0)."""
    if op.name in ("Floor", "Ceil"):
        return op.forward(np.asarray(l, np.float64)), op.forward(np.asarray(u, np.float64))
    r = relax_unary(op, l, u, flat=True)
    return r.lo_bias, r.hi_bias


@dataclass(frozen=True, slots=True)
class ProductRelaxation:
    """Planes around ``z = x y``: ``x_slope x + y_slope y + lo_bias <= z <= x_slope x + y_slope y + hi_bias``;
    every array has the shape of the bounds."""

    x_slope: np.ndarray
    y_slope: np.ndarray
    lo_bias: np.ndarray
    hi_bias: np.ndarray


def relax_product(lx: np.ndarray, ux: np.ndarray, ly: np.ndarray, uy: np.ndarray) -> ProductRelaxation:
    """The averaged McCormick planes of ``x y`` on ``[lx, ux] x [ly, uy]``."""
    lo = -(lx * ly + ux * uy) / 2
    hi = -(lx * uy + ux * ly) / 2
    scale = 1.0 + np.abs(lx * ly) + np.abs(ux * uy) + np.abs(lx * uy) + np.abs(ux * ly)
    eps = 64 * np.finfo(np.float64).eps * scale
    return ProductRelaxation(*_finite("a product of tensors has no finite linear bounds on the bounds of its inputs",
                                      (ly + uy) / 2, (lx + ux) / 2, lo - eps, hi + eps))


def product_range(lx, ux, ly, uy) -> tuple[np.ndarray, np.ndarray]:
    """The exact range of ``x y`` over the box (the extremes are at its corners)."""
    corners = np.stack([lx * ly, lx * uy, ux * ly, ux * uy])
    return corners.min(axis=0), corners.max(axis=0)
