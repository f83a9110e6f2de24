"""A handful of fast ACAS Xu instances with known verdicts, through the default method."""

from __future__ import annotations

import pytest

from nnreach.io import load_model
from nnreach.io.vnnlib import read_vnnlib
from nnreach.verify.api import verify
from nnreach.verify.problem import Problem
from nnreach.verify.result import Status

# (network a_b, property, expected): a few of each kind, each decided in well under a second
ROWS = [("1_1", "prop_1", "holds"), ("1_9", "prop_1", "holds"), ("4_4", "prop_2", "violated"),
        ("2_1", "prop_2", "violated"), ("1_6", "prop_3", "holds"), ("1_7", "prop_3", "violated"),
        ("3_3", "prop_4", "holds"), ("1_8", "prop_4", "violated")]


@pytest.mark.parametrize("net,prop,expected", ROWS, ids=lambda v: str(v))
def test_acasxu_verdicts(benchmarks, net, prop, expected):
    folder = benchmarks / "acasxu"
    model = folder / f"ACASXU_run2a_{net}_batch_2000.onnx"
    problem = Problem(load_model(model), tuple(read_vnnlib(folder / f"{prop}.vnnlib")), str(model))
    r = verify(problem, "auto", timeout=60)
    assert r.status is Status(expected), r
    if expected == "violated":
        assert r.counterexample.checked_by == "onnxruntime"
