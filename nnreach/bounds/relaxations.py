"""Linear relaxations of elementwise activations on an interval ``[l, u]``, and of max pooling on a box.

A relaxation is a pair of lines with ``lo_slope x + lo_bias <= f(x) <= hi_slope x + hi_bias`` for every
``x`` in ``[l, u]``. All activations here are non-decreasing, and every slope returned is >= 0, which
the forward (symbolic interval) mode relies on. Generic code (:mod:`.linear`) turns relaxations into
bounds; an activation only has to say how it is relaxed.

* ReLU, leaky ReLU: the upper line is the chord; the lower line has slope 1 or alpha, chosen by the
  smaller area (``"adaptive"``, DeepPoly) or the chord's slope (``"parallel"``, CROWN/Fast-Lin).
* Clip (satlin, satlins, hard tanh): one knee inside is a ReLU shape (rotated); with both knees inside,
  two parallel lines with the chord slope, offset to the extremes of ``f(x) - k x`` at the knees.
* Sigmoid, tanh (S-shaped, convex below 0, concave above): on the convex side the chord is the upper
  line and the tangent at the midpoint the lower one (mirrored on the concave side); across 0, the
  lower line is the tangent at the point ``t_l <= 0`` whose tangent passes through ``(u, f(u))`` and
  the upper one the tangent at ``t_u >= 0`` through ``(l, f(l))`` (see the line families below). Where
  no such point exists the chord is that line: no lower tangent means ``f'(l)`` exceeds the chord's
  slope, and as ``f'`` rises up to 0 and falls after it, ``f`` minus the chord rises from 0 at ``l``
  and then falls back to 0 at ``u``, never below it (mirrored above).

* Max pooling (:func:`relax_max_pool`): each output ``y = max_i x_i`` of a window is bounded through one
  entry. Below, ``y >= x_j`` for the entry ``j`` with the largest lower bound. Above, with ``k`` the entry
  with the largest upper bound and ``m`` the largest upper bound of the others, ``y <= max(x_k, m)``;
  that is convex in ``x_k``, so its chord on ``[l_k, u_k]`` is above it: the line from
  ``(l_k, max(l_k, m))`` to ``(u_k, u_k)``. It is ``x_k`` itself when ``l_k >= m`` (one entry dominates
  the window: exact) and never above the constant ``u_k = max_i u_i``.

Every intercept is widened by a few ulps of the values involved so that rounding cannot cut into ``f``.

* Line families (:func:`line_family`, alpha-CROWN): where a relaxation line is not forced, it is one
  of a family that stays sound for every parameter ``alpha`` in [0, 1], so an optimiser may choose
  it. A *pivot* line turns about a point of ``f`` where ``f`` has a knee: the lower ReLU line through
  the origin with any slope in [0, 1] (``[a, 1]`` for leaky ReLU), the lower (upper) clip line through
  its low (high) knee with a slope in [0, 1] when only that knee is inside, and with both inside a
  slope up to that of the chord from the knee to the far end of the interval (the clip is concave right
  of its low knee and convex left of its high one). A *tangent* line touches an S-shaped ``f`` at a
  point ``t`` of an interval: the lower line of a convex interval (``u <= 0``) at any ``t`` in
  ``[l, u]``, the upper line of a concave one (``l >= 0``); across 0 the lower tangent at ``t`` in
  ``[l, t_l]``, where the tangent at ``t_l <= 0`` passes through ``(u, f(u))`` (below ``f`` on the convex
  side, below it at 0 and at ``u``, so on the concave side too), and the upper tangent at ``t`` in
  ``[t_u, u]`` symmetrically. Each family also gives the derivatives of slope and intercept in
  ``alpha``, which the optimiser's gradients need.
* Max pooling's family (:func:`pool_family`): below an output, any convex combination of its window's
  entries (``max_i x_i >= sum_i w_i x_i`` for weights on the simplex), the weights given by one
  parameter in [0, 1] per entry (normalised; see :class:`PoolFamily`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UnsupportedError
from ..network.ops import Activation, Clip, LeakyRelu, Relu, Sigmoid, Tanh

LOWER_SLOPES = ("adaptive", "parallel")


@dataclass(frozen=True, slots=True)
class Relaxation:
    """Lines bounding ``f`` on ``[l, u]``; every array has the shape of ``l``."""

    lo_slope: np.ndarray
    lo_bias: np.ndarray
    hi_slope: np.ndarray
    hi_bias: np.ndarray


def _widen(lo_slope, lo_bias, hi_slope, hi_bias, l, u) -> Relaxation:
    scale = 1.0 + np.abs(l) + np.abs(u) + np.abs(lo_bias) + np.abs(hi_bias)
    eps = 8 * np.finfo(np.float64).eps * scale
    return Relaxation(lo_slope, lo_bias - eps, hi_slope, hi_bias + eps)


def _relu_like(alpha: float, l, u, lower: str) -> tuple:
    """Leaky ReLU with slope ``alpha`` in [0, 1) below 0."""
    width = np.maximum(u - l, 1e-300)
    cross = (l < 0) & (u > 0)
    active, inactive = l >= 0, u <= 0
    chord = (u - alpha * l) / width
    hi_slope = np.where(active, 1.0, np.where(inactive, alpha, chord))
    hi_bias = np.where(cross, (alpha - chord) * l, 0.0)  # chord through (l, alpha l)
    if lower == "adaptive":
        lo_cross = np.where(u > -l, 1.0, alpha)
    else:
        lo_cross = chord
    lo_slope = np.where(active, 1.0, np.where(inactive, alpha, lo_cross))
    return lo_slope, np.zeros_like(l), hi_slope, hi_bias


def _clip(op: Clip, l, u, lower: str) -> tuple:
    a, b = op.lo, op.hi
    f = op.forward
    width = np.maximum(u - l, 1e-300)
    k = np.where(u > l, (f(u) - f(l)) / width, 0.0)
    # Parallel lines with the chord slope: offsets are the extremes of f(x) - k x at l, u and the knees.
    cands = np.stack([f(x) - k * x for x in (l, u, np.clip(a, l, u), np.clip(b, l, u))])
    lo_s, lo_b, hi_s, hi_b = k, cands.min(axis=0), k.copy(), cands.max(axis=0)
    # One knee inside: a (rotated) ReLU shape; use the triangle with an adaptive or parallel side.
    low_knee = (l < a) & (u > a) & (u <= b)     # convex: chord above, line through (a, a) below
    s = np.where(u - a > a - l, 1.0, 0.0) if lower == "adaptive" else k
    lo_s = np.where(low_knee, s, lo_s)
    lo_b = np.where(low_knee, a - s * a, lo_b)
    hi_s = np.where(low_knee, k, hi_s)
    hi_b = np.where(low_knee, f(l) - k * l, hi_b)
    high_knee = (l >= a) & (l < b) & (u > b)    # concave: chord below, line through (b, b) above
    s = np.where(b - l > u - b, 1.0, 0.0) if lower == "adaptive" else k
    hi_s = np.where(high_knee, s, hi_s)
    hi_b = np.where(high_knee, b - s * b, hi_b)
    lo_s = np.where(high_knee, k, lo_s)
    lo_b = np.where(high_knee, f(l) - k * l, lo_b)
    return lo_s, lo_b, hi_s, hi_b


def _s_shaped(op: Activation, l, u, tangents: tuple | None = None) -> tuple:
    """Slopes and intercepts of the lines of an S-shaped ``op`` on ``[l, u]``; ``tangents``: what
    :func:`_cross_tangents` gives on these bounds, if known."""
    (fl, dfl), fu = op.value_and_derivative(l), op.forward(u)
    width = np.maximum(u - l, 1e-300)
    chord = np.where(u > l, (fu - fl) / width, dfl)
    m = (l + u) / 2
    fm, tan_s = op.value_and_derivative(m)
    tan_b = fm - tan_s * m
    t_lo, ok_lo, t_hi, ok_hi = tangents if tangents is not None else _cross_tangents(op, l, u)
    (f_lo, df_lo), (f_hi, df_hi) = op.value_and_derivative(t_lo), op.value_and_derivative(t_hi)
    cross_lo_s = np.where(ok_lo, df_lo, chord)      # across 0: the tangent through (u, f(u)), else the chord
    cross_lo_b = np.where(ok_lo, f_lo - df_lo * t_lo, fl - chord * l)
    cross_hi_s = np.where(ok_hi, df_hi, chord)      # the tangent through (l, f(l)), else the chord
    cross_hi_b = np.where(ok_hi, f_hi - df_hi * t_hi, fl - chord * l)
    convex, concave = u <= 0, l >= 0
    lo_s = np.where(convex, tan_s, np.where(concave, chord, cross_lo_s))
    lo_b = np.where(convex, tan_b, np.where(concave, fl - chord * l, cross_lo_b))
    hi_s = np.where(convex, chord, np.where(concave, tan_s, cross_hi_s))
    hi_b = np.where(convex, fl - chord * l, np.where(concave, tan_b, cross_hi_b))
    return lo_s, lo_b, hi_s, hi_b


def relax(op: Activation, l: np.ndarray, u: np.ndarray, lower: str = "adaptive") -> Relaxation:
    """Sound lines below and above ``op`` on ``[l, u]`` (arrays of one shape, ``l <= u``).

    Args:
        lower: how ReLU-shaped pieces choose the lower line: ``"adaptive"`` or ``"parallel"``.
    """
    if isinstance(op, Relu):
        parts = _relu_like(0.0, l, u, lower)
    elif isinstance(op, LeakyRelu):
        if not 0 <= op.alpha <= 1:
            raise UnsupportedError(f"leaky ReLU with slope {op.alpha} outside [0, 1] has no relaxation here")
        parts = _relu_like(op.alpha, l, u, lower)
    elif isinstance(op, Clip):
        parts = _clip(op, l, u, lower)
    elif isinstance(op, (Sigmoid, Tanh)):
        parts = _s_shaped(op, l, u)
    else:
        raise UnsupportedError(f"no linear relaxation for {type(op).__name__}")
    return _widen(*parts, l, u)


@dataclass(frozen=True, slots=True)
class PoolRelaxation:
    """Lines bounding each output ``y`` of max pooling through one entry of its window:
    ``lo_slope x[lo_index] + lo_bias <= y <= hi_slope x[hi_index] + hi_bias``, with the slopes and biases
    in ``lines``. Every array is (B, n_out); indices are into the flattened input (B, n_in)."""

    lo_index: np.ndarray
    hi_index: np.ndarray
    lines: Relaxation


def window_values(win: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Values (B, n_out, K) of ``v`` (B, n_in) at the entries ``win`` (n_out, K) of each window; padding
    (index -1) is -inf."""
    return np.where(win >= 0, v[:, np.maximum(win, 0)], -np.inf)


