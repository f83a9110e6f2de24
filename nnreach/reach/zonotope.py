"""Zonotope reach rules (DeepZ), method name ``"zono"``.

Affine ops are exact on zonotopes. An activation is replaced by its parallel-line relaxation
(:mod:`.relax`), a function of :class:`Unary` by its own (:mod:`nnreach.bounds.elementwise`) and a
product by its parallel McCormick planes: each neuron whose relaxation has a gap gets one fresh
generator. Max pooling keeps a
window's element when it dominates the others and otherwise bounds the window by a fresh generator.
"""

from __future__ import annotations

import numpy as np

from ..bounds.elementwise import relax_product, relax_unary
from ..network.ops import (Activation, Add, AvgPool2d, Concat, Conv2d, ElementwiseAffine, Linear, MaxPool2d,
                           Op, Product, Reshape, SparseAffine, Transpose, Unary, sliding_windows)
from ..sets.zonotope import Zonotope
from ._apply import apply_flat, linear_part
from .registry import rule
from .relax import parallel_relaxation

METHOD = "zono"


def _bounds(z: Zonotope) -> tuple[np.ndarray, np.ndarray]:
    r = np.abs(z.generators).sum(axis=1)
    return z.center - r, z.center + r


def _with_fresh(center: np.ndarray, gens: np.ndarray, radius: np.ndarray) -> Zonotope:
    """Zonotope ``(center, gens)`` plus one fresh generator per nonzero entry of ``radius``."""
    idx = np.flatnonzero(radius > 0)
    fresh = np.zeros((center.shape[0], idx.size))
    fresh[idx, np.arange(idx.size)] = radius[idx]
    return Zonotope(center, np.hstack([gens, fresh]))


@rule(Linear, Zonotope, METHOD)
def linear_zono(op: Linear, xs, shapes) -> Zonotope:
    z = xs[0]
    if len(shapes[0]) == 1:
        return Zonotope(op.weight @ z.center + op.bias, op.weight @ z.generators)
    return affine_zono(op, xs, shapes)


@rule((ElementwiseAffine, Add, Concat, Reshape, Transpose, SparseAffine, Conv2d, AvgPool2d), Zonotope, METHOD)
def affine_zono(op: Op, xs: tuple[Zonotope, ...], shapes) -> Zonotope:
    """Any affine op: the center goes through the op, generators through its linear part."""
    center = apply_flat(op, [z.center[None] for z in xs], shapes)[0]
    return Zonotope(center, linear_part(op, [z.generators for z in xs], shapes))


@rule(Activation, Zonotope, METHOD)
def activation_zono(op: Activation, xs, shapes) -> Zonotope:
    z = xs[0]
    l, u = _bounds(z)
    lam, mu_lo, mu_hi = parallel_relaxation(op, l, u)
    center = lam * z.center + (mu_lo + mu_hi) / 2
    return _with_fresh(center, lam[:, None] * z.generators, (mu_hi - mu_lo) / 2)


@rule(Unary, Zonotope, METHOD)
def unary_zono(op: Unary, xs, shapes) -> Zonotope:
    z = xs[0]
    r = relax_unary(op, *_bounds(z))
    center = r.lo_slope * z.center + (r.lo_bias + r.hi_bias) / 2
    return _with_fresh(center, r.lo_slope[:, None] * z.generators, (r.hi_bias - r.lo_bias) / 2)


@rule(Product, Zonotope, METHOD)
def product_zono(op: Product, xs, shapes) -> Zonotope:
    x, y = xs
    r = relax_product(*_bounds(x), *_bounds(y))
    center = r.x_slope * x.center + r.y_slope * y.center + (r.lo_bias + r.hi_bias) / 2
    gens = r.x_slope[:, None] * x.generators + r.y_slope[:, None] * y.generators
    return _with_fresh(center, gens, (r.hi_bias - r.lo_bias) / 2)


@rule(MaxPool2d, Zonotope, METHOD)
def maxpool_zono(op: MaxPool2d, xs, shapes) -> Zonotope:
    z, shape = xs[0], shapes[0]
    n = z.center.shape[0]
    l, u = _bounds(z)
    idx = np.arange(n, dtype=np.float64).reshape((1, *shape))
    win = sliding_windows(idx, op.kernel, op.stride, op.dilation, op._pads(shape), value=-1.0)
    win = win.reshape(-1, win.shape[-2] * win.shape[-1]).astype(np.int64)  # (n_out, k), -1 = padding
    valid = win >= 0
    wl = np.where(valid, l[win], -np.inf)
    wu = np.where(valid, u[win], -np.inf)
    best = wl.argmax(axis=1)
    rows = np.arange(win.shape[0])
    others_u = wu.copy()
    others_u[rows, best] = -np.inf
    exact = wl[rows, best] >= others_u.max(axis=1)
    pick = win[rows, best]
    lo_out, hi_out = wl.max(axis=1), wu.max(axis=1)
    center = np.where(exact, z.center[pick], (lo_out + hi_out) / 2)
    gens = np.where(exact[:, None], z.generators[pick], 0.0)
    return _with_fresh(center, gens, np.where(exact, 0.0, (hi_out - lo_out) / 2))
