"""Symbolic linear bounds in forward mode, for domains with few variables.

Every node's value ``v`` is kept between two linear functions of the domain variables ``a``,
``L(a) <= v <= U(a)``, from the input (where both are the domain map) to the output, as ReluVal and
Neurify's symbolic intervals and CROWN's forward mode do. In centre-radius form ``M = (L + U) / 2``,
``R = (U - L) / 2``, an affine op with linear part ``J`` maps them to ``J M`` and ``|J| R`` (because
``J+ L + J- U = J M - |J| R``); a relaxed node (activation, max pooling) maps ``L`` through its lower
line and ``U`` through its upper one where the line's slope is >= 0, and the other way round where it is
negative (:mod:`.elementwise`: sin, powers, ...); a product's planes take each factor's functions
by the sign of their slope. The bounds of a relaxed node's input are the minimum of ``L`` and the maximum of
``U`` over the domain's box, intersected with its interval bounds and any ``prior`` bounds.

One pass costs about ``m`` (the number of domain variables) forward passes, where back-substitution
costs two per neuron of every layer: for the five inputs of ACAS Xu it is twenty times cheaper. The
bounds are looser than back-substitution's on wide domains (each layer's relaxation error reaches the
next layer's bounds in full) and about as tight on the small domains deep in a branch-and-bound tree.

Shapes: ``B`` domains, ``m`` domain variables, a node's coefficients (B, n, m) and constants (B, n).
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError
from ..network.graph import INPUT, Network
from ..network.ops import MaxPool2d, Product, Unary, pool_windows
from .elementwise import relax_product, relax_unary
from .linear import Bounds, InputDomain, RELAXED, _box_through, relaxed_inputs
from .relaxations import relax, relax_max_pool

def _apply(net: Network, node, op, args: list[np.ndarray], const: bool) -> np.ndarray:
    """``op`` on flattened arguments (B, n_i, m + 1): coefficient columns then the constant
    column; the constant column gets the op's offset only if ``const``."""
    B, _, cols = args[0].shape
    shapes = [net.shape_of(i) for i in node.inputs]
    xs = [np.moveaxis(a, 2, 1).reshape(B * cols, *s) for a, s in zip(args, shapes)]
    y = op.forward(*xs)
    if not const:
        return np.moveaxis(y.reshape(B, cols, -1), 1, 2)
    zero = op.forward(*(np.zeros((1, *s)) for s in shapes)).reshape(-1)
    y = np.moveaxis(y.reshape(B, cols, -1), 1, 2)
    y[:, :, :-1] -= zero[None, :, None]       # coefficients carry only the linear part
    return y


