"""ONNX import: every published benchmark model and small synthetic models of every supported op
against onnxruntime (float64 and float32), gradients by finite differences, and error messages."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from nnreach.errors import InputError, UnsupportedError
from nnreach.io import load_model
from nnreach.io.onnx import load_onnx, onnx_to_network
from nnreach.network import ElementwiseAffine

ort = pytest.importorskip("onnxruntime")

SEED = 7
BENCHMARKS = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks"
BENCHMARK_FILES = sorted(BENCHMARKS.rglob("*.onnx")) if BENCHMARKS.is_dir() else []


# ---------------------------------------------------------------------------------------------
# Reference evaluation


def _session(model: onnx.ModelProto | Path) -> Callable[[np.ndarray], np.ndarray]:
    """Run one full-shape input through onnxruntime; models it refuses (NNV's Gemm on a rank-4
    input in ainncs/ACC) go through onnx's reference evaluator instead."""
    source = str(model) if isinstance(model, Path) else model.SerializeToString()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        sess = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception:
        from onnx.reference import ReferenceEvaluator
        ref = ReferenceEvaluator(model if isinstance(model, onnx.ModelProto) else str(model))
        name = _input_info(onnx.load(model) if isinstance(model, Path) else model).name
        return lambda x: ref.run(None, {name: x})[0]
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})[0]


def _input_info(model: onnx.ModelProto) -> onnx.ValueInfoProto:
    inits = {t.name for t in model.graph.initializer}
    return next(i for i in model.graph.input if i.name not in inits)


def assert_matches_reference(model: onnx.ModelProto | Path, seed: int = SEED, samples: int = 3):
    """Our float64 and float32 forward passes equal the reference on random inputs (float32 to ten
    times the tolerance of float64)."""
    proto = onnx.load(model) if isinstance(model, Path) else model
    net = load_onnx(model) if isinstance(model, Path) else onnx_to_network(proto)
    info = _input_info(proto).type.tensor_type
    shape = [d.dim_value if d.dim_value > 0 else 1 for d in info.shape.dim]
    dtype = np.float64 if info.elem_type == TensorProto.DOUBLE else np.float32
    run = _session(model)
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(samples, *shape)).astype(dtype)
    ref = np.stack([run(x).reshape(-1) for x in xs])
    atol = 1e-5 * (1 + np.abs(ref).max())
    flat = xs.reshape(samples, -1)
    np.testing.assert_allclose(net.forward(flat), ref, rtol=1e-5, atol=atol)
    y32 = net.forward(flat, dtype=np.float32)
    assert y32.dtype == np.float32
    # float32 sums in another order than onnxruntime's: squares of outputs near 1e4 (power-flow nets)
    # cancel to a few units in the 5th digit
    np.testing.assert_allclose(y32, ref, rtol=1e-5, atol=10 * atol)
    return net


# ---------------------------------------------------------------------------------------------
# Published benchmark models


@pytest.mark.slow
@pytest.mark.parametrize("path", BENCHMARK_FILES or [pytest.param(
    None, marks=pytest.mark.skip(reason=f"published benchmarks not found at {BENCHMARKS}"))],
    ids=lambda p: str(p.relative_to(BENCHMARKS)) if p else "missing")
def test_benchmark_model_matches_onnxruntime(path):
    """Every published model either loads and computes what onnxruntime computes, or is refused with
    one line that lists its unsupported operators or names the node nnreach cannot represent (VNN-COMP
    models whose operators are not supported yet; a 1-D convolution, a product of two tensors)."""
    try:
        load_onnx(path)
    except UnsupportedError as e:
        named = r"unsupported ONNX operators: \w+ \(node|ONNX node '[^']+' \(\w+\): "
        assert re.search(named, str(e)) and "\n" not in str(e), str(e)
        pytest.skip(f"refused as expected: {str(e).split(': ', 1)[1][:200]}")
    assert_matches_reference(path)