def _at(w: np.ndarray, pick: np.ndarray) -> np.ndarray:
    """``w`` (B, n_out, K) at the window entries ``pick`` (B, n_out)."""
    return np.take_along_axis(w, pick[..., None], axis=-1)[..., 0]


def max_of_others(w: np.ndarray, pick: np.ndarray) -> np.ndarray:
    """Per window, the largest of ``w`` (B, n_out, K) over the entries other than ``pick`` (B, n_out);
    -inf for a window of one entry."""
    others = w.copy()
    np.put_along_axis(others, pick[..., None], -np.inf, axis=-1)
    return others.max(axis=-1)


def max_pool_exact(win: np.ndarray, l: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Windows (B, n_out) whose relaxation is exact: the entry with the largest lower bound is at least
    every other entry's upper bound. ``win`` (n_out, K) holds flat input indices, -1 for padding;
    ``l``, ``u`` are (B, n_in) and may be infinite."""
    wl = window_values(win, l)
    return max_of_others(window_values(win, u), wl.argmax(axis=-1)) <= wl.max(axis=-1)


def relax_max_pool(win: np.ndarray, l: np.ndarray, u: np.ndarray) -> PoolRelaxation:
    """Sound lines below and above max pooling over the windows ``win`` (n_out, K) of flat input
    indices (-1 for padding; every window has a real entry) on the box ``[l, u]`` (B, n_in), finite."""
    wl, wu = window_values(win, l), window_values(win, u)
    j, k = wl.argmax(axis=-1), wu.argmax(axis=-1)
    lk, uk = _at(wl, k), _at(wu, k)
    left = np.maximum(lk, max_of_others(wu, k))     # max(x_k, m) at x_k = l_k; it is u_k at x_k = u_k
    slope = np.where(uk > lk, (uk - left) / np.maximum(uk - lk, 1e-300), 0.0)
    rows = np.arange(win.shape[0])
    lines = _widen(np.ones_like(lk), np.zeros_like(lk), slope, left - slope * lk, lk, uk)
    return PoolRelaxation(win[rows, j], win[rows, k], lines)


POOL_EPS = 1e-6
"""Weight of the default entry added to the parameters of a :class:`PoolFamily` (so that all-zero
parameters still give a convex combination: the default line)."""


@dataclass(frozen=True, slots=True)
class PoolFamily:
    """Lower lines of max pooling that an optimiser may choose (alpha-CROWN): an output
    ``y = max_i x_i`` is at least every convex combination ``sum_i w_i x_i`` of its window's entries.
    The weights come from parameters ``a`` in [0, 1], one per window entry and objective row:
    ``w = (a + e pick) / (sum_i a_i + e)`` with ``e`` = :data:`POOL_EPS` and ``pick`` the default lower
    line's entry (one-hot), so every ``a`` gives weights on the simplex, and ``a = pick`` the default
    line. Windows the default relaxation makes exact, and padding, keep the default line; the upper
    lines are the default relaxation's.

    Attributes:
        win: (n_out, K) flat input indices of each window, -1 for padding.
        mask: (B, n_out, K) the entries whose weight may move.
        pick: (B, n_out, K) one-hot of the default lower line's entry.
    """

    win: np.ndarray
    mask: np.ndarray
    pick: np.ndarray

    @property
    def size(self) -> int:
        """Parameters per objective row: one per window entry (n_out K)."""
        return self.win.size

    def variable(self) -> tuple[bool, bool]:
        return bool(self.mask.any()), False

    def init(self, side: int) -> np.ndarray:
        """The parameters (B, n_out K) of the default lower line."""
        return self.pick.reshape(self.pick.shape[0], -1).astype(np.float64)

    def evaluate(self, a_lo: np.ndarray, a_hi: np.ndarray | None = None) -> tuple[tuple[np.ndarray, np.ndarray], tuple]:
        """``((win, w), (w, total))`` for the parameters ``a_lo`` (B, k, n_out K): the windows and the
        weights ``w`` (B, k, n_out, K) of the lower lines (what back-substitution takes), and what
        :meth:`gradients` needs."""
        B, k = a_lo.shape[:2]
        a = np.where(self.mask[:, None], a_lo.reshape(B, k, *self.win.shape), self.pick[:, None])
        total = a.sum(axis=-1, keepdims=True) + POOL_EPS
        w = (a + POOL_EPS * self.pick[:, None]) / total
        return (self.win, w), (w, total)

    def gradients(self, aux: tuple, L: np.ndarray, x: np.ndarray, g_lo: np.ndarray) -> None:
        """Write into ``g_lo`` (B, k, n_out K) the gradient in the parameters of a back-substitution
        bound in which the coefficients ``L`` (B, k, n_out) went through the lower lines where
        positive, with forward values ``x`` (B, k, n_in) of the input: a weight ``w_i`` gets ``L x_i``,
        and ``d w_i / d a_m = (delta_im - w_i) / total``."""
        w, total = aux
        g = np.maximum(L, 0.0)[..., None] * x[..., np.maximum(self.win, 0)]
        da = (g - np.sum(w * g, axis=-1, keepdims=True)) / total
        g_lo[...] = np.where(self.mask[:, None], da, 0.0).reshape(g_lo.shape)


def pool_family(win: np.ndarray, l: np.ndarray, u: np.ndarray) -> PoolFamily:
    """The :class:`PoolFamily` of max pooling over the windows ``win`` (n_out, K) on ``[l, u]`` (B, n_in)."""
    lo_index = relax_max_pool(win, l, u).lo_index                          # (B, n_out)
    loose = ~max_pool_exact(win, l, u)
    return PoolFamily(win, loose[..., None] & (win >= 0)[None], win[None] == lo_index[..., None])


@dataclass(frozen=True, slots=True)
class VariableLines:
    """One side's (lower or upper) variable lines of a relaxed activation node, per neuron (B, n):
    where ``mask``, the line for a parameter ``alpha`` in [0, 1] has the position ``q = q0 + alpha (q1 -
    q0)``: a slope about the pivot ``(p, fp)`` of ``f`` (where not ``tangent``), or the point where it
    touches ``f`` (where ``tangent``). ``init`` is the parameter of the default relaxation's line, where it
    is one of the family (0.5 elsewhere)."""

    mask: np.ndarray
    tangent: np.ndarray
    p: np.ndarray
    fp: np.ndarray
    q0: np.ndarray
    q1: np.ndarray
    init: np.ndarray


@dataclass(frozen=True, slots=True)
class LineFamily:
    """The relaxation of an activation node on ``[l, u]`` (B, n) with its variable lines.

    Attributes:
        op: the activation.
        base: the default relaxation (lines where nothing is variable).
        lo, hi: the variable lower and upper lines (either may have an all-false mask).
        l, u: the bounds.
    """

    op: Activation
    base: Relaxation
    lo: VariableLines
    hi: VariableLines
    l: np.ndarray
    u: np.ndarray

    @property
    def size(self) -> int:
        """Parameters per side and objective row: one per neuron."""
        return self.l.shape[1]

    def variable(self) -> tuple[bool, bool]:
        """Whether the lower and the upper side have some variable line."""
        return bool(self.lo.mask.any()), bool(self.hi.mask.any())

    def init(self, side: int) -> np.ndarray:
        """The parameters (B, n) of the default relaxation's lines on side 0 (lower) or 1 (upper)."""
        return (self.lo, self.hi)[side].init

    def evaluate(self, alpha_lo: np.ndarray, alpha_hi: np.ndarray) -> tuple[tuple[np.ndarray, ...], tuple]:
        """The lines for the parameters ``alpha_lo``, ``alpha_hi`` (B, k, n), each in [0, 1]: their
        slopes and intercepts ``(lo_slope, lo_bias, hi_slope, hi_bias)`` (B, k, n) (the default
        relaxation's where a line is not variable), and the derivatives ``(d lo_slope, d lo_bias,
        d hi_slope, d hi_bias)`` in the parameters (None for a side with nothing variable)."""
        lo_s, lo_b, dlo_s, dlo_b = self._side(self.lo, alpha_lo, self.base.lo_slope, self.base.lo_bias, -1.0)
        hi_s, hi_b, dhi_s, dhi_b = self._side(self.hi, alpha_hi, self.base.hi_slope, self.base.hi_bias, 1.0)
        return (lo_s, lo_b, hi_s, hi_b), (dlo_s, dlo_b, dhi_s, dhi_b)

    def gradients(self, derivatives: tuple, L: np.ndarray, x: np.ndarray, up: np.ndarray,
                  g_lo: np.ndarray | None, g_hi: np.ndarray | None) -> None:
        """Write into ``g_lo``, ``g_hi`` (B, k, n; None: no variable line on that side) the gradients in
        the parameters of a back-substitution bound in which the coefficients ``L`` (B, k, n) went
        through the upper line where ``up`` and the lower one elsewhere, with forward values ``x`` of
        the input (a line's slope gets ``L x``, its intercept ``L``), given the ``derivatives`` from
        :meth:`evaluate`."""
        dlo_s, dlo_b, dhi_s, dhi_b = derivatives
        for side, ds, db, g, use in ((self.lo, dlo_s, dlo_b, g_lo, ~up), (self.hi, dhi_s, dhi_b, g_hi, up)):
            if g is not None:
                g[...] = np.where(use & side.mask[:, None], L * (x * ds + db), 0.0)

    def _side(self, side: VariableLines, alpha, base_s, base_b, direction: float):
        """Slope, intercept and their derivatives in ``alpha`` (B, k, n) of one side's lines; the
        intercept is widened by a few ulps in ``direction`` (-1 below f, +1 above)."""
        if not side.mask.any():
            return base_s[:, None], base_b[:, None], None, None
        m = side.mask[:, None]
        span = (side.q1 - side.q0)[:, None]
        q = side.q0[:, None] + alpha * span
        slope, bias = q, side.fp[:, None] - q * side.p[:, None]
        ds, db = np.broadcast_to(span, q.shape), -side.p[:, None] * span
        if side.tangent.any():
            t = side.tangent[:, None]
            (f, df), d2f = self.op.value_and_derivative(q), self.op.second_derivative(q)
            slope = np.where(t, df, slope)
            bias = np.where(t, f - df * q, bias)
            ds = np.where(t, d2f * span, ds)
            db = np.where(t, -q * d2f * span, db)
        eps = 8 * np.finfo(np.float64).eps * (1.0 + np.abs(self.l) + np.abs(self.u))[:, None]
        bias = bias + direction * eps * (1.0 + np.abs(bias))
        return np.where(m, slope, base_s[:, None]), np.where(m, bias, base_b[:, None]), ds, db


def _no_lines(shape) -> VariableLines:
    z = np.zeros(shape)
    return VariableLines(np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool), z, z, z, z, z + 0.5)


