"""The VNN-COMP scripts in ``vnncomp/``: result files of sat, unsat and timed-out rows, ``error`` for a
failed or stopped run (never an empty file), leftover runs ended by prepare_instance.sh, and the
version check. nnreach runs from this checkout through a wrapper named by ``NNREACH`` (no install)."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nnreach.io.vnnlib import read_vnnlib

from .conftest import EXAMPLES, REPO

SCRIPTS = REPO / "vnncomp"
MODEL = EXAMPLES / "models" / "tiny_relu.onnx"
SPECS = EXAMPLES / "specs"

# The real nnreach of this checkout, on one core.
WRAPPER = f"""#!/bin/sh
[ "$1" = verify ] && set -- "$@" --jobs 1
OPENBLAS_NUM_THREADS=1 PYTHONPATH={REPO} exec {sys.executable} -m nnreach.cli "$@"
"""

# A stand-in for nnreach that records its pid, then behaves as $FAKE says: "sleep" (forever), "crash"
# (half a result, exit 1) or "silent" (no result, exit 0). Its arguments are verify ONNX VNNLIB
# --timeout T --result-file R.
FAKE = """#!/bin/sh
echo $$ >"$FAKE_PID"
case "$FAKE" in
    sleep) exec sleep 600 ;;
    crash) printf 'sa' >"$7"; exit 1 ;;
esac
"""


def executable(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """The scripts' environment: the real nnreach by NNREACH, and their own TMPDIR (its pid file)."""
    (tmp_path / "tmp").mkdir()
    return {**os.environ, "NNREACH": executable(tmp_path / "nnreach", WRAPPER), "TMPDIR": str(tmp_path / "tmp")}


@pytest.fixture
def fake_env(tmp_path, env) -> dict[str, str]:
    return {**env, "NNREACH": executable(tmp_path / "fake-nnreach", FAKE), "FAKE_PID": str(tmp_path / "fake.pid")}


def script(name: str, *args: str, env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPTS / name), *args], env=env, capture_output=True, text=True,
                          timeout=120, **kw)


def run_instance(model: Path, spec: Path, result: Path, timeout: str, env: dict[str, str]):
    return script("run_instance.sh", "v1", "test", str(model), str(spec), str(result), timeout, env=env)


def read_assignment(lines: list[str]) -> dict[str, float]:
    """``{"X_0": v, ...}`` from the lines after ``sat``: ``((X_0 v)``, ``(X_1 v)``, ..., ``(Y_m v))``."""
    pairs = (line.strip().strip("()").split() for line in lines)
    return {name: float(value) for name, value in pairs}


def running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, ended but not yet collected, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("compressed", [False, True], ids=["onnx", "onnx.gz"])
def test_sat_row_writes_an_assignment_that_onnxruntime_finds_unsafe(tmp_path, env, compressed):
    import onnxruntime as ort

    model, spec = MODEL, SPECS / "tiny_violated.vnnlib"
    if compressed:
        model, spec = tmp_path / "tiny_relu.onnx.gz", tmp_path / "tiny_violated.vnnlib.gz"
        model.write_bytes(gzip.compress(MODEL.read_bytes()))
        spec.write_bytes(gzip.compress((SPECS / "tiny_violated.vnnlib").read_bytes()))
    assert script("prepare_instance.sh", "v1", "test", str(model), str(spec), env=env).returncode == 0
    result = tmp_path / "out" / "result.txt"
    done = run_instance(model, spec, result, "60", env)
    assert done.returncode == 0, done.stderr
    first, *rest = result.read_text().splitlines()
    assert first == "sat"
    values = read_assignment(rest)
    (prop,) = read_vnnlib(spec)
    x = np.array([values[f"X_{i}"] for i in range(prop.input_dim)])
    assert prop.input_box.contains(x)
    session = ort.InferenceSession(MODEL.read_bytes())
    arg = session.get_inputs()[0]
    y = session.run(None, {arg.name: x.astype(np.float32).reshape(arg.shape)})[0].ravel()
    assert prop.is_unsafe(y[None])[0]


def test_unsat_row_says_unsat(tmp_path, env):
    result = tmp_path / "result.txt"
    done = run_instance(MODEL, SPECS / "tiny_holds.vnnlib", result, "60", env)
    assert done.returncode == 0, done.stderr
    assert result.read_text() == "unsat\n"


def test_row_out_of_time_says_timeout(tmp_path, env):
    result = tmp_path / "result.txt"
    done = run_instance(MODEL, SPECS / "tiny_dominance.vnnlib", result, "1e-6", env)
    assert done.returncode == 0, done.stderr
    assert result.read_text() == "timeout\n"


