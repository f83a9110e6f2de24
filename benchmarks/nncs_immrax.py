#!/usr/bin/env python3
"""Closed-loop benchmarks side by side with immrax: the same TOML files, the same machine, one run.

    benchmarks/peers/install_immrax.sh                  # once: immrax in its own virtualenv
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/nncs_immrax.py [--timeout S] [NAME ...]

For each benchmark (default: those whose dynamics ``benchmarks/peers/immrax_nncs.py`` has: ACC, single
pendulum, TORA), ``nnreach nncs FILE --timeout S`` runs in its own process, then immrax on the same X0,
controller (its layers and input/output maps exported from the TOML's model), period, steps and safe
sets, in its own process of the peer's virtualenv. Prints verdict and seconds of each, wall time of the
whole process (imports and jax compilation included), and nnreach / immrax. immrax does not
falsify: its verdicts are holds, unknown or timeout. How immrax is used, and why that is looser than
immrax's own closed-loop embedding: ``benchmarks/peers/immrax_nncs.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nnreach.network import ops
from nnreach.nncs.config import load_config
from nnreach.nncs.spec import Polytope

ROOT = Path(__file__).resolve().parents[1]
PEER = Path(os.environ.get("NNREACH_PEERS", Path.home() / ".cache" / "nnreach-peers")) / "immrax" / "bin" / "python"
BENCHMARKS = {"ACC": "acc", "Single pendulum": "single_pendulum", "TORA": "tora"}
"""The benchmarks whose dynamics the immrax adapter has, by name: their files in examples/nncs."""


def layers(net) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """The chain ``(W, b, activation)`` of a network of Linear layers, each followed by ReLU, sigmoid,
    tanh or nothing (flattening reshapes skipped)."""
    out = []
    for node in net.nodes:
        op = node.op
        if isinstance(op, ops.Linear):
            out.append([op.weight, op.bias, "linear"])
        elif type(op).__name__ in ("Relu", "Sigmoid", "Tanh") and out and out[-1][2] == "linear":
            out[-1][2] = type(op).__name__.lower()
        elif type(op).__name__ != "Reshape":
            raise SystemExit(f"the immrax adapter takes chains of dense layers, not {type(op).__name__}")
    return [tuple(layer) for layer in out]


def export(name: str, path: Path) -> None:
    """The benchmark ``name`` as the immrax adapter reads it."""
    pb = load_config(ROOT / "examples" / "nncs" / f"{BENCHMARKS[name]}.toml").problem
    loop = pb.loop
    if pb.spec.avoid or pb.spec.goal is not None or not all(isinstance(w.poly, Polytope) for w in pb.spec.safe):
        raise SystemExit(f"{name}: the immrax adapter checks affine safe sets only")
    np.savez(path, name=name, lo=pb.X0.lo, hi=pb.X0.hi, period=loop.period, steps=pb.steps,
             substeps=pb.reach_options.substeps, in_W=loop.in_W, in_b=loop.in_b, out_W=loop.out_W, out_b=loop.out_b,
             layers=np.array(layers(loop.simplified), dtype=object),
             safe=np.array([(w.poly.H, w.poly.g, w.t0, w.t1) for w in pb.spec.safe], dtype=object))


def run(cmd: list[str], timeout: float) -> tuple[str, float]:
    """The last line of ``cmd``'s output and its wall seconds (``timeout`` when it was killed)."""
    start = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 60).stdout.strip()
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - start
    return (out.splitlines() or ["error"])[-1], time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", default=list(BENCHMARKS), help="benchmarks (default: all three)")
    ap.add_argument("--timeout", type=float, default=300.0, metavar="S")
    args = ap.parse_args()
    if not PEER.exists():
        raise SystemExit(f"immrax is not installed at {PEER}: run benchmarks/peers/install_immrax.sh")
    print(f"{'benchmark':18} {'nnreach':>10} {'s':>8} {'immrax':>10} {'s':>8} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.names:
            problem = Path(tmp) / f"{BENCHMARKS[name]}.npz"
            export(name, problem)
            ours, t_ours = run([sys.executable, "-m", "nnreach.cli", "nncs",
                                str(ROOT / "examples" / "nncs" / f"{BENCHMARKS[name]}.toml"),
                                "--timeout", str(args.timeout)], args.timeout)
            line, t_peer = run([str(PEER), str(ROOT / "benchmarks" / "peers" / "immrax_nncs.py"), str(problem),
                                str(args.timeout)], args.timeout)
            try:
                theirs = json.loads(line)["verdict"]
            except (json.JSONDecodeError, KeyError):
                theirs = "error"
            print(f"{name:18} {ours:>10} {t_ours:8.1f} {theirs:>10} {t_peer:8.1f} {t_ours / t_peer:7.2f}", flush=True)


if __name__ == "__main__":
    main()