def _scaled(lower: np.ndarray, upper: np.ndarray, slope: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper functions of ``slope * v`` for ``lower <= v <= upper`` (B, n, m + 1), ``slope``
    (B, n) of either sign."""
    s = slope[..., None]
    return np.where(s >= 0, lower, upper) * s, np.where(s >= 0, upper, lower) * s


def _through_relaxed(net: Network, node, bounds: Bounds, values: dict) -> tuple[np.ndarray, np.ndarray]:
    """Centre and radius functions of a relaxed node's value, from its inputs' (``values``) through
    the lines of its relaxation on ``bounds``."""
    op, src = node.op, node.inputs[0]
    M, R = values[src]
    lower, upper = M - R, M + R
    if isinstance(op, Product):
        r = relax_product(*bounds[src], *bounds[node.inputs[1]])
        M2, R2 = values[node.inputs[1]]
        lx, ux = _scaled(lower, upper, r.x_slope)
        ly, uy = _scaled(M2 - R2, M2 + R2, r.y_slope)
        lower, upper = lx + ly, ux + uy
        lower[..., -1] += r.lo_bias
        upper[..., -1] += r.hi_bias
        return (lower + upper) / 2, (upper - lower) / 2
    if isinstance(op, MaxPool2d):
        r = relax_max_pool(pool_windows(op, net.shape_of(src)), *bounds[src])
        lower = np.take_along_axis(lower, r.lo_index[..., None], axis=1)
        upper = np.take_along_axis(upper, r.hi_index[..., None], axis=1)
        lines = r.lines
    else:
        lines = relax_unary(op, *bounds[src]) if isinstance(op, Unary) else relax(op, *bounds[src])
    if isinstance(op, Unary):       # slopes of either sign
        lower, upper = _scaled(lower, upper, lines.lo_slope)[0], _scaled(lower, upper, lines.hi_slope)[1]
    else:                           # slopes >= 0 (:mod:`.relaxations`)
        lower, upper = lower * lines.lo_slope[..., None], upper * lines.hi_slope[..., None]
    lower[..., -1] += lines.lo_bias
    upper[..., -1] += lines.hi_bias
    return (lower + upper) / 2, (upper - lower) / 2


Functions = dict[str, tuple[np.ndarray, np.ndarray]]
"""Per relaxed node's input name, the linear functions ``(L, U)`` (B, n, m + 1) of the domain variables
(coefficients, then the constant) between which its value lies; ``L == U`` where it is exact."""


def forward_bounds(net: Network, domain: InputDomain, *, prior: Bounds | None = None, tol: float = 0.0,
                   functions: Functions | None = None) -> tuple[Bounds, np.ndarray]:
    """Bounds (B, n) of the input of every relaxed node (activation or max pooling), by name of that
    input node, and which domains (B,) they show empty (as :func:`.linear.domain_bounds`). A dict
    given as ``functions`` receives the linear functions bounding each relaxed node's input."""
    prior = prior or {}
    B, m = domain.lo.shape
    mid, rad = (domain.lo + domain.hi) / 2, (domain.hi - domain.lo) / 2
    if domain.basis is None:
        start = np.concatenate([np.broadcast_to(np.eye(m), (B, m, m)), np.zeros((B, m, 1))], axis=2)
    else:
        start = np.concatenate([domain.basis, domain.center[:, :, None]], axis=2)
    # affine functions of (a, 1): centre M and radius R, each (B, n, m + 1)
    values: dict[str, tuple[np.ndarray, np.ndarray]] = {INPUT: (start, np.zeros_like(start))}
    box: dict[str, tuple] = {INPUT: domain.input_bounds()}
    bounds: Bounds = {}
    empty = np.zeros(B, dtype=bool)

    def concrete(M, R):
        lower, upper = M - R, M + R
        lo = lower[..., -1] + np.einsum("bnm,bm->bn", lower[..., :-1], mid) - np.einsum("bnm,bm->bn", np.abs(lower[..., :-1]), rad)
        hi = upper[..., -1] + np.einsum("bnm,bm->bn", upper[..., :-1], mid) + np.einsum("bnm,bm->bn", np.abs(upper[..., :-1]), rad)
        return lo, hi

    last_use = {name: k for k, node in enumerate(net.nodes) for name in node.inputs}
    for k, node in enumerate(net.nodes):
        op = node.op
        if isinstance(op, RELAXED):
            for name in relaxed_inputs(node):
                if name in bounds:
                    continue
                if functions is not None:
                    M, R = values[name]
                    functions[name] = (M - R, M + R)
                l, u = concrete(*values[name])
                for known in (box.get(name), prior.get(name)):
                    if known is not None:
                        l, u = np.maximum(l, known[0]), np.minimum(u, known[1])
                empty |= np.any(l - u > tol * (1 + np.abs(l) + np.abs(u)), axis=1)
                bounds[name] = (l, np.maximum(u, l))
            values[node.name] = _through_relaxed(net, node, bounds, values)
        elif op.is_affine:
            args = [values[i] for i in node.inputs]
            M = _apply(net, node, op, [a[0] for a in args], const=True)
            R = _apply(net, node, op.magnitude(), [a[1] for a in args], const=False)
            values[node.name] = (M, R)
        else:
            raise UnsupportedError(f"forward linear bounds do not support {type(op).__name__} (node {node.name!r})")
        _box_through(net, node, bounds, box)
        for name in node.inputs:
            if last_use[name] == k:
                del values[name]
    return bounds, empty
