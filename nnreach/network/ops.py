"""Network operations: small frozen objects with a batched numeric forward and backward pass.

Conventions (all ops):

* Tensors carry a leading batch axis: an op with per-sample input shape ``s`` receives arrays of
  shape ``(batch, *s)``. Shapes stored on ops (``Reshape.shape``, ...) are per-sample shapes.
* ``forward(*xs)`` computes in the dtype of its first input (parameters are cast to it), so float64
  by default and float32 on request.
* ``backward(xs, gy)`` is the vector-Jacobian product: given the op's inputs ``xs`` and the gradient
  ``gy`` with respect to its output, it returns one gradient per input.
* ``output_shape(*shapes)`` infers the per-sample output shape and raises ``ValueError`` naming the
  mismatch when the input shapes do not fit.
* ``is_affine`` tells reachability code that the op is an affine map of its inputs.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from math import prod

import numpy as np
import scipy.sparse as sp

from ..sets._array import frozen


_DERIVED: "weakref.WeakKeyDictionary[Op, dict]" = weakref.WeakKeyDictionary()
"""What each op derives once, by key: its ``"magnitude"`` (interval bounds push radii through it on
every call: measured 0.58 s of 0.62 s for a 8192x2048 layer), a convolution's sparse matrices by input
shape."""


def derived(op: "Op", key, make):
    """``make()``, computed once per op and key (ops are immutable)."""
    cache = _DERIVED.setdefault(op, {})
    if key not in cache:
        cache[key] = make()
    return cache[key]


def _param(x, dtype) -> np.ndarray:
    return x if x.dtype == dtype else x.astype(dtype)


class Op:
    """Base class of all operations."""

    is_affine: bool = False
    arity: int = 1

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, xs: tuple[np.ndarray, ...], gy: np.ndarray) -> tuple[np.ndarray, ...]:
        raise NotImplementedError

    def output_shape(self, *shapes: tuple[int, ...]) -> tuple[int, ...]:
        return shapes[0]

    def describe(self) -> str:
        """A short human-readable description for ``nnreach info``."""
        return type(self).__name__

    def magnitude(self) -> "Op":
        """For an affine op: the op whose linear part is the entrywise absolute value of this one's,
        with no offset (what interval and symbolic bounds push radii through). The default is for
        affine ops whose linear part has no negative entry and which have no offset."""
        if not self.is_affine:
            raise TypeError(f"{type(self).__name__} is not affine")
        return self


# ---------------------------------------------------------------------------------------------
# Affine operations


@dataclass(frozen=True, slots=True, eq=False)
class Linear(Op):
    """``y = x W^T + b`` on the last axis.

    Attributes:
        weight: shape (out, in).
        bias: shape (out,).
    """

    weight: np.ndarray
    bias: np.ndarray
    is_affine = True

    def __post_init__(self):
        w = frozen(self.weight, ndim=2, name="Linear.weight")
        b = frozen(self.bias, ndim=1, name="Linear.bias")
        if b.shape[0] != w.shape[0]:
            raise ValueError(f"Linear bias has {b.shape[0]} entries, weight has {w.shape[0]} rows")
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", b)

    def forward(self, x):
        return x @ _param(self.weight, x.dtype).T + _param(self.bias, x.dtype)

    def backward(self, xs, gy):
        return (gy @ _param(self.weight, gy.dtype),)

    def output_shape(self, shape):
        if not shape or shape[-1] != self.weight.shape[1]:
            raise ValueError(f"Linear expects last dimension {self.weight.shape[1]}, got shape {shape}")
        return (*shape[:-1], self.weight.shape[0])

    def describe(self):
        return f"Linear {self.weight.shape[1]} -> {self.weight.shape[0]}"

    def magnitude(self):
        return derived(self, "magnitude", lambda: Linear(np.abs(self.weight), np.zeros_like(self.bias)))


@dataclass(frozen=True, slots=True, eq=False)
class ElementwiseAffine(Op):
    """``y = x * scale + offset`` with ``scale`` and ``offset`` broadcast against the per-sample shape.

    Holds constant ``Add``/``Sub``/``Mul``/``Div`` nodes, folded batch norm and input normalisation.

    Attributes:
        scale: array broadcastable to the per-sample shape.
        offset: array broadcastable to the per-sample shape.
    """

    scale: np.ndarray
    offset: np.ndarray
    is_affine = True

    def __post_init__(self):
        for name in ("scale", "offset"):
            arr = np.array(getattr(self, name), dtype=np.float64)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    def forward(self, x):
        return x * _param(self.scale, x.dtype) + _param(self.offset, x.dtype)

    def backward(self, xs, gy):
        return (gy * _param(self.scale, gy.dtype),)

    def output_shape(self, shape):
        try:
            out = np.broadcast_shapes(shape, self.scale.shape, self.offset.shape)
        except ValueError:
            raise ValueError(f"constant of shape {self.scale.shape}/{self.offset.shape} does not "
                             f"broadcast against input shape {shape}") from None
        if out != tuple(shape):
            raise ValueError(f"constant of shape {self.scale.shape} would change the shape {shape}")
        return tuple(shape)

    def describe(self):
        return "ElementwiseAffine"

    def magnitude(self):
        return ElementwiseAffine(np.abs(self.scale), np.zeros_like(self.offset))


@dataclass(frozen=True, slots=True, eq=False)
class Add(Op):
    """``y = x1 + x2`` of two tensors of the same shape (residual connections)."""

    is_affine = True
    arity = 2

    def forward(self, a, b):
        return a + b

    def backward(self, xs, gy):
        return gy, gy

    def output_shape(self, a, b):
        if tuple(a) != tuple(b):
            raise ValueError(f"Add of tensors with different shapes {a} and {b}")
        return tuple(a)


@dataclass(frozen=True, slots=True, eq=False)
class Concat(Op):
    """Concatenation of several tensors along per-sample axis ``axis``."""

    axis: int
    arity: int = 2
    is_affine = True

    def forward(self, *xs):
        return np.concatenate(xs, axis=self.axis + 1)

    def backward(self, xs, gy):
        cuts = np.cumsum([x.shape[self.axis + 1] for x in xs])[:-1]
        return tuple(np.split(gy, cuts, axis=self.axis + 1))

    def output_shape(self, *shapes):
        ref = list(shapes[0])
        for s in shapes[1:]:
            if len(s) != len(ref) or any(a != b for i, (a, b) in enumerate(zip(s, ref)) if i != self.axis):
                raise ValueError(f"Concat on axis {self.axis} of incompatible shapes {shapes}")
        ref[self.axis] = sum(s[self.axis] for s in shapes)
        return tuple(ref)

    def describe(self):
        return f"Concat axis {self.axis}"


@dataclass(frozen=True, slots=True, eq=False)
class Reshape(Op):
    """Reshape to the per-sample shape ``shape`` (row-major, as ONNX). Flatten is ``Reshape((n,))``."""

    shape: tuple[int, ...]
    is_affine = True

    def forward(self, x):
        return x.reshape((x.shape[0], *self.shape))

    def backward(self, xs, gy):
        return (gy.reshape(xs[0].shape),)

    def output_shape(self, shape):
        if prod(shape) != prod(self.shape):
            raise ValueError(f"cannot reshape {shape} to {self.shape}")
        return tuple(self.shape)

    def describe(self):
        return f"Reshape -> {self.shape}"


@dataclass(frozen=True, slots=True, eq=False)
class Transpose(Op):
    """Permute the per-sample axes: output axis ``i`` is input axis ``perm[i]``."""

    perm: tuple[int, ...]
    is_affine = True

    def forward(self, x):
        return x.transpose((0, *(p + 1 for p in self.perm)))

    def backward(self, xs, gy):
        inv = np.argsort(self.perm)
        return (gy.transpose((0, *(int(p) + 1 for p in inv))),)

    def output_shape(self, shape):
        if sorted(self.perm) != list(range(len(shape))):
            raise ValueError(f"Transpose permutation {self.perm} does not fit shape {shape}")
        return tuple(shape[p] for p in self.perm)

    def describe(self):
        return f"Transpose {self.perm}"


@dataclass(frozen=True, slots=True, eq=False)
class SparseAffine(Op):
    """``y.flat = matrix @ x.flat + offset``, reshaped to the per-sample ``shape``: the structural ops
    that pick, repeat, pad or sum entries (ONNX Slice, Gather with constant indices, Split, Pad,
    Expand, ReduceSum and ReduceMean, Resize with nearest neighbours) as one sparse matrix.

    Attributes:
        matrix: scipy CSR matrix, (prod(shape), n_in).
        offset: (prod(shape),) added after the matrix (the value of constant padding).
        shape: the per-sample output shape.
    """

    matrix: sp.csr_matrix
    offset: np.ndarray
    shape: tuple[int, ...]
    is_affine = True

    def __post_init__(self):
        m = sp.csr_matrix(self.matrix, dtype=np.float64)
        b = frozen(self.offset, ndim=1, name="SparseAffine.offset")
        if m.shape[0] != prod(self.shape) or b.shape[0] != m.shape[0]:
            raise ValueError(f"SparseAffine: matrix {m.shape}, offset {b.shape} and shape {self.shape} do not fit")
        object.__setattr__(self, "matrix", m)
        object.__setattr__(self, "offset", b)
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    def forward(self, x):
        flat = x.reshape(x.shape[0], -1)
        y = (self.matrix @ flat.T).T.astype(x.dtype, copy=False) + _param(self.offset, x.dtype)
        return y.reshape((x.shape[0], *self.shape))

    def backward(self, xs, gy):
        g = (self.matrix.T @ gy.reshape(gy.shape[0], -1).T).T
        return (np.asarray(g, dtype=gy.dtype).reshape(xs[0].shape),)

    def output_shape(self, shape):
        if prod(shape) != self.matrix.shape[1]:
            raise ValueError(f"SparseAffine expects {self.matrix.shape[1]} inputs, got shape {shape}")
        return self.shape

    def describe(self):
        return f"SparseAffine {self.matrix.shape[1]} -> {self.shape} ({self.matrix.nnz} entries)"

    def magnitude(self):
        return derived(self, "magnitude", lambda: SparseAffine(abs(self.matrix), np.zeros_like(self.offset), self.shape))


# ---------------------------------------------------------------------------------------------
# Nonlinear elementwise operations other than activations: products of two tensors and the functions of
# ONNX's Sin, Cos, Exp, Abs, Floor, Ceil and Pow (constant exponent). Their relaxations are in
# :mod:`nnreach.bounds.elementwise`; back-substitution (CROWN, DeepPoly, the optimised bounds) and the
# forward symbolic bounds use them, while the other reach rules, the LPs and the exact methods refuse
# them as they refuse any op that is neither affine nor one of theirs.


@dataclass(frozen=True, slots=True, eq=False)
class Product(Op):
    """``y = a * b`` of two computed tensors of one shape (the ONNX reader broadcasts them first and
    reads ``a / b`` as ``a * b ** -1``)."""

    arity = 2

    def forward(self, a, b):
        return a * b

    def backward(self, xs, gy):
        a, b = xs
        return gy * b, gy * a

    def output_shape(self, a, b):
        if tuple(a) != tuple(b):
            raise ValueError(f"Product of tensors of shapes {tuple(a)} and {tuple(b)} (they must be equal)")
        return tuple(a)

    def describe(self):
        return "Mul"


_UNARY = {
    "Sin": (np.sin, np.cos),
    "Cos": (np.cos, lambda x: -np.sin(x)),
    "Floor": (np.floor, np.zeros_like),
    "Ceil": (np.ceil, np.zeros_like),
    "Abs": (np.abs, np.sign),
    "Exp": (np.exp, np.exp),
}
"""Elementwise functions by ONNX name: (value, derivative) (Floor and Ceil: 0 almost everywhere)."""


@dataclass(frozen=True, slots=True, eq=False)
class Unary(Op):
    """An elementwise function of :data:`_UNARY` (``name``), or ``x ** exponent`` (``name == "Pow"``)."""

    name: str
    exponent: float = 1.0

    def __post_init__(self):
        if self.name != "Pow" and self.name not in _UNARY:
            raise ValueError(f"no elementwise function {self.name!r}")

    def forward(self, x):
        return np.power(x, x.dtype.type(self.exponent)) if self.name == "Pow" else _UNARY[self.name][0](x)

    def backward(self, xs, gy):
        x = xs[0]
        if self.name == "Pow":
            return (gy * self.exponent * np.power(x, self.exponent - 1),)
        return (gy * _UNARY[self.name][1](x),)

    def describe(self):
        return f"Pow {self.exponent:g}" if self.name == "Pow" else self.name


# ---------------------------------------------------------------------------------------------
# Convolution and pooling on (channels, height, width) tensors


def sliding_windows(x: np.ndarray, kernel, stride, dilation, pads, value=0.0) -> np.ndarray:
    """Sliding windows of ``x`` (N, C, H, W) -> (N, C, OH, OW, kh, kw), padding with ``value``.

    ``pads`` = (top, left, bottom, right).
    """
    top, left, bottom, right = pads
    if any(pads):
        x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)
    kh, kw = kernel
    span = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)
    w = np.lib.stride_tricks.sliding_window_view(x, span, axis=(2, 3))
    return w[:, :, ::stride[0], ::stride[1], ::dilation[0], ::dilation[1]]


def sliding_windows_adjoint(gw: np.ndarray, in_shape, kernel, stride, dilation, pads) -> np.ndarray:
    """Adjoint of :func:`sliding_windows`: scatter-add window gradients (N, C, OH, OW, kh, kw) back."""
    n, c, h, w = in_shape
    top, left, bottom, right = pads
    out = np.zeros((n, c, h + top + bottom, w + left + right), dtype=gw.dtype)
    oh, ow = gw.shape[2], gw.shape[3]
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            r0, c0 = i * dilation[0], j * dilation[1]
            out[:, :, r0:r0 + stride[0] * oh:stride[0], c0:c0 + stride[1] * ow:stride[1]] += gw[..., i, j]
    return out[:, :, top:top + h, left:left + w]


def _pooled_size(size: int, k: int, s: int, d: int, p0: int, p1: int, ceil: bool = False) -> int:
    span = (k - 1) * d + 1
    num = size + p0 + p1 - span
    out = (-(-num // s) if ceil else num // s) + 1
    if out < 1:
        raise ValueError(f"window of span {span} does not fit input size {size} with padding {p0}+{p1}")
    return out


@dataclass(frozen=True, slots=True, eq=False)
class Conv2d(Op):
    """2-D cross-correlation as in ONNX ``Conv`` on per-sample (C, H, W) tensors.

    Attributes:
        weight: shape (out_channels, in_channels // groups, kh, kw).
        bias: shape (out_channels,).
        stride, dilation: (sh, sw), (dh, dw).
        padding: (top, left, bottom, right).
        groups: number of channel groups.
    """

    weight: np.ndarray
    bias: np.ndarray
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    is_affine = True

    def __post_init__(self):
        object.__setattr__(self, "weight", frozen(self.weight, ndim=4, name="Conv2d.weight"))
        object.__setattr__(self, "bias", frozen(self.bias, ndim=1, name="Conv2d.bias"))
        if self.weight.shape[0] % self.groups:
            raise ValueError(f"Conv2d: {self.weight.shape[0]} output channels not divisible by groups={self.groups}")

    def _cols(self, x):
        return sliding_windows(x, self.weight.shape[2:], self.stride, self.dilation, self.padding)

    def matrices(self, in_shape: tuple[int, int, int]) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """The linear part as sparse matrices ``(M, M.T)``, ``M`` of shape (n_out, n_in) on flattened
        (C, H, W) tensors, built once per input shape: with many rows, a sparse product beats sliding
        windows by the kernel's size in memory traffic."""
        return derived(self, in_shape, lambda: _conv_matrix(self, in_shape))

    def forward(self, x):
        if x.shape[0] >= SPARSE_BATCH:
            M = self.matrices(x.shape[1:])[0]
            y = (M @ x.reshape(x.shape[0], -1).T).T.reshape(x.shape[0], *self.output_shape(x.shape[1:]))
            return y.astype(x.dtype, copy=False) + _param(self.bias, x.dtype)[None, :, None, None]
        w = _param(self.weight, x.dtype)
        cols = self._cols(x)  # (N, C, OH, OW, kh, kw)
        g = self.groups
        cin, cout = x.shape[1] // g, w.shape[0] // g
        outs = [np.einsum("nchwij,ocij->nohw", cols[:, k * cin:(k + 1) * cin], w[k * cout:(k + 1) * cout],
                          optimize=True) for k in range(g)]
        y = outs[0] if g == 1 else np.concatenate(outs, axis=1)
        return y + _param(self.bias, x.dtype)[None, :, None, None]

    def backward(self, xs, gy):
        x = xs[0]
        if gy.shape[0] >= SPARSE_BATCH:
            MT = self.matrices(x.shape[1:])[1]
            return ((MT @ gy.reshape(gy.shape[0], -1).T).T.astype(gy.dtype, copy=False).reshape(x.shape),)
        w = _param(self.weight, gy.dtype)
        g = self.groups
        cout = w.shape[0] // g
        gcols = np.concatenate(
            [np.einsum("nohw,ocij->nchwij", gy[:, k * cout:(k + 1) * cout], w[k * cout:(k + 1) * cout],
                       optimize=True) for k in range(g)], axis=1)
        return (sliding_windows_adjoint(gcols, x.shape, w.shape[2:], self.stride, self.dilation, self.padding),)

    def output_shape(self, shape):
        if len(shape) != 3 or shape[0] != self.weight.shape[1] * self.groups:
            raise ValueError(f"Conv2d expects (C={self.weight.shape[1] * self.groups}, H, W), got {shape}")
        kh, kw = self.weight.shape[2:]
        t, l, b, r = self.padding
        return (self.weight.shape[0],
                _pooled_size(shape[1], kh, self.stride[0], self.dilation[0], t, b),
                _pooled_size(shape[2], kw, self.stride[1], self.dilation[1], l, r))

    def describe(self):
        o, i, kh, kw = self.weight.shape
        return f"Conv2d {i * self.groups} -> {o}, kernel {kh}x{kw}, stride {self.stride}, pad {self.padding}"

    def magnitude(self):
        """Built once per convolution, so that its sparse matrices are too (interval bounds push
        radii through it on every call)."""
        return derived(self, "magnitude", lambda: Conv2d(np.abs(self.weight), np.zeros_like(self.bias), self.stride,
                                                         self.padding, self.dilation, self.groups))


SPARSE_BATCH = 16
"""Batches from this size on go through :meth:`Conv2d.matrices` (measured on CIFAR conv nets: 10x
faster for a 2048-row back-substitution through a 4x4 stride-2 convolution)."""



def _conv_matrix(op: Conv2d, in_shape: tuple[int, int, int]) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``(M, M.T)`` in CSR form for :meth:`Conv2d.matrices`: entry (output (o, y, x), input (c, iy,
    ix)) is the weight linking them, for every kernel tap that lands inside the unpadded input."""
    C, H, W = in_shape
    O, cg, kh, kw = op.weight.shape
    _, OH, OW = op.output_shape(in_shape)
    top, left = op.padding[0], op.padding[1]
    o, y, x, c, i, j = np.ix_(range(O), range(OH), range(OW), range(cg), range(kh), range(kw))
    iy = y * op.stride[0] - top + i * op.dilation[0]
    ix = x * op.stride[1] - left + j * op.dilation[1]
    channel = (o // (O // op.groups)) * cg + c
    shape = (O, OH, OW, cg, kh, kw)
    rows = np.broadcast_to((o * OH + y) * OW + x, shape)
    cols = np.broadcast_to((channel * H + iy) * W + ix, shape)
    vals = np.broadcast_to(op.weight[:, None, None], shape)
    keep = np.broadcast_to((iy >= 0) & (iy < H) & (ix >= 0) & (ix < W), shape)
    M = sp.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=(O * OH * OW, C * H * W))
    return M, M.T.tocsr()


@dataclass(frozen=True, slots=True, eq=False)
class AvgPool2d(Op):
    """Average pooling on (C, H, W). With ``count_include_pad=False`` border windows average only
    the real entries (ONNX default). Global average pooling is the kernel covering (H, W)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    count_include_pad: bool = False
    ceil_mode: bool = False
    is_affine = True

    def _divisor(self, shape, dtype):
        """Entries counted per window: the real ones, plus explicit padding if ``count_include_pad``;
        the overhang that ``ceil_mode`` adds is never counted. Shape (1, 1, OH, OW) or a scalar."""
        if not any(self.padding) and not self.ceil_mode:
            return np.asarray(prod(self.kernel), dtype=dtype)
        ones = np.ones((1, 1, *shape[1:]), dtype=dtype)
        pads = self._pads(shape)
        if self.count_include_pad:
            t, l, b, r = self.padding
            ones = np.pad(ones, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=1.0)
            pads = tuple(p - q for p, q in zip(pads, self.padding))  # only the ceil-mode overhang
        return sliding_windows(ones, self.kernel, self.stride, (1, 1), pads).sum(axis=(-2, -1))

    def _pads(self, shape):
        t, l, b, r = self.padding
        if self.ceil_mode:  # extra bottom/right padding so the last partial window exists
            oh, ow = self.output_shape(shape)[1:]
            b = max(b, (oh - 1) * self.stride[0] + self.kernel[0] - shape[1] - t)
            r = max(r, (ow - 1) * self.stride[1] + self.kernel[1] - shape[2] - l)
        return (t, l, b, r)

    def forward(self, x):
        s = self._windows_sum(x)
        return s / self._divisor(x.shape[1:], x.dtype)

    def _windows_sum(self, x):
        return sliding_windows(x, self.kernel, self.stride, (1, 1), self._pads(x.shape[1:])).sum(axis=(-2, -1))

    def backward(self, xs, gy):
        x = xs[0]
        g = gy / self._divisor(x.shape[1:], gy.dtype)
        gw = np.broadcast_to(g[..., None, None], (*g.shape, *self.kernel))
        return (sliding_windows_adjoint(gw, x.shape, self.kernel, self.stride, (1, 1), self._pads(x.shape[1:])),)

    def output_shape(self, shape):
        if len(shape) != 3:
            raise ValueError(f"AvgPool2d expects (C, H, W), got {shape}")
        t, l, b, r = self.padding
        return (shape[0],
                _pooled_size(shape[1], self.kernel[0], self.stride[0], 1, t, b, self.ceil_mode),
                _pooled_size(shape[2], self.kernel[1], self.stride[1], 1, l, r, self.ceil_mode))

    def describe(self):
        return f"AvgPool2d kernel {self.kernel}, stride {self.stride}, pad {self.padding}"


@dataclass(frozen=True, slots=True, eq=False)
class MaxPool2d(Op):
    """Max pooling on (C, H, W); padded entries never win (they are -inf)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilation: tuple[int, int] = (1, 1)
    ceil_mode: bool = False

    def _pads(self, shape):
        t, l, b, r = self.padding
        if self.ceil_mode:
            oh, ow = self.output_shape(shape)[1:]
            b = max(b, (oh - 1) * self.stride[0] + (self.kernel[0] - 1) * self.dilation[0] + 1 - shape[1] - t)
            r = max(r, (ow - 1) * self.stride[1] + (self.kernel[1] - 1) * self.dilation[1] + 1 - shape[2] - l)
        return (t, l, b, r)

    def _win(self, x):
        return sliding_windows(x, self.kernel, self.stride, self.dilation, self._pads(x.shape[1:]), value=-np.inf)

    def forward(self, x):
        return self._win(x).max(axis=(-2, -1))

    def backward(self, xs, gy):
        x = xs[0]
        w = self._win(x)
        flat = w.reshape(*w.shape[:4], -1)
        onehot = np.zeros_like(flat, dtype=gy.dtype)
        np.put_along_axis(onehot, flat.argmax(axis=-1)[..., None], 1.0, axis=-1)
        gw = (onehot * gy[..., None]).reshape(w.shape)
        return (sliding_windows_adjoint(gw, x.shape, self.kernel, self.stride, self.dilation, self._pads(x.shape[1:])),)

    def output_shape(self, shape):
        if len(shape) != 3:
            raise ValueError(f"MaxPool2d expects (C, H, W), got {shape}")
        t, l, b, r = self.padding
        return (shape[0],
                _pooled_size(shape[1], self.kernel[0], self.stride[0], self.dilation[0], t, b, self.ceil_mode),
                _pooled_size(shape[2], self.kernel[1], self.stride[1], self.dilation[1], l, r, self.ceil_mode))

    def describe(self):
        return f"MaxPool2d kernel {self.kernel}, stride {self.stride}, pad {self.padding}"


def pool_windows(op: MaxPool2d, shape: tuple[int, ...]) -> np.ndarray:
    """Flat input indices of each output's window, (n_out, kh * kw); -1 marks padding. Computed once
    per op and input shape (every bound and split of a search asks for them), read-only."""
    def make() -> np.ndarray:
        idx = np.arange(int(np.prod(shape)), dtype=np.float64).reshape((1, *shape))
        win = sliding_windows(idx, op.kernel, op.stride, op.dilation, op._pads(shape), value=-1.0)
        win = win.reshape(-1, win.shape[-2] * win.shape[-1]).astype(np.int64)
        win.setflags(write=False)
        return win

    return derived(op, ("windows", tuple(shape)), make)


# ---------------------------------------------------------------------------------------------
# Elementwise activations


class Activation(Op):
    """An elementwise function ``y = f(x)``; subclasses give ``f`` and its derivative, and say what
    analyses need to know of it: its ``breakpoints`` (sorted; None when it is not piecewise linear)
    and whether it is ``monotone`` (non-decreasing: interval bounds map the ends, relaxation lines
    have slopes >= 0). Its linear relaxations are in :mod:`nnreach.bounds.relaxations`."""

    breakpoints: tuple[float, ...] | None = None
    monotone: bool = True

    def derivative(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def value_and_derivative(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(f(x), f'(x))``, sharing the work where the two share it."""
        return self.forward(x), self.derivative(x)

    def backward(self, xs, gy):
        return (gy * self.derivative(xs[0]),)


@dataclass(frozen=True, slots=True, eq=False)
class Relu(Activation):
    """``max(x, 0)``."""

    breakpoints = (0.0,)

    def forward(self, x):
        return np.maximum(x, 0)

    def derivative(self, x):
        return (x > 0).astype(x.dtype)


@dataclass(frozen=True, slots=True, eq=False)
class LeakyRelu(Activation):
    """``x`` for ``x >= 0`` and ``alpha x`` below."""

    alpha: float = 0.01
    breakpoints = (0.0,)

    def forward(self, x):
        return np.where(x >= 0, x, x * x.dtype.type(self.alpha))

    def derivative(self, x):
        return np.where(x >= 0, 1.0, self.alpha).astype(x.dtype)

    def describe(self):
        return f"LeakyRelu alpha={self.alpha}"


@dataclass(frozen=True, slots=True, eq=False)
class Clip(Activation):
    """``min(max(x, lo), hi)``: ``Clip(0, 1)`` is satlin, ``Clip(-1, 1)`` is satlins."""

    lo: float = 0.0
    hi: float = 1.0

    def __post_init__(self):
        if not self.lo <= self.hi:
            raise ValueError(f"Clip needs lo <= hi, got [{self.lo}, {self.hi}]")

    @property
    def breakpoints(self) -> tuple[float, float]:
        return (float(self.lo), float(self.hi))

    def forward(self, x):
        return np.clip(x, self.lo, self.hi)

    def derivative(self, x):
        return ((x > self.lo) & (x < self.hi)).astype(x.dtype)

    def describe(self):
        return f"Clip [{self.lo}, {self.hi}]"


@dataclass(frozen=True, slots=True, eq=False)
class Sigmoid(Activation):
    """``1 / (1 + exp(-x))``."""

    def forward(self, x):
        return 0.5 * (np.tanh(0.5 * x) + 1)

    def derivative(self, x):
        s = self.forward(x)
        return s * (1 - s)

    def value_and_derivative(self, x):
        s = self.forward(x)
        return s, s * (1 - s)

    def second_derivative(self, x):
        s = self.forward(x)
        return s * (1 - s) * (1 - 2 * s)


@dataclass(frozen=True, slots=True, eq=False)
class Tanh(Activation):
    """``tanh(x)``."""

    def forward(self, x):
        return np.tanh(x)

    def derivative(self, x):
        return 1 - np.tanh(x) ** 2

    def value_and_derivative(self, x):
        t = np.tanh(x)
        return t, 1 - t ** 2

    def second_derivative(self, x):
        t = np.tanh(x)
        return -2 * t * (1 - t ** 2)


ACTIVATIONS: dict[str, type[Activation]] = {
    "relu": Relu, "leakyrelu": LeakyRelu, "sigmoid": Sigmoid, "tanh": Tanh, "clip": Clip,
}
