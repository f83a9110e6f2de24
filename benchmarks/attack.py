#!/usr/bin/env python3
"""The attack (``falsify``) on every row whose expected verdict is ``sat``, with and without its wide
steps (:data:`nnreach.verify.falsify.WIDE_STEP`, taken above ``WIDE_INPUTS`` inputs) side by side: per
row the verdict and seconds of each, then how many each found and its total time.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/attack.py [--timeout S] [--only acasxu mnistfc vnncomp/oval21 ...]

Rows come from every ``expected.csv`` under ``--benchmarks`` (default ``../shared/benchmarks`` beside
the repository): ``acasxu``, ``mnistfc`` and the folders of ``vnncomp``. Rows whose model or property
nnreach refuses are listed as such and not counted.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

from nnreach.errors import NnreachError
from nnreach.io.vnnlib import read_vnnlib
from nnreach.verify.api import verify
from nnreach.verify.problem import Problem

BENCHMARKS = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"


def sat_rows(root: Path, only: list[str] | None) -> list[tuple[str, Path, Path]]:
    """(benchmark, model, property) of every expected-sat row under ``root``."""
    folders = [root / "acasxu", root / "mnistfc"] + sorted(p for p in (root / "vnncomp").glob("*") if p.is_dir())
    rows = []
    for folder in folders:
        name = str(folder.relative_to(root))
        if only and name not in only or not (folder / "expected.csv").exists():
            continue
        with open(folder / "expected.csv") as f:
            rows += [(name, folder / r["onnx"], folder / r["vnnlib"]) for r in csv.DictReader(f) if r["expected"] == "sat"]
    return rows


def main() -> None:
    from nnreach.verify import falsify as module   # the module, whose WIDE_INPUTS each run sets
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--benchmarks", type=Path, default=BENCHMARKS)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per row and schedule (default 30)")
    ap.add_argument("--only", nargs="+", help="benchmark folders to run (as printed in the first column)")
    args = ap.parse_args()
    schedules = {"with wide steps": module.WIDE_INPUTS, "without": float("inf")}
    found, seconds = [0] * len(schedules), [0.0] * len(schedules)
    rows = sat_rows(args.benchmarks, args.only)
    print(f"{len(rows)} expected-sat rows; {' | '.join(schedules)}", flush=True)
    for bench, model, spec in rows:
        try:
            problem = Problem(str(model), read_vnnlib(spec))
        except NnreachError as e:
            print(f"{bench} {model.name} {spec.name}: refused ({str(e)[:80]})", flush=True)
            continue
        cells = []
        for k, wide_inputs in enumerate(schedules.values()):
            module.WIDE_INPUTS = wide_inputs
            start = time.perf_counter()
            status = verify(problem, "falsify", timeout=args.timeout).status.value
            took = time.perf_counter() - start
            found[k] += status == "violated"
            seconds[k] += took
            cells.append(f"{status} {took:.2f} s")
        print(f"{bench} {model.name} {spec.name}: " + " | ".join(cells), flush=True)
    for name, n, s in zip(schedules, found, seconds):
        print(f"{name}: found {n}/{len(rows)}, total {s:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
