"""Axis-aligned boxes ``{x : lo <= x <= hi}``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._array import frozen
from .zonotope import Zonotope, no_exact_intersection, vector_arg


@dataclass(frozen=True, slots=True)
class Box:
    """The box ``{x in R^n : lo <= x <= hi}``.

    Attributes:
        lo: lower bounds, shape (n,).
        hi: upper bounds, shape (n,), ``lo <= hi`` elementwise.
    """

    lo: np.ndarray
    hi: np.ndarray

    def __post_init__(self):
        lo = frozen(self.lo, ndim=1, name="Box.lo")
        hi = frozen(self.hi, ndim=1, name="Box.hi")
        if lo.shape != hi.shape:
            raise ValueError(f"Box.lo has shape {lo.shape} but Box.hi has shape {hi.shape}")
        if np.any(lo > hi):
            i = int(np.argmax(lo > hi))
            raise ValueError(f"empty Box: lo[{i}] = {lo[i]} > hi[{i}] = {hi[i]}")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    @classmethod
    def from_center_radius(cls, center: np.ndarray, radius: np.ndarray | float) -> Box:
        """The box ``center -+ radius``; center shape (n,), radius shape (n,) or scalar, >= 0."""
        center = np.asarray(center, dtype=np.float64)
        return cls(center - radius, center + radius)

    @property
    def dim(self) -> int:
        return self.lo.shape[0]

    @property
    def center(self) -> np.ndarray:
        """Midpoint, shape (n,)."""
        return (self.lo + self.hi) / 2

    @property
    def radius(self) -> np.ndarray:
        """Half-widths, shape (n,)."""
        return (self.hi - self.lo) / 2

    def affine_map(self, W: np.ndarray, b: np.ndarray | None = None) -> Zonotope:
        """The image ``{W x + b}`` as a Zonotope (exact); W shape (m, n), b shape (m,)."""
        return Zonotope.from_box(self).affine_map(W, b)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lo, hi)``, shapes (n,)."""
        return self.lo, self.hi

    def support(self, direction: np.ndarray) -> float:
        """``max {direction @ x : x in B} = direction @ center + |direction| @ radius``."""
        d = vector_arg(direction, self.dim, "direction")
        return float(d @ self.center + np.abs(d) @ self.radius)

    def contains(self, x: np.ndarray, tol: float = 1e-9) -> bool:
        """Whether ``lo - tol <= x <= hi + tol``; x shape (n,)."""
        x = vector_arg(x, self.dim, "x")
        return bool(np.all(x >= self.lo - tol) and np.all(x <= self.hi + tol))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points of B, shape (n, dim): the first half random corners, the rest uniform."""
        k = (n + 1) // 2
        corners = np.where(rng.random((k, self.dim)) < 0.5, self.lo, self.hi)
        inner = self.lo + rng.random((n - k, self.dim)) * (self.hi - self.lo)
        return np.vstack([corners, inner])

    def intersect_halfspace(self, a: np.ndarray, b: float):
        """Not closed under intersection: raises TypeError (use ``overapproximate(B, Star)``)."""
        raise no_exact_intersection(self)
