"""Verification problems: a network, an input region and an unsafe output region."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..io import load_model
from ..io.runtime import RuntimeModel
from ..sets.box import Box
from ..sets.polytope import HPolytope

if TYPE_CHECKING:
    from ..network.graph import Network


@dataclass(frozen=True, slots=True)
class Property:
    """One input box and the unsafe outputs for it.

    The property is *violated* when some ``x`` in ``input_box`` has an output ``y`` inside at least
    one of the ``unsafe`` polytopes (a disjunction of ``A y <= b``); it *holds* otherwise.

    Attributes:
        input_box: the inputs to consider, dimension = the network's (flattened) input size.
        unsafe: the unsafe output region, a non-empty disjunction of polytopes over the flattened output.
    """

    input_box: Box
    unsafe: tuple[HPolytope, ...]

    def __post_init__(self):
        if not self.unsafe:
            raise ValueError("Property.unsafe must hold at least one polytope")
        dims = {p.dim for p in self.unsafe}
        if len(dims) != 1:
            raise ValueError(f"unsafe polytopes disagree on the output dimension: {sorted(dims)}")

    @property
    def input_dim(self) -> int:
        return self.input_box.dim

    @property
    def output_dim(self) -> int:
        return self.unsafe[0].dim

    def is_unsafe(self, y: np.ndarray, tol: float = 0.0) -> np.ndarray:
        """Which outputs lie in the unsafe region. ``y``: shape (batch, m) -> bool array (batch,)."""
        y = np.atleast_2d(y)
        hit = np.zeros(y.shape[0], dtype=bool)
        for p in self.unsafe:
            hit |= np.all(y @ p.A.T <= p.b + tol, axis=1)
        return hit


@dataclass(frozen=True, slots=True)
class Problem:
    """A network together with the properties to check (violated if any property is violated).

    ``Problem(model, properties, model_path=None)`` takes the model as :func:`nnreach.load_model` does
    (a path, a :class:`Network` or a torch module whose input shape follows from a first ``Linear``
    layer; for other modules give ``nnreach.load_model(module, input_shape)``) and the properties as
    one :class:`Property` or an iterable of them (``read_vnnlib``'s list); they are stored as a
    Network and a tuple.

    Attributes:
        network: the network under test.
        properties: one or more :class:`Property`; a VNN-LIB file with several input regions gives several.
        model_path: the model file counterexamples are replayed on (ONNX files in onnxruntime, see
            :mod:`nnreach.verify.check`); default: the file the network was read from
            (``network.source``), None for a network built in Python, whose counterexamples are then
            checked by nnreach's own forward pass (``checked_by == "nnreach"``).
    """

    network: "Network"
    properties: tuple[Property, ...]
    model_path: str | None = None

    def __post_init__(self):
        if not isinstance(self.network, RuntimeModel):
            object.__setattr__(self, "network", load_model(self.network))
        object.__setattr__(self, "properties", _properties(self.properties))
        if self.model_path is None:
            object.__setattr__(self, "model_path", self.network.source)
        elif not isinstance(self.model_path, (str, os.PathLike)):
            raise InputError(f"model_path: expected a path (str or os.PathLike) or None, got "
                             f"{type(self.model_path).__name__}")
        else:
            object.__setattr__(self, "model_path", os.fspath(self.model_path))
        n_in, n_out = self.network.input_size, self.network.output_size
        for k, prop in enumerate(self.properties):
            if prop.input_dim != n_in:
                raise InputError(
                    f"the property declares {prop.input_dim} inputs but the model has {n_in} inputs"
                    + (f" (input region {k})" if len(self.properties) > 1 else ""))
            if prop.output_dim != n_out:
                raise InputError(
                    f"the property constrains {prop.output_dim} outputs but the model has {n_out} outputs")


def _properties(properties) -> tuple[Property, ...]:
    """``properties`` (a Property or an iterable of them) as a non-empty tuple, or InputError."""
    if isinstance(properties, Property):
        return (properties,)
    expected = "expected a Property or a sequence of Property"
    if isinstance(properties, (str, bytes, os.PathLike)):
        raise InputError(f"properties: {expected}, got {type(properties).__name__} "
                         "(read a VNN-LIB file with nnreach.read_vnnlib)")
    try:
        props = tuple(properties)
    except TypeError:
        raise InputError(f"properties: {expected}, got {type(properties).__name__}") from None
    if not props:
        raise InputError("properties: empty; a problem needs at least one Property")
    wrong = [type(p).__name__ for p in props if not isinstance(p, Property)]
    if wrong:
        raise InputError(f"properties: {expected}, got a sequence holding {wrong[0]}")
    return props


def linf_ball(center: np.ndarray, eps: float, lo: float | None = None, hi: float | None = None) -> Box:
    """The L-inf ball ``{x : |x - center|_inf <= eps}``, intersected with ``[lo, hi]`` per entry if given.

    ``center`` may have any shape; it is flattened.
    """
    if not eps >= 0:
        raise InputError(f"epsilon must be non-negative, got {eps}")
    c = np.asarray(center, dtype=np.float64).ravel()
    low, high = c - eps, c + eps
    if lo is not None:
        low = np.maximum(low, lo)
    if hi is not None:
        high = np.minimum(high, hi)
    return Box(low, high)


def predicted_class(network, x: np.ndarray) -> int:
    """The class ``network`` gives the input ``x`` (any shape, flattened): its largest output, by the
    network's own forward pass."""
    return int(np.argmax(network.forward(np.reshape(x, (1, -1)))[0]))


def robustness_property(input_box: Box, label: int, n_outputs: int) -> Property:
    """Classification robustness: unsafe when some other output ``j`` reaches ``y_j >= y_label``."""
    if not 0 <= label < n_outputs:
        raise InputError(f"label {label} is not one of the {n_outputs} outputs")
    polys = []
    for j in range(n_outputs):
        if j != label:
            a = np.zeros((1, n_outputs))
            a[0, label], a[0, j] = 1.0, -1.0
            polys.append(HPolytope(a, np.zeros(1)))
    return Property(input_box, tuple(polys))


def halfspace_property(input_box: Box, A: np.ndarray, b: np.ndarray) -> Property:
    """Unsafe outputs ``{y : A y <= b}`` for inputs in ``input_box``."""
    return Property(input_box, (HPolytope(A, b),))
