"""Plants: ``x' = f(x, u, w)`` (continuous time) or ``x+ = f(x, u, w)`` (one control period, discrete
time), with state ``x`` (n), control input ``u`` (m) and disturbance ``w`` (q) in a box.

The field is an :class:`.expr.Expressions` (any expressions) or an :class:`AffineField`
(``M (x, u, w) + c``), both over the variables ``(x, u, w)`` in that order. A disturbance is held
constant over each control period and may change arbitrarily from one period to the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field as _field
from typing import Mapping, Sequence

import numpy as np

from ..errors import InputError
from .expr import Expressions, compile_strings
from .interval import Interval

_EPS = np.finfo(np.float64).eps


class AffineField:
    """``y -> M y + c``; M (n, N), c (n,). Same interface as :class:`.expr.Expressions`."""

    is_affine = True

    def __init__(self, M: np.ndarray, c: np.ndarray):
        self.M = np.asarray(M, dtype=np.float64)
        self.c = np.asarray(c, dtype=np.float64)
        self.n, self.N = self.M.shape

    def __call__(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=np.float64) @ self.M.T + self.c

    def jacobian_at(self, y: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.M, (np.asarray(y).shape[0], self.n, self.N))

    def values(self, lo: np.ndarray, hi: np.ndarray) -> Interval:
        """Enclosure over ``[lo, hi]``: the float midpoint value widened by a rounding bound."""
        mid, rad = (lo + hi) / 2, (hi - lo) / 2
        v = self.M @ mid + self.c
        err = np.abs(self.M) @ rad + (self.N + 2) * _EPS * (np.abs(self.M) @ np.abs(mid) + np.abs(self.c))
        return Interval(v - err, v + err)

    def jacobian(self, lo: np.ndarray, hi: np.ndarray) -> Interval:
        return Interval(self.M)


@dataclass(frozen=True)
class Plant:
    """A plant. ``field`` has ``n`` outputs over the ``n + m + q`` variables (states, inputs,
    disturbances).

    Attributes:
        states, inputs, disturbances: variable names.
        field: the right-hand side (continuous) or the map over one period (discrete).
        discrete: whether ``field`` is a difference equation.
        w_lo, w_hi: the disturbance box, shapes (q,).
    """

    states: tuple[str, ...]
    inputs: tuple[str, ...]
    field: Expressions | AffineField
    discrete: bool = False
    disturbances: tuple[str, ...] = ()
    w_lo: np.ndarray = _field(default_factory=lambda: np.zeros(0))
    w_hi: np.ndarray = _field(default_factory=lambda: np.zeros(0))

    def __post_init__(self):
        n, N = len(self.states), len(self.states) + len(self.inputs) + len(self.disturbances)
        if (self.field.n, self.field.N) != (n, N):
            raise InputError(f"the plant field has {self.field.n} outputs over {self.field.N} variables; "
                             f"expected {n} over {N} (states, inputs, disturbances)")
        if not (len(self.w_lo) == len(self.w_hi) == len(self.disturbances)) or np.any(self.w_lo > self.w_hi):
            raise InputError("disturbance bounds must be one [lo, hi] with lo <= hi per disturbance")

    @property
    def n(self) -> int:
        return len(self.states)

    @property
    def m(self) -> int:
        return len(self.inputs)

    @classmethod
    def from_strings(cls, states: Sequence[str], inputs: Sequence[str], dynamics: Sequence[str], *,
                     constants: Mapping[str, float] = {}, disturbances: Mapping[str, tuple[float, float]] = {},
                     discrete: bool = False) -> Plant:
        """A plant from one expression per state (``x'`` or ``x+``), e.g. ``"-2*g + 2*a - mu*v**2"``."""
        if len(dynamics) != len(states):
            raise InputError(f"plant: {len(states)} states but {len(dynamics)} dynamics expressions")
        names = list(states) + list(inputs) + list(disturbances)
        field = compile_strings(dynamics, names, constants, "plant.dynamics")
        w = np.array([disturbances[k] for k in disturbances], dtype=float).reshape(-1, 2)
        return cls(tuple(states), tuple(inputs), field, discrete, tuple(disturbances), w[:, 0], w[:, 1])

    @classmethod
    def linear(cls, A, B, c=None, *, E=None, w_lo=(), w_hi=(), discrete: bool = False,
               states: Sequence[str] | None = None, inputs: Sequence[str] | None = None,
               disturbances: Sequence[str] | None = None) -> Plant:
        """``x' = A x + B u + E w + c`` (or ``x+ = ...``); A (n, n), B (n, m), E (n, q), c (n,)."""
        A = np.atleast_2d(np.asarray(A, dtype=float))
        B = np.asarray(B, dtype=float).reshape(A.shape[0], -1)
        n, m = B.shape
        if A.shape != (n, n):
            raise InputError(f"plant: A must be square with {n} rows, got shape {A.shape}")
        E = np.zeros((n, 0)) if E is None else np.asarray(E, dtype=float).reshape(n, -1)
        c = np.zeros(n) if c is None else np.asarray(c, dtype=float).reshape(n)
        states = tuple(states or (f"x{i}" for i in range(n)))
        inputs = tuple(inputs or (f"u{i}" for i in range(m)))
        dist = tuple(disturbances or (f"w{i}" for i in range(E.shape[1])))
        if (len(states), len(inputs), len(dist)) != (n, m, E.shape[1]):
            raise InputError(f"plant: {n} states, {m} inputs and {E.shape[1]} disturbances in the matrices, "
                             f"but {len(states)}, {len(inputs)} and {len(dist)} names")
        return cls(states, inputs, AffineField(np.hstack([A, B, E]), c), discrete, dist,
                   np.asarray(w_lo, float), np.asarray(w_hi, float))
