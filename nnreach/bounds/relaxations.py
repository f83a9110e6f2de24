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
  line and the tangent at the midpoint the lower one (mirrored on the concave side); across 0, two
  parallel lines with slope ``min(f'(l), f'(u))`` through the end points (valid because ``f'`` is
  unimodal, so ``f' >= slope`` on the interval).

* Max pooling (:func:`relax_max_pool`): each output ``y = max_i x_i`` of a window is bounded through one
  entry. Below, ``y >= x_j`` for the entry ``j`` with the largest lower bound. Above, with ``k`` the entry
  with the largest upper bound and ``m`` the largest upper bound of the others, ``y <= max(x_k, m)``;
  that is convex in ``x_k``, so its chord on ``[l_k, u_k]`` is above it: the line from
  ``(l_k, max(l_k, m))`` to ``(u_k, u_k)``. It is ``x_k`` itself when ``l_k >= m`` (one entry dominates
  the window: exact) and never above the constant ``u_k = max_i u_i``.

Every intercept is widened by a few ulps of the values involved so that rounding cannot cut into ``f``.
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


def _s_shaped(op: Activation, l, u) -> tuple:
    f, df = op.forward, op.derivative
    fl, fu = f(l), f(u)
    width = np.maximum(u - l, 1e-300)
    chord = np.where(u > l, (fu - fl) / width, df(l))
    m = (l + u) / 2
    tan_s, tan_b = df(m), f(m) - df(m) * m
    par = np.minimum(df(l), df(u))
    convex, concave = u <= 0, l >= 0
    lo_s = np.where(convex, tan_s, np.where(concave, chord, par))
    lo_b = np.where(convex, tan_b, np.where(concave, fl - chord * l, fl - par * l))
    hi_s = np.where(convex, chord, np.where(concave, tan_s, par))
    hi_b = np.where(convex, fl - chord * l, np.where(concave, tan_b, fu - par * u))
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


def _window_values(win: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Values (B, n_out, K) of ``v`` (B, n_in) at the entries ``win`` (n_out, K) of each window; padding
    (index -1) is -inf."""
    return np.where(win >= 0, v[:, np.maximum(win, 0)], -np.inf)


def _at(w: np.ndarray, pick: np.ndarray) -> np.ndarray:
    """``w`` (B, n_out, K) at the window entries ``pick`` (B, n_out)."""
    return np.take_along_axis(w, pick[..., None], axis=-1)[..., 0]


def _max_of_others(w: np.ndarray, pick: np.ndarray) -> np.ndarray:
    """Per window, the largest of ``w`` (B, n_out, K) over the entries other than ``pick`` (B, n_out);
    -inf for a window of one entry."""
    others = w.copy()
    np.put_along_axis(others, pick[..., None], -np.inf, axis=-1)
    return others.max(axis=-1)


def max_pool_exact(win: np.ndarray, l: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Windows (B, n_out) whose relaxation is exact: the entry with the largest lower bound is at least
    every other entry's upper bound. ``win`` (n_out, K) holds flat input indices, -1 for padding;
    ``l``, ``u`` are (B, n_in) and may be infinite."""
    wl = _window_values(win, l)
    return _max_of_others(_window_values(win, u), wl.argmax(axis=-1)) <= wl.max(axis=-1)


def relax_max_pool(win: np.ndarray, l: np.ndarray, u: np.ndarray) -> PoolRelaxation:
    """Sound lines below and above max pooling over the windows ``win`` (n_out, K) of flat input
    indices (-1 for padding; every window has a real entry) on the box ``[l, u]`` (B, n_in), finite."""
    wl, wu = _window_values(win, l), _window_values(win, u)
    j, k = wl.argmax(axis=-1), wu.argmax(axis=-1)
    lk, uk = _at(wl, k), _at(wu, k)
    left = np.maximum(lk, _max_of_others(wu, k))     # max(x_k, m) at x_k = l_k; it is u_k at x_k = u_k
    slope = np.where(uk > lk, (uk - left) / np.maximum(uk - lk, 1e-300), 0.0)
    rows = np.arange(win.shape[0])
    lines = _widen(np.ones_like(lk), np.zeros_like(lk), slope, left - slope * lk, lk, uk)
    return PoolRelaxation(win[rows, j], win[rows, k], lines)
