"""Verification problems: a network, an input region and an unsafe output region."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
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


@dataclass(frozen=True, slots=True, eq=False)
class PropertyBlock:
    """``k`` properties whose unsafe polytopes have the same rows and differ in their right-hand
    sides only, as arrays (thousands of input boxes of a learned-index property take kilobytes, not a
    Python object each, and are bounded in one vectorised pass).

    Property ``i`` is the box ``[lo[i], hi[i]]`` with the P unsafe polytopes ``rows[s_p:e_p] y <=
    rhs[i, s_p:e_p]``, where polytope ``p`` owns ``sizes[p]`` consecutive rows.

    Attributes:
        lo, hi: (k, n) the input boxes, ``lo <= hi``.
        rows: (R, m) every polytope's rows, stacked.
        rhs: (k, R) their right-hand sides per property.
        sizes: (P,) rows per polytope, ``sum(sizes) == R``, P >= 1.
    """

    lo: np.ndarray
    hi: np.ndarray
    rows: np.ndarray
    rhs: np.ndarray
    sizes: tuple[int, ...]

    def __post_init__(self):
        k, n = self.lo.shape
        if self.hi.shape != (k, n) or self.rhs.shape != (k, self.rows.shape[0]) or sum(self.sizes) != self.rows.shape[0]:
            raise ValueError(f"PropertyBlock: lo {self.lo.shape}, hi {self.hi.shape}, rows {self.rows.shape}, "
                             f"rhs {self.rhs.shape} and sizes {self.sizes} disagree")
        if not self.sizes:
            raise ValueError("PropertyBlock.sizes must name at least one polytope")
        if np.any(self.lo > self.hi):
            raise ValueError("PropertyBlock: some box has lo > hi")

    def __len__(self) -> int:
        return self.lo.shape[0]

    @property
    def owner(self) -> np.ndarray:
        """(R,) the polytope each row belongs to."""
        return np.repeat(np.arange(len(self.sizes)), self.sizes)

    def property(self, i: int) -> Property:
        """Property ``i`` as an object."""
        ends = np.cumsum(self.sizes)
        return Property(Box(self.lo[i], self.hi[i]), tuple(HPolytope(self.rows[end - size:end], self.rhs[i, end - size:end])
                                                           for size, end in zip(self.sizes, ends)))


class Properties(Sequence[Property]):
    """A sequence of :class:`Property`, held as :class:`PropertyBlock` arrays; ``properties[i]`` is
    built when asked for. What VNN-LIB readers return and what :class:`Problem` keeps.

    ``Properties(blocks, block, row)``: property ``i`` is row ``row[i]`` of ``blocks[block[i]]``
    (default: the blocks' rows in order). :meth:`of` groups Property objects into blocks.
    """

    __slots__ = ("blocks", "block", "row")

    def __init__(self, blocks: Sequence[PropertyBlock], block: np.ndarray | None = None,
                 row: np.ndarray | None = None):
        self.blocks = tuple(blocks)
        if block is None:
            block = np.repeat(np.arange(len(self.blocks)), [len(b) for b in self.blocks])
            row = np.concatenate([np.arange(len(b)) for b in self.blocks]) if self.blocks else np.zeros(0, np.int64)
        self.block, self.row = np.asarray(block, dtype=np.int64), np.asarray(row, dtype=np.int64)

    @classmethod
    def of(cls, props: Iterable[Property]) -> "Properties":
        """``props`` grouped into blocks by their polytopes' rows, in their order."""
        groups: dict[bytes, list[int]] = {}
        props = list(props)
        for i, p in enumerate(props):
            key = repr([p.input_dim] + [q.A.shape for q in p.unsafe]).encode() + b"".join(q.A.tobytes() for q in p.unsafe)
            groups.setdefault(key, []).append(i)
        blocks, block, row = [], np.zeros(len(props), np.int64), np.zeros(len(props), np.int64)
        for b, members in enumerate(groups.values()):
            first = props[members[0]].unsafe
            blocks.append(PropertyBlock(
                np.array([props[i].input_box.lo for i in members]), np.array([props[i].input_box.hi for i in members]),
                np.vstack([q.A for q in first]), np.array([np.concatenate([q.b for q in props[i].unsafe]) for i in members]),
                tuple(q.A.shape[0] for q in first)))
            block[members], row[members] = b, np.arange(len(members))
        return cls(blocks, block, row)

    def __len__(self) -> int:
        return self.block.shape[0]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.take(np.arange(len(self))[i])
        return self.blocks[self.block[i]].property(int(self.row[i]))

    def __iter__(self) -> Iterator[Property]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        return f"Properties({len(self)} properties in {len(self.blocks)} block(s))"

    def take(self, indices) -> "Properties":
        """The properties at ``indices``, in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        return Properties(self.blocks, self.block[indices], self.row[indices])

    def batches(self) -> Iterator[tuple[PropertyBlock, np.ndarray, np.ndarray]]:
        """Per block: the block, which of its rows are in this sequence, and their positions here."""
        for b, block in enumerate(self.blocks):
            where = np.flatnonzero(self.block == b)
            if where.size:
                yield block, self.row[where], where


@dataclass(frozen=True, slots=True)
class Problem:
    """A network together with the properties to check (violated if any property is violated).

    ``Problem(model, properties, model_path=None)`` takes the model as :func:`nnreach.load_model` does
    (a path, a :class:`Network` or a torch module whose input shape follows from a first ``Linear``
    layer; for other modules give ``nnreach.load_model(module, input_shape)``) and the properties as
    one :class:`Property`, :class:`Properties` (what ``read_vnnlib`` returns) or an iterable of
    Property; they are stored as a Network and Properties.

    Attributes:
        network: the network under test.
        properties: one or more :class:`Property`, as :class:`Properties`; a VNN-LIB file with several
            input regions gives several.
        model_path: the model file counterexamples are replayed on (ONNX files in onnxruntime, see
            :mod:`nnreach.verify.check`); default: the file the network was read from
            (``network.source``), None for a network built in Python, whose counterexamples are then
            checked by nnreach's own forward pass (``checked_by == "nnreach"``).
    """

    network: "Network"
    properties: Properties
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
        for block, _, where in self.properties.batches():
            if block.lo.shape[1] != n_in:
                raise InputError(
                    f"the property declares {block.lo.shape[1]} inputs but the model has {n_in} inputs"
                    + (f" (input region {where[0]})" if len(self.properties) > 1 else ""))
            if block.rows.shape[1] != n_out:
                raise InputError(
                    f"the property constrains {block.rows.shape[1]} outputs but the model has {n_out} outputs")

    def restricted(self, positions) -> "Problem":
        """The problem with only the properties at ``positions`` (in that order)."""
        return Problem(self.network, self.properties.take(positions), self.model_path)

    def without(self, proved: dict[int, frozenset[int]]) -> tuple["Problem | None", np.ndarray]:
        """The problem without the unsafe polytopes ``proved`` unreachable (per property position,
        polytope positions), and the positions of the properties it keeps: a property loses those
        polytopes (it is violated exactly when the rest is reached) and goes when none is left. None
        when no property is left (every one holds)."""
        keep, props = [], []
        for i in range(len(self.properties)):
            gone = proved.get(i, frozenset())
            if not gone:
                keep.append(i)
                continue
            prop = self.properties[i]
            rest = tuple(p for j, p in enumerate(prop.unsafe) if j not in gone)
            if rest:
                keep.append(i)
                props.append((len(keep) - 1, Property(prop.input_box, rest)))
        if not keep:
            return None, np.zeros(0, dtype=int)
        narrowed = self.restricted(keep) if len(keep) < len(self.properties) else self
        if props:
            every = list(narrowed.properties)
            for k, prop in props:
                every[k] = prop
            narrowed = Problem(self.network, every, self.model_path)
        return narrowed, np.array(keep, dtype=int)


def _properties(properties) -> Properties:
    """``properties`` (a Property, Properties or an iterable of Property) as non-empty Properties, or
    InputError."""
    if isinstance(properties, Property):
        properties = (properties,)
    expected = "expected a Property or a sequence of Property"
    if isinstance(properties, (str, bytes, os.PathLike)):
        raise InputError(f"properties: {expected}, got {type(properties).__name__} "
                         "(read a VNN-LIB file with nnreach.read_vnnlib)")
    if not isinstance(properties, Properties):
        try:
            props = tuple(properties)
        except TypeError:
            raise InputError(f"properties: {expected}, got {type(properties).__name__}") from None
        wrong = [type(p).__name__ for p in props if not isinstance(p, Property)]
        if wrong:
            raise InputError(f"properties: {expected}, got a sequence holding {wrong[0]}")
        properties = Properties.of(props)
    if not len(properties):
        raise InputError("properties: empty; a problem needs at least one Property")
    return properties


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
