"""The README's "Your first hour" section, run as written: every line of its ``sh`` blocks, in order,
in one shell, in a copy of the repository, with ``HOME`` in a temporary folder.

The dependencies are not downloaded again: ``PYTHONPATH`` shows the new environment the packages of
the one running the tests (numpy, onnx, torch, ...), so ``pip install '.[torch]'`` finds them
installed and installs nnreach itself, from the copy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys

import numpy as np
import pytest

from .conftest import REPO


def first_hour_commands() -> list[str]:
    """The lines of the ``sh`` blocks of the README's "Your first hour" section, in order."""
    text = (REPO / "README.md").read_text()
    section = re.search(r"^## Your first hour\n(.*?)^## ", text, flags=re.S | re.M)
    assert section, "README.md has no 'Your first hour' section"
    blocks = re.findall(r"^```sh\n(.*?)^```", section.group(1), flags=re.S | re.M)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_the_section_covers_what_a_first_hour_needs():
    commands = first_hour_commands()
    for needed in ("pip install", "nnreach verify", "--counterexample", "nnreach robust", "torch_example.py",
                   "np.load", "--plot"):
        assert any(needed in c for c in commands), needed


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_first_hour_runs_as_written(tmp_path):
    pytest.importorskip("torch")
    copy = tmp_path / "nnreach"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".venv", ".git", "out", "build", "*.egg-info",
                                                              "__pycache__", ".pytest_cache", ".hypothesis"))
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(site.getsitepackages()),
           "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}
    env.pop("VIRTUAL_ENV", None)
    script = "set -euo pipefail\n" + "".join(f"echo '$ {c}'\n{c}\n" for c in first_hour_commands())
    done = subprocess.run(["bash", "-c", script], cwd=copy, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    said = done.stdout.split("$ ")
    out = {part.splitlines()[0]: part.splitlines()[1:] for part in said if part.strip()}

    def result_of(prefix: str) -> list[str]:
        return next(lines for command, lines in out.items() if command.startswith(prefix))

    assert (home / "nnreach-venv" / "bin" / "nnreach").is_file()          # the commands ran in the new environment
    assert result_of("nnreach --version")[-1].startswith("nnreach ")
    assert result_of("nnreach verify examples/models/tiny_relu.onnx examples/specs/tiny_holds")[-1] == "holds"
    assert result_of("nnreach verify examples/models/tiny_relu.onnx examples/specs/tiny_violated")[-1] == "violated"
    record = json.loads((copy / "out/first/result.json").read_text())
    x = np.load(copy / "out/first/ce.npy")
    assert record["verdict"] == "violated" and np.allclose(record["counterexample"]["x"], x)
    assert result_of("python -c \"import json")[-1].startswith("violated {'x': [")
    robust = [lines for command, lines in out.items() if command.startswith("nnreach robust")]
    assert [lines[-1] for lines in robust] == ["holds", "violated"]
    assert (copy / "out/first/six.npy").is_file() and (copy / "out/first/six.png").is_file()
    torch_lines = result_of("python examples/torch_example.py")
    assert any(line.startswith("eps 0.01: class") and line.split()[4] == "holds" for line in torch_lines)
    reach_lines = result_of("nnreach reach")
    assert any(line.startswith("verdict: meets the unsafe set") for line in reach_lines)
    assert (copy / "out/first/reach.png").stat().st_size > 10_000
