"""Star sets ``{c + V a : C a <= d, pred_lb <= a <= pred_ub}`` (Bak & Duggirala; NNV)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..lp import LinearProgram, LPResult, LPStatus
from ._array import frozen
from .zonotope import Zonotope, affine_args, in_affine_image, random_directions, vector_arg

if TYPE_CHECKING:
    from .box import Box
    from .polytope import HPolytope


@dataclass(frozen=True, slots=True)
class Star:
    """The star ``{center + basis @ a : C @ a <= d, pred_lb <= a <= pred_ub}``.

    The predicate variables ``a`` live in R^m; the predicate set is always bounded.

    Attributes:
        center: shape (n,).
        basis: shape (n, m).
        C: predicate constraints, shape (k, m); k may be 0.
        d: shape (k,).
        pred_lb, pred_ub: finite predicate bounds, shape (m,), ``pred_lb <= pred_ub``.
        shape: tensor shape of one point (e.g. (C, H, W) for images), ``prod(shape) == n``;
            None means ``(n,)`` and is stored as such.
    """

    center: np.ndarray
    basis: np.ndarray
    C: np.ndarray
    d: np.ndarray
    pred_lb: np.ndarray
    pred_ub: np.ndarray
    shape: tuple[int, ...] | None = None

    def __post_init__(self):
        c = frozen(self.center, ndim=1, name="Star.center")
        V = frozen(self.basis, ndim=2, name="Star.basis")
        C = frozen(self.C, ndim=2, name="Star.C")
        d = frozen(self.d, ndim=1, name="Star.d")
        lb = frozen(self.pred_lb, ndim=1, name="Star.pred_lb")
        ub = frozen(self.pred_ub, ndim=1, name="Star.pred_ub")
        n, m = V.shape
        if c.shape != (n,):
            raise ValueError(f"Star.center has shape {c.shape} but Star.basis has {n} rows")
        if C.shape[1] != m or d.shape != (C.shape[0],):
            raise ValueError(f"Star.C must have shape (k, {m}) and Star.d (k,), got {C.shape} and {d.shape}")
        if lb.shape != (m,) or ub.shape != (m,):
            raise ValueError(f"Star predicate bounds must have shape ({m},), got {lb.shape} and {ub.shape}")
        if not (np.all(np.isfinite(lb)) and np.all(np.isfinite(ub))):
            raise ValueError("Star predicate bounds must be finite")
        if np.any(lb > ub):
            i = int(np.argmax(lb > ub))
            raise ValueError(f"Star predicate bounds are empty: pred_lb[{i}] = {lb[i]} > pred_ub[{i}] = {ub[i]}")
        shape = (n,) if self.shape is None else tuple(int(s) for s in self.shape)
        if math.prod(shape) != n:
            raise ValueError(f"Star.shape {shape} does not have {n} entries")
        for name, value in zip(("center", "basis", "C", "d", "pred_lb", "pred_ub", "shape"), (c, V, C, d, lb, ub, shape)):
            object.__setattr__(self, name, value)

    @classmethod
    def from_zonotope(cls, z: Zonotope) -> Star:
        """The zonotope as a star (exact): basis = generators, predicate box [-1, 1]^m, k = 0."""
        m = z.generators.shape[1]
        return cls(z.center, z.generators, np.zeros((0, m)), np.zeros(0), -np.ones(m), np.ones(m))

    @classmethod
    def from_box(cls, box: Box) -> Star:
        """The box as a star (exact): one predicate per dimension of nonzero width."""
        return cls.from_zonotope(Zonotope.from_box(box))

    @classmethod
    def from_polytope(cls, p: HPolytope) -> Star:
        """A bounded nonempty polytope as a star (exact): center 0, basis I, C = A, d = b,
        predicate bounds = the polytope's LP bounds. ValueError if unbounded or empty."""
        lo, hi = p.bounds()
        return cls(np.zeros(p.dim), np.eye(p.dim), p.A, p.b, lo, hi)

    @property
    def dim(self) -> int:
        return self.center.shape[0]

    @property
    def num_pred(self) -> int:
        """Number m of predicate variables."""
        return self.basis.shape[1]

    def reshape(self, shape: tuple[int, ...]) -> Star:
        """The same set with another per-point tensor shape (``prod(shape) == dim``)."""
        return replace(self, shape=tuple(shape))

    def affine_map(self, W: np.ndarray, b: np.ndarray | None = None) -> Star:
        """The image ``{W x + b}`` (exact, same predicate); W shape (p, n), b shape (p,).
        The result has the flat shape (p,)."""
        W, b = affine_args(W, b, self.dim)
        return Star(W @ self.center + b, W @ self.basis, self.C, self.d, self.pred_lb, self.pred_ub)

    def estimate_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Cheap outer bounds, shapes (n,): ``c + V a`` by interval arithmetic over the
        predicate box, ignoring C. Exact when k = 0."""
        mid = (self.pred_lb + self.pred_ub) / 2
        rad = (self.pred_ub - self.pred_lb) / 2
        c = self.center + self.basis @ mid
        r = np.abs(self.basis) @ rad
        return c - r, c + r

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact elementwise bounds by LP (2 per dimension with a nonzero basis row),
        shapes (n,). ValueError if the star is empty."""
        if self.C.shape[0] == 0:
            return self.estimate_bounds()
        lo, hi = self._lp().bounds_of(self.basis)
        return self.center + lo, self.center + hi

    def support(self, direction: np.ndarray) -> float:
        """``max {direction @ x : x in S}`` by one LP; ``-inf`` if S is empty."""
        direction = vector_arg(direction, self.dim, "direction")
        r = _checked(self._lp().maximize(direction @ self.basis))
        return r.value + float(direction @ self.center)  # -inf stays -inf when S is empty

    def contains(self, x: np.ndarray, tol: float = 1e-9) -> bool:
        """Whether ``x`` (n,) is in S up to ``tol`` per coordinate (LP feasibility)."""
        x = vector_arg(x, self.dim, "x")
        return in_affine_image(x, self.center, self.basis, self.C, self.d, self.pred_lb, self.pred_ub, tol)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points of S, shape (n, dim): the first half are support points (LP optima)
        in random directions, coordinate axes first; the rest random convex combinations
        of them. ValueError if S is empty."""
        k = (n + 1) // 2
        lp = self._lp()
        preds = np.empty((k, self.num_pred))
        for i, direction in enumerate(random_directions(k, self.dim, rng)):
            r = _checked(lp.maximize(direction @ self.basis))
            if r.status is LPStatus.INFEASIBLE:
                raise ValueError("cannot sample an empty Star")
            preds[i] = r.x
        weights = rng.dirichlet(np.ones(k), size=n - k) if k else np.empty((0, 0))
        return self.center + np.vstack([preds, weights @ preds]) @ self.basis.T

    def intersect_halfspace(self, a: np.ndarray, b: float) -> Star:
        """The exact intersection ``{x in S : a @ x <= b}``: the predicate gains the row
        ``(a @ V) alpha <= b - a @ c``. a shape (n,); keeps ``shape``."""
        a = vector_arg(a, self.dim, "a")
        C = np.vstack([self.C, a @ self.basis])
        d = np.append(self.d, float(b) - a @ self.center)
        return Star(self.center, self.basis, C, d, self.pred_lb, self.pred_ub, self.shape)

    def is_empty(self) -> bool:
        """Whether the predicate ``{C a <= d, pred_lb <= a <= pred_ub}`` is infeasible (LP)."""
        return not self._lp().is_feasible()

    def _lp(self) -> LinearProgram:
        return LinearProgram(self.C, self.d, self.pred_lb, self.pred_ub)


def _checked(r: LPResult) -> LPResult:
    """``r``, unless HiGHS failed (RuntimeError); a star's predicate is never unbounded."""
    if r.status not in (LPStatus.OPTIMAL, LPStatus.INFEASIBLE):
        raise RuntimeError(f"LP over a star predicate ended with status {r.status}")
    return r
