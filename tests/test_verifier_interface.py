"""The VNN-LIB 2.0 standard verifier interface (chapter 5): global options, supports, verify."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import nnreach
from nnreach.cli import main as nnreach_main
from nnreach.io.onnx import supported_operators
from nnreach.verifier_interface import CAPABILITIES, main
from tests.conftest import EXAMPLES

TINY = EXAMPLES / "models" / "tiny_relu.onnx"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _query(tmp_path: Path, unsafe: str, declarations: str = "(declare-input X real [1,2]) "
                                                            "(declare-output Y real [1,2])") -> Path:
    """tiny_relu's inputs in [0, 0.5]^2 and the given unsafe output constraint."""
    path = tmp_path / "q.vnnlib"
    path.write_text("(vnnlib-version <2.0>)\n(declare-network tiny " + declarations + ")\n"
                    "(assert (and (>= X[0,0] 0.0) (<= X[0,0] 0.5) (>= X[0,1] 0.0) (<= X[0,1] 0.5)))\n"
                    f"(assert {unsafe})\n")
    return path


def test_name_and_version(capsys):
    assert _run(capsys, "--name") == (0, "nnreach\n", "")
    assert _run(capsys, "--version") == (0, f"{nnreach.__version__}\n", "")


def test_nnreach_vnnlib_is_the_same_interface(capsys):
    assert nnreach_main(["vnnlib", "supports", "--multiple-network-theories"]) == 0
    assert capsys.readouterr().out == "SNET\n"


@pytest.mark.parametrize("capability, lines", [
    ("--onnx-element-types", ["real"]),
    ("--vnnlib-versions", ["2.0", "2.0"]),
    ("--hidden-node-theories", ["NH"]),
    ("--multiple-input-output-theories", ["SIO"]),
    ("--multiple-network-theories", ["SNET"]),
    ("--multiple-node-comparison-theories", ["SNC"]),
    ("--arithmetic-complexity-theories", ["BND", "COUT"]),
    ("--optimised-disjunctive-reasoning", ["false"]),
    ("--serialise-assignments", ["false"]),
])
def test_supports_answers_each_capability(capsys, capability, lines):
    assert _run(capsys, "supports", capability) == (0, "\n".join(lines) + "\n", "")


def test_supports_names_the_operators_the_onnx_loader_reads(capsys):
    code, out, _ = _run(capsys, "supports", "--onnx-operators")
    assert code == 0 and out.splitlines() == supported_operators()
    assert {"Gemm", "Relu", "Conv", "MatMul", "Constant"} <= set(out.split())


def test_supports_reports_an_opset_range(capsys):
    code, out, _ = _run(capsys, "supports", "--onnx-opset-versions")
    low, high = (int(v) for v in out.split())
    assert code == 0 and 1 <= low <= 13 <= high


def test_every_capability_of_the_standard_is_answered():
    standard = {"--onnx-opset-versions", "--onnx-element-types", "--onnx-operators", "--vnnlib-versions",
                "--hidden-node-theories", "--multiple-input-output-theories", "--multiple-network-theories",
                "--multiple-node-comparison-theories", "--arithmetic-complexity-theories",
                "--optimised-disjunctive-reasoning", "--serialise-assignments"}
    assert set(CAPABILITIES) == standard


def test_an_unknown_capability_is_an_error(capsys):
    code, out, err = _run(capsys, "supports", "--colour")
    assert (code, out) == (2, "") and "--onnx-operators" in err and err.count("\n") == 1


def test_unsat_is_one_line(capsys, tmp_path):
    code, out, err = _run(capsys, "verify", str(_query(tmp_path, "(>= Y[0,0] 0.3)")), "--network", f"tiny={TINY}")
    assert (code, out) == (0, "unsat\n"), err


def test_sat_prints_the_assignment_in_declaration_order(capsys, tmp_path):
    code, out, err = _run(capsys, "verify", str(_query(tmp_path, "(>= Y[0,1] 0.03)")), "--network", f"tiny={TINY}",
                          "--timeout", "60")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "sat" and lines[1] == "X real [1,2]" and lines[4] == "Y real [1,2]", err
    x, y = np.array(lines[2:4], dtype=float), np.array(lines[5:7], dtype=float)
    assert len(lines) == 7 and np.all((0.0 <= x) & (x <= 0.5)) and y[1] >= 0.03
    assert np.allclose(nnreach.load_model(str(TINY)).forward(x[None])[0], y, atol=1e-5)


def test_serialising_is_not_supported_so_the_assignment_is_printed(capsys, tmp_path):
    code, out, err = _run(capsys, "verify", str(_query(tmp_path, "(>= Y[0,1] 0.03)")), "--network", f"tiny={TINY}",
                          "--serialise-assignments", str(tmp_path / "out"))
    assert code == 0 and out.startswith("sat\nX real [1,2]\n") and "not supported" in err
    assert not (tmp_path / "out").exists()


