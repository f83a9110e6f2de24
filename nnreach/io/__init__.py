"""Readers for model files (ONNX, .nnet, NNV .mat, torch modules) and properties (VNN-LIB)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError
from ..network.graph import Network


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


def load_model(path: str | os.PathLike) -> Network:
    """Load a network from ``.onnx``, ``.nnet`` or NNV ``.mat`` (chosen by file extension)."""
    p = check_readable(path, "model")
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        from .onnx import load_onnx
        return load_onnx(p)
    if suffix == ".nnet":
        from .nnet import load_nnet
        return load_nnet(p)
    if suffix == ".mat":
        from .mat import load_mat
        return load_mat(p)
    raise InputError(f"unknown model format {suffix or '(no extension)'!r} for {p}: "
                     "expected .onnx, .nnet or .mat")
