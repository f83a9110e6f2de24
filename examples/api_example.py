"""The Python API on the bundled example: build a problem without a VNN-LIB file and verify it."""

from pathlib import Path

import numpy as np

import nnreach

HERE = Path(__file__).resolve().parent

net = nnreach.load_model(HERE / "models" / "tiny_relu.onnx")
box = nnreach.linf_ball(np.array([0.25, 0.25]), 0.25)              # inputs in [0, 0.5]^2
prop = nnreach.halfspace_property(box, A=[[-1.0, 0.0]], b=[-0.3])   # unsafe: -y0 <= -0.3, i.e. y0 >= 0.3
problem = nnreach.Problem(net, prop)   # counterexamples are replayed on the .onnx file by onnxruntime

for method in ("interval", "zono", "auto"):
    result = nnreach.verify(problem, method, timeout=10)
    print(f"{method:>8}: {result.status.value} in {result.seconds:.3f} s")

out = nnreach.reach(net, box, "zono")
lo, hi = out.bounds()
print("zonotope output bounds:", np.round(lo, 4), np.round(hi, 4))
