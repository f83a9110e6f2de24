"""Fuzzing of the readers with mutated real files (hypothesis).

Seeds are the bundled examples, ``tests/io/data`` and, when present, files of ``../shared/benchmarks``.
Mutations: byte flips, truncation, deleted / inserted / duplicated byte ranges, and for the text formats
token-level edits (a token replaced by an odd one, deleted, duplicated); ONNX models are also mutated
structurally (a node dropped, an attribute or op type changed, an initializer reshaped or made
non-finite, the input shape changed).

Every input must end in a result or :class:`nnreach.errors.InputError`, within the hypothesis
deadline; an accepted input must also be consistent: properties have finite boxes ``lo <= hi`` and
matching dimensions; networks run on an input of their declared size and give finite outputs of
their declared size, and ONNX models that onnxruntime runs give the same outputs there. The CLI
(``nnreach info`` / ``nnreach verify``) on mutated files exits 0 or 2 with one line on stderr.

``NNREACH_FUZZ_EXAMPLES`` sets the number of inputs per test (default 100; ``make soundness`` runs more).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from onnx import helper, numpy_helper

from nnreach.cli import main
from nnreach.errors import InputError
from nnreach.io import load_model
from nnreach.io.onnx import onnx_to_network
from nnreach.io.vnnlib import parse_vnnlib, read_vnnlib
from nnreach.network import Network
from nnreach.verify.check import drop_sessions, run_onnxruntime

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "benchmarks"
EXAMPLES = int(os.environ.get("NNREACH_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=10_000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


def _files(*patterns: str) -> list[Path]:
    """Seed files: the repository's matches first, then those of the shared benchmarks (if present)."""
    found = []
    for pattern in patterns:
        root = SHARED if pattern.startswith("shared/") else REPO
        found += sorted(root.glob(pattern.removeprefix("shared/")))
    return found


VNNLIB_SEEDS = _files("examples/specs/*.vnnlib", "tests/io/data/*.vnnlib", "shared/test/*.vnnlib",
                      "shared/acasxu/prop_[1-9].vnnlib", "shared/acasxu/prop_10.vnnlib")
ONNX_SEEDS = _files("examples/models/*.onnx", "shared/test/test_[nts]*.onnx",
                    "shared/ainncs/*/controller_*pendulum*.onnx", "shared/ainncs/ACC/*.onnx")
NNET_SEEDS = _files("shared/ainncs/*/*pendulum*.nnet")
MAT_SEEDS = _files("shared/ainncs/*/*pendulum*.mat", "shared/ainncs/ACC/*.mat",
                   "shared/ainncs/TORA_Heterogeneous/*.mat")
ODD_TOKENS = ["(", ")", "0", "-0", "1e309", "-1e-320", "nan", "inf", "-inf", "1.5.2", "X_0", "X_999", "Y_0",
              "Y_7", "and", "or", "not", "assert", "declare-const", "Real", "Int", "<=", ">=", "=", "+", "-", "*",
              ";", ",", "//", "", "\x00", "é", "4294967296", "-3", "0x10", "1e-3", "2"]


# ------------------------------------------------------------------------------------- mutations

def _byte_edits(data: bytes) -> st.SearchStrategy[bytes]:
    """``data`` with one to four byte-level edits: flips, truncation, deleted, inserted or duplicated ranges."""
    n = max(len(data), 1)
    edit = st.tuples(st.sampled_from(["flip", "truncate", "delete", "insert", "duplicate"]),
                     st.integers(0, n - 1), st.integers(1, 64), st.binary(min_size=1, max_size=16))

    def apply(edits) -> bytes:
        out = bytearray(data)
        for kind, pos, length, blob in edits:
            pos = min(pos, max(len(out) - 1, 0))
            if kind == "flip" and out:
                out[pos] ^= 1 << (length % 8)
            elif kind == "truncate":
                del out[pos:]
            elif kind == "delete":
                del out[pos:pos + length]
            elif kind == "insert":
                out[pos:pos] = blob
            else:
                out[pos:pos] = out[pos:pos + length]
        return bytes(out)

    return st.lists(edit, min_size=1, max_size=4).map(apply)


_TOKENS = re.compile(r"[()]|[^\s(),;]+|[\s,;]+")


def _token_edits(text: str) -> st.SearchStrategy[str]:
    """``text`` with one to four token edits: a token replaced by an odd one, deleted or duplicated."""
    tokens = _TOKENS.findall(text)
    edit = st.tuples(st.sampled_from(["replace", "delete", "duplicate"]), st.integers(0, len(tokens) - 1),
                     st.sampled_from(ODD_TOKENS))

    def apply(edits) -> str:
        out = list(tokens)
        for kind, pos, token in edits:
            pos = min(pos, len(out) - 1)
            if kind == "replace":
                out[pos] = token
            elif kind == "delete":
                del out[pos]
            else:
                out.insert(pos, out[pos])
            if not out:
                break
        return "".join(out)

    return st.lists(edit, min_size=1, max_size=4).map(apply)


