#!/usr/bin/env python3
"""Bounds through large sparse dense-layers (as in tllverifybench): a generated ONNX model, 2 inputs ->
2048 -> 8192 -> 2048 -> 1 with ReLUs, the two middle weights at 0.05 % density, loaded as nnreach loads
it (sparse maps) and with those layers forced dense, side by side: seconds of the load and of the first
``interval``, ``zono`` and ``deeppoly`` reach (median of ``--repeat`` fresh loads), and the bounds, which
must agree.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/sparse_layers.py [--repeat 3] [--density 0.0005]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from nnreach.io import onnx as reader
from nnreach.reach import reach
from nnreach.sets import Box

METHODS = ("interval", "zono", "deeppoly")


def model(density: float, seed: int = 0) -> onnx.ModelProto:
    """The generated network (float32 weights)."""
    rng = np.random.default_rng(seed)
    sizes = (2, 2048, 8192, 2048, 1)
    nodes, inits, prev = [], [], "x"
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = rng.normal(size=(n_out, n_in)) / np.sqrt(n_in)
        if 0 < k < len(sizes) - 2:
            w = np.where(rng.random(w.shape) < density, w / np.sqrt(density), 0.0)
        inits += [numpy_helper.from_array(w.astype(np.float32), f"W{k}"),
                  numpy_helper.from_array(rng.normal(size=n_out).astype(np.float32) * 0.1, f"b{k}")]
        nodes.append(helper.make_node("Gemm", [prev, f"W{k}", f"b{k}"], [f"h{k}"], transB=1))
        prev = f"h{k}"
        if k < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [prev], [f"r{k}"]))
            prev = f"r{k}"
    graph = helper.make_graph(nodes, "sparse", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 1])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def measure(path: Path, repeat: int) -> dict[str, tuple[float, tuple]]:
    """Median seconds of the load and of each method's first reach on a fresh load, and its bounds."""
    box = Box(-np.ones(2), np.ones(2))
    times: dict[str, list[float]] = {"load": [], **{m: [] for m in METHODS}}
    bounds = {}
    for _ in range(repeat):
        start = time.perf_counter()
        net = reader.load_onnx(path)
        times["load"].append(time.perf_counter() - start)
        for m in METHODS:
            net = reader.load_onnx(path)            # a fresh network: nothing derived yet
            start = time.perf_counter()
            lo, hi = reach(net, box, m).bounds()
            times[m].append(time.perf_counter() - start)
            bounds[m] = (float(lo[0]), float(hi[0]))
    return {k: (statistics.median(v), bounds.get(k)) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--density", type=float, default=0.0005)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sparse.onnx"
        onnx.save(model(args.density), path)
        sparse = measure(path, args.repeat)
        kept = reader.SPARSE_SIZE
        reader.SPARSE_SIZE = float("inf")                 # every layer dense, as before
        try:
            dense = measure(path, args.repeat)
        finally:
            reader.SPARSE_SIZE = kept
    print(f"{'':10} {'sparse s':>9} {'dense s':>9} {'ratio':>7}  bounds (sparse | dense)")
    for k in ("load", *METHODS):
        (s, bs), (d, bd) = sparse[k], dense[k]
        print(f"{k:10} {s:9.3f} {d:9.3f} {s / d:7.3f}  {bs or ''} | {bd or ''}")


if __name__ == "__main__":
    main()
