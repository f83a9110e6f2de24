#!/usr/bin/env python3
"""How tight and how costly the bounding strategies are, on random networks and on published ones.

For random ReLU, sigmoid and tanh networks (seeded), and for the root of ACAS Xu and MNIST-FC
properties when ../shared/benchmarks is there, prints per network kind the median over instances of:
the lower bound of one objective row by CROWN, by alpha-CROWN (``Optimisation()``: 20 Adam steps), and
the optimum of the LP over the same relaxation (random networks only), the share of the gap between
CROWN and the LP that alpha-CROWN closes, the unstable neurons left at the root by CROWN and by
alpha-CROWN bounds of every neuron, and the seconds each took.

    .venv/bin/python benchmarks/bounds.py [--instances N] [--seed S]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from nnreach.bounds.linear import InputDomain, backward, domain_bounds
from nnreach.bounds.lp_relaxation import RelaxationLP
from nnreach.bounds.optimised import Optimisation, optimise, optimised_bounds
from nnreach.io import load_model
from nnreach.io.vnnlib import read_vnnlib
from nnreach.network import Network, ops
from nnreach.network.simplify import simplify

BENCHMARKS = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"


def dense(rng, activation, depth: int, width: int, n_in: int) -> Network:
    layers, size = [], n_in
    for _ in range(depth):
        layers += [ops.Linear(rng.normal(size=(width, size)) / np.sqrt(size), rng.normal(size=width) * 0.1), activation]
        size = width
    layers.append(ops.Linear(rng.normal(size=(2, size)), rng.normal(size=2)))
    return Network.sequential((n_in,), layers)


def unstable(bounds) -> int:
    return int(sum(((l < 0) & (u > 0)).sum() for l, u in bounds.values()))


def row(name: str, values: dict[str, list[float]]) -> None:
    cells = "  ".join(f"{k} {np.median(v):.4g}" for k, v in values.items() if v)
    print(f"{name:28s} {cells}", flush=True)


def random_networks(count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for act in (ops.Relu(), ops.Sigmoid(), ops.Tanh()):
        stats: dict[str, list[float]] = {k: [] for k in ("crown", "alpha", "lp", "closed", "crown_s", "alpha_s", "lp_s")}
        for _ in range(count):
            net = dense(rng, act, depth=4, width=32, n_in=8)
            c = rng.normal(size=(1, 8))
            dom = InputDomain(c - 0.5, c + 0.5)
            C = rng.normal(size=(1, 2))
            start = time.perf_counter()
            bounds = domain_bounds(net, dom)[0]
            crown = backward(net, dom, net.output, C, bounds).lower[0, 0]
            stats["crown_s"].append(time.perf_counter() - start)
            start = time.perf_counter()
            alpha = optimise(net, dom, net.output, C, bounds, settings=Optimisation())[0].lower[0, 0]
            stats["alpha_s"].append(time.perf_counter() - start)
            start = time.perf_counter()
            lp = RelaxationLP(net).minimum_excess(dom.lo[0], dom.hi[0], {k: (l[0], u[0]) for k, (l, u) in bounds.items()},
                                                  C, np.zeros(1)).value
            stats["lp_s"].append(time.perf_counter() - start)
            stats["crown"].append(crown)
            stats["alpha"].append(alpha)
            stats["lp"].append(lp)
            if lp - crown > 1e-9:
                stats["closed"].append((alpha - crown) / (lp - crown))
        row(f"random 4x32 {act.describe()}", stats)


def published(folder: str, model: str, props: list[str]) -> None:
    path = BENCHMARKS / folder
    if not path.is_dir():
        print(f"{folder}: not found at {path}", file=sys.stderr)
        return
    net = simplify(load_model(path / model))
    stats: dict[str, list[float]] = {k: [] for k in ("unstable_crown", "unstable_alpha", "crown_s", "alpha_s")}
    for prop in props:
        box = read_vnnlib(path / prop)[0].input_box
        dom = InputDomain(box.lo[None], box.hi[None])
        start = time.perf_counter()
        stats["unstable_crown"].append(unstable(domain_bounds(net, dom)[0]))
        stats["crown_s"].append(time.perf_counter() - start)
        start = time.perf_counter()
        stats["unstable_alpha"].append(unstable(optimised_bounds(net, dom)[0]))
        stats["alpha_s"].append(time.perf_counter() - start)
    row(f"{model} root", stats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    random_networks(args.instances, args.seed)
    published("acasxu", "ACASXU_run2a_1_1_batch_2000.onnx", [f"prop_{k}.vnnlib" for k in (1, 2, 3, 4)])
    published("mnistfc", "mnist-net_256x4.onnx", [f"prop_{k}_0.03.vnnlib" for k in range(5)])
    published("mnistfc", "mnist-net_256x6.onnx", [f"prop_{k}_0.03.vnnlib" for k in range(5)])


if __name__ == "__main__":
    main()
