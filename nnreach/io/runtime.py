"""ONNX models that only onnxruntime runs: what the sampling method ``conformal`` needs of a model.

nnreach's own graph (:mod:`.onnx`) supports the operators it can bound; a model with others is
refused there. ``conformal`` only executes the model, so for it an ONNX file that onnxruntime loads is
enough: :class:`RuntimeModel` has the sizes and the batched forward pass that the method, the
counterexample check (:mod:`nnreach.verify.check`, which replays ONNX models in onnxruntime anyway)
and :class:`nnreach.verify.problem.Problem` use, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from ..errors import InputError


@dataclass(frozen=True, slots=True)
class RuntimeModel:
    """An ONNX model executed by onnxruntime, with one input and one output tensor.

    Attributes:
        path: the model file.
        input_size: entries of the input tensor without its batch axis.
        output_size: entries of the output tensor without its batch axis.
        nodes: the graph's operator types, in order (for summaries).
    """

    path: str
    input_size: int
    output_size: int
    nodes: tuple[str, ...]

    @classmethod
    def load(cls, path: str) -> "RuntimeModel":
        """The model at ``path``; InputError when onnxruntime cannot load it or its input or output
        has a symbolic axis other than the first (the batch axis)."""
        import onnx

        from ..verify.check import _session
        from . import read_file

        sess = _session(str(path))
        if sess is None:
            raise InputError(f"onnxruntime cannot load {path}")
        if len(sess.get_inputs()) != 1:
            raise InputError(f"{path}: the model has {len(sess.get_inputs())} inputs; one is supported")
        sizes = []
        for what, arg in (("input", sess.get_inputs()[0]), ("output", sess.get_outputs()[0])):
            dims = list(arg.shape)
            if any(not isinstance(d, int) for d in dims[1:]):
                raise InputError(f"{path}: the {what} {arg.name!r} has symbolic axes {dims}")
            sizes.append(prod(dims[1:]) if dims else 1)
        ops = tuple(n.op_type for n in onnx.load_model_from_string(read_file(path, "ONNX model")).graph.node)
        return cls(str(path), sizes[0], sizes[1], ops)

    @property
    def source(self) -> str:
        """The model file, as :attr:`nnreach.Network.source` names a network's."""
        return self.path

    def forward(self, x: np.ndarray, dtype=np.float64) -> np.ndarray:
        """Outputs (batch, output_size) of inputs ``x`` (batch, input_size), computed by onnxruntime in
        the model's own precision and returned as ``dtype``."""
        from ..verify.check import run_onnxruntime

        return run_onnxruntime(self.path, np.asarray(x, dtype=np.float64)).astype(dtype)
