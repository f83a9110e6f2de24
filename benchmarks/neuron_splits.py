#!/usr/bin/env python3
"""``bab``'s neuron-split search under other configurations, side by side on one instance: the
default (:data:`nnreach.verify.bab.NEURON_SPLITS`) and variants that each change one choice. Prints
per configuration the verdict, the seconds and the domains bounded (of which by a lookahead).

    .venv/bin/python benchmarks/neuron_splits.py MODEL PROPERTY [--timeout S] [--only NAME ...]
    .venv/bin/python benchmarks/neuron_splits.py ../shared/benchmarks/vnncomp/oval21/onnx/cifar_base_kw.onnx \\
        ../shared/benchmarks/vnncomp/oval21/vnnlib/cifar_base_kw-img4763-eps0.024705882352941175.vnnlib

Run it with ``OPENBLAS_NUM_THREADS=1`` next to other jobs: the configurations run one after the other.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from nnreach import Problem, load_model, read_vnnlib
from nnreach.bounds.optimised import Optimisation
from nnreach.network.simplify import simplify
from nnreach.verify.bab import NEURON_SPLITS as DEFAULT
from nnreach.verify.deadline import Deadline, Timeout
from nnreach.verify.search import NeuronSplit, decide
from nnreach.verify.settings import Settings

VARIANTS = {
    "default": DEFAULT,
    "best score, no lookahead": replace(DEFAULT, branching=NeuronSplit()),
    "lookahead of 3": replace(DEFAULT, branching=replace(DEFAULT.branching, neurons=3)),
    "10 alpha/beta steps": replace(DEFAULT, bounding=replace(DEFAULT.bounding, optimisation=Optimisation(steps=10))),
    "recompute 2 nodes after a split": replace(DEFAULT, bounding=replace(DEFAULT.bounding, recompute=2)),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("property")
    ap.add_argument("--timeout", type=float, default=180.0)
    ap.add_argument("--only", nargs="*", choices=list(VARIANTS), help="configurations to run (default: all)")
    args = ap.parse_args()
    net = simplify(load_model(args.model))
    problem = Problem(net, tuple(read_vnnlib(args.property)), args.model)
    for name in args.only or VARIANTS:
        start = time.perf_counter()
        try:
            r = decide(problem, net, VARIANTS[name], Settings(), Deadline(args.timeout), "bab")
            status, stats = r.status.value, r.stats
        except Timeout:
            status, stats = "timeout", {}
        seconds = time.perf_counter() - start
        domains, lookahead = stats.get("domains", "-"), stats.get("lookahead", "-")
        print(f"{name:34s} {status:9s} {seconds:8.1f} s  domains {domains} (lookahead {lookahead})", flush=True)


if __name__ == "__main__":
    main()