def test_bad_input_writes_error(tmp_path, env):
    result = tmp_path / "result.txt"
    result.write_text("sat\n")  # a previous instance's result is not left behind
    done = run_instance(MODEL, tmp_path / "missing.vnnlib", result, "60", env)
    assert done.returncode == 2
    assert "missing.vnnlib" in done.stderr
    assert result.read_text() == "error\n"


@pytest.mark.parametrize("behaviour", ["crash", "silent"])
def test_failed_run_never_leaves_an_empty_or_partial_file(tmp_path, fake_env, behaviour):
    result = tmp_path / "result.txt"
    done = run_instance(MODEL, SPECS / "tiny_holds.vnnlib", result, "60", {**fake_env, "FAKE": behaviour})
    assert done.returncode == (1 if behaviour == "crash" else 0)
    assert result.read_text() == "error\n"


def wait_for_pid(path: Path) -> int:
    for _ in range(200):
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError(f"{path} was not written")


def test_stopped_run_says_timeout_and_ends_nnreach(tmp_path, fake_env):
    result = tmp_path / "result.txt"
    args = ["bash", str(SCRIPTS / "run_instance.sh"), "v1", "test", str(MODEL), str(SPECS / "tiny_holds.vnnlib"),
            str(result), "60"]
    proc = subprocess.Popen(args, env={**fake_env, "FAKE": "sleep"})
    try:
        pid = wait_for_pid(Path(fake_env["FAKE_PID"]))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 143
    finally:
        proc.kill()
    assert result.read_text() == "timeout\n"
    assert not running(pid)


def test_prepare_ends_the_run_a_killed_script_left_behind(tmp_path, fake_env):
    args = ["bash", str(SCRIPTS / "run_instance.sh"), "v1", "test", str(MODEL), str(SPECS / "tiny_holds.vnnlib"),
            str(tmp_path / "result.txt"), "60"]
    proc = subprocess.Popen(args, env={**fake_env, "FAKE": "sleep"})
    pid = wait_for_pid(Path(fake_env["FAKE_PID"]))
    try:
        proc.kill()  # SIGKILL: no trap runs, the sleeping stand-in stays in its own process group
        proc.wait(timeout=30)
        assert running(pid)
        done = script("prepare_instance.sh", "v1", "test", str(MODEL), str(SPECS / "tiny_holds.vnnlib"),
                      env={**fake_env, "FAKE": "silent"})
        assert done.returncode == 0, done.stderr
        for _ in range(100):
            if not running(pid):
                break
            time.sleep(0.05)
        assert not running(pid)
    finally:
        if running(pid):
            os.kill(pid, signal.SIGKILL)


def test_prepare_rejects_a_property_that_does_not_fit_the_model(env):
    done = script("prepare_instance.sh", "v1", "test", str(EXAMPLES / "models" / "mnist_256x2_f16.onnx"),
                  str(SPECS / "tiny_holds.vnnlib"), env=env)
    assert done.returncode != 0
    assert "the property declares 2 inputs but the model has 784 inputs" in done.stderr


@pytest.mark.parametrize("name, args", [
    ("install_tool.sh", ["v2"]),
    ("prepare_instance.sh", ["v0", "test", str(MODEL), str(SPECS / "tiny_holds.vnnlib")]),
    ("run_instance.sh", ["1", "test", str(MODEL), str(SPECS / "tiny_holds.vnnlib"), "r.txt", "60"]),
])
def test_wrong_version_argument_exits_1(tmp_path, env, name, args):
    done = script(name, *args, env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert f"{name}: expected version v1 as the first argument, got '{args[0]}'" in done.stderr
    assert not (tmp_path / "r.txt").exists()


def test_wrong_argument_count_exits_1(env):
    done = script("run_instance.sh", "v1", "test", str(MODEL), env=env)
    assert done.returncode == 1
    assert "expected 6 arguments, got 3" in done.stderr


def test_nnreach_is_found_on_path_without_the_override(tmp_path, env):
    """With no NNREACH and no venv of install_tool.sh, the nnreach on PATH runs."""
    if (REPO / ".venv-vnncomp" / "bin" / "nnreach").exists():
        pytest.skip("install_tool.sh's venv exists: it comes before PATH")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable(bin_dir / "nnreach", WRAPPER)
    path_env = {k: v for k, v in env.items() if k != "NNREACH"}
    path_env["PATH"] = f"{bin_dir}{os.pathsep}{path_env['PATH']}"
    done = script("prepare_instance.sh", "v1", "test", str(MODEL), str(SPECS / "tiny_holds.vnnlib"), env=path_env)
    assert done.returncode == 0, done.stderr