def _pivot(mask, p, fp, q0, q1, init) -> VariableLines:
    return VariableLines(mask, np.zeros_like(mask), p, fp, q0, q1, np.where(mask, init, 0.5))


TANGENT_STEPS = 50
"""Bisection steps that find the extreme tangent points across 0 (the interval shrinks 2^50-fold)."""


def _extreme_tangent(op: Activation, l, u, lower: bool) -> tuple[np.ndarray, np.ndarray]:
    """Across 0 (``l < 0 < u``): for the lower side the largest ``t`` in ``[l, 0]`` whose tangent is at
    most ``f(u)`` at ``u``, for the upper side the smallest ``t`` in ``[0, u]`` whose tangent is at least
    ``f(l)`` at ``l``; and where such a ``t`` exists (never where the interval does not cross 0, whose
    ``t`` is then ``l`` or ``u``). The tangent's excess at the far end is monotone in ``t`` on each side,
    so bisection finds it; the end kept is always on the sound side. Only the neurons that cross 0
    are searched (one evaluation of ``f`` and ``f'`` together per step)."""
    t, ok = (l.copy(), np.zeros(l.shape, dtype=bool)) if lower else (u.copy(), np.zeros(u.shape, dtype=bool))
    cross = (l < 0) & (u > 0)
    if not cross.any():
        return t, ok
    lc, uc = l[cross], u[cross]
    far = uc if lower else lc
    ffar = op.forward(far)

    def sound(q):           # lower: the tangent's excess at the far end <= 0; upper: >= 0
        fq, dfq = op.value_and_derivative(q)
        excess = fq + dfq * (far - q) - ffar
        return excess <= 0 if lower else excess >= 0

    a, b = (lc, np.zeros_like(lc)) if lower else (np.zeros_like(uc), uc)
    ok[cross] = sound(a if lower else b)
    for _ in range(TANGENT_STEPS):
        mid = (a + b) / 2
        good = sound(mid)
        if lower:
            a, b = np.where(good, mid, a), np.where(good, b, mid)
        else:
            a, b = np.where(good, a, mid), np.where(good, mid, b)
    t[cross] = a if lower else b
    return t, ok


