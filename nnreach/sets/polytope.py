"""Polytopes in halfspace form ``{x : A x <= b}``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..lp import LinearProgram, LPStatus
from ._array import frozen
from .star import Star
from .zonotope import affine_args, vector_arg


@dataclass(frozen=True, slots=True)
class HPolytope:
    """The polyhedron ``{x in R^n : A x <= b}`` (possibly unbounded or empty).

    Attributes:
        A: constraint matrix, shape (k, n).
        b: right-hand sides, shape (k,).
    """

    A: np.ndarray
    b: np.ndarray

    def __post_init__(self):
        A = frozen(self.A, ndim=2, name="HPolytope.A")
        b = frozen(self.b, ndim=1, name="HPolytope.b")
        if A.shape[0] != b.shape[0]:
            raise ValueError(f"HPolytope.A has {A.shape[0]} rows but HPolytope.b has {b.shape[0]} entries")
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "b", b)

    @property
    def dim(self) -> int:
        return self.A.shape[1]

    def affine_map(self, W: np.ndarray, b: np.ndarray | None = None) -> HPolytope:
        """The image ``{W x + b}`` for a square invertible W (n, n), b (n,): the polytope
        ``{y : A W^-1 y <= b_P + A W^-1 b}``. Other W raise ValueError (use a Star)."""
        W, b = affine_args(W, b, self.dim)
        if W.shape[0] != self.dim or np.linalg.matrix_rank(W) < self.dim:
            raise ValueError(
                f"HPolytope.affine_map needs a square invertible W, got shape {W.shape}; "
                "convert to a Star first: overapproximate(P, Star).affine_map(W, b)"
            )
        AWinv = np.linalg.solve(W.T, self.A.T).T
        return HPolytope(AWinv, self.b + AWinv @ b)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact elementwise bounds by LP, shapes (n,). ValueError if P is empty or unbounded."""
        lo, hi = LinearProgram(self.A, self.b).bounds_of(np.eye(self.dim))
        unbounded = np.flatnonzero(~(np.isfinite(lo) & np.isfinite(hi)))
        if unbounded.size:
            raise ValueError(f"HPolytope is unbounded in dimension(s) {unbounded.tolist()}: no finite bounds")
        return lo, hi

    def support(self, direction: np.ndarray) -> float:
        """``max {direction @ x : x in P}`` by LP: ``-inf`` if P is empty, ``+inf`` if unbounded."""
        r = LinearProgram(self.A, self.b).maximize(vector_arg(direction, self.dim, "direction"))
        if r.status is LPStatus.ERROR:
            raise RuntimeError("HiGHS failed on a support-function LP")
        return r.value

    def contains(self, x: np.ndarray, tol: float = 1e-9) -> bool:
        """Whether ``A x <= b + tol``; x shape (n,)."""
        x = vector_arg(x, self.dim, "x")
        return bool(np.all(self.A @ x <= self.b + tol))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points of P, shape (n, dim), as sampled from the exact ``Star.from_polytope``
        (support points and their convex combinations). ValueError if P is unbounded or empty."""
        return Star.from_polytope(self).sample(n, rng)

    def intersect_halfspace(self, a: np.ndarray, b: float) -> HPolytope:
        """The exact intersection ``{x in P : a @ x <= b}`` (one more row); a shape (n,)."""
        a = vector_arg(a, self.dim, "a")
        return HPolytope(np.vstack([self.A, a]), np.append(self.b, float(b)))

    def is_empty(self) -> bool:
        """Whether ``A x <= b`` is infeasible (LP)."""
        return not LinearProgram(self.A, self.b).is_feasible()
