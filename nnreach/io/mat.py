"""Reader for NNV-style MATLAB ``.mat`` weight files of fully connected networks.

Such a file holds three variables:

* ``W``: a cell array of weight matrices, layer ``k`` of shape (out_k, in_k);
* ``b``: a cell array of bias vectors, layer ``k`` of out_k entries (column or row);
* ``act_fcns`` (``act`` in some of NNV's own files): the activation of every layer, as a char matrix
  (rows padded with blanks) or a cell array of strings.

A single layer may also be stored as a plain matrix instead of a one-element cell array. MATLAB v4-v7
files are read with :func:`scipy.io.loadmat`; v7.3 (HDF5) files are not supported (re-save them with
``save(..., '-v7')``).

Example::

    net = load_mat("controller_5_20.mat")      # ACC: 5 -> 20x5 (ReLU) -> 1
    net.forward(np.zeros((1, 5)))
"""

from __future__ import annotations

import io
import os
import zlib
from typing import Callable

import numpy as np
import scipy.io
from scipy.io.matlab import MatReadError

from ..errors import InputError, UnsupportedError
from ..network.graph import INPUT, Network
from ..network.ops import Clip, Linear, Op, Relu, Sigmoid, Tanh
from . import check_readable, read_file

ACTIVATION_NAMES: dict[str, Callable[[], Op] | None] = {
    "relu": Relu, "poslin": Relu,
    "linear": None, "purelin": None, "identity": None,
    "tanh": Tanh, "tansig": Tanh,
    "sigmoid": Sigmoid, "logsig": Sigmoid,
    "satlin": lambda: Clip(0.0, 1.0),
    "satlins": lambda: Clip(-1.0, 1.0),
}
"""Activation names (lower case) understood in ``act_fcns``; ``None`` means the identity."""
ACTIVATION_VARIABLES = ("act_fcns", "act")
"""The names the variable of the activations may have, the first preferred when both are present."""


def load_mat(path: str | os.PathLike) -> Network:
    """Load an NNV ``.mat`` weight file as a :class:`Network` with per-sample input shape ``(in_1,)``.

    Every layer becomes a :class:`Linear` followed by its activation (nothing for ``linear`` /
    ``purelin``); see :data:`ACTIVATION_NAMES` for the accepted names (case and padding blanks are
    ignored).

    Raises:
        InputError: the file cannot be read as a MATLAB v4-v7 file, a variable is missing, or the
            shapes of a layer do not fit (the message names the layer, counted from 1).
        UnsupportedError: listing every layer whose activation name is unknown.
    """
    p = check_readable(path, "NNV .mat model")
    data = _loadmat(p)
    weights = [_matrix(w, f"W{{{k}}}", p) for k, w in enumerate(_cells(data, "W", p), start=1)]
    biases = [_vector(b, f"b{{{k}}}", p) for k, b in enumerate(_cells(data, "b", p), start=1)]
    act = next((v for v in ACTIVATION_VARIABLES if v in data), ACTIVATION_VARIABLES[0])
    names = _strings(_variable(data, act, p), act, p)
    _check_shapes(weights, biases, names, act, p)
    activations = _activations(names, p)
    layers, prev = [], INPUT
    for k, (w, b, act) in enumerate(zip(weights, biases, activations), start=1):
        layers.append((f"linear{k}", Linear(w, b), (prev,)))
        prev = f"linear{k}"
        if act is not None:
            layers.append((f"{names[k - 1]}{k}", act(), (prev,)))
            prev = f"{names[k - 1]}{k}"
    return Network.build((weights[0].shape[1],), layers)


def _loadmat(path) -> dict:
    try:
        return scipy.io.loadmat(io.BytesIO(read_file(path, "NNV .mat model")))
    except NotImplementedError:
        raise InputError(f"{path}: MATLAB v7.3 (HDF5) .mat files are not supported; "
                         "re-save it in MATLAB with save(..., '-v7')") from None
    except MemoryError:   # a corrupt header that claims a huge matrix
        raise InputError(f"{path}: not a readable MATLAB .mat file (a variable's header claims more data "
                         "than can be read)") from None
    except (MatReadError, ValueError, TypeError, OSError, EOFError, IndexError, KeyError, zlib.error) as e:
        raise InputError(f"{path}: not a readable MATLAB .mat file ({type(e).__name__}: {e})") from None


def _variable(data: dict, name: str, path) -> np.ndarray:
    if name not in data:
        present = sorted(k for k in data if not k.startswith("__"))
        raise InputError(f"{path}: variable {name!r} is missing (NNV weight files need W, b and act_fcns or act; "
                         f"found {present or 'none'})")
    return data[name]


def _cells(data: dict, name: str, path) -> list:
    """The elements of the cell array ``name`` in order (a plain numeric matrix counts as one cell)."""
    value = _variable(data, name, path)
    if value.dtype != object:
        return [value]
    cells = list(value.flatten(order="F"))
    if not cells:
        raise InputError(f"{path}: cell array {name!r} is empty")
    return cells


def _numeric(value, what: str, path) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf" or arr.size == 0:
        raise InputError(f"{path}: {what} must be a non-empty real numeric array, got {arr.dtype} "
                         f"of shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{path}: {what} contains NaN or infinite values")
    return arr


def _matrix(value, what: str, path) -> np.ndarray:
    arr = _numeric(value, what, path)
    if arr.ndim != 2:
        raise InputError(f"{path}: {what} must be a matrix (out x in), got shape {arr.shape}")
    return arr


def _vector(value, what: str, path) -> np.ndarray:
    arr = _numeric(value, what, path)
    if sum(d > 1 for d in arr.shape) > 1:
        raise InputError(f"{path}: {what} must be a vector, got shape {arr.shape}")
    return arr.ravel()


def _strings(value, name: str, path) -> list[str]:
    """The lower-case strings in a char matrix, a cell array of strings or a single string, in order
    (``name``: the variable, for messages)."""
    arr = np.asarray(value)
    if arr.dtype == object:
        return [s for cell in arr.flatten(order="F") for s in _strings(cell, name, path)]
    if arr.dtype.kind != "U":
        raise InputError(f"{path}: {name} must hold activation names (strings), got {arr.dtype} values")
    return [str(s).strip().lower() for s in arr.ravel()]


def _check_shapes(weights: list[np.ndarray], biases: list[np.ndarray], names: list[str], act: str, path) -> None:
    if not len(weights) == len(biases) == len(names):
        raise InputError(f"{path}: W has {len(weights)} layers, b has {len(biases)} and {act} "
                         f"has {len(names)}; they must be equal")
    for k, (w, b) in enumerate(zip(weights, biases), start=1):
        if b.shape[0] != w.shape[0]:
            raise InputError(f"{path}: layer {k}: b{{{k}}} has {b.shape[0]} entries but W{{{k}}} has "
                             f"{w.shape[0]} rows")
        if k > 1 and w.shape[1] != weights[k - 2].shape[0]:
            raise InputError(f"{path}: layer {k}: W{{{k}}} has {w.shape[1]} columns but layer {k - 1} "
                             f"has {weights[k - 2].shape[0]} outputs")


def _activations(names: list[str], path) -> list[Callable[[], Op] | None]:
    unknown = [f"layer {k}: {name!r}" for k, name in enumerate(names, start=1) if name not in ACTIVATION_NAMES]
    if unknown:
        raise UnsupportedError(f"{path}: unsupported activation(s) {', '.join(unknown)}; supported: "
                               f"{', '.join(sorted(ACTIVATION_NAMES))}")
    return [ACTIVATION_NAMES[name] for name in names]
