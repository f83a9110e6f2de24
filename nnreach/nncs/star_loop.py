"""Star-set closed loops for linear plants: the sets at the sample times ``k * period``.

A linear plant ``x' = A x + B u + E w + c`` under zero-order hold (``u`` and ``w`` constant over a
period) moves exactly by ``x+ = Ad x + Bd u + Ed w + cd`` (:func:`discretise`); a discrete plant
``x+ = A x + B u + E w + c`` is already of that form. Every state set is a :class:`~nnreach.sets.star.Star`
``{c + V a : C a <= d, lb <= a <= ub}``; one step (:func:`step`) is:

1. the controller input ``z = W_in x + b_in``: an affine map of the star, the same predicate ``a``;
2. ``reach`` of the network on that star (``"exact-star"`` or ``"approx-star"`` rules), walked with
   :func:`nnreach.reach.propagate.iter_reach`. The rules only append predicate variables (approx-star:
   one per relaxed neuron) and constraints (exact-star: the linear piece of each split neuron), so each
   output star ``Y`` is over ``a`` extended by fresh variables, and every constraint on ``a`` it adds
   restricts the state too: ``(x, u)`` is the joint affine image ``(c + V a, c_u + V_u a')`` under
   ``Y``'s predicate, with ``V`` padded by zero columns for the fresh variables;
3. ``u = W_out y + b_out``, then ``x+ = Ad x + Bd u + Ed w + cd`` with one fresh predicate variable in
   ``[-1, 1]`` per disturbance of nonzero width: again an affine map of the predicate.

So with exact-star the union of the stars of step ``k`` is exactly the set of states at time
``k * period`` (the split rule is exact; the predicate restricts ``x`` and ``u`` jointly), and with
approx-star the one star contains it (the triangle relaxation contains the ReLU graph). The predicate's
first variables are X0's (one per coordinate of nonzero width), then per step the disturbances' and the
relaxation's, so a predicate point names an initial state and a disturbance sequence (:meth:`StarPipe.origin`).

What is checked: the specification at the sample times only. Between samples a continuous plant's state
is not bounded by these sets; the verdict's message says so. Arithmetic is floating point without
rounding margins (as in NNV); a constraint counts as proved only with a margin of
:data:`PROOF_MARGIN` ``(1 + |g|)``, which covers the rounding of these few affine maps per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import expm

from ..errors import InputError
from ..lp import LinearProgram, LPStatus
from ..reach.propagate import iter_reach
from ..reach.star import StarOptions
from ..sets.box import Box
from ..sets.star import Star
from ..verify.deadline import Deadline
from .loop import ClosedLoop, FlowSet
from .plant import AffineField, Plant
from .spec import TIME_TOL, Polytope, Spec

METHODS = ("zono", "approx-star", "exact-star")
"""The closed-loop reachability methods (``zono``: :func:`.loop.reach`, the others this module)."""
STAR_METHODS = METHODS[1:]
PROOF_MARGIN = 1e-9
"""A constraint ``h . x <= g`` counts as proved on a star when its maximum is at most ``g - margin (1 + |g|)``."""


@dataclass(frozen=True)
class Discretisation:
    """``x+ = Ad x + Bd u + Ed w + cd`` over one period; Ad (n, n), Bd (n, m), Ed (n, q), cd (n,)."""

    Ad: np.ndarray
    Bd: np.ndarray
    Ed: np.ndarray
    cd: np.ndarray


def require_linear(plant: Plant, method: str) -> None:
    """InputError unless the plant is given by matrices (the star methods need its exact one-period map)."""
    if not isinstance(plant.field, AffineField):
        raise InputError(f"options.method: {method} needs a linear plant (matrices plant.A and plant.B), "
                         "not plant.dynamics; use \"zono\"")


def discretise(plant: Plant, period: float) -> Discretisation:
    """The exact one-period map of a linear plant: itself when discrete, else the zero-order hold
    ``exp([[A, B, E, c], [0, 0, 0, 0]] period)`` (Van Loan: its top block row is ``[Ad, Bd, Ed, cd]``).
    InputError for a plant given by expressions (:func:`require_linear`)."""
    require_linear(plant, "a star method")
    n, m = plant.n, plant.m
    M, c = plant.field.M, plant.field.c
    if plant.discrete:
        return Discretisation(M[:, :n], M[:, n:n + m], M[:, n + m:], c)
    N = M.shape[1]
    aug = np.zeros((N + 1, N + 1))
    aug[:n, :N], aug[:n, N] = M, c
    F = expm(aug * period)[:n]
    return Discretisation(F[:, :n], F[:, n:n + m], F[:, n + m:N], F[:, N])


@dataclass
class StarPipe:
    """The result of :func:`star_reach`.

    Attributes:
        sets: every star computed, as time-point :class:`.loop.FlowSet` (``t0 == t1``), in time order.
        x0_star: X0 as a star (its predicate variables come first in every later star).
        disturbance_vars: per step, ``(indices, dims)``: the predicate variables of the step's disturbance
            and the disturbance coordinates they move (those of nonzero width).
        failure: None when every star met the spec; otherwise why it stopped (not proved, cap, ...).
        witness: when a star was not proved, a predicate point (of that star) where the spec fails.
        capped: whether the stopping reason is the ``max_stars`` cap.
    """

    x0_star: Star
    sets: list[FlowSet] = field(default_factory=list)
    disturbance_vars: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    failure: str | None = None
    witness: np.ndarray | None = None
    capped: bool = False

    def origin(self, a: np.ndarray, plant: Plant, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """The initial state (n,) and the disturbances (steps, q) a predicate point ``a`` stands for
        (disturbances of steps not reached, or of zero width, at the middle of their box)."""
        p0 = self.x0_star.num_pred
        x0 = self.x0_star.center + self.x0_star.basis @ a[:p0]
        mid, rad = (plant.w_lo + plant.w_hi) / 2, (plant.w_hi - plant.w_lo) / 2
        w = np.tile(mid, (steps, 1))
        for k, (idx, dims) in enumerate(self.disturbance_vars[:steps]):
            w[k, dims] = mid[dims] + rad[dims] * np.clip(a[idx], -1.0, 1.0)
        return x0, w


def lift(X: Star, p: int) -> np.ndarray:
    """X's basis (n, X.num_pred) padded with zero columns to ``p`` predicate variables: (n, p)."""
    return np.hstack([X.basis, np.zeros((X.dim, p - X.num_pred))])


