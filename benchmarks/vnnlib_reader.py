#!/usr/bin/env python3
"""Seconds to read the largest VNN-LIB properties of ``../shared/benchmarks`` (nn4sys: 2-11 MB): the
reader as nnreach runs it (the vectorised plain-shape reader, falling back to the general one) beside
the general reader alone, which is skipped above ``--general-limit`` bytes (it takes minutes there and
refuses more than 10,000 disjuncts). Prints medians of ``--repeat`` reads, MB/s, and how many
properties and polytopes were read.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/vnnlib_reader.py [--count 8] [--repeat 3] [--general-limit 3000000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from nnreach.errors import NnreachError
from nnreach.io.vnnlib import _parse_general, parse_vnnlib
from nnreach.verify.problem import Properties

BENCHMARKS = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"


def polytopes(props: Properties) -> int:
    """How many unsafe polytopes ``props`` hold, from their blocks (no Property objects built)."""
    return sum(len(block.sizes) * np.count_nonzero(props.block == k) for k, block in enumerate(props.blocks))


def timed(read, text: str, name: str, repeat: int) -> tuple[float, str]:
    """Median seconds of ``repeat`` reads, and what was read."""
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            props = read(text, source=name) if read is parse_vnnlib else read(text, name)
            what = f"{len(props)} properties, {polytopes(props)} polytopes"
        except NnreachError as e:
            what = f"refused: {str(e).split(': ')[-1][:60]}"
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), what


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=8, help="how many of the largest files (default 8)")
    ap.add_argument("--repeat", type=int, default=3, help="reads per file and reader (default 3)")
    ap.add_argument("--general-limit", type=float, default=3e6)
    args = ap.parse_args()
    files = sorted(BENCHMARKS.rglob("*.vnnlib"), key=lambda p: -p.stat().st_size)[:args.count]
    print(f"{'file':40} {'MB':>6} {'nnreach s':>10} {'MB/s':>7} {'general s':>10} {'MB/s':>7}  read")
    for path in files:
        text = path.read_text()
        mb = len(text) / 1e6
        fast, what = timed(parse_vnnlib, text, str(path), args.repeat)
        general = timed(_parse_general, text, str(path), args.repeat)[0] if len(text) <= args.general_limit else None
        g = f"{general:10.2f} {mb / general:7.2f}" if general is not None else f"{'-':>10} {'-':>7}"
        print(f"{path.name:40} {mb:6.2f} {fast:10.2f} {mb / fast:7.2f} {g}  {what}")


if __name__ == "__main__":
    main()
