"""Independent confirmation of counterexamples before they are reported.

A candidate input is first moved to the nearest float32 values inside the property's box (models run in
float32), then executed: ONNX models in onnxruntime (an implementation independent of nnreach), other
models by nnreach's own forward pass in float32 and float64 (both must agree that the output is unsafe).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..sets.box import Box
from .problem import Problem
from .result import Counterexample


def float32_inside(x: np.ndarray, box: Box) -> np.ndarray | None:
    """``x`` rounded to float32 values that still lie in ``box``, as float64; None if none exists."""
    x32 = np.clip(x, box.lo, box.hi).astype(np.float32)
    low = x32 < box.lo
    x32[low] = np.nextafter(x32[low], np.float32(np.inf))
    high = x32 > box.hi
    x32[high] = np.nextafter(x32[high], np.float32(-np.inf))
    x64 = x32.astype(np.float64)
    if np.any(x64 < box.lo) or np.any(x64 > box.hi):
        return None
    return x64


@lru_cache(maxsize=8)
def _session(model_path: str):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])


_ORT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64}


def run_onnxruntime(model_path: str, x: np.ndarray) -> np.ndarray:
    """Outputs of the ONNX model for a batch ``x`` (batch, n_in), flattened to (batch, n_out)."""
    sess = _session(model_path)
    inp = sess.get_inputs()[0]
    dims = [d if isinstance(d, int) else 1 for d in inp.shape]
    dtype = _ORT_TYPES.get(inp.type, np.float32)
    outs = []
    for row in x:  # one sample at a time: the batch axis may be fixed to 1 in the model
        outs.append(np.asarray(sess.run(None, {inp.name: row.astype(dtype).reshape(dims)})[0]).ravel())
    return np.array(outs, dtype=np.float64)


def confirm(problem: Problem, index: int, x: np.ndarray) -> Counterexample | None:
    """A checked counterexample for property ``index`` near candidate ``x`` (n_in,), or None."""
    prop = problem.properties[index]
    x = float32_inside(np.asarray(x, dtype=np.float64), prop.input_box)
    if x is None:
        return None
    path = problem.model_path
    if path is not None and path.lower().endswith(".onnx"):
        y = run_onnxruntime(path, x[None])[0]
        return Counterexample(x, y, index, "onnxruntime") if prop.is_unsafe(y)[0] else None
    y32 = problem.network.forward(x[None].astype(np.float32), dtype=np.float32)[0].astype(np.float64)
    y64 = problem.network.forward(x[None])[0]
    if prop.is_unsafe(y32)[0] and prop.is_unsafe(y64)[0]:
        return Counterexample(x, y64, index, "nnreach")
    return None
