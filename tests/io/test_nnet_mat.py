"""Tests of the .nnet and NNV .mat readers: AINNCS controllers against onnxruntime, hand-written files
against direct formulas, and malformed files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from nnreach.errors import InputError, UnsupportedError
from nnreach.io import load_model
from nnreach.io.mat import load_mat
from nnreach.io.nnet import load_nnet, read_nnet
from nnreach.network import Relu, Sigmoid, Tanh

AINNCS = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks" / "ainncs"
SEED = 20240601

needs_ainncs = pytest.mark.skipif(not AINNCS.is_dir(), reason=f"AINNCS benchmarks not found at {AINNCS}")

# (model file, ONNX copy, decimals): the Airplane and pendulum .nnet/.mat files store the ONNX
# weights rounded to 5 decimals, so the reference rounds the ONNX initializers the same way.
CONTROLLERS = [
    ("Airplane/controller_airplane.nnet", "Airplane/controller_airplane.onnx", 5),
    ("Double_Pendulum/controller_double_pendulum_less_robust.nnet",
     "Double_Pendulum/controller_double_pendulum_less_robust.onnx", 5),
    ("Double_Pendulum/controller_double_pendulum_more_robust.nnet",
     "Double_Pendulum/controller_double_pendulum_more_robust.onnx", 5),
    ("Single_Pendulum/controller_single_pendulum.nnet", "Single_Pendulum/controller_single_pendulum.onnx", 5),
    ("Airplane/controller_airplane.mat", "Airplane/controller_airplane.onnx", 5),
    ("Double_Pendulum/controller_double_pendulum_less_robust.mat",
     "Double_Pendulum/controller_double_pendulum_less_robust.onnx", 5),
    ("Double_Pendulum/controller_double_pendulum_more_robust.mat",
     "Double_Pendulum/controller_double_pendulum_more_robust.onnx", 5),
    ("Single_Pendulum/controller_single_pendulum.mat", "Single_Pendulum/controller_single_pendulum.onnx", 5),
    ("ACC/controller_5_20.mat", "ACC/controller_5_20.onnx", None),
    ("TORA/controllerTora.mat", "TORA/controllerTora.onnx", None),
    ("Unicycle/controllerB_nnv.mat", "Unicycle/controllerB.onnx", None),
]


def onnx_reference(path: Path, decimals: int | None):
    """A function (N, n) -> (N, m) running ``path`` in onnxruntime, plus the constant its first node
    subtracts from the input (the MATLAB exports start with ``Sub(input, mean)``; zero if absent).

    Inputs are fed one sample at a time when the ONNX batch axis is fixed (shape [1, 1, 1, n]). The ACC
    export (opset 6) feeds its [1, 1, 1, 5] input to a Gemm, which onnxruntime rejects (Gemm needs rank 2,
    and there is no kernel for Sub-6): such an input and its mean are declared as [1, n] and the model is
    converted to opset 13.
    """
    from onnx import version_converter

    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    model = onnx.load(str(path))
    constants = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    if decimals is not None:
        for init in model.graph.initializer:
            init.CopyFrom(numpy_helper.from_array(np.round(constants[init.name], decimals), init.name))
    first = model.graph.node[0]
    if any(node.op_type == "Gemm" for node in model.graph.node):
        _declare_rank2_input(model, first.input[1] if first.op_type == "Sub" else None)
    if model.opset_import[0].version < 7:
        model = version_converter.convert_version(model, 13)
    shift = constants[first.input[1]].ravel() if first.op_type == "Sub" else 0.0
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = next(i for i in session.get_inputs() if i.name not in constants)
    fixed_batch = isinstance(feed.shape[0], int)

    def run(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32)
        if fixed_batch:
            outs = [session.run(None, {feed.name: xi.reshape(feed.shape)})[0] for xi in x]
            return np.concatenate([o.reshape(1, -1) for o in outs])
        return session.run(None, {feed.name: x})[0].reshape(len(x), -1)

    return run, shift


def _declare_rank2_input(model, mean_name: str | None) -> None:
    """Declare every graph input [1, ..., n] (and the initializer ``mean_name``) as [1, n]."""
    from onnx import numpy_helper

    for inp in model.graph.input:
        dims = inp.type.tensor_type.shape.dim
        if len(dims) == 4:
            n = dims[3].dim_value
            del dims[:]
            inp.type.tensor_type.shape.dim.add().dim_value = 1
            inp.type.tensor_type.shape.dim.add().dim_value = n
    for init in model.graph.initializer:
        if init.name == mean_name:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).reshape(1, -1), init.name))


@needs_ainncs
@pytest.mark.parametrize("model_file, onnx_file, decimals", CONTROLLERS, ids=[c[0] for c in CONTROLLERS])
def test_ainncs_controller_matches_onnxruntime(model_file, onnx_file, decimals):
    net = load_model(AINNCS / model_file)
    run, shift = onnx_reference(AINNCS / onnx_file, decimals)
    x = np.random.default_rng(SEED).normal(0.0, 3.0, size=(200, net.input_size)).astype(np.float32)
    expected = run(x + shift)  # the .mat/.nnet copies have no such input shift (ACC: see below)
    got = net.forward(x.astype(np.float64))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


@needs_ainncs
def test_acc_onnx_subtracts_one_from_every_input_but_mat_does_not():
    """The ACC .onnx (MATLAB export) computes N(x - 1) where the original .mat computes N(x)."""
    run, shift = onnx_reference(AINNCS / "ACC/controller_5_20.onnx", None)
    np.testing.assert_array_equal(shift, np.ones(5))
    net = load_mat(AINNCS / "ACC/controller_5_20.mat")
    x = np.random.default_rng(SEED).normal(0.0, 3.0, size=(20, 5)).astype(np.float32)
    assert not np.allclose(net.forward(x.astype(np.float64)), run(x), rtol=1e-3)


@needs_ainncs
def test_ainncs_nnet_header_means_no_normalisation():
    nnet = read_nnet(AINNCS / "Airplane/controller_airplane.nnet")
    assert [w.shape for w in nnet.weights] == [(100, 12), (100, 100), (20, 100), (6, 20)]
    np.testing.assert_array_equal(nnet.means, np.zeros(13))
    np.testing.assert_array_equal(nnet.ranges, np.ones(13))
    np.testing.assert_array_equal(nnet.input_min, np.zeros(12))
    assert len(load_nnet(AINNCS / "Airplane/controller_airplane.nnet").nodes) == 7  # no normalisation ops


def _numpy_mat_forward(path: Path, x: np.ndarray) -> np.ndarray:
    data = scipy.io.loadmat(str(path))
    functions = {"relu": lambda v: np.maximum(v, 0), "tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
                 "linear": lambda v: v}
    for w, b, act in zip(data["W"].ravel(), data["b"].ravel(), data["act_fcns"]):
        x = functions[act.strip()](x @ w.T + b.ravel())
    return x


@needs_ainncs
@pytest.mark.parametrize("name, activations", [
    ("nn_tora_relu_tanh.mat", [Relu, Relu, Relu, Tanh]),
    ("nn_tora_sigmoid.mat", [Sigmoid, Sigmoid, Sigmoid, Sigmoid]),
])
def test_tora_heterogeneous_architecture_and_forward(name, activations):
    path = AINNCS / "TORA_Heterogeneous" / name
    net = load_mat(path)
    ops = [n.op for n in net.nodes]
    assert [op.weight.shape for op in ops[0::2]] == [(20, 4), (20, 20), (20, 20), (1, 20)]  # 4 -> 20x3 -> 1
    assert [type(op) for op in ops[1::2]] == activations
    x = np.random.default_rng(SEED).normal(0.0, 1.0, size=(200, 4))
    np.testing.assert_allclose(net.forward(x), _numpy_mat_forward(path, x), rtol=1e-12, atol=1e-12)


# -- hand-written .nnet files -------------------------------------------------------------------------

W1 = np.array([[1.0, -2.0, 0.5], [0.25, 1.5, -1.0]])
B1 = np.array([0.1, -0.2])
W2 = np.array([[2.0, -1.0], [-0.5, 3.0]])
B2 = np.array([0.3, -0.4])
MEANS = np.array([1.0, -2.0, 0.5, 10.0])
RANGES = np.array([2.0, 4.0, 0.5, 3.0])


def _row(values) -> str:
    return ",".join(f"{v:.17g}" for v in values) + ","


def _nnet_text(means=MEANS, ranges=RANGES) -> str:
    lines = ["// a hand-written test network", "// 3 inputs, 2 outputs", "2,3,2,3,", "3,2,2,", "0,",
             _row([-1, -1, -1]), _row([1, 1, 1]), _row(means), _row(ranges)]
    for w, b in ((W1, B1), (W2, B2)):
        lines += [_row(r) for r in w] + [_row([v]) for v in b]
    return "\n".join(lines) + "\n"


def _write(tmp_path: Path, text: str, name: str = "net.nnet") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_nnet_normalisation_matches_formula(tmp_path):
    net = load_nnet(_write(tmp_path, _nnet_text()))
    x = np.random.default_rng(SEED).normal(0.0, 5.0, size=(50, 3))  # far outside [min, max]: no clipping
    hidden = np.maximum((x - MEANS[:3]) / RANGES[:3] @ W1.T + B1, 0)
    expected = (hidden @ W2.T + B2) * RANGES[3] + MEANS[3]
    np.testing.assert_allclose(net.forward(x), expected, rtol=1e-12, atol=1e-12)


def test_nnet_single_values_broadcast_and_zero_range_is_one(tmp_path):
    text = _nnet_text().replace(_row(MEANS), "0.5").replace(_row(RANGES), "0")
    nnet = read_nnet(_write(tmp_path, text))
    np.testing.assert_array_equal(nnet.means, np.full(4, 0.5))
    np.testing.assert_array_equal(nnet.ranges, np.ones(4))
    x = np.random.default_rng(SEED).normal(size=(10, 3))
    expected = (np.maximum((x - 0.5) @ W1.T + B1, 0) @ W2.T + B2) + 0.5
    np.testing.assert_allclose(load_model(tmp_path / "net.nnet").forward(x), expected, rtol=1e-12)


def _lines(text: str) -> list[str]:
    return text.splitlines()


@pytest.mark.parametrize("edit, message", [
    (lambda ls: ls[:-1], r"file ends after line 16 while reading layer 2 bias 2 \(truncated"),
    (lambda ls: ls[:10] + ["1.0, abc, 0.5,"] + ls[11:], r":11: expected a number, got 'abc'"),
    (lambda ls: ls[:10] + ["1.0, nan, 0.5,"] + ls[11:], r":11: expected a finite number, got 'nan'"),
    (lambda ls: ls[:10] + ["1.0, 0.5,"] + ls[11:], r":11: expected 3 value\(s\) for layer 1 weight row 2, got 2"),
    (lambda ls: ls + ["1.0"], r":18: unexpected data after the last layer"),
    (lambda ls: ls[:3] + ["2,2,2,"] + ls[4:], r":4: layer sizes \[2, 2, 2\] do not start"),
    (lambda ls: ls[:3] + ["3,2,"] + ls[4:], r":4: expected 3 layer sizes for 2 layers, got 2"),
    (lambda ls: ls[:2] + ["2,3.5,2,3,"] + ls[3:], r":3: expected a positive integer, got '3.5'"),
    (lambda ls: ls[:2] + ["2,3,2"] + ls[3:], r":3: expected 4 header values"),
    (lambda ls: ls[:7] + ["1,2,3"] + ls[8:], r":8: expected 4 value\(s\) \(or a single one for all\) for means"),
    (lambda ls: ls[:2], r"file ends after line 2 while reading the header"),
])
def test_malformed_nnet_raises_input_error_with_line(tmp_path, edit, message):
    path = _write(tmp_path, "\n".join(edit(_lines(_nnet_text()))) + "\n")
    with pytest.raises(InputError, match=message):
        load_nnet(path)


# -- hand-written .mat files ------------------------------------------------------------------------------

def _cell(arrays) -> np.ndarray:
    cell = np.empty((1, len(arrays)), dtype=object)
    for k, a in enumerate(arrays):
        cell[0, k] = a
    return cell


def _save_mat(tmp_path: Path, **variables) -> Path:
    path = tmp_path / "net.mat"
    scipy.io.savemat(str(path), variables)
    return path


def _mat_variables(acts=("relu", "purelin")) -> dict:
    return {"W": _cell([W1, W2]), "b": _cell([B1[:, None], B2[:, None]]), "act_fcns": _cell(list(acts))}


@pytest.mark.parametrize("acts, expected", [
    (("poslin", "purelin"), lambda h: np.maximum(h, 0)),
    (("satlin", "tansig"), lambda h: np.clip(h, 0, 1)),
    (("satlins", "logsig"), lambda h: np.clip(h, -1, 1)),
])
def test_mat_activation_names(tmp_path, acts, expected):
    net = load_mat(_save_mat(tmp_path, **_mat_variables(acts)))
    x = np.random.default_rng(SEED).normal(0.0, 2.0, size=(30, 3))
    out = expected(x @ W1.T + B1) @ W2.T + B2
    out = {"purelin": out, "tansig": np.tanh(out), "logsig": 1 / (1 + np.exp(-out))}[acts[1]]
    np.testing.assert_allclose(net.forward(x), out, rtol=1e-12, atol=1e-12)


def test_mat_activations_may_be_named_act_as_in_nnv_files(tmp_path):
    variables = _mat_variables(("tansig", "purelin"))
    variables["act"] = variables.pop("act_fcns")
    net = load_mat(_save_mat(tmp_path, **variables))
    x = np.random.default_rng(SEED).normal(0.0, 2.0, size=(30, 3))
    np.testing.assert_allclose(net.forward(x), np.tanh(x @ W1.T + B1) @ W2.T + B2, rtol=1e-12, atol=1e-12)
    variables["act"] = _cell(["relu"])
    with pytest.raises(InputError, match=r"W has 2 layers, b has 2 and act has 1"):
        load_mat(_save_mat(tmp_path, **variables))


def test_mat_missing_activations(tmp_path):
    variables = _mat_variables()
    del variables["act_fcns"]
    with pytest.raises(InputError, match=r"variable 'act_fcns' is missing \(NNV weight files need W, b and act_fcns or act"):
        load_mat(_save_mat(tmp_path, **variables))


def test_mat_missing_w(tmp_path):
    variables = _mat_variables()
    del variables["W"]
    with pytest.raises(InputError, match=r"variable 'W' is missing .* found \['act_fcns', 'b'\]"):
        load_mat(_save_mat(tmp_path, **variables))


def test_mat_unknown_activations_are_all_listed(tmp_path):
    path = _save_mat(tmp_path, **_mat_variables(("softmax", "Hardlim ")))
    with pytest.raises(UnsupportedError, match=r"layer 1: 'softmax', layer 2: 'hardlim'; supported: "):
        load_mat(path)


def test_mat_layer_mismatch_names_the_layer(tmp_path):
    variables = _mat_variables()
    variables["W"] = _cell([W1, np.ones((2, 3))])
    with pytest.raises(InputError, match=r"layer 2: W\{2\} has 3 columns but layer 1 has 2 outputs"):
        load_mat(_save_mat(tmp_path, **variables))
    variables = _mat_variables()
    variables["b"] = _cell([B1[:, None], np.ones((3, 1))])
    with pytest.raises(InputError, match=r"layer 2: b\{2\} has 3 entries but W\{2\} has 2 rows"):
        load_mat(_save_mat(tmp_path, **variables))


def test_mat_layer_count_mismatch(tmp_path):
    with pytest.raises(InputError, match=r"W has 2 layers, b has 2 and act_fcns has 1"):
        load_mat(_save_mat(tmp_path, **_mat_variables(("relu",))))


def test_mat_unreadable_files(tmp_path):
    garbage = tmp_path / "garbage.mat"
    garbage.write_bytes(b"this is not a MATLAB file" * 10)
    with pytest.raises(InputError, match="not a readable MATLAB .mat file"):
        load_mat(garbage)
    hdf5 = tmp_path / "v73.mat"
    hdf5.write_bytes(b"MATLAB 7.3 MAT-file".ljust(116) + bytes(8) + b"\x00\x02IM" + b"\x89HDF\r\n\x1a\n" * 4)
    with pytest.raises(InputError, match=r"v7.3 \(HDF5\) .mat files are not supported"):
        load_mat(hdf5)