def test_a_timeout_answers_timed_out(capsys, tmp_path, monkeypatch):
    from nnreach.verify import api
    from nnreach.verify.result import Result, Status

    seen = {}

    def timed_out(problem, method="auto", *, timeout=None, **_):
        seen["timeout"] = timeout
        return Result(Status.TIMEOUT, method)

    monkeypatch.setattr(api, "verify", timed_out)
    code, out, _ = _run(capsys, "verify", str(_query(tmp_path, "(>= Y[0,1] 0.03)")), "--network", f"tiny={TINY}",
                        "--timeout", "7")
    assert (code, out, seen) == (0, "timed-out\n", {"timeout": 7})


@pytest.mark.parametrize("networks, message", [
    ([], "no model for network tiny: give --network tiny=PATH"),                       # insufficient
    ([f"tiny={TINY}", f"other={TINY}"], "the query declares no network other"),      # unnecessary
    ([f"tiny={TINY}", f"tiny={TINY}"], "--network tiny is given twice"),
    (["tiny"], "expected NAME=PATH"),
])
def test_models_must_match_the_network_declarations(capsys, tmp_path, networks, message):
    argv = ["verify", str(_query(tmp_path, "(>= Y[0,0] 0.3)"))] + [a for n in networks for a in ("--network", n)]
    code, out, err = _run(capsys, *argv)
    assert (code, out) == (2, "") and message in err and err.count("\n") == 1


def test_a_model_of_another_shape_is_an_error(capsys, tmp_path):
    query = _query(tmp_path, "(>= Y[0,0] 0.3)", "(declare-input X real [1,3]) (declare-output Y real [1,2])")
    query.write_text(query.read_text().replace("(<= X[0,1] 0.5)", "(<= X[0,1] 0.5) (>= X[0,2] 0.0) (<= X[0,2] 0.5)"))
    code, out, err = _run(capsys, "verify", str(query), "--network", f"tiny={TINY}")
    assert (code, out) == (2, "") and "declares input X real [1,3] (3 entries)" in err and "has 2 input" in err


def test_an_element_type_nnreach_is_not_sound_for_is_an_error(capsys, tmp_path):
    query = _query(tmp_path, "(>= Y[0,0] 0.3)", "(declare-input X float32 [1,2]) (declare-output Y float32 [1,2])")
    code, out, err = _run(capsys, "verify", str(query), "--network", f"tiny={TINY}")
    assert (code, out) == (2, "") and "element type float32 of input X" in err and "'real'" in err


def test_an_unsupported_query_is_an_error_naming_the_construct(capsys, tmp_path):
    query = _query(tmp_path, "(>= Y[0,0] 0.3)", "(declare-input X real [1,2]) (declare-hidden H real [2] \"h\") "
                                                "(declare-output Y real [1,2])")
    code, out, err = _run(capsys, "verify", str(query), "--network", f"tiny={TINY}")
    assert (code, out) == (2, "") and "hidden nodes are not supported" in err


def test_no_command_is_an_error(capsys):
    assert _run(capsys)[0] == 2


# ------------------------------------------------------- the same ACAS Xu property in 1.0 and 2.0

def _acas_vnnlib2(text: str) -> str:
    """A VNN-LIB 1.0 ACAS Xu property written as a 2.0 query over the network ``acas``."""
    body = "\n".join(line for line in text.splitlines() if not line.startswith("(declare-const"))
    body = re.sub(r"\b([XY])_(\d+)\b", r"\1[0,\2]", body)
    return ("(vnnlib-version <2.0>)\n(declare-network acas (declare-input X real [1,5]) "
            "(declare-output Y real [1,5]))\n" + body)


@pytest.mark.parametrize("prop, model, answer", [
    ("prop_3.vnnlib", "ACASXU_run2a_1_1_batch_2000.onnx", "unsat"),
    ("prop_2.vnnlib", "ACASXU_run2a_2_1_batch_2000.onnx", "sat"),
])
def test_acasxu_in_1_0_and_2_0_gets_the_same_verdict(capsys, tmp_path, benchmarks, prop, model, answer):
    spec, onnx = benchmarks / "acasxu" / prop, benchmarks / "acasxu" / model
    query = tmp_path / "q.vnnlib"
    query.write_text(_acas_vnnlib2(spec.read_text()))
    assert nnreach_main(["verify", str(onnx), str(spec), "-q", "--timeout", "120"]) == 0
    legacy = capsys.readouterr().out.strip()
    code, out, err = _run(capsys, "verify", str(query), "--network", f"acas={onnx}", "--timeout", "120")
    assert code == 0 and out.splitlines()[0] == answer, err
    assert legacy == {"unsat": "holds", "sat": "violated"}[answer]
