"""Interval (box) reach rules: sound elementwise bounds, method name ``"interval"``.

Monotone ops (activations, pooling, reshapes, residual adds) map the lower and upper corners;
ops with signed weights use the center-radius form ``c' = W c + b``, ``r' = |W| r``.
"""

from __future__ import annotations

import numpy as np

from ..network.ops import (Activation, Add, AvgPool2d, Concat, Conv2d, ElementwiseAffine, Linear,
                           MaxPool2d, Reshape, Transpose)
from ..sets.box import Box
from ._apply import apply_flat
from .registry import rule

METHOD = "interval"


@rule((Activation, MaxPool2d, AvgPool2d, Reshape, Transpose, Concat, Add), Box, METHOD)
def monotone_box(op, xs: tuple[Box, ...], shapes) -> Box:
    lo = apply_flat(op, [x.lo[None] for x in xs], shapes)[0]
    hi = apply_flat(op, [x.hi[None] for x in xs], shapes)[0]
    return Box(lo, hi)


def _center_radius(op, x: Box, abs_op, shape) -> Box:
    c, r = (x.lo + x.hi) / 2, (x.hi - x.lo) / 2
    c2 = apply_flat(op, [c[None]], [shape])[0]
    r2 = apply_flat(abs_op, [r[None]], [shape])[0]
    return Box(c2 - r2, c2 + r2)


@rule(Linear, Box, METHOD)
def linear_box(op: Linear, xs, shapes) -> Box:
    return _center_radius(op, xs[0], Linear(np.abs(op.weight), np.zeros_like(op.bias)), shapes[0])


@rule(Conv2d, Box, METHOD)
def conv_box(op: Conv2d, xs, shapes) -> Box:
    abs_op = Conv2d(np.abs(op.weight), np.zeros_like(op.bias), op.stride, op.padding, op.dilation, op.groups)
    return _center_radius(op, xs[0], abs_op, shapes[0])


@rule(ElementwiseAffine, Box, METHOD)
def scale_box(op: ElementwiseAffine, xs, shapes) -> Box:
    return _center_radius(op, xs[0], ElementwiseAffine(np.abs(op.scale), 0.0), shapes[0])
