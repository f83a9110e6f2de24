"""Gzip-compressed models and properties (``.onnx.gz``, ``.vnnlib.gz``, as VNN-COMP ships them) read,
verify and replay counterexamples as the plain files do; a corrupt one is bad input (exit code 2)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from nnreach.bench import Options, SerialExecutor, run_benchmark
from nnreach.cli import main
from nnreach.errors import InputError
from nnreach.io import load_model
from nnreach.io.vnnlib import read_vnnlib
from nnreach.verify.check import run_onnxruntime

from .conftest import EXAMPLES
from .io.test_nnet_mat import _nnet_text
from .properties import assert_same_properties

MODEL = EXAMPLES / "models" / "tiny_relu.onnx"
SPECS = EXAMPLES / "specs"
VERDICTS = {"tiny_holds": "holds", "tiny_violated": "violated"}


def gzipped(path: Path, folder: Path) -> Path:
    """A gzip-compressed copy of ``path`` in ``folder``, named ``path``'s name + ``.gz``."""
    out = folder / (path.name + ".gz")
    out.write_bytes(gzip.compress(path.read_bytes()))
    return out


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("kind", ["onnx", "nnet", "mat"])
def test_compressed_model_reads_as_the_plain_file(tmp_path, kind):
    if kind == "nnet":
        plain = tmp_path / "net.nnet"
        plain.write_text(_nnet_text())
    else:
        plain = MODEL if kind == "onnx" else EXAMPLES / "nncs" / "controllers" / "controller_5_20.mat"
    packed = gzipped(plain, tmp_path)
    net, ref = load_model(packed), load_model(plain)
    assert net.source == str(packed)
    assert net.summary() == ref.summary()
    x = np.random.default_rng(0).uniform(-1, 1, (8, ref.input_size))
    np.testing.assert_array_equal(net.forward(x), ref.forward(x))


def test_compressed_property_reads_as_the_plain_file(tmp_path):
    plain = SPECS / "tiny_dominance.vnnlib"
    props, ref = read_vnnlib(gzipped(plain, tmp_path)), read_vnnlib(plain)
    assert len(ref) == 1
    assert_same_properties(props, ref)


@pytest.mark.parametrize("spec", sorted(VERDICTS))
def test_verify_compressed_files_gives_the_plain_verdict(capsys, tmp_path, spec):
    plain = SPECS / f"{spec}.vnnlib"
    verdicts = []
    for model, prop in ((MODEL, plain), (gzipped(MODEL, tmp_path), gzipped(plain, tmp_path))):
        code, out, err = cli(capsys, "verify", str(model), str(prop), "-q", "--jobs", "1", "--timeout", "60")
        assert code == 0, err
        verdicts.append(out.split()[-1])
    assert verdicts == [VERDICTS[spec]] * 2


def test_counterexample_is_replayed_from_a_compressed_model(capsys, tmp_path):
    model = gzipped(MODEL, tmp_path)
    result = tmp_path / "result.json"
    code, _, err = cli(capsys, "verify", str(model), str(SPECS / "tiny_violated.vnnlib"), "-q", "--jobs", "1",
                       "--json", str(result))
    assert code == 0, err
    ce = json.loads(result.read_text())["counterexample"]
    assert ce["checked_by"] == "onnxruntime"
    x = np.array([ce["x"]])
    np.testing.assert_array_equal(run_onnxruntime(str(model), x), run_onnxruntime(str(MODEL), x))
    np.testing.assert_allclose(run_onnxruntime(str(model), x)[0], ce["y"], rtol=1e-6)


def test_bench_runs_rows_naming_compressed_files(tmp_path):
    gzipped(MODEL, tmp_path)
    rows = [f"tiny_relu.onnx.gz,{gzipped(SPECS / f'{spec}.vnnlib', tmp_path).name},60" for spec in sorted(VERDICTS)]
    (tmp_path / "instances.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "expected.csv").write_text("onnx,vnnlib,expected\n" + "".join(
        f"tiny_relu.onnx.gz,{spec}.vnnlib.gz,{'unsat' if verdict == 'holds' else 'sat'}\n"
        for spec, verdict in sorted(VERDICTS.items())))
    out = tmp_path / "out.csv"
    code = run_benchmark(tmp_path / "instances.csv", options=Options(row_jobs=1), expected=tmp_path / "expected.csv",
                         out=out, executor=SerialExecutor(), quiet=True)
    assert code == 0
    assert sorted(line.split(",")[2] for line in out.read_text().splitlines()[1:]) == ["holds", "violated"]


def corrupt(kind: str, data: bytes) -> bytes:
    """``data`` gzip-compressed and then damaged as ``kind`` says."""
    packed = gzip.compress(data)
    if kind == "not gzip":
        return data
    if kind == "truncated":
        return packed[: len(packed) // 2]
    damaged = bytearray(packed)  # "flipped": the compressed stream's middle bytes inverted
    middle = len(damaged) // 2
    damaged[middle:middle + 8] = bytes(b ^ 0xFF for b in damaged[middle:middle + 8])
    return bytes(damaged)


@pytest.mark.parametrize("kind", ["not gzip", "truncated", "flipped"])
@pytest.mark.parametrize("which", ["model", "spec"])
def test_corrupt_gzip_exits_2_with_one_line_naming_the_file(capsys, tmp_path, kind, which):
    spec = SPECS / "tiny_holds.vnnlib"
    bad = tmp_path / f"bad.{'onnx' if which == 'model' else 'vnnlib'}.gz"
    bad.write_bytes(corrupt(kind, (MODEL if which == "model" else spec).read_bytes()))
    args = [str(bad), str(spec)] if which == "model" else [str(MODEL), str(bad)]
    code, _, err = cli(capsys, "verify", *args, "--jobs", "1")
    assert code == 2, err
    (line,) = err.strip().splitlines()
    assert line.startswith("nnreach: error: cannot read ") and str(bad) in line and "gzip" in line


@pytest.mark.parametrize("name", ["net.gz", "net.h5.gz"])
def test_compressed_file_of_an_unknown_format_is_refused(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(gzip.compress(b"x"))
    with pytest.raises(InputError, match=r"unknown model format .* expected \.onnx, \.nnet or \.mat, each optionally \.gz"):
        load_model(path)
