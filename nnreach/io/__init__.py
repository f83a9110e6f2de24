"""Readers for model files (ONNX, .nnet, NNV .mat, torch modules) and properties (VNN-LIB)."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Sequence, Union

from ..errors import InputError
from ..network.graph import Network

if TYPE_CHECKING:
    import torch


def check_readable(path: str | os.PathLike, what: str) -> Path:
    """Return ``path`` as a Path, or raise InputError when it is missing, a directory or unreadable."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} file not found: {p}")
    if p.is_dir():
        raise InputError(f"{what} path is a directory, not a file: {p}")
    if not os.access(p, os.R_OK):
        raise InputError(f"{what} file is not readable: {p}")
    return p


Model = Union[str, os.PathLike, Network, "torch.nn.Module"]
"""What the public functions accept as a model: a model file's path, a loaded :class:`Network`, or a
PyTorch module (exported to ONNX, see :func:`nnreach.io.torch.export_torch`)."""


def load_model(model: Model, input_shape: int | Sequence[int] | None = None) -> Network:
    """The network of ``model``.

    Args:
        model: a path (``str`` or ``os.PathLike``) to an ``.onnx``, ``.nnet`` or NNV ``.mat`` file
            (chosen by extension), a :class:`Network` (returned as it is), or a ``torch.nn.Module``
            (exported to a temporary ONNX file and read from it, see
            :func:`nnreach.io.torch.export_torch`).
        input_shape: for a torch module only: the per-sample input shape, e.g. ``(1, 28, 28)``
            (default: inferred from a first ``Linear`` layer).
    Returns:
        The network; read from a file, its ``source`` is that file.
    Raises:
        InputError: a missing or unreadable file, an unknown extension, a model of another type, or
            ``input_shape`` given for a model that is not a torch module.
    """
    if is_torch_module(model):
        from .torch import export_torch
        return export_torch(model, input_shape)
    if input_shape is not None:
        raise InputError("input_shape applies only to torch modules: a model file or Network has "
                         "its own input shape")
    if isinstance(model, Network):
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise InputError(f"model: expected a path (str or os.PathLike), a nnreach Network or a "
                         f"torch.nn.Module, got {type(model).__name__}")
    p = check_readable(model, "model")
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        from .onnx import load_onnx as read
    elif suffix == ".nnet":
        from .nnet import load_nnet as read
    elif suffix == ".mat":
        from .mat import load_mat as read
    else:
        raise InputError(f"unknown model format {suffix or '(no extension)'!r} for {p}: "
                         "expected .onnx, .nnet or .mat")
    return replace(read(p), source=str(p))


def is_torch_module(model) -> bool:
    """Whether ``model`` is a ``torch.nn.Module``, without importing torch (an object can only be one
    when torch is imported already)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)
