#!/usr/bin/env python3
"""Every model and property of the VNN-COMP categories in ``../shared/benchmarks/vnncomp``: does each
model load, does nnreach's forward pass agree with onnxruntime's, does each property parse?

For each model, ``--samples`` inputs are drawn from the input box of the first property its rows name
(the box's corners are not special: uniform inside it), run through nnreach (float64) and onnxruntime
(the model's own precision, mostly float32), and compared relative to the output's size:
``max |y_nnreach - y_ort| / (1 + max |y_ort|)``, which must stay under ``--tolerance``. Prints one
line per category and one per failure; exits 1 when anything fails.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/vnncomp_models.py [CATEGORY ...] [--samples 8]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

from nnreach.errors import InputError
from nnreach.io import load_model
from nnreach.io.vnnlib import read_vnnlib
from nnreach.verify.check import run_onnxruntime

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "vnncomp"


def rows(folder: Path) -> list[tuple[str, str]]:
    """(model, property) of each row of the category's instances.csv, paths relative to ``folder``."""
    with open(folder / "instances.csv", newline="") as f:
        return [(r[0].strip(), r[1].strip()) for r in csv.reader(f) if r and r[0].strip()]


def check(folder: Path, samples: int, tolerance: float, rng: np.random.Generator) -> tuple[str, list[str]]:
    """One summary line for a category and one line per failure."""
    failures, errors, props = [], [], {}
    pairs = rows(folder)
    started = time.perf_counter()
    for path in dict.fromkeys(p for _, p in pairs):
        try:
            props[path] = read_vnnlib(folder / path)
        except InputError as e:
            failures.append(f"  property {path}: {e}")
    parse_s = time.perf_counter() - started
    models = dict.fromkeys(m for m, _ in pairs)
    loaded = agreed = 0
    load_s = 0.0
    for model in models:
        started = time.perf_counter()
        try:
            net = load_model(folder / model)
        except InputError as e:
            failures.append(f"  model {model}: {e}")
            continue
        load_s += time.perf_counter() - started
        loaded += 1
        prop = next((props[p][0] for m, p in pairs if m == model and props.get(p)), None)
        if prop is None:
            failures.append(f"  model {model}: no parsed property to draw inputs from")
            continue
        box = prop.input_box
        x = box.lo + rng.random((samples, box.dim)) * (box.hi - box.lo)
        ours = net.forward(x.reshape(samples, *net.input_shape)).reshape(samples, -1)
        theirs = run_onnxruntime(str(folder / model), x)
        error = float(np.max(np.abs(ours - theirs)) / (1 + np.max(np.abs(theirs))))
        errors.append(error)
        if error <= tolerance:
            agreed += 1
        else:
            failures.append(f"  model {model}: relative difference {error:.2e} to onnxruntime")
    n_props = len({p for _, p in pairs})
    line = (f"{folder.name:20s} models {loaded}/{len(models)} load, {agreed}/{len(models)} agree "
            f"(largest difference {max(errors, default=0):.1e}, load {load_s:.1f} s); "
            f"properties {len(props)}/{n_props} parse ({parse_s:.1f} s)")
    return line, failures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("categories", nargs="*", help="folders of ../shared/benchmarks/vnncomp (default: all)")
    ap.add_argument("--samples", type=int, default=8, help="inputs compared per model")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="largest relative difference allowed")
    args = ap.parse_args(argv)
    if not ROOT.is_dir():
        print(f"no benchmarks at {ROOT}", file=sys.stderr)
        return 2
    names = args.categories or sorted(p.name for p in ROOT.iterdir() if (p / "instances.csv").is_file())
    rng, failed = np.random.default_rng(0), False
    for name in names:
        line, failures = check(ROOT / name, args.samples, args.tolerance, rng)
        print(line, *failures, sep="\n", flush=True)
        failed |= bool(failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
