#!/usr/bin/env python3
"""Two ``nnreach bench`` result files of the same instances, row by row: the verdicts that changed,
the rows decided in both that got slower by more than a factor (default 1.2, i.e. 20 %), and per
network and radius the decided counts of each file.

    .venv/bin/python benchmarks/compare.py out/bench/mnist_kinds_before.csv out/bench/mnist_kinds.csv

Rows are matched by their ``onnx`` and ``vnnlib`` columns; rows in only one file are listed.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

DECIDED = ("holds", "violated")


def load(path: str) -> dict[tuple[str, str], dict]:
    with open(path, newline="") as f:
        return {(Path(r["onnx"]).name, Path(r["vnnlib"]).name): r for r in csv.DictReader(f)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--slower", type=float, default=1.2, help="report rows slower by more than this factor")
    args = ap.parse_args()
    old, new = load(args.before), load(args.after)
    counts: dict[str, list[int]] = {}
    for key in sorted(old.keys() | new.keys()):
        if key not in old or key not in new:
            print(f"only in {'after' if key in new else 'before'}: {key[0]} {key[1]}")
            continue
        a, b = old[key], new[key]
        ta, tb = float(a["seconds"]), float(b["seconds"])
        group = f"{Path(key[0]).stem} {key[1].rsplit('_', 1)[-1].removesuffix('.vnnlib')}"
        c = counts.setdefault(group, [0, 0, 0])
        c[0] += a["verdict"] in DECIDED
        c[1] += b["verdict"] in DECIDED
        c[2] += 1
        if a["verdict"] != b["verdict"]:
            print(f"changed: {key[0]} {key[1]}: {a['verdict']} {ta:.1f} s -> {b['verdict']} {tb:.1f} s")
        elif a["verdict"] in DECIDED and tb > args.slower * ta:
            print(f"slower:  {key[0]} {key[1]}: {a['verdict']} {ta:.1f} s -> {tb:.1f} s")
    for group, (a, b, n) in counts.items():
        print(f"{group:40s} decided {a}/{n} -> {b}/{n}")
    print(f"all: decided {sum(c[0] for c in counts.values())} -> {sum(c[1] for c in counts.values())}"
          f" of {sum(c[2] for c in counts.values())}")


if __name__ == "__main__":
    main()
