"""Read ONNX models into a :class:`~nnreach.network.graph.Network`.

The graph is walked once in its (topological) order; each node goes through a table
``op_type -> converter``. Nodes whose inputs are all constants (initializers, ``Constant`` nodes,
``Shape`` of a tensor) are folded with numpy instead, so shape arithmetic such as
``Shape -> Gather -> Unsqueeze -> Concat -> Reshape`` disappears. Before converting anything the
whole graph is checked and *all* unsupported operators are reported in one error.

Batch axis: the model input has a batch axis when its rank is at least 2 and its first dimension is
1 or symbolic; otherwise its whole shape is the per-sample shape. Full ONNX shapes (batch size 1)
are tracked through the graph and turned into per-sample shapes and axes for the network ops. A
model with an op that mixes the batch axis with other axes (a transpose of ``(1, n)`` to ``(n, 1)``,
a concatenation along axis 0, ...) is read again without a batch axis: batch size 1 is a shape like
any other, and the network's input shape is the full ONNX shape, ``(1, n)``.

Example::

    net = load_onnx("ACASXU_run2a_1_1_batch_2000.onnx")
    net.input_shape  # (1, 1, 5)
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from math import prod
from typing import Callable, Sequence

import numpy as np
import onnx
import scipy.sparse as sp
from onnx import numpy_helper

from ..errors import InputError, UnsupportedError
from ..network.graph import INPUT, Network
from ..network.ops import (Add, AvgPool2d, Clip, Concat, Conv2d, ElementwiseAffine, LeakyRelu, Linear, Product, SparseAffine, Unary,
                           MaxPool2d, Op, Relu, Reshape, Sigmoid, Tanh, Transpose)
from . import check_readable

_FLOAT_TYPES = (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE)


@dataclass(frozen=True, slots=True)
class _Tensor:
    """A value computed from the network input.

    Attributes:
        node: the network node holding it (``INPUT`` for the input).
        shape: its full ONNX shape, batch axis (of size 1) included when the model has one.
    """

    node: str
    shape: tuple[int, ...]


class _BatchAxisError(UnsupportedError):
    """An op mixes the batch axis with the others (the model is then read without a batch axis)."""


_Value = _Tensor | np.ndarray
"""A tensor computed from the input, or a constant."""


class _Graph:
    """Conversion state: known values, emitted network layers and the batch-axis convention."""

    def __init__(self, batch: bool, uses: Counter):
        self.batch = batch
        self.uses = uses
        self.values: dict[str, _Value] = {}
        self.layers: list[tuple[str, Op, tuple[str, ...]]] = []
        self.index: dict[str, int] = {}

    def per_sample(self, shape: Sequence[int]) -> tuple[int, ...]:
        return tuple(shape[1:]) if self.batch else tuple(shape)

    def full(self, shape: Sequence[int]) -> tuple[int, ...]:
        return (1, *shape) if self.batch else tuple(shape)

    def emit(self, name: str, op: Op, inputs: Sequence[_Tensor]) -> _Tensor:
        """Append a layer computing ``op`` of ``inputs``; returns its output."""
        shape = op.output_shape(*(self.per_sample(t.shape) for t in inputs))
        if 0 in shape:
            raise UnsupportedError(f"an empty tensor of shape {self.full(shape)}")
        base, k = name, 0
        while name in self.index or name == INPUT:
            k += 1
            name = f"{base}_{k}"
        self.index[name] = len(self.layers)
        self.layers.append((name, op, tuple(t.node for t in inputs)))
        return _Tensor(name, self.full(shape))

    def reshape_to(self, x: _Tensor, shape: tuple[int, ...], name: str) -> _Tensor:
        """``x`` reshaped to the full shape ``shape`` (no layer when nothing changes)."""
        if shape == x.shape:
            return x
        if self.batch and (not shape or shape[0] != 1):
            raise _BatchAxisError(f"reshaping {x.shape} to {shape} moves the batch axis")
        return self.emit(name, Reshape(self.per_sample(shape)), [x])

    def per_sample_const(self, shape: tuple[int, ...], c: np.ndarray) -> np.ndarray:
        """Constant ``c`` (broadcast against full shape ``shape``) as a float array that broadcasts
        against the per-sample shape."""
        c = np.asarray(c, dtype=np.float64)
        if np.broadcast_shapes(c.shape, shape) != shape:
            raise UnsupportedError(f"a constant of shape {c.shape} would broadcast the tensor of shape "
                                   f"{shape} to a larger one")
        return c[0] if self.batch and c.ndim == len(shape) else c

    def sole_use(self, x: _Tensor) -> bool:
        """True when the node computing ``x`` feeds exactly one ONNX node and is no graph output."""
        return sum(self.uses[n] for n, v in self.values.items()
                   if isinstance(v, _Tensor) and v.node == x.node) == 1


# ---------------------------------------------------------------------------------------------
# Small helpers


def _label(node: onnx.NodeProto) -> str:
    return node.name or node.output[0]


def _attrs(node: onnx.NodeProto) -> dict[str, object]:
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _tensor(v: _Value | None, what: str = "its input") -> _Tensor:
    if not isinstance(v, _Tensor):
        raise UnsupportedError(f"{what} must be computed from the network input, not a constant")
    return v


def _const(v: _Value | None, what: str) -> np.ndarray:
    if not isinstance(v, np.ndarray):
        raise UnsupportedError(f"{what} must be a constant")
    return v


def _axes(attrs: dict, args: list) -> list[int] | None:
    """``axes`` of Squeeze/Unsqueeze: an attribute before opset 13, an optional input since."""
    if "axes" in attrs:
        return [int(a) for a in attrs["axes"]]
    if len(args) > 1 and args[1] is not None:
        return [int(a) for a in _const(args[1], "axes").reshape(-1)]
    return None


def _rank4(x: _Tensor) -> _Tensor:
    if len(x.shape) != 4:
        raise UnsupportedError(f"only 2-D (N, C, H, W) inputs are supported, got shape {x.shape}")
    return x


def _pads(attrs: dict, size: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
          dilation: Sequence[int]) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) padding from ``pads`` or ``auto_pad`` of Conv and pooling."""
    auto = attrs.get("auto_pad", "NOTSET")
    if auto == "NOTSET":
        t, l, b, r = (int(p) for p in attrs.get("pads", (0, 0, 0, 0)))
        return t, l, b, r
    if auto == "VALID":
        return 0, 0, 0, 0
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise UnsupportedError(f"auto_pad={auto!r}")
    begin, end = [], []
    for n, k, s, d in zip(size, kernel, stride, dilation):
        total = max(0, (-(-n // s) - 1) * s + (k - 1) * d + 1 - n)
        small, big = total // 2, total - total // 2
        begin.append(small if auto == "SAME_UPPER" else big)
        end.append(big if auto == "SAME_UPPER" else small)
    return begin[0], begin[1], end[0], end[1]


def _matmul_shape(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    """Output shape of numpy/ONNX ``MatMul`` of operands of shapes ``a`` and ``b``."""
    am = tuple(a) if len(a) > 1 else (1, *a)
    bm = tuple(b) if len(b) > 1 else (*b, 1)
    if am[-1] != bm[-2]:
        raise InputError(f"MatMul operands of shapes {tuple(a)} and {tuple(b)} do not fit")
    out = (*np.broadcast_shapes(am[:-2], bm[:-2]), am[-2], bm[-1])
    if len(a) == 1:
        out = (*out[:-2], out[-1])
    if len(b) == 1:
        out = out[:-1]
    return out


def _weight_2d(w: np.ndarray) -> np.ndarray:
    """A MatMul weight as a matrix: a vector becomes one row/column, leading unit axes go."""
    if w.ndim > 2 and any(d != 1 for d in w.shape[:-2]):
        raise UnsupportedError(f"MatMul with a batched weight of shape {w.shape}")
    return w.reshape(w.shape[-2:]) if w.ndim >= 2 else w


def _reshape_target(shape: Sequence[int], target: Sequence[int], allowzero: bool) -> tuple[int, ...]:
    """Resolve ONNX ``Reshape`` target ``target`` (with 0 = copy, -1 = infer) for input ``shape``."""
    out = [int(shape[i]) if t == 0 and not allowzero and i < len(shape) else int(t)
           for i, t in enumerate(target)]
    if out.count(-1) > 1:
        raise InputError(f"Reshape target {list(target)} has more than one -1")
    if -1 in out:
        known = prod(d for d in out if d != -1)
        out[out.index(-1)] = prod(shape) // known if known else -1
    if prod(out) != prod(shape) or min(out, default=0) < 0:
        raise InputError(f"cannot reshape {tuple(shape)} to {list(target)}")
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Constant folding: op_type -> numpy function of (attrs, *inputs); missing optional inputs are None


def _fold_div(attrs, a, b):
    if np.issubdtype(a.dtype, np.integer):
        return np.trunc(a / b).astype(a.dtype)
    return a / b


def _fold_squeeze(attrs, x, axes=None):
    ax = _axes(attrs, [x, axes])
    return np.squeeze(x) if ax is None else np.squeeze(x, axis=tuple(ax))


def _fold_unsqueeze(attrs, x, axes=None):
    ax = _axes(attrs, [x, axes])
    return np.expand_dims(x, tuple(a % (x.ndim + len(ax)) for a in ax))


def _flatten_axis(attrs: dict, rank: int) -> int:
    axis = int(attrs.get("axis", 1))
    return axis + rank if axis < 0 else axis


def _fold_flatten(attrs, x):
    axis = _flatten_axis(attrs, x.ndim)
    return x.reshape(prod(x.shape[:axis]), prod(x.shape[axis:]))


def _fold_shape(attrs, x):
    return np.array(x.shape, dtype=np.int64)[attrs.get("start", 0):attrs.get("end")]


def _fold_constant(attrs):
    if "value" in attrs:
        return numpy_helper.to_array(attrs["value"])
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return np.array(attrs[key], dtype=dtype)
    raise UnsupportedError(f"Constant with attribute {', '.join(attrs)}")


def _ints(v) -> list[int]:
    return [int(a) for a in np.ravel(v)]


def _fold_slice(attrs, x, starts=None, ends=None, axes=None, steps=None):
    """ONNX Slice: starts, ends, axes and steps as inputs (opset 10 on) or attributes (before)."""
    if starts is None:
        starts, ends, axes = attrs["starts"], attrs["ends"], attrs.get("axes")
    starts, ends = _ints(starts), _ints(ends)
    axes = range(len(starts)) if axes is None else [a % x.ndim for a in _ints(axes)]
    steps = [1] * len(starts) if steps is None else _ints(steps)
    index = [slice(None)] * x.ndim
    for a, start, end, step in zip(axes, starts, ends, steps):
        if step == 0:
            raise InputError("Slice with step 0")
        n = x.shape[a]
        start, end = (v + n if v < 0 else v for v in (start, end))
        if step > 0:
            start, end = min(max(start, 0), n), min(max(end, 0), n)
        else:
            start, end = min(max(start, 0), n - 1), min(max(end, -1), n - 1)
        index[a] = slice(start, None if end < 0 else end, step)
    return x[tuple(index)]


_PAD_MODES = ("constant", "reflect", "edge", "wrap")


def _fold_pad(attrs, x, pads=None, value=None, axes=None):
    """ONNX Pad: pads (begin values of the axes, then end values; negative ones crop), the constant
    value and the axes as inputs (opset 11 on) or attributes (before)."""
    mode = attrs.get("mode", "constant")
    if mode not in _PAD_MODES:
        raise UnsupportedError(f"Pad mode {mode!r}")
    pads = _ints(attrs["pads"] if pads is None else pads)
    value = float(attrs.get("value", 0.0)) if value is None else np.ravel(value)[0]
    axes = list(range(x.ndim)) if axes is None else [a % x.ndim for a in _ints(axes)]
    if len(pads) != 2 * len(axes):
        raise InputError(f"Pad has {len(pads)} pads for {len(axes)} axes")
    width = [(0, 0)] * x.ndim
    for k, a in enumerate(axes):
        width[a] = (pads[k], pads[k + len(axes)])
    x = x[tuple(slice(max(-b, 0), n - max(-e, 0)) for n, (b, e) in zip(x.shape, width))]
    width = [(max(b, 0), max(e, 0)) for b, e in width]
    return np.pad(x, width, constant_values=value) if mode == "constant" else np.pad(x, width, mode=mode)


def _fold_expand(attrs, x, shape):
    return np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(_ints(shape)))).copy()


def _fold_split(attrs, x, split=None):
    """ONNX Split into ``num_outputs`` parts (set from the node's outputs where the opset has no such
    attribute): sizes from ``split`` (input or attribute), else equal parts, the last one smaller."""
    axis = int(attrs.get("axis", 0)) % x.ndim
    n = x.shape[axis]
    sizes = _ints(split) if split is not None else _ints(attrs["split"]) if "split" in attrs else None
    if sizes is None:
        parts = int(attrs["num_outputs"])
        size = -(-n // parts)
        sizes = [size] * (parts - 1) + [n - size * (parts - 1)]
    if sum(sizes) != n or min(sizes) < 0:
        raise InputError(f"Split sizes {sizes} do not add up to the axis' {n}")
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


def _reduce_axes(attrs, ndim: int, axes=None) -> tuple[int, ...]:
    """The reduced axes of ReduceSum/ReduceMean: an attribute (older opsets) or an input; none given
    means all of them unless ``noop_with_empty_axes``."""
    axes = attrs.get("axes", axes)
    if axes is None or np.size(axes) == 0:
        return () if attrs.get("noop_with_empty_axes", 0) else tuple(range(ndim))
    return tuple(sorted({a % ndim for a in _ints(axes)}))


def _fold_reduce(mean: bool):
    def fold(attrs, x, axes=None):
        ax = _reduce_axes(attrs, x.ndim, axes)
        keep = bool(attrs.get("keepdims", 1))
        return (np.mean if mean else np.sum)(x, axis=ax, keepdims=keep) if ax else x
    return fold


_NEAREST = {"round_prefer_floor": lambda v: np.ceil(v - 0.5), "round_prefer_ceil": lambda v: np.floor(v + 0.5),
            "floor": np.floor, "ceil": np.ceil}


def _source_positions(mode: str, n_in: int, n_out: int, scale: float) -> np.ndarray:
    """Input coordinates of the output positions 0..n_out-1 of a resized axis (ONNX's
    ``coordinate_transformation_mode``)."""
    o = np.arange(n_out, dtype=np.float64)
    if mode == "half_pixel":
        return (o + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (o + 0.5) / scale - 0.5 if n_out > 1 else np.zeros(n_out)
    if mode == "align_corners":
        return o * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros(n_out)
    if mode == "asymmetric":
        return o / scale
    if mode == "tf_half_pixel_for_nn":
        return (o + 0.5) / scale
    raise UnsupportedError(f"Resize with coordinate_transformation_mode={mode!r}")


def _fold_resize(attrs, x, roi=None, scales=None, sizes=None):
    """ONNX Resize (and Upsample: ``asymmetric`` coordinates, ``floor``) with nearest neighbours."""
    if attrs.get("mode", "nearest") != "nearest":
        raise UnsupportedError(f"Resize mode {attrs['mode']!r} (nearest only)")
    if scales is None and "scales" in attrs:            # Upsample before opset 9
        scales = attrs["scales"]
    if sizes is not None and np.size(sizes):
        out = _ints(sizes)
        scales = [o / n for o, n in zip(out, x.shape)]
    else:
        scales = [float(v) for v in np.ravel(scales)]
        out = [int(np.floor(n * s)) for n, s in zip(x.shape, scales)]
    if len(out) != x.ndim or attrs.get("axes") is not None:
        raise UnsupportedError("Resize of some axes only")
    mode = attrs.get("coordinate_transformation_mode", "half_pixel")
    nearest = _NEAREST.get(attrs.get("nearest_mode", "round_prefer_floor"))
    if nearest is None:
        raise UnsupportedError(f"Resize with nearest_mode={attrs['nearest_mode']!r}")
    for a, (n, m, s) in enumerate(zip(x.shape, out, scales)):
        if m != n or s != 1:
            pos = np.clip(nearest(_source_positions(mode, n, m, s)), 0, n - 1).astype(np.int64)
            x = np.take(x, pos, axis=a)
    return x


def _fold_upsample(attrs, x, scales=None):
    return _fold_resize({**attrs, "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
                        x, scales=scales)


_FOLD: dict[str, Callable[..., np.ndarray]] = {
    "Constant": _fold_constant,
    "Identity": lambda attrs, x: x,
    "Add": lambda attrs, a, b: a + b,
    "Sub": lambda attrs, a, b: a - b,
    "Mul": lambda attrs, a, b: a * b,
    "Div": _fold_div,
    "Neg": lambda attrs, x: -x,
    "MatMul": lambda attrs, a, b: a @ b,
    "Reshape": lambda attrs, x, s: x.reshape(_reshape_target(x.shape, s, bool(attrs.get("allowzero", 0)))),
    "Flatten": _fold_flatten,
    "Transpose": lambda attrs, x: np.transpose(x, attrs.get("perm")),
    "Squeeze": _fold_squeeze,
    "Unsqueeze": _fold_unsqueeze,
    "Concat": lambda attrs, *xs: np.concatenate(xs, axis=int(attrs["axis"])),
    "Gather": lambda attrs, x, i: np.take(x, i, axis=int(attrs.get("axis", 0))),
    "Cast": lambda attrs, x: x.astype(onnx.helper.tensor_dtype_to_np_dtype(attrs["to"])),
    "Shape": _fold_shape,
    "ConstantOfShape": lambda attrs, shape: np.full(_ints(shape), numpy_helper.to_array(attrs["value"]).reshape(-1)[0]
                                                     if "value" in attrs else np.float32(0)),
    "Range": lambda attrs, start, limit, delta: np.arange(start, limit, delta, dtype=np.result_type(start, limit, delta)),
    "Equal": lambda attrs, a, b: np.equal(a, b),
    "Less": lambda attrs, a, b: np.less(a, b),
    "Greater": lambda attrs, a, b: np.greater(a, b),
    "Not": lambda attrs, a: np.logical_not(a),
    "And": lambda attrs, a, b: np.logical_and(a, b),
    "Or": lambda attrs, a, b: np.logical_or(a, b),
    "Where": lambda attrs, c, a, b: np.where(c, a, b),
    "Floor": lambda attrs, x: np.floor(x),
    "Ceil": lambda attrs, x: np.ceil(x),
    "Abs": lambda attrs, x: np.abs(x),
    "Sqrt": lambda attrs, x: np.sqrt(x),
    "Pow": lambda attrs, x, y: np.power(x, y).astype(x.dtype),
    "Sin": lambda attrs, x: np.sin(x),
    "Cos": lambda attrs, x: np.cos(x),
    "Min": lambda attrs, *xs: np.minimum.reduce(np.broadcast_arrays(*xs)),
    "Max": lambda attrs, *xs: np.maximum.reduce(np.broadcast_arrays(*xs)),
    "Slice": _fold_slice,
    "Pad": _fold_pad,
    "Expand": _fold_expand,
    "Split": _fold_split,
    "ReduceSum": _fold_reduce(mean=False),
    "ReduceMean": _fold_reduce(mean=True),
    "Resize": _fold_resize,
    "Upsample": _fold_upsample,
}
"""Every operator whose result is computed here when all its inputs are constants."""

_STRUCTURAL = ("Slice", "Gather", "Pad", "Expand", "Split", "Resize", "Upsample")
"""Operators that pick, repeat or pad entries: a computed tensor's result is the sparse map that the
folding function gives on the tensor's entry positions (:func:`_structural`)."""


# ---------------------------------------------------------------------------------------------
# Converters: (graph, node, attrs, inputs) -> output value


_Converter = Callable[[_Graph, onnx.NodeProto, dict, list], _Value]


def _passthrough(g, node, attrs, args):
    return args[0]


def _shape(g, node, attrs, args):
    return _fold_shape(attrs, args[0])


def _activation(make: Callable[[dict], Op]) -> _Converter:
    return lambda g, node, attrs, args: g.emit(_label(node), make(attrs), [_tensor(args[0])])


def _prelu(g, node, attrs, args):
    """PRelu with one slope for every entry (``torch.nn.PReLU()``'s default) is a leaky ReLU."""
    slope = _const(args[1], "PRelu slope")
    if np.unique(slope).size != 1:
        raise UnsupportedError(f"PRelu with {slope.size} different slopes (one slope for every entry only)")
    return g.emit(_label(node), LeakyRelu(float(slope.reshape(-1)[0])), [_tensor(args[0])])


def _unary(g, node, attrs, args):
    """Sin, Cos, Floor, Ceil, Abs, Exp of a computed tensor, and Pow of one by a constant exponent:
    forward and backward only (no relaxation: the bounding methods refuse them; attacks, sampling and
    replay run them)."""
    x = _tensor(args[0], f"the base of {node.op_type}" if node.op_type == "Pow" else "its input")
    if node.op_type != "Pow":
        return g.emit(_label(node), Unary(node.op_type), [x])
    exponent = _const(args[1], "the exponent of Pow")
    if exponent.size != 1:
        raise UnsupportedError(f"Pow with an exponent of shape {exponent.shape} (one exponent only)")
    return g.emit(_label(node), Unary("Pow", float(exponent.reshape(-1)[0])), [x])


def _clip(g, node, attrs, args):
    lo, hi = float(attrs.get("min", -np.inf)), float(attrs.get("max", np.inf))
    if len(args) > 1 and args[1] is not None:
        lo = float(_const(args[1], "Clip min").item())
    if len(args) > 2 and args[2] is not None:
        hi = float(_const(args[2], "Clip max").item())
    return g.emit(_label(node), Clip(lo, hi), [_tensor(args[0])])


def _hard_sigmoid(g, node, attrs, args):
    name = _label(node)
    a = g.emit(f"{name}/affine", ElementwiseAffine(attrs.get("alpha", 0.2), attrs.get("beta", 0.5)),
               [_tensor(args[0])])
    return g.emit(name, Clip(0.0, 1.0), [a])


def _neg(g, node, attrs, args):
    return g.emit(_label(node), ElementwiseAffine(-1.0, 0.0), [_tensor(args[0])])


def _arithmetic(g, node, attrs, args):
    """Add/Sub/Mul/Div: affine with a constant on either side. Of two tensors (broadcast to one shape):
    Add and Sub are affine, Mul a :class:`Product` (of a tensor with itself, its square) and Div the
    product with the reciprocal (``Pow -1``)."""
    kind, name = node.op_type, _label(node)
    a, b = args
    if isinstance(a, _Tensor) and isinstance(b, _Tensor):
        if kind == "Mul" and a == b:
            return g.emit(name, Unary("Pow", 2.0), [a])
        shape = np.broadcast_shapes(a.shape, b.shape)
        a, b = (_broadcast(g, t, shape, f"{name}/{k}") for k, t in (("a", a), ("b", b)))
        if kind == "Div":
            b = g.emit(f"{name}/reciprocal", Unary("Pow", -1.0), [b])
        if kind in ("Mul", "Div"):
            return g.emit(name, Product(), [a, b])
        if kind == "Sub":
            b = g.emit(f"{name}/neg", ElementwiseAffine(-1.0, 0.0), [b])
        return g.emit(name, Add(), [a, b])
    const_first = isinstance(b, _Tensor)
    if kind == "Div" and const_first:
        raise UnsupportedError("division by a computed tensor is nonlinear")
    x, c = (b, a) if const_first else (a, b)
    if attrs.get("broadcast") and "axis" in attrs:  # opset < 7: align c at the given axis
        c = c.reshape(c.shape + (1,) * (len(x.shape) - int(attrs["axis"]) - c.ndim))
    x = _broadcast(g, x, np.broadcast_shapes(x.shape, np.shape(c)), f"{name}/expand")
    c = g.per_sample_const(x.shape, c)
    if kind == "Add":
        op = ElementwiseAffine(1.0, c)
    elif kind == "Sub":
        op = ElementwiseAffine(-1.0, c) if const_first else ElementwiseAffine(1.0, -c)
    elif kind == "Mul":
        op = ElementwiseAffine(c, 0.0)
    else:
        op = ElementwiseAffine(1.0 / c, 0.0)
    return g.emit(name, op, [x])


SPARSE_SIZE = 1_000_000
"""Dense-layer weights of at least this many entries are kept sparse when they are sparse enough."""
SPARSE_DENSITY = 0.01
"""The largest share of nonzero weights kept sparse (measured on a 8192x2048 layer at 0.05%: interval
bounds 0.86 s dense, a few milliseconds sparse)."""


def _dense_layer(g: _Graph, x: _Tensor, w: np.ndarray, bias: np.ndarray) -> Op:
    """``x W^T + b`` on the last axis: a :class:`Linear`, or a :class:`SparseAffine` for a large and
    sparse ``W`` on a vector input (chain-only methods, ``milp`` and ``exact-star``, then refuse the
    network; the bounds of every other method keep the matrix sparse)."""
    vector = len(g.per_sample(x.shape)) == 1
    if vector and w.size >= SPARSE_SIZE and np.count_nonzero(w) <= SPARSE_DENSITY * w.size:
        return SparseAffine(sp.csr_matrix(w), np.asarray(bias, np.float64), (w.shape[0],))
    return Linear(w, bias)


def _matmul(g, node, attrs, args):
    """``x @ W`` is a Linear on the last axis; ``W @ x`` a Linear on axis -2 (transposed around)."""
    name = _label(node)
    a, b = args
    if isinstance(a, _Tensor) and isinstance(b, _Tensor):
        raise UnsupportedError("MatMul of two computed tensors is nonlinear")
    if isinstance(b, np.ndarray):
        w = _weight_2d(b)
        w = w[:, None] if w.ndim == 1 else w
        y = g.emit(name, _dense_layer(g, a, w.T, np.zeros(w.shape[1])), [a])
        return g.reshape_to(y, _matmul_shape(a.shape, b.shape), f"{name}/reshape")
    x, w = b, _weight_2d(a)
    w = w[None, :] if w.ndim == 1 else w
    rank = len(g.per_sample(x.shape))
    if len(x.shape) == 1 and not g.batch:
        y = g.emit(name, Linear(w, np.zeros(w.shape[0])), [x])
    elif rank >= 2:
        perm = (*range(rank - 2), rank - 1, rank - 2)
        t = g.emit(f"{name}/transpose", Transpose(perm), [x])
        t = g.emit(f"{name}/linear", Linear(w, np.zeros(w.shape[0])), [t])
        y = g.emit(name, Transpose(perm), [t])
    else:
        raise _BatchAxisError(f"MatMul of a {w.shape} weight with a tensor of shape {x.shape} "
                               "contracts the batch axis")
    return g.reshape_to(y, _matmul_shape(a.shape, x.shape), f"{name}/reshape")


def _gemm(g, node, attrs, args):
    """``alpha A B' + beta C`` as a Linear on the last axis of A (which may have rank > 2, as in
    NNV-exported models)."""
    name = _label(node)
    if attrs.get("transA", 0):
        raise UnsupportedError("Gemm with transA=1")
    x = _tensor(args[0], "Gemm input A")
    b = _const(args[1], "Gemm input B")
    w = float(attrs.get("alpha", 1.0)) * (b if attrs.get("transB", 0) else b.T)
    bias, extra = np.zeros(w.shape[0]), None
    if len(args) > 2 and args[2] is not None:
        shape = (*x.shape[:-1], w.shape[0])
        c = float(attrs.get("beta", 1.0)) * g.per_sample_const(shape, _const(args[2], "Gemm input C"))
        if c.ndim <= 1:
            bias = np.broadcast_to(c, bias.shape)
        else:
            extra = c
    y = g.emit(name if extra is None else f"{name}/linear", _dense_layer(g, x, w, bias), [x])
    return y if extra is None else g.emit(name, ElementwiseAffine(1.0, extra), [y])


def _spatial(g: _Graph, name: str, op: Op, x: _Tensor) -> _Tensor:
    """Apply a (C, H, W) op to a full (N, C, H, W) tensor; without a batch axis N must be 1 and
    is reshaped away and back."""
    if g.batch:
        return g.emit(name, op, [x])
    if x.shape[0] != 1:
        raise UnsupportedError(f"a batch of {x.shape[0]} samples in a model without a batch axis")
    y = g.emit(name, op, [g.reshape_to(x, x.shape[1:], f"{name}/chw")])
    return g.reshape_to(y, (1, *y.shape), f"{name}/nchw")


def _conv(g, node, attrs, args):
    x, w = _tensor(args[0]), _const(args[1], "Conv weight")
    if len(x.shape) == 3 and w.ndim == 3:                  # 1-D: a 2-D convolution of height 1
        one_d = {"strides": [1, *attrs.get("strides", [1])], "dilations": [1, *attrs.get("dilations", [1])],
                 "auto_pad": attrs.get("auto_pad", "NOTSET")}
        begin, end = attrs.get("pads", (0, 0))
        one_d["pads"] = [0, begin, 0, end]
        name = _label(node)
        x2 = g.reshape_to(x, (x.shape[0], x.shape[1], 1, x.shape[2]), f"{name}/2d")
        y = _conv(g, node, {**attrs, **one_d}, [x2, w[:, :, None, :], *args[2:]])
        return g.reshape_to(y, (y.shape[0], y.shape[1], y.shape[3]), f"{name}/1d")
    x = _rank4(x)
    if w.ndim != 4:
        raise UnsupportedError(f"only 1-D and 2-D convolution are supported, got a weight of shape {w.shape}")
    bias = _const(args[2], "Conv bias") if len(args) > 2 and args[2] is not None else np.zeros(w.shape[0])
    stride = tuple(attrs.get("strides", (1, 1)))
    dilation = tuple(attrs.get("dilations", (1, 1)))
    pads = _pads(attrs, x.shape[2:], w.shape[2:], stride, dilation)
    op = Conv2d(w, bias, stride, pads, dilation, int(attrs.get("group", 1)))
    return _spatial(g, _label(node), op, x)


def _conv_transpose(g, node, attrs, args):
    """ConvTranspose: the transpose of the convolution that maps its output shape back to its input
    (same weight, strides, pads, dilations and groups), one sparse matrix, plus the bias."""
    x = _rank4(_tensor(args[0]))
    w = _const(args[1], "ConvTranspose weight")            # (C_in, C_out / group, kh, kw)
    if w.ndim != 4:
        raise UnsupportedError(f"only 2-D transposed convolution is supported, got a weight of shape {w.shape}")
    groups = int(attrs.get("group", 1))
    c_out = w.shape[1] * groups
    bias = _const(args[2], "ConvTranspose bias") if len(args) > 2 and args[2] is not None else np.zeros(c_out)
    stride = tuple(int(v) for v in attrs.get("strides", (1, 1)))
    dilation = tuple(int(v) for v in attrs.get("dilations", (1, 1)))
    extra = tuple(int(v) for v in attrs.get("output_padding", (0, 0)))
    if attrs.get("auto_pad", "NOTSET") != "NOTSET" or "output_shape" in attrs:
        raise UnsupportedError("ConvTranspose with auto_pad or output_shape (explicit pads only)")
    t, l, b, r = (int(v) for v in attrs.get("pads", (0, 0, 0, 0)))
    size = [s * (n - 1) + e + (k - 1) * d + 1 - p0 - p1
            for n, s, e, k, d, p0, p1 in zip(x.shape[2:], stride, extra, w.shape[2:], dilation, (t, l), (b, r))]
    forward = Conv2d(w, np.zeros(w.shape[0]), stride, (t, l, b, r), dilation, groups)
    out_shape = (c_out, *size)
    if min(size) < 1 or forward.output_shape(out_shape) != tuple(x.shape[1:]):
        raise InputError(f"ConvTranspose output shape {out_shape} does not fit the input {x.shape}")
    matrix = forward.matrices(out_shape)[1]
    return g.emit(_label(node), SparseAffine(matrix, np.repeat(np.asarray(bias, np.float64), prod(size)), out_shape), [x])

def _pool_geometry(attrs, x: _Tensor):
    kernel = tuple(int(k) for k in attrs["kernel_shape"])
    if len(kernel) != 2:
        raise UnsupportedError(f"only 2-D pooling is supported, got kernel_shape {list(kernel)}")
    stride = tuple(int(s) for s in attrs.get("strides", (1, 1)))
    dilation = tuple(int(d) for d in attrs.get("dilations", (1, 1)))
    return kernel, stride, dilation, _pads(attrs, x.shape[2:], kernel, stride, dilation)


def _max_pool(g, node, attrs, args):
    x = _rank4(_tensor(args[0]))
    kernel, stride, dilation, pads = _pool_geometry(attrs, x)
    op = MaxPool2d(kernel, stride, pads, dilation, bool(attrs.get("ceil_mode", 0)))
    return _spatial(g, _label(node), op, x)


def _average_pool(g, node, attrs, args):
    x = _rank4(_tensor(args[0]))
    kernel, stride, dilation, pads = _pool_geometry(attrs, x)
    if dilation != (1, 1):
        raise UnsupportedError(f"AveragePool with dilations {list(dilation)}")
    op = AvgPool2d(kernel, stride, pads, count_include_pad=bool(attrs.get("count_include_pad", 0)),
                   ceil_mode=bool(attrs.get("ceil_mode", 0)))
    return _spatial(g, _label(node), op, x)


def _global_pool(pool: type[AvgPool2d] | type[MaxPool2d]) -> _Converter:
    def convert(g, node, attrs, args):
        x = _rank4(_tensor(args[0]))
        return _spatial(g, _label(node), pool(x.shape[2:], (1, 1)), x)
    return convert


def _batch_norm(g, node, attrs, args):
    """Inference batch norm: folded into the Conv/Gemm producing its input when that feeds nothing
    else, otherwise a per-channel ElementwiseAffine. The channel axis is ONNX axis 1."""
    if attrs.get("training_mode", 0):
        raise UnsupportedError("BatchNormalization in training mode")
    x = _tensor(args[0])
    gamma, beta, mean, var = (_const(a, "BatchNormalization parameters").astype(np.float64)
                              for a in args[1:5])
    scale = gamma / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
    offset = beta - mean * scale
    k = g.index.get(x.node)
    producer = g.layers[k][1] if k is not None else None
    foldable = isinstance(producer, Conv2d) or isinstance(producer, Linear) and len(x.shape) == 2
    if foldable and g.sole_use(x):
        name, _, inputs = g.layers[k]
        if isinstance(producer, Conv2d):
            op = Conv2d(producer.weight * scale[:, None, None, None], producer.bias * scale + offset,
                        producer.stride, producer.padding, producer.dilation, producer.groups)
        else:
            op = Linear(producer.weight * scale[:, None], producer.bias * scale + offset)
        g.layers[k] = (name, op, inputs)
        return x
    channel = (-1,) + (1,) * (len(x.shape) - 2)
    op = ElementwiseAffine(g.per_sample_const(x.shape, scale.reshape(channel)),
                           g.per_sample_const(x.shape, offset.reshape(channel)))
    return g.emit(_label(node), op, [x])


def _flatten(g, node, attrs, args):
    x = _tensor(args[0])
    a = _flatten_axis(attrs, len(x.shape))
    if g.batch and a != 1:
        raise _BatchAxisError(f"Flatten with axis={attrs.get('axis', 1)} merges the batch axis "
                               "with others")
    return g.reshape_to(x, (prod(x.shape[:a]), prod(x.shape[a:])), _label(node))


def _reshape(g, node, attrs, args):
    x = _tensor(args[0])
    target = _reshape_target(x.shape, _const(args[1], "Reshape shape").reshape(-1),
                             bool(attrs.get("allowzero", 0)))
    return g.reshape_to(x, target, _label(node))


def _transpose(g, node, attrs, args):
    x = _tensor(args[0])
    perm = [int(p) for p in attrs.get("perm", range(len(x.shape) - 1, -1, -1))]
    if g.batch:
        if perm[0] != 0:
            raise _BatchAxisError(f"Transpose with perm={perm} moves the batch axis")
        perm = [p - 1 for p in perm[1:]]
    if perm == sorted(perm):
        return x
    return g.emit(_label(node), Transpose(tuple(perm)), [x])


def _squeeze(g, node, attrs, args):
    x = _tensor(args[0])
    axes = _axes(attrs, args)
    if axes is None:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    axes = [a % len(x.shape) for a in axes]
    if any(x.shape[a] != 1 for a in axes):
        raise InputError(f"cannot squeeze axes {axes} of shape {x.shape}")
    if g.batch and 0 in axes:
        raise _BatchAxisError("Squeeze removes the batch axis")
    return g.reshape_to(x, tuple(d for i, d in enumerate(x.shape) if i not in axes), _label(node))


def _unsqueeze(g, node, attrs, args):
    x = _tensor(args[0])
    axes = _axes(attrs, args)
    if axes is None:
        raise InputError("Unsqueeze without axes")
    rank = len(x.shape) + len(axes)
    axes = sorted(a % rank for a in axes)
    if g.batch and axes[0] == 0:
        raise _BatchAxisError("Unsqueeze at axis 0 moves the batch axis")
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return g.reshape_to(x, tuple(shape), _label(node))


def _concat(g, node, attrs, args):
    xs = [_tensor(a, "every Concat input") for a in args]
    axis = int(attrs["axis"]) % len(xs[0].shape)
    if g.batch:
        if axis == 0:
            raise _BatchAxisError("Concat along the batch axis")
        axis -= 1
    return xs[0] if len(xs) == 1 else g.emit(_label(node), Concat(axis, len(xs)), xs)


def _index_map(g: _Graph, name: str, x: _Tensor, index: np.ndarray, fill: float = 0.0) -> _Tensor:
    """The tensor of full shape ``index.shape`` whose entries are ``x``'s at the flat positions
    ``index`` (``-1``: the constant ``fill``)."""
    if g.batch and (index.ndim == 0 or index.shape[0] != 1):
        raise _BatchAxisError(f"the result of shape {index.shape} moves the batch axis")
    flat = index.reshape(-1)
    if flat.size == prod(x.shape) and np.array_equal(flat, np.arange(flat.size)):
        return g.reshape_to(x, index.shape, name)
    rows = np.flatnonzero(flat >= 0)
    matrix = sp.csr_matrix((np.ones(rows.size), (rows, flat[rows])), shape=(flat.size, prod(x.shape)))
    return g.emit(name, SparseAffine(matrix, np.where(flat >= 0, 0.0, fill), g.per_sample(index.shape)), [x])


def _broadcast(g: _Graph, x: _Tensor, shape: tuple[int, ...], name: str) -> _Tensor:
    """``x`` broadcast to the full ``shape`` (its entries repeated; no layer when it has that shape)."""
    if x.shape == tuple(shape):
        return x
    return _index_map(g, name, x, np.broadcast_to(np.arange(prod(x.shape)).reshape(x.shape), shape))


def _structural(g, node, attrs, args):
    """A :data:`_STRUCTURAL` operator on a computed tensor with constant other inputs: its folding
    function applied to the tensor's entry positions says where each entry of the result comes from
    (constant padding is marked ``-1`` and filled with its value)."""
    x, name = _tensor(args[0], f"the data input of {node.op_type}"), _label(node)
    consts = [a if a is None else _const(a, f"{node.op_type}'s input {node.input[k + 1]!r}")
              for k, a in enumerate(args[1:])]
    fill = 0.0
    if node.op_type == "Pad" and attrs.get("mode", "constant") == "constant":
        given = consts[1] if len(consts) > 1 and consts[1] is not None and np.size(consts[1]) else None
        fill = float(np.ravel(given)[0]) if given is not None else float(attrs.get("value", 0.0))
        attrs = {**attrs, "value": -1}
        if given is not None:
            consts[1] = np.array(-1)
    out = _FOLD[node.op_type](attrs, np.arange(prod(x.shape)).reshape(x.shape), *consts)
    if isinstance(out, tuple):
        return tuple(_index_map(g, f"{name}/{k}", x, part, fill) for k, part in enumerate(out))
    return _index_map(g, name, x, out, fill)


def _reduce(g, node, attrs, args):
    """ReduceSum / ReduceMean of a computed tensor: each result entry sums (averages) a group."""
    x, name = _tensor(args[0]), _label(node)
    axes = _reduce_axes(attrs, len(x.shape), _const(args[1], "the axes") if len(args) > 1 else None)
    if not axes:
        return x
    if g.batch and 0 in axes:
        raise _BatchAxisError(f"{node.op_type} over the batch axis")
    keep = [a for a in range(len(x.shape)) if a not in axes]
    groups = np.transpose(np.arange(prod(x.shape)).reshape(x.shape), keep + list(axes)).reshape(prod(x.shape[a] for a in keep), -1)
    rows = np.repeat(np.arange(groups.shape[0]), groups.shape[1])
    weight = 1.0 / groups.shape[1] if node.op_type == "ReduceMean" else 1.0
    matrix = sp.csr_matrix((np.full(rows.size, weight), (rows, groups.ravel())), shape=(groups.shape[0], prod(x.shape)))
    shape = tuple(1 if a in axes else d for a, d in enumerate(x.shape)) if attrs.get("keepdims", 1) else \
        tuple(x.shape[a] for a in keep)
    return g.emit(name, SparseAffine(matrix, np.zeros(groups.shape[0]), g.per_sample(shape)), [x])


_CONVERTERS: dict[str, _Converter] = {
    "Identity": _passthrough,
    "Dropout": _passthrough,
    "Shape": _shape,
    "Add": _arithmetic,
    "Sub": _arithmetic,
    "Mul": _arithmetic,
    "Div": _arithmetic,
    "Neg": _neg,
    "MatMul": _matmul,
    "Gemm": _gemm,
    "Relu": _activation(lambda attrs: Relu()),
    "LeakyRelu": _activation(lambda attrs: LeakyRelu(float(attrs.get("alpha", 0.01)))),
    "PRelu": _prelu,
    **{op: _unary for op in ("Sin", "Cos", "Floor", "Ceil", "Abs", "Exp", "Pow")},
    "Sigmoid": _activation(lambda attrs: Sigmoid()),
    "Tanh": _activation(lambda attrs: Tanh()),
    "Clip": _clip,
    "HardSigmoid": _hard_sigmoid,
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "BatchNormalization": _batch_norm,
    "MaxPool": _max_pool,
    "AveragePool": _average_pool,
    "GlobalAveragePool": _global_pool(AvgPool2d),
    "GlobalMaxPool": _global_pool(MaxPool2d),
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Concat": _concat,
    **{op: _structural for op in _STRUCTURAL},
    "ReduceSum": _reduce,
    "ReduceMean": _reduce,
}


# ---------------------------------------------------------------------------------------------
# Whole-graph checks and the conversion loop


def _op_key(node: onnx.NodeProto) -> str:
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"


def _check_operators(graph: onnx.GraphProto, source: str) -> None:
    """Raise one UnsupportedError listing every unsupported node, grouped by operator."""
    constant = {t.name for t in graph.initializer}
    bad: dict[str, list[str]] = {}
    for node in graph.node:
        op = _op_key(node)
        if op in ("Constant", "Shape") or op in _FOLD and all(i in constant for i in node.input if i):
            constant.update(node.output)
        elif op not in _CONVERTERS:
            bad.setdefault(op, []).append(_label(node))
    if bad:
        parts = [f"{op} (node{'s' if len(names) > 1 else ''} {', '.join(repr(n) for n in names)})"
                 for op, names in bad.items()]
        raise UnsupportedError(f"{source}: unsupported ONNX operators: {', '.join(parts)}")


def _input(graph: onnx.GraphProto, source: str) -> tuple[onnx.ValueInfoProto, tuple[int, ...], bool]:
    """The single graph input, its full shape (batch size 1) and whether it has a batch axis."""
    inits = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise UnsupportedError(f"{source}: the graph has {len(inputs)} inputs "
                               f"({', '.join(repr(i.name) for i in inputs)}); exactly one is supported")
    vi = inputs[0]
    if not vi.type.HasField("tensor_type"):
        raise UnsupportedError(f"{source}: input {vi.name!r} is not a tensor")
    tt = vi.type.tensor_type
    if tt.elem_type not in _FLOAT_TYPES:
        kind = onnx.TensorProto.DataType.Name(tt.elem_type)
        raise UnsupportedError(f"{source}: input {vi.name!r} has type {kind}; "
                               "only float and double are supported")
    if not tt.HasField("shape"):
        raise UnsupportedError(f"{source}: input {vi.name!r} has no shape")
    dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tt.shape.dim]
    batch = len(dims) >= 2 and dims[0] in (None, 1)
    if batch:
        dims[0] = 1
    if any(d is None for d in dims):
        text = [d.dim_param or (str(d.dim_value) if d.dim_value > 0 else "?") for d in tt.shape.dim]
        raise UnsupportedError(f"{source}: input {vi.name!r} has unknown dimensions [{', '.join(text)}]")
    return vi, tuple(dims), batch


def _convert_node(g: _Graph, node: onnx.NodeProto) -> None:
    op, attrs = _op_key(node), _attrs(node)
    if op == "Split":          # the only operator with several outputs here
        attrs.setdefault("num_outputs", len(node.output))
    else:
        for extra in node.output[1:]:
            if extra and g.uses[extra]:
                raise UnsupportedError(f"its output {extra!r} is used; only the first output is supported")
    try:
        args = [g.values[i] if i else None for i in node.input]
    except KeyError as e:
        raise InputError(f"input {e.args[0]!r} is not defined") from None
    while args and args[-1] is None:
        args.pop()
    if op in _FOLD and all(isinstance(a, np.ndarray) or a is None for a in args):
        out = _FOLD[op](attrs, *args)
        out = tuple(np.asarray(o) for o in out) if isinstance(out, tuple) else np.asarray(out)
    else:
        out = _CONVERTERS[op](g, node, attrs, args)
    for name, value in zip(node.output, out if isinstance(out, tuple) else (out,)):
        if name:
            g.values[name] = value


_Layer = tuple[str, Op, tuple[str, ...]]


def _prune(layers: list[_Layer], output: str) -> list[_Layer]:
    """Drop layers the output does not depend on."""
    needed, kept = {output}, []
    for layer in reversed(layers):
        if layer[0] in needed:
            kept.append(layer)
            needed.update(layer[2])
    return kept[::-1]


def onnx_to_network(model: onnx.ModelProto, source: str = "ONNX model") -> Network:
    """Convert an in-memory ONNX model; ``source`` names it in error messages.

    Returns:
        a Network whose input shape is the per-sample input shape (the ONNX input shape without
        its batch axis, if it has one and no op mixes it with the others) and whose output is the
        graph output (per-sample shape).
    Raises:
        InputError: the model fails ``onnx.checker``, its shapes do not fit, or a weight is NaN or infinite.
        UnsupportedError: unsupported operators (all listed at once), several inputs or outputs,
            or non-float input.
    """
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as e:
        raise InputError(f"{source}: invalid ONNX model: {' '.join(str(e).split())}") from None
    graph = model.graph
    _check_operators(graph, source)
    vi, shape, batch = _input(graph, source)
    if len(graph.output) != 1:
        raise UnsupportedError(f"{source}: the graph has {len(graph.output)} outputs; "
                               "exactly one is supported")
    try:
        net = _convert(graph, vi, shape, batch, source)
    except _BatchAxisError:
        if not batch:
            raise
        net = _convert(graph, vi, shape, False, source)
    _check_finite(net, source)
    return net


def _convert(graph: onnx.GraphProto, vi: onnx.ValueInfoProto, shape: tuple[int, ...], batch: bool,
             source: str) -> Network:
    """The network of ``graph`` whose input ``vi`` has the full shape ``shape``, its first axis taken
    as the batch axis when ``batch``."""
    out = graph.output[0].name
    uses = Counter(i for node in graph.node for i in node.input if i)
    uses[out] += 1
    g = _Graph(batch, uses)
    g.values.update((t.name, numpy_helper.to_array(t)) for t in graph.initializer)
    g.values[vi.name] = _Tensor(INPUT, shape)
    for node in graph.node:
        try:
            _convert_node(g, node)
        except (InputError, ValueError, IndexError) as e:
            cls = type(e) if isinstance(e, InputError) else InputError
            raise cls(f"{source}: ONNX node {_label(node)!r} ({node.op_type}): {e}") from None
    result = g.values.get(out)
    if not isinstance(result, _Tensor):
        raise UnsupportedError(f"{source}: the output {out!r} does not depend on the input")
    if result.node == INPUT:
        result = g.emit(out, Reshape(g.per_sample(shape)), [result])
    try:
        net = Network.build(g.per_sample(shape), _prune(g.layers, result.node), result.node)
    except ValueError as e:
        raise InputError(f"{source}: {e}") from None
    return net


def _check_finite(net: Network, source: str) -> None:
    """Raise InputError naming the first node whose weights hold NaN or infinite values."""
    for node in net.nodes:
        for name in ("weight", "bias", "scale", "offset"):
            value = getattr(node.op, name, None)
            if isinstance(value, np.ndarray) and not np.all(np.isfinite(value)):
                raise InputError(f"{source}: node {node.name!r} has NaN or infinite {name} values")


def load_onnx(path: str | os.PathLike) -> Network:
    """Load an ``.onnx`` file, or a gzip-compressed ``.onnx.gz``, as a :class:`Network` (see
    :func:`onnx_to_network`).

    Raises:
        InputError: the file is missing, unreadable, not valid gzip, not an ONNX protobuf, or invalid.
        UnsupportedError: the model uses something nnreach cannot represent.
    """
    from onnx.external_data_helper import load_external_data_for_model

    from . import read_file

    p = check_readable(path, "ONNX model")
    data = read_file(p, "ONNX model")
    try:
        model = onnx.load_model_from_string(data)
        load_external_data_for_model(model, str(p.parent))  # as onnx.load(p) does
    except Exception as e:  # protobuf raises assorted types on garbage input
        reason = " ".join(str(e).split()) or type(e).__name__
        raise InputError(f"{p}: not a readable ONNX model: {reason}") from None
    return onnx_to_network(model, str(p))


def supported_operators() -> list[str]:
    """The ONNX operators :func:`load_onnx` reads wherever they stand, sorted: those it converts on
    tensors computed from the input, and Constant. Operators it computes on constants only (shape
    arithmetic: Cast, Range, Equal, Sin, ... in :data:`_FOLD`) are not claimed: a model applying
    one to the input fails to load."""
    return sorted(set(_CONVERTERS) | {"Constant"})


def supported_opsets() -> tuple[int, int]:
    """The ONNX opset versions (oldest, newest) :func:`load_onnx` reads: the converters take both the
    attribute forms of early opsets and the input forms of later ones, up to the newest opset of
    the installed ``onnx`` package."""
    return 1, onnx.defs.onnx_opset_version()