@pytest.mark.skipif(not BENCHMARK_FILES, reason=f"published benchmarks not found at {BENCHMARKS}")
def test_batch_axis_rule_on_benchmarks():
    acas = load_model(BENCHMARKS / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx")
    assert acas.input_shape == (1, 1, 5) and acas.output_shape == (5,)
    assert load_onnx(BENCHMARKS / "test" / "test_nano.onnx").input_shape == (1,)
    assert load_onnx(BENCHMARKS / "ainncs" / "Airplane" / "controller_airplane.onnx").input_shape == (12,)
    assert load_onnx(BENCHMARKS / "mnistfc" / "mnist-net_256x2.onnx").input_shape == (784, 1)
    start = time.perf_counter()
    load_onnx(BENCHMARKS / "acasxu" / "ACASXU_run2a_5_9_batch_2000.onnx")
    assert time.perf_counter() - start < 0.25


# ---------------------------------------------------------------------------------------------
# Synthetic models of every supported op


def _model(nodes, shape, consts=None, *, opset: int = 17, dtype: int = TensorProto.FLOAT,
           inputs: int = 1, outputs=("y",), out_shape=None) -> onnx.ModelProto:
    """A model with input(s) ``x`` (``x1``...) of ``shape``, initializers ``consts`` and outputs
    whose shapes come from onnx shape inference unless ``out_shape`` is given."""
    names = ["x"] if inputs == 1 else [f"x{k}" for k in range(1, inputs + 1)]
    graph = helper.make_graph(
        nodes, "test", [helper.make_tensor_value_info(n, dtype, shape) for n in names],
        [helper.make_tensor_value_info(o, dtype, out_shape) for o in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in (consts or {}).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model if out_shape else onnx.shape_inference.infer_shapes(model)


def _n(op: str, inputs: list[str], output: str = "y", **attrs) -> onnx.NodeProto:
    return helper.make_node(op, inputs, [output], name=f"{op.lower()}_{output}", **attrs)


def _w(r: np.random.Generator, *shape: int) -> np.ndarray:
    return r.normal(size=shape).astype(np.float32)


def _conv_model(r, attrs: dict, kernel=(3, 3), groups: int = 1, bias: bool = True) -> onnx.ModelProto:
    consts = {"W": _w(r, 4, 4 // groups, *kernel)}
    if bias:
        consts["B"] = _w(r, 4)
    return _model([_n("Conv", ["x", "W", "B"] if bias else ["x", "W"], group=groups, **attrs)],
                  [1, 4, 7, 6], consts)


def _pool_model(op: str, attrs: dict) -> onnx.ModelProto:
    return _model([_n(op, ["x"], **attrs)], [1, 2, 7, 8], opset=19)


CASES: dict[str, Callable[[np.random.Generator], onnx.ModelProto]] = {
    # dense layers
    "matmul_add_relu": lambda r: _model(
        [_n("MatMul", ["x", "W"], "h"), _n("Add", ["h", "b"], "a"), _n("Relu", ["a"])],
        ["N", 6], {"W": _w(r, 6, 4), "b": _w(r, 4)}),
    "matmul_weight_left_vector": lambda r: _model(
        [_n("MatMul", ["W", "x"], "h"), _n("Add", ["h", "b"])], [3], {"W": _w(r, 4, 3), "b": _w(r, 4)}),
    "matmul_weight_left_matrix": lambda r: _model([_n("MatMul", ["W", "x"])], [3, 2], {"W": _w(r, 4, 3)}),
    "matmul_weight_left_batched": lambda r: _model([_n("MatMul", ["W", "x"])], [1, 3, 2], {"W": _w(r, 4, 3)}),
    "matmul_3d_weight": lambda r: _model([_n("MatMul", ["x", "W"])], [1, 2, 5], {"W": _w(r, 1, 5, 3)}),
    "matmul_weight_adds_axes": lambda r: _model([_n("MatMul", ["x", "W"])], [1, 5], {"W": _w(r, 1, 1, 5, 3)}),
    "matmul_vector_weight": lambda r: _model(
        [_n("MatMul", ["x", "w"], "h"), _n("Relu", ["h"])], [1, 2, 5], {"w": _w(r, 5)}),
    "gemm_transB_alpha_beta": lambda r: _model(
        [_n("Gemm", ["x", "W", "C"], transB=1, alpha=0.5, beta=2.0)], [1, 6],
        {"W": _w(r, 4, 6), "C": _w(r, 4)}),
    "gemm_row_bias_then_no_bias": lambda r: _model(
        [_n("Gemm", ["x", "W", "C"], "h"), _n("Gemm", ["h", "W2"])], ["batch", 6],
        {"W": _w(r, 6, 4), "C": _w(r, 1, 4), "W2": _w(r, 4, 3)}),
    "gemm_scalar_bias": lambda r: _model(
        [_n("Gemm", ["x", "W", "C"], beta=-1.5)], [1, 6], {"W": _w(r, 6, 4), "C": np.float32(0.7)}),
    "gemm_matrix_bias_no_batch": lambda r: _model(
        [_n("Gemm", ["x", "W", "C"], "h"), _n("Gemm", ["h", "W2", "C2"])], [3, 6],
        {"W": _w(r, 6, 4), "C": _w(r, 3, 4), "W2": _w(r, 4, 2), "C2": _w(r, 3, 1)}),
    # elementwise affine and residual graphs
    "arithmetic_with_constants": lambda r: _model(
        [_n("Add", ["x", "c1"], "a"), _n("Sub", ["c2", "a"], "s"), _n("Mul", ["s", "c3"], "m"),
         _n("Div", ["m", "c4"], "d"), _n("Sub", ["d", "c5"], "e"), _n("Mul", ["c6", "e"], "f"),
         _n("Add", ["c7", "f"], "g"), _n("Neg", ["g"])],
        [1, 3, 4, 4], {"c1": _w(r, 1, 3, 1, 1), "c2": np.float32(0.3), "c3": _w(r, 4),
                       "c4": 1 + np.abs(_w(r, 3, 1, 1)), "c5": _w(r, 1, 1, 4, 4), "c6": _w(r, 4, 1),
                       "c7": _w(r, 3, 4, 4)}),
    "residual_add_sub": lambda r: _model(
        [_n("Gemm", ["x", "W1", "b1"], "h1"), _n("Relu", ["h1"], "r1"), _n("Gemm", ["r1", "W2", "b2"], "h2"),
         _n("Add", ["h2", "x"], "s"), _n("Relu", ["s"], "r2"), _n("Sub", ["r2", "h1"], "d"),
         _n("Add", ["d", "d"])],
        [1, 6], {"W1": _w(r, 6, 6), "b1": _w(r, 6), "W2": _w(r, 6, 6), "b2": _w(r, 6)}),
    "double_precision": lambda r: _model(
        [_n("MatMul", ["x", "W"], "h"), _n("Add", ["h", "b"], "a"), _n("Tanh", ["a"])], [1, 5],
        {"W": r.normal(size=(5, 3)), "b": r.normal(size=3)}, dtype=TensorProto.DOUBLE),
    # activations
    "activations": lambda r: _model(
        [_n("LeakyRelu", ["x"], "a", alpha=0.2), _n("MatMul", ["a", "W1"], "b"), _n("Tanh", ["b"], "c"),
         _n("MatMul", ["c", "W2"], "d"), _n("Sigmoid", ["d"], "e"), _n("MatMul", ["e", "W3"], "f"),
         _n("HardSigmoid", ["f"], "g", alpha=0.3, beta=0.4), _n("LeakyRelu", ["g"], "h"), _n("Neg", ["h"])],
        [1, 8], {"W1": _w(r, 8, 8), "W2": _w(r, 8, 8), "W3": _w(r, 8, 8)}),
    "clip_attributes_opset10": lambda r: _model(
        [_n("Clip", ["x"], "a", min=-0.5, max=0.3), _n("Clip", ["a"], "b", max=0.1), _n("Clip", ["b"])],
        [1, 10], opset=10),
    "clip_inputs_opset13": lambda r: _model(
        [_n("Clip", ["x", "lo"], "a"), _n("Clip", ["a", "", "hi"], "b"), _n("Clip", ["b", "lo2", "hi"], "c"),
         _n("Clip", ["c"])],
        [1, 10], {"lo": np.float32(-0.8), "hi": np.float32(0.6), "lo2": np.float32(-0.2)}, opset=13),
    # convolution and normalisation
    **{f"conv_{k}": (lambda attrs, kw: lambda r: _conv_model(r, attrs, **kw))(attrs, kw) for k, (attrs, kw) in {
        "plain": ({}, {}),
        "strides": ({"strides": [2, 1]}, {}),
        "asymmetric_pads": ({"pads": [1, 0, 2, 1]}, {"kernel": (2, 3)}),
        "dilations": ({"dilations": [2, 2], "pads": [1, 1, 1, 1]}, {}),
        "groups": ({}, {"groups": 2}),
        "depthwise_no_bias": ({"pads": [1, 1, 1, 1]}, {"groups": 4, "bias": False}),
        "auto_pad_valid": ({"auto_pad": "VALID", "strides": [2, 2]}, {}),
        "auto_pad_same_upper": ({"auto_pad": "SAME_UPPER", "strides": [2, 2]}, {}),
        "auto_pad_same_lower": ({"auto_pad": "SAME_LOWER", "strides": [2, 1]}, {"kernel": (2, 3)}),
    }.items()},
    "conv_bn_folded": lambda r: _model(
        [_n("Conv", ["x", "W", "cb"], "c", pads=[1, 1, 1, 1]),
         _n("BatchNormalization", ["c", "g", "b", "m", "v"], "n", epsilon=1e-3),
         _n("Relu", ["n"], "a"), _n("Flatten", ["a"], "f"), _n("Gemm", ["f", "W2", "b2"], "h", transB=1),
         _n("BatchNormalization", ["h", "g2", "b2", "m2", "v2"])],
        [1, 2, 4, 4], {"W": _w(r, 3, 2, 3, 3), "cb": _w(r, 3), "g": _w(r, 3), "b": _w(r, 3), "m": _w(r, 3),
                       "v": 0.5 + np.abs(_w(r, 3)), "W2": _w(r, 5, 48), "b2": _w(r, 5), "g2": _w(r, 5),
                       "m2": _w(r, 5), "v2": 0.5 + np.abs(_w(r, 5))}),
    "bn_not_folded": lambda r: _model(
        [_n("BatchNormalization", ["x", "g", "b", "m", "v"], "n0"), _n("Conv", ["n0", "W"], "c"),
         _n("BatchNormalization", ["c", "g", "b", "m", "v"], "n"), _n("Add", ["n", "c"])],
        [1, 3, 4, 4], {"W": _w(r, 3, 3, 1, 1), "g": _w(r, 3), "b": _w(r, 3), "m": _w(r, 3),
                       "v": 0.5 + np.abs(_w(r, 3))}),
    "nnv_dense_as_conv": lambda r: _model(
        [_n("Sub", ["x", "mu"], "s"), _n("Conv", ["s", "W1", "b1"], "c1", kernel_shape=[1, 4]),
         _n("Relu", ["c1"], "r"), _n("Conv", ["r", "W2", "b2"], "c2", kernel_shape=[1, 1]),
         _n("Flatten", ["c2"])],
        [1, 1, 1, 4], {"mu": _w(r, 1, 1, 1, 4), "W1": _w(r, 8, 1, 1, 4), "b1": _w(r, 8),
                       "W2": _w(r, 2, 8, 1, 1), "b2": _w(r, 2)}, opset=8),
    "conv_without_batch_axis": lambda r: _model(
        [_n("Reshape", ["x", "shape"], "img"), _n("Conv", ["img", "W"], "c"),
         _n("MaxPool", ["c"], "p", kernel_shape=[2, 2]), _n("Flatten", ["p"])],
        [16], {"shape": np.array([1, 1, 4, 4]), "W": _w(r, 2, 1, 2, 2)}),
    # pooling
    **{f"maxpool_{k}": (lambda a: lambda r: _pool_model("MaxPool", a))(a) for k, a in {
        "plain": {"kernel_shape": [2, 2], "strides": [2, 2]},
        "pads": {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
        "ceil_mode": {"kernel_shape": [3, 2], "strides": [2, 3], "ceil_mode": 1},
        "dilations": {"kernel_shape": [2, 2], "dilations": [2, 1]},
        "auto_pad_same_upper": {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"},
    }.items()},
    **{f"avgpool_{k}": (lambda a: lambda r: _pool_model("AveragePool", a))(a) for k, a in {
        "exclude_pad": {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
        "include_pad": {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 1, 2],
                        "count_include_pad": 1},
        "ceil_mode": {"kernel_shape": [3, 2], "strides": [2, 3], "ceil_mode": 1},
        "ceil_mode_pads": {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 1, 0], "ceil_mode": 1},
        "auto_pad_same_lower": {"kernel_shape": [2, 3], "auto_pad": "SAME_LOWER"},
    }.items()},
    "global_pools": lambda r: _model(
        [_n("GlobalAveragePool", ["x"], "a"), _n("GlobalMaxPool", ["x"], "m"),
         _n("Concat", ["a", "m"], axis=1)],
        [1, 3, 5, 4]),
    # shapes
    "flatten_axes": lambda r: _model(
        [_n("Flatten", ["x"], "f", axis=-3), _n("MatMul", ["f", "W"], "h"), _n("Flatten", ["h"])],
        [1, 2, 3, 4], {"W": _w(r, 24, 5)}),
    "flatten_without_batch_axis": lambda r: _model(
        [_n("Flatten", ["x"], "f", axis=2), _n("MatMul", ["f", "W"])], [2, 3, 4], {"W": _w(r, 4, 3)}),
    "reshape_zero_and_minus_one": lambda r: _model(
        [_n("Reshape", ["x", "s1"], "a"), _n("Transpose", ["a"], "t", perm=[0, 2, 1]),
         _n("Reshape", ["t", "s2"], "b"),
         _n("Reshape", ["b", "s3"], "c", allowzero=1), _n("MatMul", ["c", "W"])],
        [1, 2, 3, 4], {"s1": np.array([0, -1, 2]), "s2": np.array([0, 4, -1]), "s3": np.array([1, 24]),
                       "W": _w(r, 24, 3)}, opset=14),
    "reshape_from_shape_arithmetic": lambda r: _model(
        [_n("Shape", ["x"], "s"), _n("Gather", ["s", "zero"], "n", axis=0), _n("Unsqueeze", ["n", "ax"], "n1"),
         _n("Concat", ["n1", "minus1"], "target", axis=0), _n("Reshape", ["x", "target"], "f"),
         _n("Relu", ["f"])],
        [1, 2, 3, 4], {"zero": np.array(0), "ax": np.array([0]), "minus1": np.array([-1])}, opset=13,
        out_shape=[1, 24]),
    "transpose": lambda r: _model(
        [_n("Transpose", ["x"], "t", perm=[0, 2, 3, 1]), _n("MatMul", ["t", "W"], "h"),
         _n("Transpose", ["h"], "u", perm=[0, 3, 1, 2]), _n("Transpose", ["u"], perm=[0, 1, 2, 3])],
        [1, 2, 3, 4], {"W": _w(r, 2, 5)}),
    "squeeze_unsqueeze_attributes_opset11": lambda r: _model(
        [_n("Squeeze", ["x"], "s", axes=[2]), _n("Unsqueeze", ["s"], "u", axes=[1, -1]), _n("Flatten", ["u"])],
        [1, 3, 1, 4], opset=11),
    "squeeze_unsqueeze_inputs_opset13": lambda r: _model(
        [_n("Squeeze", ["x", "a2"], "s"), _n("Unsqueeze", ["s", "a1"], "u"), _n("Relu", ["u"])],
        [1, 3, 1, 4], {"a2": np.array([-2]), "a1": np.array([1, -1])}, opset=13),
    "squeeze_all_without_batch_axis": lambda r: _model(
        [_n("Squeeze", ["x"], "s"), _n("Sigmoid", ["s"])], [3, 1, 4]),
    "concat": lambda r: _model(
        [_n("Relu", ["x"], "a"), _n("Conv", ["x", "W"], "b", pads=[1, 1, 1, 1]),
         _n("Concat", ["a", "b", "x"], "c", axis=1),
         _n("Concat", ["c", "c"], "d", axis=-1), _n("Concat", ["d"], axis=1)],
        [1, 2, 3, 3], {"W": _w(r, 2, 2, 3, 3)}, out_shape=[1, 6, 3, 6]),
    "constant_identity_dropout": lambda r: _model(
        [helper.make_node("Constant", [], ["W"], value=numpy_helper.from_array(_w(r, 4, 3))),
         helper.make_node("Constant", [], ["c"], value_floats=[0.1, -0.2, 0.3]),
         _n("Unsqueeze", ["c", "ax"], "c1"), _n("Identity", ["c1"], "c2"),
         _n("MatMul", ["x", "W"], "h"), _n("Identity", ["h"], "i"), _n("Add", ["i", "c2"], "a"),
         _n("Dropout", ["a"])],
        [1, 4], {"ax": np.array([0])}, opset=13),
    "constant_folding": lambda r: _model(
        [helper.make_node("Constant", [], ["W0"], value=numpy_helper.from_array(_w(r, 4, 6))),
         _n("Transpose", ["W0"], "W1"), _n("Flatten", ["W1"], "W2"), _n("Reshape", ["W2", "shape"], "W3"),
         _n("Mul", ["W3", "half"], "W4"), _n("Div", ["W4", "half"], "W5"), _n("Sub", ["W5", "small"], "W6"),
         _n("Add", ["W6", "small"], "W7"), _n("Neg", ["W7"], "W8"), _n("MatMul", ["W8", "M"], "W9"),
         _n("Unsqueeze", ["W9", "ax"], "W10"), _n("Squeeze", ["W10", "ax"], "W"),
         _n("Shape", ["x"], "s"), _n("Gather", ["s", "one"], "n"), _n("Div", ["n", "four"], "q"),
         _n("Cast", ["q"], "scale", to=TensorProto.FLOAT), _n("Sub", ["n", "q"], "m"),
         _n("Concat", ["ax", "m"], "target", axis=0),
         _n("MatMul", ["x", "W"], "h"), _n("Div", ["h", "scale"], "d"), _n("Reshape", ["d", "target"])],
        [1, 6], {"shape": np.array([6, 4]), "half": np.float32(0.5), "small": _w(r, 4), "M": _w(r, 4, 5),
                 "ax": np.array([0]), "one": np.array([1]), "four": np.array([4])}, opset=13,
        out_shape=[1, 5]),
    "identity_only": lambda r: _model([_n("Identity", ["x"])], [1, 3]),
    # structural operators: sparse maps of a computed tensor, and folding of constant ones
    "slice_inputs_negative_and_clamped": lambda r: _model(
        [_n("Relu", ["x"], "h"), _n("Slice", ["h", "starts", "ends", "axes", "steps"], "s"), _n("Sigmoid", ["s"])],
        [1, 3, 6, 5], {"starts": np.array([1, -4]), "ends": np.array([3, 100]), "axes": np.array([1, 3]),
                       "steps": np.array([1, 2])}),
    "slice_negative_step": lambda r: _model(
        [_n("Slice", ["x", "starts", "ends", "axes", "steps"])], [1, 2, 7],
        {"starts": np.array([-1]), "ends": np.array([-100]), "axes": np.array([2]), "steps": np.array([-2])}),
    "slice_attributes_opset9": lambda r: _model(
        [_n("Slice", ["x"], starts=[0, 1], ends=[1, 4], axes=[0, 1])], [1, 6], opset=9),
    "gather_constant_indices": lambda r: _model(
        [_n("Gather", ["x", "i"], "g", axis=1), _n("Relu", ["g"])], [1, 6], {"i": np.array([[0, 5], [-1, 2]])}),
    "gather_inner_axis": lambda r: _model([_n("Gather", ["x", "i"], axis=2)], [1, 3, 4, 5], {"i": np.array([3, 0])}),
    "split_sizes_input": lambda r: _model(
        [helper.make_node("Split", ["x", "sizes"], ["a", "b"], name="split", axis=1),
         _n("Relu", ["b"], "rb"), _n("Concat", ["rb", "a"], axis=1)], [1, 6, 4], {"sizes": np.array([2, 4])}, opset=13),
    "split_equal_parts": lambda r: _model(
        [helper.make_node("Split", ["x"], ["a", "b", "c"], name="split", axis=-1),
         _n("Concat", ["c", "a", "b"], axis=-1)], [1, 2, 6], opset=13),
    "split_num_outputs_opset18": lambda r: _model(
        [helper.make_node("Split", ["x"], ["a", "b", "c"], name="split", axis=1, num_outputs=3),
         _n("Concat", ["c", "b", "a"], axis=1)], [1, 7], opset=18),
    "split_attribute_opset11": lambda r: _model(
        [helper.make_node("Split", ["x"], ["a", "b"], name="split", axis=1, split=[1, 2]),
         _n("Sub", ["b", "c"], "d"), _n("Concat", ["d", "a"], axis=1)], [1, 3], {"c": np.ones(2, np.float32)}, opset=11),
    "pad_constant_value": lambda r: _model(
        [_n("Pad", ["x", "pads", "v"], "p"), _n("Conv", ["p", "W"])], [1, 2, 3, 4],
        {"pads": np.array([0, 0, 1, 2, 0, 0, 2, 1]), "v": np.float32(0.5), "W": _w(r, 3, 2, 2, 2)}, opset=13),
    "pad_reflect_and_edge": lambda r: _model(
        [_n("Pad", ["x", "pads"], "p", mode="reflect"), _n("Pad", ["p", "pads"], "q", mode="edge"), _n("Relu", ["q"])],
        [1, 2, 3, 4], {"pads": np.array([0, 0, 2, 1, 0, 0, 1, 3])}, opset=13),
    "pad_negative_crops": lambda r: _model(
        [_n("Pad", ["x", "pads"])], [1, 2, 5, 4], {"pads": np.array([0, 0, -1, 2, 0, 0, 1, -2])}, opset=13),
    "pad_axes_opset18": lambda r: _model(
        [_n("Pad", ["x", "pads", "", "axes"])], [1, 2, 3, 4], {"pads": np.array([1, 2, 0, 1]), "axes": np.array([-1, 2])},
        opset=18),
    "pad_attributes_opset10": lambda r: _model(
        [_n("Pad", ["x"], pads=[0, 1, 0, 2], value=-1.5)], [1, 3], opset=10),
    "expand": lambda r: _model([_n("Expand", ["x", "s"], "e"), _n("Relu", ["e"])], [1, 3, 1], {"s": np.array([3, 4])}),
    "reduce_sum_axes_input": lambda r: _model(
        [_n("ReduceSum", ["x", "axes"], "s"), _n("Relu", ["s"])], [1, 3, 4, 5], {"axes": np.array([2, -1])}, opset=13),
    "reduce_sum_without_keepdims": lambda r: _model(
        [_n("ReduceSum", ["x", "axes"], keepdims=0)], [1, 3, 4], {"axes": np.array([1])}, opset=13),
    "reduce_mean_attribute": lambda r: _model(
        [_n("ReduceMean", ["x"], "m", axes=[-1], keepdims=0), _n("Tanh", ["m"])], [1, 3, 4], opset=13),
    "reduce_mean_axes_input_opset18": lambda r: _model(
        [_n("ReduceMean", ["x", "axes"])], [1, 2, 3, 4], {"axes": np.array([1, 3])}, opset=18),
    **{f"resize_nearest_{k}": (lambda a, scales: lambda r: _model(
        [_n("Resize", ["x", "", "scales"], "z", **a), _n("Relu", ["z"])], [1, 2, 3, 4],
        {"scales": np.array(scales, np.float32)}, opset=13))(a, sc) for k, (a, sc) in {
        "default": ({}, [1, 1, 2, 2]),
        "asymmetric_floor": ({"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}, [1, 1, 2, 3]),
        "half_pixel_ceil": ({"nearest_mode": "ceil"}, [1, 1, 1.5, 2.5]),
        "pytorch_half_pixel": ({"coordinate_transformation_mode": "pytorch_half_pixel",
                                "nearest_mode": "round_prefer_ceil"}, [1, 1, 0.5, 1.75]),
    }.items()},
    "resize_nearest_sizes_align_corners": lambda r: _model(
        [_n("Resize", ["x", "", "", "sizes"], coordinate_transformation_mode="align_corners")], [1, 2, 3, 4],
        {"sizes": np.array([1, 2, 5, 7])}, opset=13),
    "upsample_opset9": lambda r: _model(
        [_n("Upsample", ["x", "scales"], "u"), _n("Relu", ["u"])], [1, 2, 3, 2],
        {"scales": np.array([1, 1, 2, 3], np.float32)}, opset=9),
    # nonlinear operations (forward and backward only)
    "products_and_quotients_of_tensors": lambda r: _model(
        [_n("MatMul", ["x", "W"], "h"), _n("Sigmoid", ["h"], "s"), _n("Mul", ["x", "s"], "m"),
         _n("Add", ["s", "one"], "d"), _n("Div", ["m", "d"], "q"), _n("ReduceSum", ["x", "ax"], "t"),
         _n("Mul", ["q", "t"])], [1, 2, 3], {"W": _w(r, 3, 3), "one": np.float32(1.0), "ax": np.array([2])}, opset=13),
    "elementwise_functions": lambda r: _model(
        [_n("Sin", ["x"], "a"), _n("Cos", ["a"], "b"), _n("Abs", ["b"], "c"), _n("Pow", ["c", "p"], "d"),
         _n("Exp", ["d"], "e"), _n("Mul", ["x", "three"], "x3"), _n("Floor", ["x3"], "f"), _n("Ceil", ["x3"], "g"),
         _n("Add", ["e", "f"], "h"), _n("Add", ["h", "g"])],
        [1, 5], {"p": np.float32(1.5), "three": np.float32(3.0)}, opset=13),
    "prelu_one_slope": lambda r: _model(
        [_n("PRelu", ["x", "s"], "p"), _n("MatMul", ["p", "W"])], [1, 4], {"s": np.float32([0.25]), "W": _w(r, 4, 2)}),
    "conv_1d": lambda r: _model(
        [_n("Conv", ["x", "W", "B"], "c", strides=[2], pads=[1, 2], dilations=[2], group=2), _n("Relu", ["c"], "r"),
         _n("Conv", ["r", "V"])], [1, 4, 9], {"W": _w(r, 6, 2, 3), "B": _w(r, 6), "V": _w(r, 2, 6, 2)}),
    "conv_1d_same_padding": lambda r: _model(
        [_n("Conv", ["x", "W"], auto_pad="SAME_UPPER", strides=[2])], [1, 2, 7], {"W": _w(r, 3, 2, 4)}),
    **{f"conv_transpose_{k}": (lambda a, cin, cout, g: lambda r: _model(
        [_n("ConvTranspose", ["x", "W", "B"], "c", **a), _n("Relu", ["c"])], [1, cin, 4, 3],
        {"W": _w(r, cin, cout // g, 3, 2), "B": _w(r, cout)}))(a, cin, cout, g) for k, (a, cin, cout, g) in {
        "plain": ({}, 2, 3, 1),
        "strides_pads": ({"strides": [2, 3], "pads": [1, 0, 0, 1]}, 2, 3, 1),
        "output_padding_dilations": ({"strides": [2, 2], "output_padding": [1, 0], "dilations": [2, 1]}, 2, 2, 1),
        "groups": ({"group": 2, "strides": [2, 1], "pads": [0, 1, 1, 0]}, 4, 6, 2),
    }.items()},
    # the batch axis mixed with the others: read as a shape like any other (batch size 1)
    **{f"batch_axis_{k}": (lambda nodes, consts, shape: lambda r: _model(nodes, shape, consts))(*v) for k, v in {
        "flatten_axis0": ([_n("Flatten", ["x"], axis=0)], {}, [1, 2, 3]),
        "flatten_axis2": ([_n("Flatten", ["x"], axis=2)], {}, [1, 2, 3]),
        "transpose": ([_n("Transpose", ["x"])], {}, [1, 2, 3]),
        "reshape": ([_n("Reshape", ["x", "s"])], {"s": np.array([6, 1])}, [1, 2, 3]),
        "concat": ([_n("Concat", ["x", "x"], axis=0)], {}, [1, 2, 3]),
        "squeeze": ([_n("Squeeze", ["x"])], {}, [1, 2, 3]),
        "unsqueeze": ([_n("Unsqueeze", ["x", "a"])], {"a": np.array([0])}, [1, 2, 3]),
        "expand": ([_n("Expand", ["x", "s"])], {"s": np.array([2, 1])}, [1, 2]),
        "reduce": ([_n("ReduceSum", ["x", "a"])], {"a": np.array([0])}, [1, 2]),
        "add_broadcast": ([_n("Add", ["x", "c"])], {"c": np.ones((4, 1, 1), np.float32)}, [1, 2, 3]),
        "weight_on_the_left": (  # (1, n) -> (n, 1), W @ x, back to (1, m): a power-flow net's pattern
            [_n("Transpose", ["x"], "t", perm=[1, 0]), _n("MatMul", ["W", "t"], "m"),
             _n("Transpose", ["m"], "b", perm=[1, 0]), _n("Relu", ["b"])], {"W": np.float32([[1, -2, 3], [0.5, 1, -1]])}, [1, 3]),
    }.items()},
    # computed tensors broadcast by a constant or by each other
    "sub_broadcast_to_a_larger_shape": lambda r: _model(  # x (1, 4, 1) - t (5,) -> (1, 4, 5), then summed with weights
        [_n("Unsqueeze", ["x", "ax"], "u"), _n("Sub", ["u", "t"], "s"), _n("Relu", ["s"], "h"), _n("MatMul", ["h", "w"])],
        [1, 4], {"ax": np.array([2]), "t": np.linspace(-1, 1, 5).astype(np.float32), "w": _w(r, 5)}),
    "add_tensors_broadcast": lambda r: _model(
        [_n("ReduceSum", ["x", "ax"], "s"), _n("Sub", ["x", "s"], "d"), _n("Add", ["s", "d"])],
        [1, 3, 4], {"ax": np.array([2])}, opset=13),
    "shape_arithmetic_folded": lambda r: _model(
        [helper.make_node("ConstantOfShape", ["n"], ["ones"], value=numpy_helper.from_array(np.float32([1.5]))),
         _n("Range", ["zero", "four", "one"], "idx"), _n("Cast", ["idx"], "fidx", to=TensorProto.FLOAT),
         _n("Equal", ["idx", "two"], "is2"), _n("Not", ["is2"], "not2"), _n("Where", ["not2", "fidx", "ones"], "w"),
         _n("Pow", ["w", "p"], "sq"), _n("Sin", ["sq"], "s"), _n("Cos", ["sq"], "c"), _n("Floor", ["w"], "f"),
         _n("Max", ["s", "c", "f"], "m"), _n("Abs", ["m"], "a"), _n("Add", ["x", "a"])],
        [1, 4], {"n": np.array([4]), "zero": np.array(0), "four": np.array(4), "one": np.array(1),
                 "two": np.array(2), "p": np.float32(2.0)}, opset=13),
    "structural_constants_folded": lambda r: _model(
        [_n("Slice", ["W0", "st", "en"], "W1"), _n("Pad", ["W1", "pads"], "W2"), _n("Expand", ["b0", "bs"], "b1"),
         _n("ReduceSum", ["b1", "ax"], "b2", keepdims=0),
         helper.make_node("Split", ["W2"], ["Wa", "Wb"], name="split", axis=1),
         _n("MatMul", ["x", "Wa"], "h"), _n("Add", ["h", "b2"], "a"), _n("MatMul", ["x", "Wb"], "g"),
         _n("Concat", ["a", "g"], axis=1)],
        [1, 4], {"W0": _w(r, 6, 5), "st": np.array([1, 0]), "en": np.array([5, 3]), "pads": np.array([0, 0, 0, 1]),
                 "b0": _w(r, 2), "bs": np.array([3, 2]), "ax": np.array([0])}, opset=13),
}


@pytest.mark.parametrize("name", CASES)
def test_synthetic_model_matches_onnxruntime(name):
    model = CASES[name](np.random.default_rng(SEED))
    assert_matches_reference(model)


def test_legacy_broadcast_with_axis():
    """Opset-6 ``Sub`` aligning its constant at ``axis`` (onnxruntime no longer implements it)."""
    c = np.array([0.5, -1.0, 2.0], np.float32)
    net = onnx_to_network(_model([_n("Sub", ["x", "c"], "s", broadcast=1, axis=1), _n("Relu", ["s"])],
                                 [1, 3, 2, 2], {"c": c}, opset=6))
    x = np.random.default_rng(SEED).normal(size=(4, 3, 2, 2))
    np.testing.assert_allclose(net.forward(x), np.maximum(x - c[:, None, None], 0).reshape(4, -1))


def test_batch_norm_is_folded_only_where_safe():
    rng = np.random.default_rng(SEED)
    folded = onnx_to_network(CASES["conv_bn_folded"](rng))
    assert not any(isinstance(n.op, ElementwiseAffine) for n in folded.nodes)
    kept = onnx_to_network(CASES["bn_not_folded"](rng))
    assert sum(isinstance(n.op, ElementwiseAffine) for n in kept.nodes) == 2


def test_node_names_and_shapes_come_from_the_model():
    net = onnx_to_network(CASES["matmul_add_relu"](np.random.default_rng(SEED)))
    assert [n.name for n in net.nodes] == ["matmul_h", "add_a", "relu_y"]
    assert net.input_shape == (6,) and net.output_shape == (4,)
    left = onnx_to_network(CASES["matmul_weight_left_matrix"](np.random.default_rng(SEED)))
    assert left.input_shape == (3, 2) and left.output_shape == (4, 2)


@pytest.mark.parametrize("name", ["conv_bn_folded", "residual_add_sub", "activations", "concat",
                                  "products_and_quotients_of_tensors"])
def test_gradient_matches_finite_differences(name):
    rng = np.random.default_rng(SEED)
    net = onnx_to_network(CASES[name](rng))
    x = rng.normal(size=(2, net.input_size))
    g = rng.normal(size=(2, net.output_size))
    y, gx = net.gradient(x, g)
    np.testing.assert_allclose(y, net(x))
    eps = 1e-6
    num = np.zeros_like(x)
    for i in range(net.input_size):
        e = np.zeros(net.input_size)
        e[i] = eps
        num[:, i] = ((net(x + e) - net(x - e)) * g).sum(axis=1) / (2 * eps)
    np.testing.assert_allclose(gx, num, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Errors


def _error(model: onnx.ModelProto, cls: type[Exception] = UnsupportedError) -> str:
    with pytest.raises(cls) as info:
        onnx_to_network(model)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_onnx(tmp_path / "absent.onnx")


def test_non_onnx_bytes(tmp_path):
    path = tmp_path / "garbage.onnx"
    path.write_bytes(b"\x08\x96\x01 this is not a protobuf \xff\xfe\x00")
    with pytest.raises(InputError, match="garbage.onnx") as info:
        load_onnx(path)
    assert "\n" not in str(info.value)


def test_checker_failure_is_an_input_error():
    model = _model([_n("Relu", ["undefined"])], [1, 3])
    assert "invalid ONNX model" in _error(model, InputError)


def test_all_unsupported_operators_are_reported_at_once():
    model = _model([_n("Softmax", ["x"], "sm"), _n("Erf", ["sm"], "g1"), _n("Relu", ["g1"], "r"),
                    _n("Softmax", ["r"])], [1, 4])
    assert _error(model).endswith(
        "unsupported ONNX operators: Softmax (nodes 'softmax_sm', 'softmax_y'), Erf (node 'erf_g1')")


def test_products_and_quotients_are_bounded_and_the_exact_methods_refuse_them_by_name():
    """A product, a square and a quotient of tensors load as Product and Pow ops: interval, zono and
    deeppoly bound them (every sampled output inside), auto proves a property that holds, and the
    methods without their relaxations say so in one line."""
    from nnreach.errors import UnsupportedError as Unsupported
    from nnreach.reach import reach
    from nnreach.sets import Box
    from nnreach.verify.api import verify
    from nnreach.verify.problem import Problem, halfspace_property
    model = _model([_n("Relu", ["x"], "r"), _n("Mul", ["x", "r"], "p"), _n("Mul", ["x", "x"], "q"),
                    _n("Add", ["r", "two"], "d"), _n("Div", ["q", "d"], "z"), _n("Add", ["p", "z"])],
                   [1, 3], {"two": np.float32(2.0)})
    net = onnx_to_network(model)
    assert [n.op.describe() for n in net.nodes if not n.op.is_affine] == ["Relu", "Mul", "Pow 2", "Pow -1", "Mul"]
    assert_matches_reference(model)
    box = Box(-np.ones(3), np.ones(3))
    x = np.random.default_rng(SEED).uniform(-1, 1, size=(500, 3))
    y = net.forward(x)
    for method in ("interval", "zono", "deeppoly"):
        lo, hi = reach(net, box, method).bounds()
        assert np.all(y >= lo - 1e-9) and np.all(y <= hi + 1e-9), method
    for method in ("approx-star", "exact-star"):
        with pytest.raises(Unsupported, match="Product|Unary"):
            reach(net, box, method)
    # y = x relu(x) + x^2 / (relu(x) + 2) >= 0 everywhere: y_0 <= -0.5 never happens
    problem = Problem(net, halfspace_property(box, np.eye(3)[:1], np.array([-0.5])))
    assert verify(problem, "auto", timeout=20).status.value == "holds"     # by splits of the box
    far = Problem(net, halfspace_property(box, np.eye(3)[:1], np.array([-3.0])))
    assert verify(far, "deeppoly", timeout=20).status.value == "holds"   # on the whole box
    with pytest.raises(Unsupported):
        verify(problem, "milp", timeout=20)
    assert "nonlinear" in _error(_model([_n("MatMul", ["x", "x"])], [3, 3]))


def test_graph_interface_is_checked():
    assert "2 inputs" in _error(_model([_n("Add", ["x1", "x2"])], [1, 3], inputs=2))
    two_outputs = _model([_n("Relu", ["x"], "y"), _n("Sigmoid", ["x"], "z")], [1, 3], outputs=("y", "z"))
    assert "2 outputs" in _error(two_outputs)
    assert "INT64" in _error(_model([_n("Identity", ["x"])], [1, 3], dtype=TensorProto.INT64))
    assert "unknown dimensions [N, M]" in _error(_model([_n("Relu", ["x"])], ["N", "M"]))
    constant_output = _model([_n("Identity", ["c"])], [1, 3], {"c": np.ones(2, np.float32)})
    assert "does not depend on the input" in _error(constant_output)


REJECTED_NODES = {  # node, initializers, input shape, expected message
    "matmul": (_n("MatMul", ["x", "W"]), {"W": np.ones((2, 3, 3), np.float32)}, [1, 2, 3], "batched weight"),
    "gemm": (_n("Gemm", ["x", "W"], transA=1), {"W": np.ones((1, 3), np.float32)}, [1, 3], "transA=1"),
    "conv3d": (_n("Conv", ["x", "W"]), {"W": np.ones((2, 2, 2, 2, 2), np.float32)}, [1, 2, 3, 3, 3], "only 2-D"),
    "gather_computed_indices": (_n("Gather", ["c", "x"]), {"c": np.ones(3, np.float32)}, [1, 2],
                                "the data input of Gather must be computed from the network input"),
    "slice_computed_end": (_n("Slice", ["x", "c", "x"]), {"c": np.array([0])}, [1, 2],
                           "Slice's input 'x' must be a constant"),
    "slice_to_nothing": (_n("Slice", ["x", "s", "e", "a"]), {"s": np.array([0]), "e": np.array([0]), "a": np.array([0])},
                         [1, 2], r"an empty tensor of shape \(0, 2\)"),
    "resize_linear": (_n("Resize", ["x", "", "s"], mode="linear"), {"s": np.array([1, 1, 2, 2], np.float32)},
                      [1, 1, 2, 2], "Resize mode 'linear' \\(nearest only\\)"),
    "prelu_slopes": (_n("PRelu", ["x", "s"]), {"s": np.float32([0.1, 0.2])}, [1, 2], "2 different slopes"),
    "pad_mode": (_n("Pad", ["x", "p"], mode="mirror"), {"p": np.array([0, 1, 0, 1])}, [1, 2], "Pad mode 'mirror'"),
    "conv_transpose_output_shape": (_n("ConvTranspose", ["x", "W"], output_shape=[5, 5]),
                                    {"W": np.ones((1, 1, 2, 2), np.float32)}, [1, 1, 4, 4], "explicit pads only"),
}


@pytest.mark.parametrize("case", REJECTED_NODES)
def test_unrepresentable_nodes_are_named(case):
    node, consts, shape, match = REJECTED_NODES[case]
    message = _error(_model([node], shape, consts))
    assert f"'{node.name}' ({node.op_type}):" in message
    assert re.search(match, message)


def test_module_does_not_import_onnxruntime():
    code = "import sys, nnreach.io.onnx; sys.exit('onnxruntime' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0


def test_large_sparse_weights_stay_sparse_and_compute_what_onnxruntime_computes():
    """A 1024x1024 Gemm weight at 0.5% density becomes a sparse map; a dense one of the same size and
    a small sparse one stay Linear."""
    from nnreach.io.onnx import SPARSE_SIZE
    from nnreach.network import Linear, SparseAffine
    r = np.random.default_rng(SEED)
    sparse = np.where(r.random((1024, 1024)) < 0.005, r.normal(size=(1024, 1024)), 0).astype(np.float32)
    assert sparse.size >= SPARSE_SIZE
    model = _model([_n("Gemm", ["x", "W1", "b1"], "h", transB=1), _n("Relu", ["h"], "r"),
                    _n("Gemm", ["r", "W2", "b2"], "s", transB=1), _n("Relu", ["s"], "t"), _n("MatMul", ["t", "W3"])],
                   [1, 3], {"W1": _w(r, 1024, 3), "b1": _w(r, 1024), "W2": sparse, "b2": _w(r, 1024),
                            "W3": _w(r, 1024, 2)})
    net = assert_matches_reference(model)
    kinds = [type(n.op) for n in net.nodes if isinstance(n.op, (Linear, SparseAffine))]
    assert kinds == [Linear, SparseAffine, Linear]
    dense = _model([_n("Gemm", ["x", "W"], transB=1)], [1, 1024], {"W": _w(r, 1024, 1024)})
    assert isinstance(onnx_to_network(dense).nodes[0].op, Linear)


def test_every_operator_claimed_as_supported_is_in_a_case_checked_against_onnxruntime():
    """What ``nnreach-vnnlib supports --onnx-operators`` claims (the loader's table) is exercised by
    the synthetic models above, each checked against onnxruntime."""
    from nnreach.io.onnx import supported_operators
    r = np.random.default_rng(SEED)
    used = {node.op_type for make in CASES.values() for node in make(r).graph.node}
    assert set(supported_operators()) - used == set()
