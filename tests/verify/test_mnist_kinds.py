"""Sampling soundness on tiny versions of the four MNIST benchmark kinds (``benchmarks/mnist_kinds.py``).

Each kind is built as an ONNX model with random weights on 8x8 inputs, in the operator patterns the
benchmark's exporter writes (Conv, AveragePool, MaxPool, Flatten, Gemm, Sub/Div normalisation,
Relu, Sigmoid), and loaded with nnreach's ONNX reader. Then:

- nnreach's forward pass agrees with onnxruntime;
- the output sets of ``nnreach.reach`` (``interval``, ``zono``, ``approx-star``) contain the images of
  sampled inputs, and the back-substitution bounds ``deeppoly`` uses contain the sampled values;
- ``interval``, ``zono``, ``deeppoly`` and ``auto`` never say ``holds`` for a robustness property that a
  sampled input (or another method's checked counterexample) violates, and every ``violated`` comes with
  a counterexample in the box that onnxruntime confirmed.

A reach method that rejects a kind (UnsupportedError: star sets on sigmoids) is reported as a skip,
not a failure; the verification methods handle every kind.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import nnreach
from nnreach.bounds.linear import InputDomain
from nnreach.errors import UnsupportedError
from nnreach.io.onnx import load_onnx
from nnreach.network.simplify import simplify

from ..soundness.test_linear_bounds import _check as check_linear_bounds
from ..soundness.test_reach_rules import _check_inside

SEED = 28
SIDE = 8
N_CLASSES = 10
REACH_METHODS = ("interval", "zono", "approx-star")
VERIFY_METHODS = ("interval", "zono", "deeppoly", "auto")
EPSILONS = (0.005, 0.05, 0.2)
SAMPLES = 2000
TIMEOUT = 1.0


class _Builder:
    """Collects ONNX nodes and initializers of a chain, naming tensors in order."""

    def __init__(self, rng: np.random.Generator, input_shape: tuple[int, ...]):
        self.rng, self.input_shape = rng, input_shape
        self.nodes, self.inits, self.last = [], [], "input"

    def _const(self, value: np.ndarray) -> str:
        name = f"c{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def add(self, op_type: str, *consts: np.ndarray, **attrs) -> "_Builder":
        """Append ``op_type`` applied to the current tensor and the constants ``consts``."""
        out, name = f"t{len(self.nodes)}", f"{op_type}_{len(self.nodes)}"
        inputs = [self.last, *(self._const(c) for c in consts)]
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=name, **attrs))
        self.last = out
        return self

    def conv(self, c_in: int, c_out: int, k: int, pad: int) -> "_Builder":
        """A ``k`` x ``k`` convolution with He-scaled random weights and ``pad`` pixels of padding."""
        w = self.rng.normal(size=(c_out, c_in, k, k)) * np.sqrt(2.0 / (c_in * k * k))
        return self.add("Conv", w, self.rng.normal(size=c_out) * 0.1, kernel_shape=[k, k], pads=[pad] * 4)

    def gemm(self, n_in: int, n_out: int, gain: float, centre: float = 0.0) -> "_Builder":
        """A dense layer; ``centre`` is subtracted from its inputs through the bias (0.5 after a
        sigmoid keeps the next layer out of saturation)."""
        w = self.rng.normal(size=(n_out, n_in)) * gain / np.sqrt(n_in)
        return self.add("Gemm", w, self.rng.normal(size=n_out) * 0.1 - centre * w.sum(axis=1), transB=1)

    def pool(self, op_type: str) -> "_Builder":
        """A 2x2 pooling of stride 2 (``AveragePool`` or ``MaxPool``)."""
        return self.add(op_type, kernel_shape=[2, 2], strides=[2, 2])

    def normalize(self) -> "_Builder":
        """``(x - 0.1307) / 0.3081`` as ONNX Sub and Div, the usual MNIST normalisation."""
        return self.add("Sub", np.float32(0.1307)).add("Div", np.float32(0.3081))

    def model(self) -> onnx.ModelProto:
        """The chain as an opset-13 model with input ``input`` and 10 outputs."""
        inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, self.input_shape)]
        outputs = [helper.make_tensor_value_info(self.last, TensorProto.FLOAT, (1, N_CLASSES))]
        graph = helper.make_graph(self.nodes, "tiny", inputs, outputs, self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def conv_avgpool(rng) -> onnx.ModelProto:
    """Padded conv 2 + ReLU + average pool, conv 3 + ReLU + average pool, dense 8 + ReLU, dense 10."""
    b = _Builder(rng, (1, 1, SIDE, SIDE)).conv(1, 2, 3, 1).add("Relu").pool("AveragePool")
    b.conv(2, 3, 3, 1).add("Relu").pool("AveragePool").add("Flatten")
    return b.gemm(3 * 2 * 2, 8, 4.0).add("Relu").gemm(8, N_CLASSES, 4.0).model()


def conv_maxpool(rng) -> onnx.ModelProto:
    """Unpadded conv 2 + ReLU + max pool, conv 3 + ReLU + max pool, dense 8 + ReLU, dense 10."""
    b = _Builder(rng, (1, 1, SIDE, SIDE)).conv(1, 2, 3, 0).add("Relu").pool("MaxPool")
    b.conv(2, 3, 2, 0).add("Relu").pool("MaxPool").add("Flatten")
    return b.gemm(3, 8, np.sqrt(2)).add("Relu").gemm(8, N_CLASSES, 1.0).model()


def fc_sigmoid(rng) -> onnx.ModelProto:
    """Flat input, normalisation, 6 dense layers of 8 sigmoids, dense 10."""
    b = _Builder(rng, (1, SIDE * SIDE)).normalize().gemm(SIDE * SIDE, 8, 1.0).add("Sigmoid")
    for _ in range(5):
        b.gemm(8, 8, 4.0, centre=0.5).add("Sigmoid")
    return b.gemm(8, N_CLASSES, 4.0, centre=0.5).model()


def fc_relu(rng) -> onnx.ModelProto:
    """Image input, normalisation, Flatten, 9 dense layers of 8 ReLUs, dense 10."""
    b = _Builder(rng, (1, 1, SIDE, SIDE)).normalize().add("Flatten").gemm(SIDE * SIDE, 8, 0.5).add("Relu")
    for _ in range(8):
        b.gemm(8, 8, np.sqrt(2)).add("Relu")
    return b.gemm(8, N_CLASSES, 1.0).model()


KINDS = {"conv_avgpool": conv_avgpool, "conv_maxpool": conv_maxpool, "fc_sigmoid": fc_sigmoid,
         "fc_relu": fc_relu}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    """Every tiny kind written to an ONNX file, by kind name."""
    folder = tmp_path_factory.mktemp("mnist_kinds")
    paths = {}
    for k, (name, build) in enumerate(KINDS.items()):
        paths[name] = str(folder / f"{name}.onnx")
        onnx.save(build(np.random.default_rng(SEED + k)), paths[name])
    return paths


def _images(rng, n: int) -> np.ndarray:
    """Random images in [0, 1], flattened, with about half the pixels at the background value 0."""
    x = rng.uniform(0, 1, size=(n, SIDE * SIDE))
    return np.where(rng.uniform(size=x.shape) < 0.5, 0.0, x)


def _box(image: np.ndarray, eps: float) -> nnreach.Box:
    return nnreach.linf_ball(image, eps, 0.0, 1.0)


@pytest.mark.parametrize("kind", KINDS)
def test_forward_agrees_with_onnxruntime(models, kind):
    net = load_onnx(models[kind])
    session = ort.InferenceSession(models[kind], providers=["CPUExecutionProvider"])
    shape = session.get_inputs()[0].shape
    x = _images(np.random.default_rng(SEED), 20).astype(np.float32)
    theirs = np.vstack([session.run(None, {"input": xi.reshape(shape)})[0] for xi in x])
    np.testing.assert_allclose(net.forward(x, np.float32), theirs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("method", REACH_METHODS)
@pytest.mark.parametrize("kind", KINDS)
def test_reach_contains_sampled_outputs(models, kind, method):
    net = load_onnx(models[kind])
    rng = np.random.default_rng(SEED)
    for image in _images(rng, 2):
        for eps in (0.01, 0.1):
            try:
                _check_inside(net, _box(image, eps), method, rng)
            except UnsupportedError:
                pytest.skip(f"{method} does not handle {kind}")


@pytest.mark.parametrize("kind", KINDS)
def test_deeppoly_bounds_contain_sampled_values(models, kind):
    net = simplify(load_onnx(models[kind]))
    rng = np.random.default_rng(SEED)
    image = _images(rng, 1)[0]
    for eps in (0.01, 0.1):
        box = _box(image, eps)
        check_linear_bounds(net, InputDomain(box.lo[None], box.hi[None]), rng)


def _sampled_unsafe(net, prop: nnreach.Property, rng) -> bool:
    """Whether the box's center, uniform points or random corners hit the unsafe set."""
    box = prop.input_box
    corners = np.where(rng.uniform(size=(SAMPLES, box.dim)) < 0.5, box.lo, box.hi)
    x = np.vstack([(box.lo + box.hi) / 2, box.sample(SAMPLES, rng), corners])
    return bool(prop.is_unsafe(net.forward(x)).any())


