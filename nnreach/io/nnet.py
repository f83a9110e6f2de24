"""Reader for the ``.nnet`` text format (Stanford / Reluplex "Neural Network File Format", K. Julian 2016).

Layout, after ``//`` comment lines (values separated by commas and/or blanks; a trailing comma is
allowed; blank lines and ``//`` lines are skipped anywhere)::

    n_layers, n_in, n_out, max_layer_size
    n_in, size_1, ..., size_{n_layers - 1}, n_out        (n_layers + 1 layer sizes)
    symmetric flag                                       (unused)
    input minimums                                       (n_in values)
    input maximums                                       (n_in values)
    means                                                (n_in + 1 values; the last is for the outputs)
    ranges                                               (n_in + 1 values; likewise)
    for each layer: size_{k+1} weight rows of size_k values, then size_{k+1} bias lines of one value

The network computes ``x_norm = (x - mean_in) / range_in``, ReLU on every hidden layer, a linear output
layer, and ``y = y_norm * range_out + mean_out``.

Example (a 1 -> 1 network that doubles its input)::

    net = load_nnet("double.nnet")
    net.forward([[3.0]])      # -> array([[6.]])
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import InputError
from ..network.graph import INPUT, Network
from ..network.ops import ElementwiseAffine, Linear, Op, Relu
from . import check_readable, read_file

_SEPARATORS = re.compile(r"[,\s]+")


@dataclass(frozen=True, slots=True)
class NnetFile:
    """The parsed content of a ``.nnet`` file.

    Attributes:
        weights: per layer, an array of shape (size_{k+1}, size_k).
        biases: per layer, an array of shape (size_{k+1},).
        input_min, input_max: the training domain of the inputs, shape (n_in,) each.
        means, ranges: normalisation constants, shape (n_in + 1,) each (the last entry for the outputs);
            zero ranges already replaced by 1.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    input_min: np.ndarray
    input_max: np.ndarray
    means: np.ndarray
    ranges: np.ndarray


def load_nnet(path: str | os.PathLike) -> Network:
    """Load a ``.nnet`` file as a :class:`Network` with per-sample input shape ``(n_in,)``.

    The network is ``[input normalisation] -> (Linear -> Relu) x (n_layers - 1) -> Linear ->
    [output de-normalisation]``; each normalisation is an :class:`ElementwiseAffine` and is left out
    when it is the identity (all means 0, all ranges 1).

    The input minimums and maximums are the domain the network was trained on. They are **not**
    applied as a clip: the network is evaluated as an affine/ReLU function on all of R^n, and
    verification looks only at the property's input box. They are available from :func:`read_nnet`.

    Header interpretation (robust to files such as the ARCH-COMP AINNCS controllers):

    * A line of minimums, maximums, means or ranges may hold a single value, which applies to every
      entry. The AINNCS files write a single ``0`` on each of these lines.
    * A range of 0 is read as 1 ("no scaling"), since dividing by 0 has no meaning. So the AINNCS
      lines ``0`` (means) and ``0`` (ranges) mean no normalisation at all, which is what their ``.onnx``
      copies compute (checked by the tests).
    * Values on the layer-size line after the ``n_layers + 1`` sizes are ignored (the AINNCS files
      repeat the output size there; the reference reader drops the last field of every line).
      The maximum layer size in the first line is not used.

    Raises:
        InputError: with the line number for a malformed file (non-numbers, wrong value counts, layer
            sizes that contradict the header, a truncated file, extra data after the last layer).
    """
    nnet = read_nnet(path)
    return Network.build((nnet.weights[0].shape[1],), _layers(nnet))


def read_nnet(path: str | os.PathLike) -> NnetFile:
    """Parse a ``.nnet`` file into its parts (see :func:`load_nnet` for the interpretation)."""
    p = check_readable(path, ".nnet model")
    reader = _Reader(p)
    n_layers, n_in, n_out = reader.header()
    sizes = reader.layer_sizes(n_layers, n_in, n_out)
    reader.values("symmetric flag", 1)
    input_min = reader.vector("input minimums", n_in)
    input_max = reader.vector("input maximums", n_in)
    means = reader.vector("means", n_in + 1)
    ranges = reader.vector("ranges", n_in + 1)
    weights, biases = [], []
    for k in range(n_layers):
        weights.append(np.array([reader.values(f"layer {k + 1} weight row {i + 1}", sizes[k])
                                 for i in range(sizes[k + 1])]))
        biases.append(np.array([reader.values(f"layer {k + 1} bias {i + 1}", 1)[0]
                                for i in range(sizes[k + 1])]))
    reader.end()
    return NnetFile(tuple(weights), tuple(biases), input_min, input_max, means,
                    np.where(ranges == 0, 1.0, ranges))


