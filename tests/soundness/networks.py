"""Random networks of every kind the analyses handle, shared by the soundness tests."""

from __future__ import annotations

from math import prod

import numpy as np
import scipy.sparse as sp

from nnreach.network import INPUT, Network, ops


def dense(rng, activation: ops.Op, depth: int, width: int, n_in: int, n_out: int = 3,
          positive_head: bool = False) -> Network:
    """A chain of ``depth`` dense layers with ``activation``, then a dense output layer (with
    nonnegative weights if ``positive_head``: sums of activations, whose linear relaxations can be
    looser than interval bounds)."""
    layers, size = [], n_in
    for _ in range(depth):
        layers += [ops.Linear(rng.normal(size=(width, size)) / np.sqrt(size), rng.normal(size=width) * 0.1),
                   activation]
        size = width
    head = rng.normal(size=(n_out, size))
    layers.append(ops.Linear(np.abs(head) if positive_head else head, rng.normal(size=n_out)))
    return Network.sequential((n_in,), layers)


def convolutional(rng, activation: ops.Op) -> Network:
    """(1, 6, 6) input -> conv 3x3 (2 channels) -> activation -> average pool -> flatten -> dense."""
    return Network.sequential((1, 6, 6), [
        ops.Conv2d(rng.normal(size=(2, 1, 3, 3)) / 3, rng.normal(size=2) * 0.1, padding=(1, 1, 1, 1)),
        activation,
        ops.AvgPool2d((2, 2), (2, 2)),
        ops.Reshape((18,)),
        ops.Linear(rng.normal(size=(3, 18)) / 4, rng.normal(size=3)),
    ])


def pooled(rng, activation: ops.Op, pool: ops.MaxPool2d, side: int = 7, pool_first: bool = False) -> Network:
    """(1, side, side) input -> padded conv 3x3 (2 channels) -> activation -> ``pool`` -> flatten -> dense 3,
    or with the pooling before the activation if ``pool_first``."""
    conv = ops.Conv2d(rng.normal(size=(2, 1, 3, 3)) / 3, rng.normal(size=2) * 0.1, padding=(1, 1, 1, 1))
    n = prod(pool.output_shape(conv.output_shape((1, side, side))))
    middle = [pool, activation] if pool_first else [activation, pool]
    return Network.sequential((1, side, side), [
        conv, *middle, ops.Reshape((n,)), ops.Linear(rng.normal(size=(3, n)) / np.sqrt(n), rng.normal(size=3)),
    ])


def residual(rng, activation: ops.Op) -> Network:
    """Two branches from the input, added and concatenated (a DAG)."""
    w = lambda o, i: ops.Linear(rng.normal(size=(o, i)), rng.normal(size=o))
    return Network.build((3,), [
        ("a", w(4, 3), (INPUT,)), ("ra", activation, ("a",)),
        ("b", w(4, 3), (INPUT,)), ("rb", activation, ("b",)), ("rb2", w(4, 4), ("rb",)), ("rb3", activation, ("rb2",)),
        ("sum", ops.Add(), ("ra", "rb3")), ("cat", ops.Concat(0, 2), ("sum", "ra")), ("out", w(2, 8), ("cat",)),
    ])


def sparse_affine(rng, n_in: int, shape: tuple[int, ...], density: float = 0.3) -> ops.SparseAffine:
    """A random sparse affine map of ``n_in`` entries to the per-sample ``shape`` (signed weights, offsets)."""
    n = prod(shape)
    m = sp.random(n, n_in, density=density, random_state=np.random.RandomState(int(rng.integers(2**31))),
                  data_rvs=rng.standard_normal)
    return ops.SparseAffine(m, rng.normal(size=n) * 0.5, shape)


def structural(rng, activation: ops.Op) -> Network:
    """(1, 5, 5) input -> sparse map to (2, 6, 6) (padding, picking, sums) -> conv 3x3 -> activation ->
    sparse map to (7,) -> activation -> dense 3."""
    return Network.sequential((1, 5, 5), [
        sparse_affine(rng, 25, (2, 6, 6), density=0.08),
        ops.Conv2d(rng.normal(size=(2, 2, 3, 3)) / 3, rng.normal(size=2) * 0.1),
        activation,
        sparse_affine(rng, 32, (7,)),
        activation,
        ops.Linear(rng.normal(size=(3, 7)), rng.normal(size=3)),
    ])


def products(rng, activation: ops.Op) -> Network:
    """(3,) input -> two dense branches ``a``, ``b``; ``activation(a * tanh(b)) * a / (1 + b ** 2)`` ->
    dense 3: a DAG of products, squares and reciprocals."""
    w = lambda o, i: ops.Linear(rng.normal(size=(o, i)) / np.sqrt(i), rng.normal(size=o) * 0.1)
    return Network.build((3,), [
        ("a", w(4, 3), (INPUT,)), ("b", w(4, 3), (INPUT,)), ("tb", ops.Tanh(), ("b",)),
        ("p", ops.Product(), ("a", "tb")), ("s", activation, ("p",)), ("q", ops.Product(), ("s", "a")),
        ("sq", ops.Unary("Pow", 2.0), ("b",)), ("pos", ops.ElementwiseAffine(1.0, 1.0), ("sq",)),
        ("inv", ops.Unary("Pow", -1.0), ("pos",)), ("r", ops.Product(), ("q", "inv")), ("out", w(3, 4), ("r",)),
    ])


ACTIVATIONS = [ops.Relu(), ops.LeakyRelu(0.2), ops.Clip(0.0, 1.0), ops.Clip(-1.0, 1.0), ops.Sigmoid(), ops.Tanh()]
ELEMENTWISE = [ops.Unary(name) for name in ("Sin", "Cos", "Exp", "Abs", "Floor", "Ceil")] + \
    [ops.Unary("Pow", p) for p in (2.0, 3.0)]
"""The functions of ``Unary`` that are defined everywhere (``Pow -1`` is in :func:`products`)."""
PIECEWISE = [ops.Relu(), ops.LeakyRelu(0.2), ops.Clip(-1.0, 1.0)]
POOLS = [
    ops.MaxPool2d((2, 2), (2, 2)),                                  # disjoint windows
    ops.MaxPool2d((2, 2), (1, 1)),                                  # overlapping windows, stride 1
    ops.MaxPool2d((3, 3), (2, 2), (1, 1, 1, 1)),                    # overlapping, padded, stride 2
    ops.MaxPool2d((2, 3), (1, 2), (0, 1, 1, 0), dilation=(2, 1)),   # uneven kernel, padding and dilation
    ops.MaxPool2d((2, 2), (2, 2), ceil_mode=True),                  # partial windows at the border (odd sides)
]


def pool_id(pool: ops.MaxPool2d) -> str:
    """A short test id of a max pooling's parameters."""
    return (f"k{pool.kernel[0]}x{pool.kernel[1]}-s{pool.stride[0]}x{pool.stride[1]}-p{''.join(map(str, pool.padding))}"
            f"-d{pool.dilation[0]}x{pool.dilation[1]}{'-ceil' if pool.ceil_mode else ''}")
