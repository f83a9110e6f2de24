#!/usr/bin/env python3
"""What ``auto`` costs beside the single complete methods: per row, ``auto``, ``bab``, ``milp`` and
(for networks with at most :data:`nnreach.verify.bab.LOW_INPUT_DIM` inputs) ``exact-star``, each in a
fresh process (``python -m nnreach.cli verify MODEL PROPERTY --method M --json -``), the methods
taking turns in every repetition so that load on the machine hits them alike. Prints per row the
median of the command's seconds (the JSON's ``seconds``: loading, verifying, not the interpreter's
start) and the verdicts of each method, and auto's ratio to the fastest single method that decided
the row (``-`` when none did).

    .venv/bin/python benchmarks/auto_overhead.py [--repeat N] [--timeout S] [--rows MODEL:PROPERTY ...]
    .venv/bin/python benchmarks/auto_overhead.py --rows mnistfc/mnist-net_256x2.onnx:mnistfc/prop_0_0.03.vnnlib

Rows name files under ``--benchmarks`` (default ``../shared/benchmarks`` beside the repository).
Run it with ``OPENBLAS_NUM_THREADS=1`` next to other jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from nnreach.io import load_model
from nnreach.verify.bab import LOW_INPUT_DIM

BENCHMARKS = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"
ACAS = "acasxu/ACASXU_run2a_{}_batch_2000.onnx:acasxu/prop_{}.vnnlib"
MNIST = "mnistfc/mnist-net_256x{}.onnx:mnistfc/prop_{}.vnnlib"
ROWS = (MNIST.format(2, "0_0.03"),      # unsat
        MNIST.format(2, "7_0.03"),      # sat, the first attack finds it
        MNIST.format(2, "9_0.05"),      # sat, only the full attack finds it
        ACAS.format("1_1", 3),          # unsat
        ACAS.format("2_1", 2),          # sat, the first attack finds it
        ACAS.format("2_9", 8))          # sat, only the full attack finds it
"""Default rows (``MODEL:PROPERTY`` under the benchmarks folder): MNIST-FC and ACAS Xu, unsat and sat."""
SINGLE = ("bab", "milp", "exact-star")
"""The complete methods ``auto`` is compared with."""


def run(model: Path, prop: Path, method: str, timeout: float) -> tuple[float, str]:
    """One ``nnreach verify`` in a fresh process: (the command's seconds, the verdict); a refusal
    (exit code 2: the method does not apply) is ``(nan, "n/a")``."""
    cmd = [sys.executable, "-m", "nnreach.cli", "verify", str(model), str(prop), "--method", method,
           "--timeout", str(timeout), "--json", "-"]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    if p.returncode == 2:
        return float("nan"), "n/a"
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    record = json.loads(p.stdout.strip().splitlines()[-1])
    return record["seconds"], record["verdict"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", nargs="*", default=list(ROWS), help="MODEL:PROPERTY paths under --benchmarks")
    ap.add_argument("--benchmarks", type=Path, default=Path(os.environ.get("BENCHMARKS", BENCHMARKS)))
    ap.add_argument("--repeat", type=int, default=3, help="runs per method and row (the median is printed)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per run")
    args = ap.parse_args()
    for row in args.rows:
        model, prop = (args.benchmarks / part for part in row.split(":"))
        few_inputs = load_model(str(model)).input_size <= LOW_INPUT_DIM
        methods = ["auto"] + [m for m in SINGLE if m != "exact-star" or few_inputs]
        times: dict[str, list[float]] = {m: [] for m in methods}
        verdicts: dict[str, set[str]] = {m: set() for m in methods}
        for _ in range(args.repeat):
            for m in methods:
                seconds, verdict = run(model, prop, m, args.timeout)
                times[m].append(seconds)
                verdicts[m].add(verdict)
        median = {m: statistics.median(times[m]) for m in methods}
        decided = [median[m] for m in SINGLE if m in methods and verdicts[m] <= {"holds", "violated"}]
        ratio = f"{median['auto'] / min(decided):.2f}" if decided else "-"
        cells = "  ".join(f"{m} {median[m]:.2f} s {'/'.join(sorted(verdicts[m]))}" for m in methods)
        print(f"{model.stem} {prop.stem}: auto/fastest {ratio}  {cells}", flush=True)


if __name__ == "__main__":
    main()
