"""Independent confirmation of counterexamples before they are reported.

A candidate input is first moved into the property's box, to float32 values where the box allows it
(models run in float32), then executed: ONNX models in onnxruntime (an implementation independent of nnreach), other
models, and ONNX models that onnxruntime refuses to load (e.g. an old opset with a rank-4 Gemm), by
nnreach's own forward pass in float32 and float64, which must both find the output unsafe.
"""

from __future__ import annotations

import sys
from functools import lru_cache

import numpy as np

from ..io import is_gzip, model_format, read_file
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
    """An onnxruntime session for the model (a gzip-compressed one decompressed in memory: onnxruntime
    opens only plain files), or None when onnxruntime cannot load it."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 4
    try:
        model = read_file(model_path, "ONNX model") if is_gzip(model_path) else model_path
        return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for models it cannot run
        print(f"nnreach: warning: onnxruntime cannot load {model_path} ({str(e).splitlines()[0][:200]}); "
              "counterexamples are checked by nnreach's own forward pass", file=sys.stderr)
        return None


def drop_sessions() -> None:
    """Forget the cached onnxruntime sessions (a forked worker must make its own)."""
    _session.cache_clear()


_ORT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64}


def run_onnxruntime(model_path: str, x: np.ndarray) -> np.ndarray | None:
    """Outputs of the ONNX model for a batch ``x`` (batch, n_in), flattened to (batch, n_out); None
    when onnxruntime cannot load the model. The batch runs at once when the model's first input axis
    is symbolic and the model accepts that, else one sample at a time."""
    sess = _session(model_path)
    if sess is None:
        return None
    inp = sess.get_inputs()[0]
    dims = [d if isinstance(d, int) else 1 for d in inp.shape]
    dtype = _ORT_TYPES.get(inp.type, np.float32)
    if len(x) > 1 and dims and not isinstance(inp.shape[0], int):
        try:
            y = sess.run(None, {inp.name: x.astype(dtype).reshape([len(x), *dims[1:]])})[0]
            return np.asarray(y, dtype=np.float64).reshape(len(x), -1)
        except Exception:  # noqa: BLE001  a symbolic first axis that is not a batch axis: one at a time
            pass
    outs = []
    for row in x:  # one sample at a time: the batch axis may be fixed to 1 in the model
        outs.append(np.asarray(sess.run(None, {inp.name: row.astype(dtype).reshape(dims)})[0]).ravel())
    return np.array(outs, dtype=np.float64)


def confirm(problem: Problem, index: int, x: np.ndarray) -> Counterexample | None:
    """A checked counterexample for property ``index`` near candidate ``x`` (n_in,), or None."""
    prop = problem.properties[index]
    x = np.clip(np.asarray(x, dtype=np.float64), prop.input_box.lo, prop.input_box.hi)
    inside32 = float32_inside(x, prop.input_box)
    # Boxes with a bound that no float32 can meet (a fixed input of 1.4, say) keep the float64 point;
    # the float32 model then runs on its nearest float32 rounding, as any caller of the model would.
    x = x if inside32 is None else inside32
    path = problem.model_path
    y = run_onnxruntime(path, x[None]) if path is not None and model_format(path) == ".onnx" else None
    if y is not None:
        return Counterexample(x, y[0], index, "onnxruntime") if prop.is_unsafe(y)[0] else None
    y32 = problem.network.forward(x[None].astype(np.float32), dtype=np.float32)[0].astype(np.float64)
    y64 = problem.network.forward(x[None])[0]
    if prop.is_unsafe(y32)[0] and prop.is_unsafe(y64)[0]:
        return Counterexample(x, y64, index, "nnreach")
    return None


CANDIDATES = 4
"""Candidates of one batch that :func:`confirm_some` tries at most (each runs the model again)."""


def confirm_some(problem: Problem, index: int, x: np.ndarray, unsafe: np.ndarray, stats: dict) -> Counterexample | None:
    """The first checked counterexample among the candidates ``x`` (k, n_in) whose outputs were found
    ``unsafe`` (k,) by a forward pass, trying at most :data:`CANDIDATES`; tries are counted in
    ``stats["confirm_calls"]``."""
    for h in np.flatnonzero(unsafe)[:CANDIDATES]:
        stats["confirm_calls"] = stats.get("confirm_calls", 0) + 1
        ce = confirm(problem, index, x[h])
        if ce is not None:
            return ce
    return None
