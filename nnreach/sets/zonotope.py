"""Zonotopes ``{c + G e : e in [-1, 1]^m}``, and argument checks shared by the set modules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..lp import LinearProgram
from ._array import frozen

if TYPE_CHECKING:
    from .box import Box


def vector_arg(values, n: int, name: str) -> np.ndarray:
    """``values`` as a float array of shape (n,); ValueError naming ``name`` otherwise."""
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {v.shape}")
    return v


def affine_args(W, b, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Check the map ``x -> W x + b`` on R^n: returns W (m, n) and b (m,) (zeros if None)."""
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[1] != n:
        raise ValueError(f"W must have shape (m, {n}), got {W.shape}")
    b = np.zeros(W.shape[0]) if b is None else vector_arg(b, W.shape[0], "b")
    return W, b


def random_directions(count: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` sampling directions, shape (count, dim): the signed coordinate axes
    ``+-e_i`` in random order first (so bounds get attained), then Gaussian directions."""
    axes = np.vstack([np.eye(dim), -np.eye(dim)])[rng.permutation(2 * dim)]
    gauss = rng.standard_normal((max(count - 2 * dim, 0), dim))
    return np.vstack([axes, gauss])[:count]


def in_affine_image(
    x: np.ndarray,
    center: np.ndarray,
    basis: np.ndarray,
    A: np.ndarray,
    b: np.ndarray,
    lb: np.ndarray,
    ub: np.ndarray,
    tol: float,
) -> bool:
    """Whether ``x`` (n,) is within ``tol`` (per coordinate) of ``{center + basis a}`` over
    ``{a : A a <= b, lb <= a <= ub}``; basis (n, m), A (k, m), b (k,), lb and ub (m,)."""
    offset = x - center
    rows = np.vstack([A, basis, -basis])
    rhs = np.concatenate([b, offset + tol, -offset + tol])
    return LinearProgram(rows, rhs, lb, ub).is_feasible()


def no_exact_intersection(X) -> TypeError:
    """The error raised by sets that are not closed under halfspace intersection."""
    kind = type(X).__name__
    return TypeError(
        f"the intersection of a {kind} with a halfspace is not a {kind}; convert exactly first: "
        f"overapproximate(X, Star).intersect_halfspace(a, b)"
    )


@dataclass(frozen=True, slots=True)
class Zonotope:
    """The zonotope ``{center + generators @ e : e in [-1, 1]^m}``.

    Attributes:
        center: shape (n,).
        generators: shape (n, m); m may be 0 (a single point).
    """

    center: np.ndarray
    generators: np.ndarray

    def __post_init__(self):
        c = frozen(self.center, ndim=1, name="Zonotope.center")
        G = frozen(self.generators, ndim=2, name="Zonotope.generators")
        if G.shape[0] != c.shape[0]:
            raise ValueError(f"Zonotope.generators has {G.shape[0]} rows but the center has {c.shape[0]} entries")
        object.__setattr__(self, "center", c)
        object.__setattr__(self, "generators", G)

    @classmethod
    def from_box(cls, box: Box) -> Zonotope:
        """The box as a zonotope (exact), one generator per dimension of nonzero width."""
        r = box.radius
        keep = r > 0
        return cls(box.center, np.eye(box.dim)[:, keep] * r[keep])

    @property
    def dim(self) -> int:
        return self.center.shape[0]

    def affine_map(self, W: np.ndarray, b: np.ndarray | None = None) -> Zonotope:
        """The image ``{W x + b}`` (exact); W shape (m, n), b shape (m,)."""
        W, b = affine_args(W, b, self.dim)
        return Zonotope(W @ self.center + b, W @ self.generators)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact elementwise bounds ``center -+ |G| 1``, shapes (n,)."""
        r = np.abs(self.generators).sum(axis=1)
        return self.center - r, self.center + r

    def support(self, direction: np.ndarray) -> float:
        """``max {direction @ x : x in Z} = direction @ c + |G^T direction|_1``."""
        d = vector_arg(direction, self.dim, "direction")
        return float(d @ self.center + np.abs(d @ self.generators).sum())

    def contains(self, x: np.ndarray, tol: float = 1e-9) -> bool:
        """Whether ``x`` (n,) is in Z up to ``tol`` per coordinate (an LP feasibility problem)."""
        x = vector_arg(x, self.dim, "x")
        m = self.generators.shape[1]
        return in_affine_image(x, self.center, self.generators, np.zeros((0, m)), np.zeros(0), -np.ones(m), np.ones(m), tol)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points of Z, shape (n, dim): the first half are vertices ``c + G sign(G^T d)``
        maximizing random directions d (coordinate axes first), the rest have e uniform."""
        k = (n + 1) // 2
        vertices = np.where(random_directions(k, self.dim, rng) @ self.generators >= 0, 1.0, -1.0)
        inner = rng.uniform(-1.0, 1.0, (n - k, self.generators.shape[1]))
        return self.center + np.vstack([vertices, inner]) @ self.generators.T

    def intersect_halfspace(self, a: np.ndarray, b: float):
        """Not closed under intersection: raises TypeError (use ``overapproximate(Z, Star)``)."""
        raise no_exact_intersection(self)
