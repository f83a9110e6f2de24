"""Progress lines and the reason of undecided runs: the tracker, the printer, and the CLI in a terminal."""

from __future__ import annotations

import argparse
import io
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from nnreach import progress
from nnreach.cli import main, progress_printer

from .conftest import REPO


def hard_problem(folder: Path, seed: int = 0, n_in: int = 20, width: int = 100, depth: int = 4) -> tuple[Path, Path]:
    """A random ReLU net (``depth`` hidden layers of ``width``) on ``[-1, 1]^n_in`` and a property
    ``y0 - y1 >= c`` with ``c`` above every sampled value: no method decides it in a few seconds."""
    rng = np.random.default_rng(seed)
    sizes = [n_in] + [width] * depth + [2]
    nodes, inits, prev, layers = [], [], "x", []
    for k in range(len(sizes) - 1):
        W = rng.normal(0, 1 / np.sqrt(sizes[k]), (sizes[k + 1], sizes[k])).astype(np.float32)
        b = rng.normal(0, 0.1, sizes[k + 1]).astype(np.float32)
        layers.append((W, b))
        inits += [numpy_helper.from_array(W.T.copy(), f"W{k}"), numpy_helper.from_array(b, f"b{k}")]
        nodes.append(helper.make_node("Gemm", [prev, f"W{k}", f"b{k}"], [f"z{k}"]))
        prev = f"z{k}"
        if k < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [prev], [f"a{k}"]))
            prev = f"a{k}"
    graph = helper.make_graph(nodes, "hard", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 2])], inits)
    model = folder / "hard.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), model)
    x = rng.uniform(-1, 1, (20_000, n_in))
    for W, b in layers[:-1]:
        x = np.maximum(x @ W.T + b, 0)
    y = x @ layers[-1][0].T + layers[-1][1]
    c = 1.2 * float((y[:, 0] - y[:, 1]).max()) + 0.5
    spec = folder / "hard.vnnlib"
    spec.write_text("".join(f"(declare-const X_{i} Real)\n" for i in range(n_in))
                    + "(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
                    + "".join(f"(assert (>= X_{i} -1.0))\n(assert (<= X_{i} 1.0))\n" for i in range(n_in))
                    + f"(assert (>= Y_0 (+ Y_1 {c})))\n")
    return model, spec


def test_tracker_line_and_reason():
    t = progress.Tracker(limit=10.0)
    assert "starting" in t.line() and "s left" in t.line()
    t.stage("bab")
    t.note(open=12, closed=301, margin=-0.153)
    assert t.line().endswith("bab: 12 open, 301 closed, worst margin -0.153")
    reason = t.reason(timed_out=True)
    assert reason.startswith("the time limit ran out in bab after") and "12 open" in reason
    assert "a proof needs every margin above 0" in reason
    t.stage("milp")                      # a new stage starts with no figures
    assert t.reason(timed_out=False) == "milp could not decide"
    assert "left" not in progress.Tracker(limit=None).line()
    with pytest.raises(ValueError, match="unknown progress fields"):
        t.note(bound=1.0)


def test_module_functions_reach_only_the_current_tracker():
    progress.stage("nobody listens")       # no tracker: nothing happens, nothing fails
    progress.note(open=1)
    assert progress.current() is None and not progress.due()
    with progress.tracking(5.0) as outer:
        with progress.tracking(1.0) as inner:  # a nested run reports to the outer tracker
            assert inner is outer
            progress.stage("zono")
            progress.note(sets=3)
        assert progress.current() is outer and outer.line().endswith("zono: 3 sets")
        assert not progress.due()          # just noted
    assert progress.current() is None


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_printer_writes_lines_off_a_terminal_and_rewrites_one_in_a_terminal():
    tracker = progress.Tracker(limit=None)
    tracker.stage("bab")
    plain, term = io.StringIO(), _Terminal()
    with progress.Printer(tracker, plain, every=0.05), progress.Printer(tracker, term, every=0.05):
        time.sleep(0.3)
    lines = plain.getvalue().splitlines()
    assert len(lines) >= 2 and all(" bab" in line for line in lines)
    text = term.getvalue()
    assert "\n" not in text and text.count("\r\033[K") >= 3 and text.endswith("\r\033[K")
    quick = io.StringIO()
    with progress.Printer(tracker, quick, every=5.0):   # a run shorter than the period: no line
        pass
    assert quick.getvalue() == ""


def test_cli_shows_progress_in_a_terminal_or_with_v_only():
    def args(**kw):
        return argparse.Namespace(**{"quiet": False, "verbose": False, **kw})

    tracker = progress.Tracker(limit=None)
    assert not isinstance(progress_printer(args(quiet=True), tracker), progress.Printer)
    assert isinstance(progress_printer(args(verbose=True), tracker), progress.Printer)
    # under pytest stderr is captured, not a terminal: no printer without -v
    assert isinstance(progress_printer(args(), tracker), progress.Printer) == sys.stderr.isatty()


def test_verify_timeout_says_which_stage_ran_out(tmp_path):
    import nnreach

    model, spec = hard_problem(tmp_path)
    problem = nnreach.Problem(nnreach.load_model(model), tuple(nnreach.read_vnnlib(spec)), str(model))
    result = nnreach.verify(problem, "bab", timeout=2.0)
    assert result.status is nnreach.Status.TIMEOUT
    assert result.reason.startswith("the time limit ran out in bab after")


def test_cli_header_says_the_default_time_limit_and_quiet_prints_the_verdict_only(capsys):
    model, spec = REPO / "examples/models/tiny_relu.onnx", REPO / "examples/specs/tiny_holds.vnnlib"
    assert main(["verify", str(model), str(spec)]) == 0
    out = capsys.readouterr().out
    assert "time limit 300 s (the default; --timeout S to change)" in out
    assert main(["verify", str(model), str(spec), "--timeout", "inf"]) == 0
    assert "time limit none" in capsys.readouterr().out
    assert main(["verify", str(model), str(spec), "-q"]) == 0
    assert capsys.readouterr().out == "holds\n"


def test_ctrl_c_exits_130(monkeypatch, capsys):
    import nnreach.cli as cli

    def interrupted(_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_info", interrupted)
    assert cli.main(["info", "model.onnx"]) == 130
    assert capsys.readouterr().err == "nnreach: interrupted\n"


def _run(argv: list[str], stderr_tty: bool) -> tuple[str, str]:
    """Run ``nnreach`` in a child process with stderr on a pseudo-terminal (or a pipe); its stdout and stderr."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "nnreach.cli", *argv]
    if not stderr_tty:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        return done.stdout, done.stderr
    leader, follower = pty.openpty()
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=follower, text=True, env=env, timeout=120)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:                # the terminal's other end is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return done.stdout, b"".join(chunks).decode()


def test_a_long_run_in_a_terminal_shows_progress_and_says_why_it_timed_out(tmp_path):
    model, spec = hard_problem(tmp_path)
    out, err = _run(["verify", str(model), str(spec), "--timeout", "7"], stderr_tty=True)
    assert out.splitlines()[-1] == "timeout"
    assert any(line.startswith("why: the time limit ran out in auto: ") for line in out.splitlines())
    shown = [part for part in err.split("\r\x1b[K") if part.strip()]
    assert len(shown) >= 2 and all("s left) auto: " in part for part in shown)
    assert err.endswith("\r\x1b[K")            # the last status line is erased
    out, err = _run(["verify", str(model), str(spec), "--timeout", "3"], stderr_tty=False)
    assert out.splitlines()[-1] == "timeout" and err == ""   # not a terminal, no -v: no progress lines
