"""Interval (box) reach rules: sound elementwise bounds, method name ``"interval"``.

Monotone ops (activations, pooling, reshapes, residual adds) map the lower and upper corners;
ops with signed weights use the center-radius form ``c' = W c + b``, ``r' = |W| r``; the functions
of :class:`Unary` and products map to their exact ranges (:mod:`nnreach.bounds.elementwise`).
"""

from __future__ import annotations

from ..bounds.elementwise import product_range, unary_range
from ..network.ops import (Activation, Add, AvgPool2d, Concat, Conv2d, ElementwiseAffine, Linear,
                           MaxPool2d, Product, Reshape, SparseAffine, Transpose, Unary)
from ..errors import UnsupportedError
from ..sets.box import Box
from ._apply import apply_flat
from .registry import rule

METHOD = "interval"


@rule((Activation, MaxPool2d, AvgPool2d, Reshape, Transpose, Concat, Add), Box, METHOD)
def monotone_box(op, xs: tuple[Box, ...], shapes) -> Box:
    if isinstance(op, Activation) and not op.monotone:
        raise UnsupportedError(f"interval bounds of {type(op).__name__} need a monotone activation")
    lo = apply_flat(op, [x.lo[None] for x in xs], shapes)[0]
    hi = apply_flat(op, [x.hi[None] for x in xs], shapes)[0]
    return Box(lo, hi)


@rule((Linear, Conv2d, ElementwiseAffine, SparseAffine), Box, METHOD)
def signed_box(op, xs, shapes) -> Box:
    """``c' = op(c)``, ``r' = |op| r`` (:meth:`nnreach.network.ops.Op.magnitude`)."""
    x = xs[0]
    c, r = (x.lo + x.hi) / 2, (x.hi - x.lo) / 2
    c2 = apply_flat(op, [c[None]], shapes)[0]
    r2 = apply_flat(op.magnitude(), [r[None]], shapes)[0]
    return Box(c2 - r2, c2 + r2)


@rule(Unary, Box, METHOD)
def unary_box(op, xs, shapes) -> Box:
    return Box(*unary_range(op, xs[0].lo, xs[0].hi))


@rule(Product, Box, METHOD)
def product_box(op, xs, shapes) -> Box:
    return Box(*product_range(xs[0].lo, xs[0].hi, xs[1].lo, xs[1].hi))
