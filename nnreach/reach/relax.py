"""Parallel-line relaxations of elementwise activations: ``lam x + mu_lo <= f(x) <= lam x + mu_hi``.

Used by the zonotope rules (DeepZ). For piecewise-linear activations the slope is the chord slope and
the offsets are the exact extremes of ``f(x) - lam x``, found at the interval ends and the breakpoints.
For S-shaped activations (sigmoid, tanh) the slope is ``min(f'(l), f'(u))``, for which ``f(x) - lam x``
is non-decreasing on ``[l, u]`` (``f'`` is unimodal), so the offsets are its values at the ends.
"""

from __future__ import annotations

import numpy as np

from ..network.ops import Activation, Sigmoid, Tanh


def crosses_breakpoint(op: Activation, l: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Elementwise, whether ``[l, u]`` strictly contains a breakpoint of the piecewise-linear ``op``
    (where it is not one linear piece); arrays of one shape."""
    cross = np.zeros(np.shape(l), dtype=bool)
    for b in op.breakpoints:
        cross |= (l < b) & (u > b)
    return cross


def parallel_relaxation(op: Activation, l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slope and offsets bounding ``f`` on ``[l, u]`` (all arrays of the same shape, ``l <= u``).

    Returns:
        ``(lam, mu_lo, mu_hi)`` with ``lam x + mu_lo <= f(x) <= lam x + mu_hi`` for ``x`` in ``[l, u]``;
        where ``l == u`` the slope is 0 and both offsets are ``f(l)``.
    """
    fl, fu = op.forward(l), op.forward(u)
    width = u - l
    flat = width <= 0
    safe = np.where(flat, 1.0, width)
    bps = op.breakpoints
    if bps is not None:
        lam = np.where(flat, 0.0, (fu - fl) / safe)
        cands = [l, u] + [np.clip(b, l, u) for b in bps]
        g = np.stack([op.forward(x) - lam * x for x in cands])
        return lam, g.min(axis=0), g.max(axis=0)
    if isinstance(op, (Sigmoid, Tanh)):
        lam = np.where(flat, 0.0, np.minimum(op.derivative(l), op.derivative(u)))
        gl, gu = fl - lam * l, fu - lam * u
        return lam, np.minimum(gl, gu), np.maximum(gl, gu)
    raise NotImplementedError(f"no parallel relaxation for {type(op).__name__}")
