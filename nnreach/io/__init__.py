"""Readers for model files (ONNX, .nnet, NNV .mat, torch modules) and properties (VNN-LIB)."""

from __future__ import annotations

import gzip
import os
import sys
import zlib
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


def is_gzip(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a gzip-compressed file: its name ends in ``.gz`` (any case)."""
    return os.fspath(path).lower().endswith(".gz")


def model_format(path: str | os.PathLike) -> str:
    """The format extension of a model file, lower case and without a final ``.gz``: ``".onnx"`` for
    ``net.onnx`` and ``net.ONNX.gz``, ``""`` for none."""
    return os.path.splitext(os.fspath(path).lower().removesuffix(".gz"))[1]


def read_file(path: str | os.PathLike, what: str) -> bytes:
    """The contents of the file ``path``, decompressed when :func:`is_gzip`; InputError naming ``what``
    and the file when it cannot be read or is not a valid gzip file."""
    try:
        if is_gzip(path):
            with gzip.open(path) as f:
                return f.read()
        return Path(path).read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:  # bad header or CRC, truncated, corrupt data
        raise InputError(f"cannot read {what} {os.fspath(path)}: not a valid gzip file ({e})") from None
    except OSError as e:
        raise InputError(f"cannot read {what} {os.fspath(path)}: {e.strerror or e}") from None


Model = Union[str, os.PathLike, Network, "torch.nn.Module"]
"""What the public functions accept as a model: a model file's path, a loaded :class:`Network`, or a
PyTorch module (exported to ONNX, see :func:`nnreach.io.torch.export_torch`)."""


def load_model(model: Model, input_shape: int | Sequence[int] | None = None) -> Network:
    """The network of ``model``.

    Args:
        model: a path (``str`` or ``os.PathLike``) to an ``.onnx``, ``.nnet`` or NNV ``.mat`` file
            or one of them gzip-compressed (``.onnx.gz``; chosen by extension), a :class:`Network`
            (returned as it is), or a ``torch.nn.Module`` (exported to a temporary ONNX file and read
            from it, see :func:`nnreach.io.torch.export_torch`).
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
    suffix = model_format(p)
    if suffix == ".onnx":
        from .onnx import load_onnx as read
    elif suffix == ".nnet":
        from .nnet import load_nnet as read
    elif suffix == ".mat":
        from .mat import load_mat as read
    else:
        raise InputError(f"unknown model format {suffix or '(no extension)'!r} for {p}: "
                         "expected .onnx, .nnet or .mat, each optionally .gz")
    return replace(read(p), source=str(p))


def is_torch_module(model) -> bool:
    """Whether ``model`` is a ``torch.nn.Module``, without importing torch (an object can only be one
    when torch is imported already)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)
