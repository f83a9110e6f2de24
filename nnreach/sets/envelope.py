"""Affine envelopes: the outputs between a lower and an upper affine function of the input, over an
input box (the set that symbolic linear bounds, DeepPoly / CROWN, describe)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._array import frozen
from .box import Box
from .star import Star
from .zonotope import random_directions, vector_arg

CROSSING_TOL = 1e-9
"""How far (relative) the lower function may exceed the upper one at some input (rounding)."""


@dataclass(frozen=True, slots=True)
class AffineEnvelope:
    """The set ``{y : lower_A x + lower_b <= y <= upper_A x + upper_b for some x in [lo, hi]}``.

    The lower function must not exceed the upper one on the box (up to rounding, ``CROSSING_TOL``):
    every input then has a nonempty box of outputs, and ``bounds`` and ``support`` are exact.

    Attributes:
        lo, hi: the input box, shapes (m,).
        lower_A, upper_A: shapes (n, m).
        lower_b, upper_b: shapes (n,).
    """

    lo: np.ndarray
    hi: np.ndarray
    lower_A: np.ndarray
    lower_b: np.ndarray
    upper_A: np.ndarray
    upper_b: np.ndarray

    def __post_init__(self):
        box = Box(self.lo, self.hi)  # checks lo <= hi
        LA = frozen(self.lower_A, ndim=2, name="AffineEnvelope.lower_A")
        UA = frozen(self.upper_A, ndim=2, name="AffineEnvelope.upper_A")
        lb = frozen(self.lower_b, ndim=1, name="AffineEnvelope.lower_b")
        ub = frozen(self.upper_b, ndim=1, name="AffineEnvelope.upper_b")
        n, m = LA.shape
        if UA.shape != (n, m) or m != box.dim or lb.shape != (n,) or ub.shape != (n,):
            raise ValueError(f"AffineEnvelope: functions {LA.shape} {lb.shape}, {UA.shape} {ub.shape} over a box of "
                             f"dimension {box.dim} do not fit")
        gap = box.affine_map(UA - LA, ub - lb).bounds()[0]   # min of upper - lower
        scale = CROSSING_TOL * (1 + np.abs(lb) + np.abs(ub) + np.abs(LA) @ np.maximum(np.abs(box.lo), np.abs(box.hi)))
        if np.any(gap < -scale):
            i = int(np.argmin(gap + scale))
            raise ValueError(f"AffineEnvelope: the lower function of y[{i}] exceeds the upper one by {-gap[i]:.3g}")
        for name, value in zip(("lo", "hi", "lower_A", "lower_b", "upper_A", "upper_b"),
                               (box.lo, box.hi, LA, lb, UA, ub)):
            object.__setattr__(self, name, value)

    @property
    def dim(self) -> int:
        return self.lower_b.shape[0]

    @property
    def input_box(self) -> Box:
        return Box(self.lo, self.hi)

    def _row(self, direction: np.ndarray) -> tuple[np.ndarray, float]:
        """``d @ y`` maximised over the outputs of each input: the function ``a @ x + c`` (a (m,))."""
        pos, neg = np.maximum(direction, 0.0), np.minimum(direction, 0.0)
        return pos @ self.upper_A + neg @ self.lower_A, float(pos @ self.upper_b + neg @ self.lower_b)

    def support(self, direction: np.ndarray) -> float:
        """``max {direction @ y : y in E}``, in closed form over the input box."""
        a, c = self._row(vector_arg(direction, self.dim, "direction"))
        return self.input_box.support(a) + c

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact elementwise bounds (the concretised box), shapes (n,)."""
        box = self.input_box
        return (box.affine_map(self.lower_A, self.lower_b).bounds()[0],
                box.affine_map(self.upper_A, self.upper_b).bounds()[1])

    def at(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The lower and upper functions at inputs ``x`` (k, m): two (k, n) arrays."""
        return x @ self.lower_A.T + self.lower_b, x @ self.upper_A.T + self.upper_b

    def to_star(self) -> Star:
        """The same set as a star (exact): predicate ``(x, y)`` with the two functions as constraints."""
        n, m = self.lower_A.shape
        ylo, yhi = self.bounds()
        C = np.block([[self.lower_A, -np.eye(n)], [-self.upper_A, np.eye(n)]])
        d = np.concatenate([-self.lower_b, self.upper_b])
        return Star(np.zeros(n), np.hstack([np.zeros((n, m)), np.eye(n)]), C, d,
                    np.concatenate([self.lo, ylo]), np.concatenate([self.hi, yhi]))

    def affine_map(self, W: np.ndarray, b: np.ndarray | None = None) -> Star:
        """The image ``{W y + b}`` as a star (exact)."""
        return self.to_star().affine_map(W, b)

    def contains(self, y: np.ndarray, tol: float = 1e-9) -> bool:
        """Whether ``y`` (n,) is in E up to ``tol`` per coordinate (an LP feasibility problem)."""
        return self.to_star().contains(vector_arg(y, self.dim, "y"), tol)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points of E, shape (n, dim): the first half maximise random directions (coordinate
        axes first), the rest lie between the two functions at uniform inputs."""
        k = (n + 1) // 2
        top = []
        for d in random_directions(k, self.dim, rng):
            x = np.where(self._row(d)[0] >= 0, self.hi, self.lo)
            low, up = self.at(x[None])
            top.append(np.where(d >= 0, up[0], low[0]))
        x = rng.uniform(self.lo, self.hi, size=(n - k, self.lo.size))
        low, up = self.at(x)
        inner = low + rng.random(low.shape) * np.maximum(up - low, 0.0)
        return np.vstack([np.reshape(top, (k, self.dim)), inner])

    def intersect_halfspace(self, a: np.ndarray, b: float):
        """Not closed under intersection: raises TypeError (``to_star().intersect_halfspace(a, b)`` is exact)."""
        raise TypeError("the intersection of an AffineEnvelope with a halfspace is not one; convert exactly "
                        "first: X.to_star().intersect_halfspace(a, b)")
