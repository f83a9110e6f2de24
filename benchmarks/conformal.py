#!/usr/bin/env python3
"""``conformal`` beside a sound method on a generated CIFAR-sized ResNet (more than a million parameters).

Builds, from a seed and with numpy and the onnx helper only, a ResNet-style image classifier (input
3x32x32, a batch axis ``N``): a 3x3 convolution stem, four residual blocks (two 3x3 convolutions with
batch normalization and ReLU, the second and later blocks halving the resolution with a 1x1 projection
on the shortcut; 32, 64, 128 and 256 channels), global average pooling and a dense layer to 10
classes: 1.23 million parameters, He-initialised, batch statistics drawn at random. It is written to
``out/conformal/resnet.onnx`` (not committed). Properties: L-inf balls (clipped to [0, 1]) around
random images, unsafe when some class reaches the class the model gives the image.

Per row: ``conformal`` (default coverage 0.99, confidence 0.999, PCA set, ``--jobs`` workers) and then
the sound method (``--method``, default ``auto``, ``--timeout`` seconds); verdict, seconds and the
samples ``conformal`` used. Prints a table and the medians.

    .venv/bin/python benchmarks/conformal.py [--images 2] [--eps 1,2,8] [--method auto] [--timeout 60] [--jobs 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from nnreach.io import load_model
from nnreach.verify.api import verify
from nnreach.verify.check import run_onnxruntime
from nnreach.verify.deadline import Timeout, hard_stop
from nnreach.verify.problem import Problem, linf_ball, robustness_property
from nnreach.verify.result import Result, Status
from nnreach.verify.settings import Settings

OUT = Path(__file__).resolve().parents[1] / "out" / "conformal"
CHANNELS = (32, 64, 128, 256)
CLASSES = 10


class _Builder:
    """Nodes and initializers of an ONNX graph under construction."""

    def __init__(self, rng: np.random.Generator):
        self.rng, self.nodes, self.inits, self.params = rng, [], [], 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(value.astype(np.float32), name))
        self.params += value.size
        return name

    def conv_bn(self, x: str, name: str, c_in: int, c_out: int, k: int, stride: int, relu: bool) -> str:
        w = self.rng.normal(size=(c_out, c_in, k, k)) * np.sqrt(2 / (c_in * k * k))
        self.nodes.append(helper.make_node("Conv", [x, self.const(f"{name}_w", w)], [f"{name}_c"],
                                           kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4))
        bn = [self.const(f"{name}_{p}", v) for p, v in (
            ("scale", self.rng.uniform(0.5, 1.0, c_out)), ("bias", self.rng.normal(size=c_out) * 0.1),
            ("mean", self.rng.normal(size=c_out) * 0.1), ("var", self.rng.uniform(0.5, 1.5, c_out)))]
        out = f"{name}_bn"
        self.nodes.append(helper.make_node("BatchNormalization", [f"{name}_c", *bn], [out]))
        if relu:
            self.nodes.append(helper.make_node("Relu", [out], [f"{name}_r"]))
            out = f"{name}_r"
        return out

    def block(self, x: str, name: str, c_in: int, c_out: int, stride: int) -> str:
        h = self.conv_bn(x, f"{name}a", c_in, c_out, 3, stride, relu=True)
        h = self.conv_bn(h, f"{name}b", c_out, c_out, 3, 1, relu=False)
        short = x if stride == 1 and c_in == c_out else self.conv_bn(x, f"{name}s", c_in, c_out, 1, stride, relu=False)
        self.nodes.append(helper.make_node("Add", [h, short], [f"{name}_sum"]))
        self.nodes.append(helper.make_node("Relu", [f"{name}_sum"], [f"{name}_out"]))
        return f"{name}_out"


def build_resnet(seed: int) -> tuple[onnx.ModelProto, int]:
    """The model and its number of parameters."""
    b = _Builder(np.random.default_rng(seed))
    h = b.conv_bn("input", "stem", 3, CHANNELS[0], 3, 1, relu=True)
    c_in = CHANNELS[0]
    for i, c in enumerate(CHANNELS):
        h = b.block(h, f"block{i}", c_in, c, 1 if i == 0 else 2)
        c_in = c
    b.nodes.append(helper.make_node("GlobalAveragePool", [h], ["pooled"]))
    b.nodes.append(helper.make_node("Flatten", ["pooled"], ["flat"]))
    w = b.const("fc_w", b.rng.normal(size=(CLASSES, c_in)) * np.sqrt(1 / c_in))
    bias = b.const("fc_b", b.rng.normal(size=CLASSES) * 0.1)
    b.nodes.append(helper.make_node("Gemm", ["flat", w, bias], ["output"], transB=1))
    graph = helper.make_graph(b.nodes, "resnet",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", CLASSES])], b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model, b.params


def _run(problem: Problem, method: str, timeout: float | None, settings: Settings) -> Result:
    start = time.perf_counter()
    try:
        with hard_stop(timeout):
            return verify(problem, method, timeout=timeout, settings=settings)
    except Timeout:
        return Result(Status.TIMEOUT, method, time.perf_counter() - start)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--eps", default="1,2,8", help="radii in 1/255, comma-separated")
    p.add_argument("--method", default="auto", help="the sound method beside conformal")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds for the sound method")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "resnet.onnx"
    model, params = build_resnet(args.seed)
    onnx.save(model, path)
    net = load_model(path)
    print(f"model {path}: {params:,} parameters, {len(net.nodes)} nodes (nnreach's graph)", flush=True)
    rng = np.random.default_rng(args.seed + 1)
    settings = Settings(seed=args.seed, jobs=args.jobs)
    rows = []
    header = f"{'row':16s} {'conformal':>15s} {'s':>7s} {'samples':>8s}   {args.method:>10s} {'s':>7s}"
    print(header, flush=True)
    for image_index in range(args.images):
        image = rng.uniform(0, 1, size=3 * 32 * 32)
        label = int(np.argmax(run_onnxruntime(str(path), image[None])[0]))
        for eps in (float(e) for e in args.eps.split(",")):
            prop = robustness_property(linf_ball(image, eps / 255, 0.0, 1.0), label, CLASSES)
            problem = Problem(net, (prop,), str(path))
            conf = _run(problem, "conformal", None, settings)
            sound = _run(problem, args.method, args.timeout, settings)
            name = f"img{image_index} eps {eps:g}/255"
            rows.append((conf, sound))
            print(f"{name:16s} {conf.status.value:>15s} {conf.seconds:7.1f} {conf.stats.get('samples', '-'):>8}   "
                  f"{sound.status.value:>10s} {sound.seconds:7.1f}", flush=True)
    print(f"median seconds: conformal {statistics.median(c.seconds for c, _ in rows):.1f}, "
          f"{args.method} {statistics.median(s.seconds for _, s in rows):.1f}")
    guarantee = next((c.stats["guarantee"] for c, _ in rows if "guarantee" in c.stats), None)
    if guarantee:
        print(f"conformal's guarantee: {guarantee}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