def step(loop: ClosedLoop, dis: Discretisation, X: Star, method: str, options: StarOptions):
    """The stars of the next sample time from the state star ``X`` (n states): an iterator (one star for
    approx-star, the pieces of the split for exact-star), see the module docstring. Each yielded star
    has ``X``'s predicate variables first, then the fresh ones of this step; the second item is the
    indices of the disturbance variables."""
    plant = loop.plant
    Z = X.affine_map(loop.in_W, loop.in_b)
    rad = (plant.w_hi - plant.w_lo) / 2
    dims = np.flatnonzero(rad > 0)
    for Y in iter_reach(loop.simplified, Z, method, options=options):
        U = Y.affine_map(loop.out_W, loop.out_b)
        p = Y.num_pred
        basis = dis.Ad @ lift(X, p) + dis.Bd @ U.basis
        center = dis.Ad @ X.center + dis.Bd @ U.center + dis.Ed @ ((plant.w_lo + plant.w_hi) / 2) + dis.cd
        k = dims.size
        basis = np.hstack([basis, dis.Ed[:, dims] * rad[dims]])
        yield Star(center, basis, np.hstack([Y.C, np.zeros((Y.C.shape[0], k))]), Y.d,
                   np.concatenate([Y.pred_lb, -np.ones(k)]), np.concatenate([Y.pred_ub, np.ones(k)])), \
            np.arange(p, p + k)


def _row_max(S: Star, h: np.ndarray) -> tuple[float, np.ndarray | None]:
    """``max h . x`` over S and a maximising predicate point (None when S is empty: ``-inf``)."""
    r = LinearProgram(S.C, S.d, S.pred_lb, S.pred_ub).maximize(h @ S.basis)
    if r.status is LPStatus.INFEASIBLE:
        return -np.inf, None
    if r.status is not LPStatus.OPTIMAL:
        raise RuntimeError(f"LP over a star predicate ended with status {r.status}")
    return r.value + float(h @ S.center), r.x


def _outside(S: Star, poly: Polytope) -> tuple[bool, np.ndarray | None]:
    """Whether S is proved inside ``poly`` (every row with the margin); else a predicate point outside."""
    for h, g in zip(poly.H, poly.g):
        v, a = _row_max(S, h)
        if v > g - PROOF_MARGIN * (1 + abs(g)):
            return False, a
    return True, None


def _meets(S: Star, poly: Polytope) -> tuple[bool, np.ndarray | None]:
    """Whether S may meet ``poly`` (LP feasibility of its predicate with ``H (c + V a) <= g`` loosened by
    the margin), and a predicate point of the intersection when it does."""
    g = poly.g + PROOF_MARGIN * (1 + np.abs(poly.g))
    lp = LinearProgram(np.vstack([S.C, poly.H @ S.basis]), np.concatenate([S.d, g - poly.H @ S.center]),
                       S.pred_lb, S.pred_ub)
    r = lp.minimize(np.zeros(S.num_pred))
    if r.status is LPStatus.INFEASIBLE:
        return False, None
    return True, r.x if r.status is LPStatus.OPTIMAL else None


