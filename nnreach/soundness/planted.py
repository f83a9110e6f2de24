"""Networks with planted counterexamples that attacks do not find, and twins that provably hold.

An instance is a network ``y = N(x)`` with float32 weights (written as ONNX) and a VNN-LIB property
whose unsafe set is ``v >= 0`` for ``v = y_0`` (spec ``"thr"``) or ``v = y_0 - y_1`` (spec ``"dom"``).
Its layers, in order::

    front   depth x (dense, or 3x3 conv then flatten; activation)      h = F(x), locally injective at s
    detect  dense, ReLU   a = (relu(Q h - t), relu(t - Q h))   and   g' = relu(R h + e)
    bump    dense, ReLU   bump = relu(1 - sum(a) / r)          and   g = relu(g') = g'
    out     dense         v = height * bump - c . g - margin   (split over y_0, y_1; y_2 is filler)

with a secret point ``s`` of the box, ``Q`` of ``k = min(n, DETECT)`` rows, ``t = Q F(s)`` and
``R F(s) + e <= -rho < 0``. So ``bump`` is non-zero only where ``|Q F(x) - t|_1 < r`` (a tiny
neighbourhood of ``s`` when ``k = n``, a thin slab through it otherwise) and ``g >= 0`` vanishes
around ``s``. Everywhere else the gradient of ``v`` is that of ``-c . g``: an attack climbing ``v``
walks into the flat region where ``g = 0`` and stops there, with zero gradient and ``v = -margin``;
an LP over the linear region it stops in sees ``bump = 0`` throughout. Uniform sampling hits the
support with probability ``10 ** log10_hit`` per sample (about 1e-8, estimated by Monte Carlo). ReLU
front layers have only :data:`STRADDLE` neurons per layer that change sign in the box, so that
complete methods have a bounded amount of work.

Kinds, by ``height`` (``margin`` = 1/2):

* ``planted``: ``height = 2 margin``; ``v(s) ~ margin > 0``, so the property is violated. The
  witness ``s`` is checked by executing the stored float32 model (numpy in float64, onnxruntime in
  float32): ``v >= margin / 4`` in both.
* ``twin``: the same network with ``height = margin (1 - 1/16)``: since ``a, g >= 0`` and
  ``bump <= 1``, ``v <= height - margin = -1/32`` on every input. The generator proves this bound by
  interval arithmetic in exact rationals on the stored float32 weights (:func:`upper_bound`). It also
  holds for any float evaluation order, as rounding is monotone: sums of the non-negative ``a`` stay
  non-negative, ``fl(1 - s) <= 1`` for ``s >= 0``, and so on.
* ``tie``: ``height = margin`` (ReLU dense networks only): ``v <= 0``, with ``v = 0`` exactly at a
  rational point ``x*`` where ``Q F(x*) = t`` (solved and checked in exact rationals). The property
  is violated, but only on a set of measure zero that float32 execution cannot confirm: a sound
  verifier says ``violated`` or ``unknown``, never ``holds`` (a proof without a safety margin would).

Every layer is a 2-D matrix here (a convolution becomes its dense matrix for the checks); ONNX gets
``Conv``/``Flatten``/``Gemm``. Everything is drawn from ``numpy.random.default_rng(seed)`` of the
instance's :class:`Spec`, so a suite is reproduced by its seed.

Example::

    inst = build(Spec("dense", "relu", (5,), depth=1, spec="thr", kind="planted", seed=3))
    inst.expected, inst.witness, inst.bound   # "sat", array of 5 inputs, None
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from fractions import Fraction
from math import prod
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MARGIN = 0.5
HEIGHTS = {"planted": 2 * MARGIN, "twin": MARGIN * (1 - 1 / 16), "tie": MARGIN}
EXPECTED = {"planted": "sat", "twin": "unsat", "tie": "sat"}
G_FEATURES = 4
"""The ``m`` decoy features ``g`` that lead an attack into the flat region."""
WITNESS_MARGIN = MARGIN / 4
"""The planted witness must reach ``v >= WITNESS_MARGIN`` in float32 and float64 execution."""


@dataclass(frozen=True, slots=True)
class Spec:
    """How to draw one instance.

    Attributes:
        arch: ``"dense"`` (input shape ``(n,)``) or ``"conv"`` (input shape ``(C, H, W)``).
        activation: of the front layers: ``"relu"``, ``"sigmoid"`` or ``"tanh"``.
        input_shape: per-sample input shape.
        depth: number of front layers (0: the detector reads the input directly; dense only).
        spec: ``"thr"`` (unsafe ``Y_0 >= 0``) or ``"dom"`` (unsafe ``Y_0 >= Y_1``).
        kind: ``"planted"``, ``"twin"`` or ``"tie"``.
        seed: seed of everything random in the instance (twins share their planted sibling's seed).
    """

    arch: str
    activation: str
    input_shape: tuple[int, ...]
    depth: int
    spec: str
    kind: str
    seed: int

    @property
    def n(self) -> int:
        return prod(self.input_shape)

    @property
    def name(self) -> str:
        shape = "x".join(map(str, self.input_shape))
        return f"{self.kind}_{self.arch}_{self.activation}_{shape}_d{self.depth}_{self.spec}_s{self.seed}"


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer as the checks see it: ``act(W h + b)`` on flat vectors.

    Attributes:
        W: (out, in) float32 (a convolution as its dense matrix).
        b: (out,) float32.
        act: ``"relu"``, ``"sigmoid"``, ``"tanh"`` or ``None`` (the output layer).
        conv: for a convolution: its kernel (out_c, in_c, 3, 3), bias (out_c,) and input shape (C, H, W).
    """

    W: np.ndarray
    b: np.ndarray
    act: str | None
    conv: tuple[np.ndarray, np.ndarray, tuple[int, int, int]] | None = None


@dataclass(frozen=True, slots=True)
class Instance:
    """A built instance.

    Attributes:
        spec: what it was drawn from.
        layers: the network, input to output; outputs ``(y_0, y_1, y_2)``.
        lo, hi: (n,) the input box.
        secret: (n,) the point ``s`` the bump is planted at.
        witness: (n,) a checked counterexample (planted) or None.
        bound: the exact rational upper bound of ``v`` over the box from :func:`upper_bound` (twins:
            negative; ties: 0), or None for planted instances.
        tie_point: a rational input with ``v = 0`` exactly (ties), or None.
        log10_hit: log10 of the fraction of the box where ``bump > 0`` (uniform sampling hit rate),
            estimated by :func:`_log10_hit`.
    """

    spec: Spec
    layers: tuple[Layer, ...]
    lo: np.ndarray
    hi: np.ndarray
    secret: np.ndarray
    witness: np.ndarray | None
    bound: Fraction | None
    tie_point: tuple[Fraction, ...] | None
    log10_hit: float

    @property
    def expected(self) -> str:
        """The VNN-COMP verdict: ``"sat"`` (violated) or ``"unsat"`` (holds)."""
        return EXPECTED[self.spec.kind]

    @property
    def row(self) -> np.ndarray:
        """``v = row . y``: the unsafe set is ``v >= 0``."""
        return unsafe_row(self.spec)


def unsafe_row(spec: Spec) -> np.ndarray:
    """The output combination ``v = row . y`` (shape (3,)) whose ``v >= 0`` is unsafe."""
    return np.array([1.0, -1.0, 0.0]) if spec.spec == "dom" else np.array([1.0, 0.0, 0.0])


# ------------------------------------------------------------------------------------------ layers

def _act(name: str | None, z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(z, 0)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    return z


def forward(layers: tuple[Layer, ...] | list[Layer], x: np.ndarray) -> np.ndarray:
    """Outputs (batch, 3) of the network for inputs ``x`` (batch, n), in float64 on the stored weights."""
    h = np.atleast_2d(np.asarray(x, dtype=np.float64))
    for layer in layers:
        h = _act(layer.act, h @ layer.W.astype(np.float64).T + layer.b.astype(np.float64))
    return h


def _conv_matrix(kernel: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """The dense matrix (out_c H W, C H W) of a stride-1 3x3 convolution with padding 1 (row-major)."""
    c_in, H, W = shape
    out = np.zeros((kernel.shape[0], H, W, c_in, H, W), dtype=np.float32)
    for i in range(H):
        for j in range(W):
            for di in range(3):
                for dj in range(3):
                    p, q = i + di - 1, j + dj - 1
                    if 0 <= p < H and 0 <= q < W:
                        out[:, i, j, :, p, q] = kernel[:, :, di, dj]
    return out.reshape(kernel.shape[0] * H * W, c_in * H * W)


STRADDLE = 2
"""ReLU front layers: this many neurons (dense) or positions of the last channel (conv) change sign
in the box; the others are active on the whole box. Every neuron is active at ``s``."""


def _relu_bias(z_s: np.ndarray, low: np.ndarray, chosen: np.ndarray, rng) -> np.ndarray:
    """Biases making the pre-activations positive at ``s`` (values ``z_s``) and, except where
    ``chosen``, on the whole box (interval lower bounds ``low``)."""
    return np.where(chosen, -z_s, -low) + rng.uniform(0.05, 0.5, z_s.size)


def _front(spec: Spec, rng, s: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list[Layer]:
    """The front layers, locally injective at ``s``: ReLU layers have every neuron active at ``s``
    and only :data:`STRADDLE` of them undecided on the box (intervals ``[hl, hh]`` track the box);
    smooth layers are square and well conditioned."""
    layers: list[Layer] = []
    h, hl, hh = s.astype(np.float64), lo.astype(np.float64), hi.astype(np.float64)
    smooth = spec.activation != "relu"
    for k in range(spec.depth):
        if spec.arch == "conv":
            shape = spec.input_shape if k == 0 else (layers[-1].conv[0].shape[0], *spec.input_shape[1:])
            c_out = shape[0] if smooth else shape[0] + 1
            kernel = (rng.normal(size=(c_out, shape[0], 3, 3)) / 3).astype(np.float32)
            kernel[:, :, 1, 1] += np.eye(c_out, shape[0], dtype=np.float32) * 1.5  # keep it injective
            W = _conv_matrix(kernel, shape).astype(np.float64)
        elif smooth:
            W = np.linalg.qr(rng.normal(size=(h.size, h.size)))[0]
        else:
            W = rng.normal(size=(h.size + 2, h.size)) / np.sqrt(h.size)
        W = W.astype(np.float32).astype(np.float64)
        z, low = W @ h, np.maximum(W, 0) @ hl + np.minimum(W, 0) @ hh
        if spec.arch == "conv":
            per = prod(shape[1:])
            if smooth:
                bias = rng.normal(size=c_out) * 0.3
            else:  # every channel active on the box but the last, whose lowest STRADDLE positions straddle
                z_c, low_c = z.reshape(c_out, per), low.reshape(c_out, per)
                bias = -low_c.min(axis=1) + rng.uniform(0.05, 0.3, c_out)
                bias[-1] = max(-np.sort(low_c[-1])[STRADDLE], -z_c[-1].min() + 0.05)
            bias = bias.astype(np.float32)
            layers.append(Layer(W.astype(np.float32), np.repeat(bias, per), spec.activation, (kernel, bias, shape)))
        else:
            chosen = np.isin(np.arange(z.size), rng.choice(z.size, STRADDLE, replace=False))
            b = rng.normal(size=z.size) * 0.3 if smooth else _relu_bias(z, low, chosen, rng)
            layers.append(Layer(W.astype(np.float32), b.astype(np.float32), spec.activation))
        b64 = layers[-1].b.astype(np.float64)
        h = _act(spec.activation, W @ h + b64)
        hl, hh = _act(spec.activation, low + b64), _act(spec.activation, np.maximum(W, 0) @ hh + np.minimum(W, 0) @ hl + b64)
    return layers


DETECT = 3
"""The detector watches ``k = min(n, DETECT)`` coordinates ``u = Q F(x)``: its support is a thin slab
around ``s`` (a tiny neighbourhood when ``k = n``), so the work of a complete method stays bounded."""


def _radius(k: int) -> float:
    """The bump's L1 radius in ``u``: a power of 2 (exact in float32), above float32 noise at ``s``."""
    return 2.0 ** -15 if k <= 2 else 2.0 ** -11


def _log10_hit(layers: list[Layer], depth: int, k: int, r: float, lo, hi, rng, samples: int = 200_000) -> float:
    """log10 of the fraction of the box where ``bump > 0`` (``|u - t|_1 < r``), estimated by Monte Carlo:
    the fraction within an L1 radius ``R = 2^j r`` that at least 100 of ``samples`` uniform inputs reach,
    times ``(r / R)^k`` (the density of ``u`` taken as constant at that scale)."""
    x = rng.uniform(lo, hi, size=(samples, lo.size))
    h = forward(layers[:depth], x) if depth else x
    d = np.abs(h @ layers[depth].W[:k].astype(np.float64).T + layers[depth].b[:k].astype(np.float64)).sum(axis=1)
    R = float(np.sort(d)[99])
    return math.log10(100 / samples) + k * math.log10(r / R) if R > r else math.log10(np.mean(d < r))


def _tail(spec: Spec, rng, front: list[Layer], s: np.ndarray) -> list[Layer]:
    """The detect, bump and out layers after ``front`` (see the module docstring)."""
    h_s = forward(front, s[None])[0] if front else s
    n, w, m = min(spec.n, DETECT), h_s.size, G_FEATURES
    Q = (rng.normal(size=(n, w)) / np.sqrt(w)).astype(np.float32)
    t = Q.astype(np.float64) @ h_s
    R = (rng.normal(size=(m, w)) / np.sqrt(w)).astype(np.float32)
    e = -(R.astype(np.float64) @ h_s) - rng.uniform(0.2, 0.6, m)
    r = _radius(n)
    detect = Layer(np.vstack([Q, -Q, R]), np.concatenate([-t, t, e]).astype(np.float32), "relu")
    W2 = np.zeros((1 + m, 2 * n + m), dtype=np.float32)
    W2[0, :2 * n] = -1 / r
    W2[1:, 2 * n:] = np.eye(m)
    bump = Layer(W2, np.concatenate([[1.0], np.zeros(m)]).astype(np.float32), "relu")
    height = HEIGHTS[spec.kind]
    c = rng.uniform(0.5, 2.0, m)
    W3 = np.zeros((3, 1 + m))
    b3 = np.zeros(3)
    if spec.spec == "thr":       # y_0 = height bump - c.g - margin; y_1, y_2 filler
        W3[0] = [height, *(-c)]
        b3[0] = -MARGIN
        W3[1] = rng.normal(size=1 + m)
    else:                        # y_0 = height bump - c1.g, y_1 = margin + c2.g; y_2 filler
        split = rng.uniform(0.2, 0.8, m)
        W3[0] = [height, *(-c * split)]
        W3[1] = [0.0, *(c * (1 - split))]
        b3[1] = MARGIN
    W3[2] = rng.normal(size=1 + m)
    b3[2] = rng.normal()
    return [detect, bump, Layer(W3.astype(np.float32), b3.astype(np.float32), None)]


# ---------------------------------------------------------------------------------------- checks

def _exact(a: np.ndarray) -> list:
    """Entries of a float array as exact Fractions (nested lists for matrices)."""
    return [_exact(row) for row in a] if a.ndim > 1 else [Fraction(float(v)) for v in a]


_RANGE = {"sigmoid": (Fraction(0), Fraction(1)), "tanh": (Fraction(-1), Fraction(1))}


def upper_bound(layers: tuple[Layer, ...], lo: np.ndarray, hi: np.ndarray, row: np.ndarray) -> Fraction:
    """An upper bound of ``row . y`` over the box ``[lo, hi]``, by interval arithmetic in exact
    rationals on the stored weights (smooth activations bounded by their ranges)."""
    L, H = _exact(lo), _exact(hi)
    last = len(layers) - 1
    for k, layer in enumerate(layers):
        W, b = layer.W.astype(np.float64), layer.b
        if k == last:  # fold the row into the output layer
            W, b = (row @ W)[None], np.array([row @ layer.b.astype(np.float64)])
        nl, nh = [], []
        for w_row, bias in zip(_exact(W), _exact(b)):
            s_lo = s_hi = bias
            for wi, l, h in zip(w_row, L, H):
                if wi > 0:
                    s_lo, s_hi = s_lo + wi * l, s_hi + wi * h
                elif wi < 0:
                    s_lo, s_hi = s_lo + wi * h, s_hi + wi * l
            nl.append(s_lo)
            nh.append(s_hi)
        if layer.act == "relu":
            nl, nh = [max(v, Fraction(0)) for v in nl], [max(v, Fraction(0)) for v in nh]
        elif layer.act in _RANGE:
            a, z = _RANGE[layer.act]
            nl, nh = [a] * len(nl), [z] * len(nh)
        L, H = nl, nh
    return H[0]


def _solve(A: list[list[Fraction]], y: list[Fraction]) -> list[Fraction] | None:
    """The solution of the square rational system ``A x = y`` (Gauss-Jordan), None if singular."""
    n = len(A)
    M = [list(r) + [v] for r, v in zip(A, y)]
    for col in range(n):
        piv = next((i for i in range(col, n) if M[i][col] != 0), None)
        if piv is None:
            return None
        M[col], M[piv] = M[piv], M[col]
        for i in range(n):
            if i != col and M[i][col] != 0:
                f = M[i][col] / M[col][col]
                M[i] = [a - f * b for a, b in zip(M[i], M[col])]
    return [M[i][n] / M[i][i] for i in range(n)]


def _exact_forward(layers, x: list[Fraction], upto: int) -> tuple[list[Fraction], list[list[bool]]]:
    """Exact values after ``layers[:upto]`` (ReLU only) and the active pattern of each layer."""
    h, pattern = x, []
    for layer in layers[:upto]:
        z = [sum((w * v for w, v in zip(row, h)), bias) for row, bias in zip(_exact(layer.W), _exact(layer.b))]
        pattern.append([v > 0 for v in z])
        h = [max(v, Fraction(0)) for v in z] if layer.act == "relu" else z
    return h, pattern


def _tie_point(inst_layers, depth: int, n: int, s: np.ndarray, lo, hi) -> tuple[Fraction, ...]:
    """A rational input in the box where ``Q F(x) = t`` exactly, with ``g = 0`` there: ``v = 0``.

    ``F`` is affine on the activation pattern of ``s``: ``F(x) = A x + c`` (exact), then ``(Q A) x =
    t - Q c`` is solved exactly and the pattern, the box and ``g`` are checked at the solution."""
    front = inst_layers[:depth]
    A = [[Fraction(int(i == j)) for j in range(n)] for i in range(n)]
    c = [Fraction(0)] * n
    _, pattern = _exact_forward(front, _exact(s), depth)
    for layer, act in zip(front, pattern):
        W, b = _exact(layer.W), _exact(layer.b)
        A = [[sum((w * A[k][j] for k, w in enumerate(row)), Fraction(0)) if on else Fraction(0)
              for j in range(n)] for row, on in zip(W, act)]
        c = [sum((w * ck for w, ck in zip(row, c)), bias) if on else Fraction(0)
             for row, bias, on in zip(W, b, act)]
    detect = inst_layers[depth]
    Wd, bd = _exact(detect.W), _exact(detect.b)
    Q, t = Wd[:n], [-v for v in bd[:n]]
    QA = [[sum((q * A[k][j] for k, q in enumerate(row)), Fraction(0)) for j in range(n)] for row in Q]
    rhs = [ti - sum((q * ck for q, ck in zip(row, c)), Fraction(0)) for row, ti in zip(Q, t)]
    x = _solve(QA, rhs)
    if x is None:
        raise ValueError("tie: the detector is singular at the secret point")
    h, pat = _exact_forward(front, x, depth)
    if pat != pattern:
        raise ValueError("tie: the solution leaves the linear region of the secret point")
    if any(not Fraction(float(l)) <= v <= Fraction(float(u)) for v, l, u in zip(x, lo, hi)):
        raise ValueError("tie: the solution is outside the box")
    u = [sum((q * v for q, v in zip(row, h)), bias) for row, bias in zip(Wd, bd)]
    if any(v != 0 for v in u[:2 * n]) or any(v > 0 for v in u[2 * n:]):
        raise ValueError("tie: the detector is not exactly zero (or g not off) at the solution")
    return tuple(x)


def build(spec: Spec) -> Instance:
    """Draw the instance of ``spec`` and check its verdict (see the module docstring).

    Raises:
        ValueError: the spec is not supported or a check fails (a bug in the generator).
    """
    if spec.kind not in HEIGHTS or spec.spec not in ("thr", "dom") or spec.arch not in ("dense", "conv"):
        raise ValueError(f"bad spec {spec}")
    if spec.kind == "tie" and (spec.activation != "relu" or spec.arch != "dense" or spec.n > DETECT):
        raise ValueError(f"ties are built for ReLU dense networks of at most {DETECT} inputs only")
    if spec.arch == "conv" and spec.depth < 1:
        raise ValueError("a convolutional network needs a front layer")
    rng = np.random.default_rng(spec.seed)
    n = spec.n
    center = rng.uniform(-1, 1, n)
    radius = rng.uniform(0.3, 1.0, n)
    lo, hi = (center - radius).astype(np.float32), (center + radius).astype(np.float32)
    lo, hi = lo.astype(np.float64), hi.astype(np.float64)
    # the secret point: inside the box, away from its faces and from its center (sampled first)
    offset = rng.uniform(0.15, 0.8, n) * rng.choice([-1.0, 1.0], n)
    secret = (lo + hi) / 2 + offset * (hi - lo) / 2
    front = _front(spec, rng, secret, lo, hi)
    layers = tuple(front + _tail(spec, rng, front, secret))
    k = min(n, DETECT)
    log10_hit = _log10_hit(list(layers), spec.depth, k, _radius(k), lo, hi, rng)
    inst_row = unsafe_row(spec)
    witness = bound = tie = None
    if spec.kind == "planted":
        v = forward(layers, secret[None])[0] @ inst_row
        v32 = _forward32(layers, secret.astype(np.float32)) @ inst_row
        if not min(v, v32) >= WITNESS_MARGIN:
            raise ValueError(f"{spec.name}: the planted witness reaches only v = {min(v, v32)}")
        witness = secret
    else:
        bound = upper_bound(layers, lo, hi, inst_row)
        if spec.kind == "twin" and not bound < 0:
            raise ValueError(f"{spec.name}: the twin's bound {float(bound)} is not negative")
        if spec.kind == "tie":
            if bound != 0:
                raise ValueError(f"{spec.name}: the tie's bound {float(bound)} is not 0")
            tie = _tie_point(layers, spec.depth, n, secret, lo, hi)
    return Instance(spec, layers, lo, hi, secret, witness, bound, tie, log10_hit)


def _forward32(layers, x: np.ndarray) -> np.ndarray:
    h = np.asarray(x, dtype=np.float32)
    for layer in layers:
        h = _act(layer.act, layer.W @ h + layer.b).astype(np.float32)
    return h.astype(np.float64)


# ---------------------------------------------------------------------------------------- writing

def to_onnx(inst: Instance) -> onnx.ModelProto:
    """The instance's network as ONNX (opset 13): ``Conv``/``Flatten`` for convolutions, ``Gemm``
    (``transB=1``) for dense layers, an input with a batch axis of 1."""
    nodes, inits, prev = [], [], "x"
    flat = inst.spec.arch == "dense"
    for k, layer in enumerate(inst.layers):
        if layer.conv is not None:
            kernel, bias, _ = layer.conv
            inits += [numpy_helper.from_array(kernel, f"K{k}"), numpy_helper.from_array(bias, f"c{k}")]
            nodes.append(helper.make_node("Conv", [prev, f"K{k}", f"c{k}"], [f"z{k}"], pads=[1, 1, 1, 1],
                                          kernel_shape=[3, 3], name=f"conv{k}"))
        else:
            if not flat:
                nodes.append(helper.make_node("Flatten", [prev], [f"flat{k}"], axis=1, name=f"flatten{k}"))
                prev, flat = f"flat{k}", True
            inits += [numpy_helper.from_array(layer.W, f"W{k}"), numpy_helper.from_array(layer.b, f"b{k}")]
            nodes.append(helper.make_node("Gemm", [prev, f"W{k}", f"b{k}"], [f"z{k}" if layer.act else "y"],
                                          transB=1, name=f"dense{k}"))
        if layer.act:
            op = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}[layer.act]
            nodes.append(helper.make_node(op, [f"z{k}"], [f"h{k}"], name=f"{layer.act}{k}"))
            prev = f"h{k}"
    graph = helper.make_graph(nodes, inst.spec.name,
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, *inst.spec.input_shape])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8,
                              producer_name="nnreach-soundness")
    onnx.checker.check_model(model)
    return model


def to_vnnlib(inst: Instance) -> str:
    """The property as VNN-LIB 1.0: the input box and the unsafe set ``Y_0 >= 0`` or ``Y_0 >= Y_1``."""
    lines = [f"; {inst.spec.name}: expected {inst.expected}"]
    lines += [f"(declare-const X_{i} Real)" for i in range(inst.spec.n)]
    lines += [f"(declare-const Y_{j} Real)" for j in range(3)]
    for i, (l, h) in enumerate(zip(inst.lo, inst.hi)):
        lines += [f"(assert (>= X_{i} {float(l)!r}))", f"(assert (<= X_{i} {float(h)!r}))"]
    lines.append("(assert (>= Y_0 Y_1))" if inst.spec.spec == "dom" else "(assert (>= Y_0 0.0))")
    return "\n".join(lines) + "\n"


def suite(seed: int = 0) -> list[Spec]:
    """The default suite: planted/twin pairs over sizes 2..50, depths 0..2, ReLU, sigmoid and tanh,
    dense and convolutional, plus ReLU ties; instance ``k`` has seed ``seed * 1000 + k``."""
    shapes = [("dense", "relu", (2,), 0, "thr"), ("dense", "relu", (3,), 1, "dom"),
              ("dense", "relu", (5,), 2, "thr"), ("dense", "relu", (8,), 1, "dom"),
              ("dense", "relu", (12,), 0, "thr"), ("dense", "relu", (16,), 1, "dom"),
              ("dense", "relu", (24,), 0, "thr"), ("dense", "relu", (50,), 1, "dom"),
              ("dense", "sigmoid", (3,), 1, "thr"), ("dense", "sigmoid", (8,), 2, "dom"),
              ("dense", "tanh", (4,), 1, "dom"), ("dense", "tanh", (12,), 1, "thr"),
              ("conv", "relu", (1, 3, 3), 1, "thr"), ("conv", "relu", (1, 4, 4), 1, "dom"),
              ("conv", "relu", (2, 3, 3), 1, "thr"), ("conv", "tanh", (1, 4, 4), 1, "dom")]
    specs = []
    for k, (arch, act, shape, depth, prop) in enumerate(shapes):
        for kind in ("planted", "twin"):
            specs.append(Spec(arch, act, shape, depth, prop, kind, seed * 1000 + k))
    for k, (n, depth) in enumerate([(2, 0), (3, 1), (3, 2)], start=len(shapes)):
        specs.append(Spec("dense", "relu", (n,), depth, "thr", "tie", seed * 1000 + k))
    return specs


def check_witness(inst: Instance, model: str | Path) -> float:
    """``v`` at the planted witness, run by onnxruntime in float32 on the ONNX file ``model``;
    raises ValueError below :data:`WITNESS_MARGIN`."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    x = inst.witness.astype(np.float32).reshape(1, *inst.spec.input_shape)
    v = float(sess.run(None, {"x": x})[0].ravel().astype(np.float64) @ inst.row)
    if not v >= WITNESS_MARGIN:
        raise ValueError(f"{inst.spec.name}: onnxruntime gives v = {v} at the witness")
    return v


def write(instances: list[Instance], folder: str | Path, timeout: float) -> Path:
    """Write ``onnx/NAME.onnx``, ``vnnlib/NAME.vnnlib``, ``instances.csv`` (``onnx,vnnlib,timeout``,
    as ``nnreach bench`` reads it) and ``expected.csv`` (``onnx,vnnlib,expected``) under ``folder``,
    plus ``meta.csv`` (kind, architecture, sizes, hit rate, bound). Returns ``folder`` as a Path."""
    root = Path(folder)
    (root / "onnx").mkdir(parents=True, exist_ok=True)
    (root / "vnnlib").mkdir(parents=True, exist_ok=True)
    rows = []
    for inst in instances:
        name = inst.spec.name
        onnx.save(to_onnx(inst), root / "onnx" / f"{name}.onnx")
        if inst.witness is not None:
            check_witness(inst, root / "onnx" / f"{name}.onnx")
        (root / "vnnlib" / f"{name}.vnnlib").write_text(to_vnnlib(inst))
        rows.append((f"onnx/{name}.onnx", f"vnnlib/{name}.vnnlib", inst))
    with open(root / "instances.csv", "w", newline="") as f:
        csv.writer(f).writerows([(o, v, f"{timeout:g}") for o, v, _ in rows])
    with open(root / "expected.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("onnx", "vnnlib", "expected"))
        w.writerows([(o, v, inst.expected) for o, v, inst in rows])
    with open(root / "meta.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("name", "kind", "arch", "activation", "inputs", "depth", "spec", "expected",
                    "log10_hit", "bound"))
        w.writerows([(i.spec.name, i.spec.kind, i.spec.arch, i.spec.activation, i.spec.n, i.spec.depth,
                      i.spec.spec, i.expected, f"{i.log10_hit:.1f}",
                      "" if i.bound is None else f"{float(i.bound):.6g}") for _, _, i in rows])
    return root