def _cross_tangents(op: Activation, l, u) -> tuple:
    """``(t_lo, ok_lo, t_hi, ok_hi)``: the extreme tangent points of :func:`_extreme_tangent` on both
    sides, and where they exist."""
    return (*_extreme_tangent(op, l, u, lower=True), *_extreme_tangent(op, l, u, lower=False))


def line_family(op: Activation, l: np.ndarray, u: np.ndarray, lower: str = "adaptive") -> LineFamily:
    """The relaxation of ``op`` on ``[l, u]`` (B, n) with the lines an optimiser may choose (see the
    module docstring); every line of the family is sound for every parameter in [0, 1]."""
    tangents = _cross_tangents(op, l, u) if isinstance(op, (Sigmoid, Tanh)) else None
    base = _widen(*_s_shaped(op, l, u, tangents), l, u) if tangents is not None else relax(op, l, u, lower)
    none = _no_lines(l.shape)
    lo, hi = none, none
    if isinstance(op, (Relu, LeakyRelu)):
        a = 0.0 if isinstance(op, Relu) else op.alpha
        cross = (l < 0) & (u > 0) & (a < 1)
        z = np.zeros_like(l)
        lo = _pivot(cross, z, z, z + a, z + 1.0, np.clip((base.lo_slope - a) / max(1.0 - a, 1e-300), 0.0, 1.0))
    elif isinstance(op, Clip):
        a, b = op.lo, op.hi
        z = np.zeros_like(l)
        low_knee = (l < a) & (u > a) & (u <= b)
        high_knee = (l >= a) & (l < b) & (u > b)
        both = (l < a) & (u > b)
        lo_max = np.where(both, (b - a) / np.maximum(u - a, 1e-300), 1.0)   # the chord from the low knee to (u, b)
        hi_max = np.where(both, (b - a) / np.maximum(b - l, 1e-300), 1.0)   # from (l, a) to the high knee
        lo = _pivot(low_knee | both, z + a, z + a, z, lo_max, np.where(both, 0.5, np.clip(base.lo_slope, 0.0, 1.0)))
        hi = _pivot(high_knee | both, z + b, z + b, z, hi_max, np.where(both, 0.5, np.clip(base.hi_slope, 0.0, 1.0)))
    elif isinstance(op, (Sigmoid, Tanh)):
        convex, concave, cross = (u <= 0) & (u > l), (l >= 0) & (u > l), (l < 0) & (u > 0)
        t_lo, ok_lo, t_hi, ok_hi = tangents
        lo_mask, hi_mask = convex | (cross & ok_lo), concave | (cross & ok_hi)
        lo = VariableLines(lo_mask, lo_mask, l, l, l, np.where(convex, u, t_lo), np.where(convex, 0.5, 1.0))
        hi = VariableLines(hi_mask, hi_mask, u, u, np.where(concave, l, t_hi), u, np.where(concave, 0.5, 0.0))
    return LineFamily(op, base, lo, hi, l, u)