def _mutated(seeds: list[Path], text: bool) -> st.SearchStrategy[tuple[Path, bytes]]:
    """A seed and its mutation (byte edits, or for text formats also token edits)."""
    def of(path: Path):
        data = path.read_bytes()
        options = [_byte_edits(data)]
        if text:
            options.append(_token_edits(data.decode("utf-8")).map(lambda s: s.encode("utf-8")))
        return st.tuples(st.just(path), st.one_of(options))

    return st.sampled_from(seeds).flatmap(of)


def _structural(model: onnx.ModelProto, draw) -> onnx.ModelProto:
    """One structural edit of a copy of ``model``, chosen by hypothesis' ``draw``."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    kind = draw(st.sampled_from(["drop_node", "op_type", "attribute", "reshape_init", "nonfinite_init",
                                 "input_dim", "swap_inputs"]))
    if kind == "drop_node" and g.node:
        del g.node[draw(st.integers(0, len(g.node) - 1))]
    elif kind == "op_type" and g.node:
        g.node[draw(st.integers(0, len(g.node) - 1))].op_type = draw(st.sampled_from(
            ["Relu", "Gemm", "MatMul", "Add", "Conv", "Flatten", "Reshape", "Sigmoid", "Concat", "Transpose",
             "MaxPool", "BatchNormalization", "Squeeze", "Unsqueeze", "Identity", "Mul", "Div"]))
    elif kind == "attribute" and g.node:
        node = g.node[draw(st.integers(0, len(g.node) - 1))]
        name = draw(st.sampled_from(["transA", "transB", "axis", "alpha", "beta", "group", "strides", "pads",
                                     "kernel_shape", "perm", "allowzero"]))
        value = draw(st.one_of(st.integers(-3, 5), st.lists(st.integers(-2, 4), min_size=1, max_size=5),
                               st.floats(-2, 2)))
        kept = [a for a in node.attribute if a.name != name]
        del node.attribute[:]
        node.attribute.extend(kept + [helper.make_attribute(name, value)])
    elif kind in ("reshape_init", "nonfinite_init") and g.initializer:
        k = draw(st.integers(0, len(g.initializer) - 1))
        arr = numpy_helper.to_array(g.initializer[k]).copy()
        if kind == "reshape_init":
            arr = arr.reshape(-1)[:draw(st.integers(0, arr.size))]
            arr = arr.reshape(draw(st.sampled_from([(-1,), (1, -1), (-1, 1)]))) if arr.size else arr
        elif arr.size and arr.dtype.kind == "f":
            arr.reshape(-1)[draw(st.integers(0, arr.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        g.initializer[k].CopyFrom(numpy_helper.from_array(arr, g.initializer[k].name))
    elif kind == "input_dim" and g.input and g.input[0].type.tensor_type.shape.dim:
        dims = g.input[0].type.tensor_type.shape.dim
        dims[draw(st.integers(0, len(dims) - 1))].dim_value = draw(st.integers(0, 9))
    elif kind == "swap_inputs" and g.node:
        node = g.node[draw(st.integers(0, len(g.node) - 1))]
        if len(node.input) > 1:
            node.input[0], node.input[1] = node.input[1], node.input[0]
    return m


# ------------------------------------------------------------------------------------- oracles

def _check_properties(props) -> None:
    assert props, "an accepted property file gives at least one property"
    dims = {(p.input_dim, p.output_dim) for p in props}
    assert len(dims) == 1, f"properties of one file disagree on dimensions: {dims}"
    for p in props:
        lo, hi = p.input_box.lo, p.input_box.hi
        assert np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(lo <= hi)
        for poly in p.unsafe:
            assert poly.A.shape[1] == p.output_dim and np.all(np.isfinite(poly.A)) and np.all(np.isfinite(poly.b))


def _check_network(net: Network, path: Path | None = None) -> None:
    """The network runs on inputs of its declared size; ONNX files that onnxruntime runs agree with it."""
    x = np.random.default_rng(0).uniform(-1, 1, size=(2, net.input_size))
    y = net.forward(x)
    assert y.shape == (2, net.output_size)
    assert np.all(np.isfinite(y)), "an accepted model computes non-finite outputs from finite inputs"
    if path is None or path.suffix != ".onnx":
        return
    try:
        ref = run_onnxruntime(str(path), x)
    except Exception:  # onnxruntime may reject what nnreach reads (or fail to run it): nothing to compare
        return
    if ref is not None:
        assert ref.shape == y.shape, f"onnxruntime gives outputs of shape {ref.shape}, nnreach {y.shape}"
        np.testing.assert_allclose(y, ref, rtol=1e-3, atol=1e-3 * (1 + np.abs(ref).max()))


def _accepts_or_input_error(fn, *args):
    """``fn(*args)``, or None when it raises InputError; any other exception fails the test."""
    try:
        return fn(*args)
    except InputError:
        return None


def _load_model_bytes(data: bytes, suffix: str) -> None:
    """Write ``data`` as a model file, load it and check what is accepted."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{suffix}"
        path.write_bytes(data)
        net = _accepts_or_input_error(load_model, path)
        if net is not None:
            _check_network(net, path)
        drop_sessions()  # the next example writes another model at the same path