def _check_counterexample(net, prop: nnreach.Property, result: nnreach.Result) -> None:
    cex = result.counterexample
    assert cex.checked_by == "onnxruntime"
    assert np.all(cex.x >= prop.input_box.lo) and np.all(cex.x <= prop.input_box.hi)
    assert prop.is_unsafe(net.forward(cex.x[None]), tol=1e-6)[0]


def _verdicts(problem: nnreach.Problem) -> dict[str, nnreach.Result]:
    """The results of the methods of ``VERIFY_METHODS`` by name."""
    return {method: nnreach.verify(problem, method, timeout=TIMEOUT) for method in VERIFY_METHODS}


@pytest.mark.parametrize("kind", KINDS)
def test_no_holds_on_violated_properties(models, kind):
    """A property is known violated when a sample hits the unsafe set or a method found a checked
    counterexample; then no method may say holds."""
    net = load_onnx(models[kind])
    rng = np.random.default_rng(SEED)
    violated = proved = 0
    for image in _images(rng, 1):
        label = int(np.argmax(net.forward(image[None])))
        for eps in EPSILONS:
            prop = nnreach.robustness_property(_box(image, eps), label, N_CLASSES)
            results = _verdicts(nnreach.Problem(net, (prop,), model_path=models[kind]))
            for r in results.values():
                if r.status is nnreach.Status.VIOLATED:
                    _check_counterexample(net, prop, r)
            statuses = {m: r.status for m, r in results.items()}
            unsafe = _sampled_unsafe(net, prop, rng) or nnreach.Status.VIOLATED in statuses.values()
            assert not (unsafe and nnreach.Status.HOLDS in statuses.values()), (kind, eps, statuses)
            violated += unsafe
            proved += nnreach.Status.HOLDS in statuses.values()
    assert violated and proved, f"{kind}: {violated} violated and {proved} proved properties: too few to test"