def check_star(spec: Spec, S: Star, t: float, final: float) -> tuple[str | None, np.ndarray | None]:
    """None when the star S of the sample time ``t`` is proved to meet the spec; else what was not
    proved, and a predicate point where it fails (None if the LP gave none)."""
    for w in spec.safe:
        if w.applies(t, t):
            ok, a = _outside(S, w.poly)
            if not ok:
                return f"a star leaves a safe set at t = {t:.4g}", a
    for w in spec.avoid:
        if w.applies(t, t):
            hit, a = _meets(S, w.poly)
            if hit:
                return f"a star meets an avoid set at t = {t:.4g}", a
    if spec.goal is not None and abs(t - final) <= TIME_TOL:
        ok, a = _outside(S, spec.goal)
        if not ok:
            return f"a star misses the goal at t = {t:.4g}", a
    return None, None


def star_reach(loop: ClosedLoop, X0: Box, steps: int, spec: Spec, method: str, *, max_stars: int = 10_000,
               deadline: Deadline | None = None, final: float | None = None) -> StarPipe:
    """The stars of ``loop`` from X0 at the sample times ``0, period, ..., steps * period``, each checked
    against ``spec`` as it is made; stops at the first star not proved (``failure`` and ``witness`` set)
    or when a sample time would have more than ``max_stars`` stars (``capped``).

    Args:
        method: ``"exact-star"`` (a list of stars per sample time, their union exact) or
            ``"approx-star"`` (one star per sample time, containing the exact set).
        final: the time of the goal (default ``steps * period``).
    Raises :class:`nnreach.verify.deadline.Timeout` when ``deadline`` passes.
    """
    if method not in STAR_METHODS:
        raise InputError(f"unknown star method {method!r}; choose one of {', '.join(STAR_METHODS)}")
    if X0.dim != loop.plant.n:
        raise InputError(f"the initial set has {X0.dim} dimensions but the plant has {loop.plant.n} states")
    require_linear(loop.plant, method)
    dis = discretise(loop.plant, loop.period)
    final = steps * loop.period if final is None else final
    interrupt = None if deadline is None else deadline.check
    options = StarOptions(interrupt=interrupt)
    X = Star.from_box(X0)
    pipe = StarPipe(X)
    stars = [X]
    for k in range(steps + 1):
        t = k * loop.period
        for S in stars:
            pipe.sets.append(FlowSet(t, t, S))
            why, a = check_star(spec, S, t, final)
            if why is not None:
                pipe.failure, pipe.witness = why, a
                return pipe
        if k == steps:
            return pipe
        nxt: list[Star] = []
        idx = np.zeros(0, dtype=int)
        for S in stars:
            for Y, idx in step(loop, dis, S, method, options):
                if len(nxt) == max_stars:
                    pipe.failure = (f"exact-star: more than {max_stars} stars at t = {t + loop.period:.4g} "
                                    "(options.max_stars); try approx-star or a larger max_stars")
                    pipe.capped = True
                    return pipe
                nxt.append(Y)
                if interrupt is not None:
                    interrupt()
        # the disturbance variables sit at the same indices in every star of a step only when no star
        # gained relaxation variables (exact-star); approx-star has one star per step
        pipe.disturbance_vars.append((idx, np.flatnonzero(loop.plant.w_hi > loop.plant.w_lo)))
        stars = nxt
    return pipe


def pieces_of(X0: Box, count: int) -> list[Box]:
    """X0 cut into ``count`` boxes or a few more (each bisection halves the currently widest relative
    coordinate of the largest box), for reaching them at once; X0 itself when ``count <= 1``."""
    boxes = [X0]
    free = X0.hi > X0.lo
    if not free.any():
        return boxes
    width = np.where(free, X0.hi - X0.lo, 1.0)
    while len(boxes) < count:
        boxes.sort(key=lambda b: -math.prod(((b.hi - b.lo) / width)[free]))
        b = boxes.pop(0)
        k = int(np.argmax(np.where(free, (b.hi - b.lo) / width, -1.0)))
        mid = (b.lo[k] + b.hi[k]) / 2
        hi, lo = b.hi.copy(), b.lo.copy()
        hi[k], lo[k] = mid, mid
        boxes += [Box(b.lo, hi), Box(lo, b.hi)]
    return boxes