def _seeded(seeds: list[Path]):
    return pytest.mark.skipif(not seeds, reason="no seed files for this reader")


# ------------------------------------------------------------------------------------- tests

@FUZZ
@given(case=_mutated(VNNLIB_SEEDS, text=True))
def test_fuzz_vnnlib(case):
    _, data = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.vnnlib"
        path.write_bytes(data)
        props = _accepts_or_input_error(read_vnnlib, path)
    if props is not None:
        _check_properties(props)


@FUZZ
@given(words=st.lists(st.sampled_from(list("()XY_0123456789.-+e<>= \n;") + ["assert ", "declare-const ", " Real",
                                                                                 "and ", "or "]), max_size=120))
def test_fuzz_vnnlib_random_text(words):
    text = "".join(words)
    props = _accepts_or_input_error(parse_vnnlib, text)
    if props is not None:
        _check_properties(props)


@_seeded(ONNX_SEEDS)
@FUZZ
@given(case=_mutated(ONNX_SEEDS, text=False))
def test_fuzz_onnx_bytes(case):
    _load_model_bytes(case[1], ".onnx")


@_seeded(ONNX_SEEDS)
@FUZZ
@given(data=st.data())
def test_fuzz_onnx_structure(data):
    seed = data.draw(st.sampled_from(ONNX_SEEDS))
    model = onnx.load(seed)
    for _ in range(data.draw(st.integers(1, 3))):
        model = _structural(model, data.draw)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.onnx"
        onnx.save(model, path)
        net = _accepts_or_input_error(onnx_to_network, model)
        if net is not None:
            _check_network(net, path)
        drop_sessions()


@_seeded(NNET_SEEDS)
@FUZZ
@given(case=_mutated(NNET_SEEDS, text=True) if NNET_SEEDS else st.nothing())
def test_fuzz_nnet(case):
    _load_model_bytes(case[1], ".nnet")


@_seeded(MAT_SEEDS)
@FUZZ
@given(case=_mutated(MAT_SEEDS, text=False) if MAT_SEEDS else st.nothing())
def test_fuzz_mat(case):
    _load_model_bytes(case[1], ".mat")


CLI_SEEDS = [p for p in ONNX_SEEDS + VNNLIB_SEEDS + NNET_SEEDS if "examples" in p.parts or "test" in p.parts]


@settings(FUZZ, max_examples=max(EXAMPLES // 4, 10))
@given(case=_mutated(CLI_SEEDS, text=False))
def test_fuzz_cli(case, capsys):
    """``nnreach info`` on a mutated model, ``nnreach verify --method interval`` on a mutated spec (with
    the bundled example model): exit 0 or 2, and 2 means one stderr line."""
    seed, data = case
    model = REPO / "examples/models/tiny_relu.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{seed.suffix}"
        path.write_bytes(data)
        if seed.suffix == ".vnnlib":
            argv = ["verify", str(model), str(path), "--method", "interval", "--jobs", "1"]
        else:
            argv = ["info", str(path)]
        capsys.readouterr()
        code = main(argv)
        err = capsys.readouterr().err
    assert code in (0, 2), f"exit code {code}: {err}"
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("nnreach: error: "), err


# ------------------------------------------------------------------------------------- found by fuzzing

def test_onnx_with_a_non_finite_weight_is_an_input_error():
    model = onnx.load(REPO / "examples/models/tiny_relu.onnx")
    w = numpy_helper.to_array(model.graph.initializer[0]).copy()
    w[0, 0] = np.nan
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(w, model.graph.initializer[0].name))
    with pytest.raises(InputError, match="NaN or infinite"):
        onnx_to_network(model)


@_seeded(MAT_SEEDS)
@pytest.mark.parametrize("cut", [20, 136, 400])
def test_truncated_or_corrupted_mat_is_an_input_error(cut, tmp_path):
    data = bytearray(MAT_SEEDS[0].read_bytes())
    path = tmp_path / "bad.mat"
    path.write_bytes(bytes(data[:cut]))
    with pytest.raises(InputError):
        load_model(path)
    data[cut] ^= 0xFF  # inside the compressed variable: a zlib error
    path.write_bytes(bytes(data))
    try:
        _check_network(load_model(path))
    except InputError:
        pass


@pytest.mark.parametrize("cuts", [((0, 59), (0, 59)), ((0, 37), (1, 35))], ids=["huge-matrix", "bad-type"])  # (pos, length)
def test_mat_with_its_header_cut_is_an_input_error(cuts, tmp_path):
    """Found by the fuzzer: with bytes of the header deleted, scipy reads the file as MATLAB v4 and
    either claims a matrix too large to allocate (MemoryError) or an unknown type code (KeyError)."""
    seed = SHARED / "ainncs/Double_Pendulum/controller_double_pendulum_less_robust.mat"
    if not seed.exists():
        pytest.skip("needs ../shared/benchmarks")
    data = bytearray(seed.read_bytes())
    for pos, length in cuts:
        del data[pos:pos + length]
    path = tmp_path / "cut.mat"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="not a readable MATLAB"):
        load_model(path)