def _layers(nnet: NnetFile) -> list[tuple[str, Op, tuple[str, ...]]]:
    """The ``(name, op, inputs)`` chain of the network described by ``nnet``."""
    ops: list[tuple[str, Op]] = []
    mean_in, range_in = nnet.means[:-1], nnet.ranges[:-1]
    if np.any(mean_in != 0) or np.any(range_in != 1):
        ops.append(("normalise_input", ElementwiseAffine(1.0 / range_in, -mean_in / range_in)))
    n_layers = len(nnet.weights)
    for k, (w, b) in enumerate(zip(nnet.weights, nnet.biases), start=1):
        ops.append((f"linear{k}", Linear(w, b)))
        if k < n_layers:
            ops.append((f"relu{k}", Relu()))
    mean_out, range_out = nnet.means[-1], nnet.ranges[-1]
    if mean_out != 0 or range_out != 1:
        ops.append(("denormalise_output", ElementwiseAffine(range_out, mean_out)))
    layers, prev = [], INPUT
    for name, op in ops:
        layers.append((name, op, (prev,)))
        prev = name
    return layers


class _Reader:
    """Reads the data lines of a ``.nnet`` file, reporting errors with the file and line number."""

    def __init__(self, path: Path):
        self.path = path
        text = read_file(path, ".nnet model").decode("utf-8", errors="replace")
        self._lines = self._data_lines(text)
        self._n_lines = len(text.splitlines())
        self._last = 0

    @staticmethod
    def _data_lines(text: str) -> Iterator[tuple[int, list[str]]]:
        """``(line number, fields)`` of every line that is neither blank nor a ``//`` comment."""
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            fields = [] if stripped.startswith("//") else [f for f in _SEPARATORS.split(stripped) if f]
            if fields:
                yield number, fields

    def error(self, message: str, line: int | None = None) -> InputError:
        return InputError(f"{self.path}:{self._last if line is None else line}: {message}")

    def _next(self, what: str) -> list[str]:
        try:
            self._last, fields = next(self._lines)
        except StopIteration:
            raise InputError(f"{self.path}: file ends after line {self._n_lines} while reading {what} "
                             "(truncated .nnet file)") from None
        return fields

    def header(self) -> tuple[int, int, int]:
        """The first data line: ``n_layers, n_in, n_out`` (the maximum layer size is not used)."""
        fields = self._next("the header (n_layers, n_in, n_out, max_layer_size)")
        if len(fields) != 4:
            raise self.error(f"expected 4 header values (n_layers, n_in, n_out, max_layer_size), "
                             f"got {len(fields)}")
        n_layers, n_in, n_out, _ = (self._count(f) for f in fields)
        return n_layers, n_in, n_out

    def layer_sizes(self, n_layers: int, n_in: int, n_out: int) -> list[int]:
        fields = self._next("the layer sizes")
        if len(fields) < n_layers + 1:
            raise self.error(f"expected {n_layers + 1} layer sizes for {n_layers} layers, got {len(fields)}")
        sizes = [self._count(f) for f in fields[:n_layers + 1]]
        if sizes[0] != n_in or sizes[-1] != n_out:
            raise self.error(f"layer sizes {sizes} do not start with the input size {n_in} "
                             f"and end with the output size {n_out} of the header")
        return sizes

    def values(self, what: str, n: int) -> list[float]:
        """The next line as exactly ``n`` finite numbers."""
        fields = self._next(what)
        if len(fields) != n:
            raise self.error(f"expected {n} value(s) for {what}, got {len(fields)}")
        return [self._number(f) for f in fields]

    def vector(self, what: str, n: int) -> np.ndarray:
        """The next line as ``n`` numbers, or as one number that applies to all ``n`` entries."""
        fields = self._next(what)
        if len(fields) not in (1, n):
            raise self.error(f"expected {n} value(s) (or a single one for all) for {what}, got {len(fields)}")
        return np.broadcast_to(np.array([self._number(f) for f in fields]), (n,)).copy()

    def end(self) -> None:
        extra = next(self._lines, None)
        if extra is not None:
            raise self.error("unexpected data after the last layer's biases", line=extra[0])

    def _number(self, field: str) -> float:
        try:
            value = float(field)
        except ValueError:
            raise self.error(f"expected a number, got {field!r}") from None
        if not math.isfinite(value):
            raise self.error(f"expected a finite number, got {field!r}")
        return value

    def _count(self, field: str) -> int:
        try:
            value = int(field)
        except ValueError:
            raise self.error(f"expected a positive integer, got {field!r}") from None
        if value < 1:
            raise self.error(f"expected a positive integer, got {field!r}")
        return value
