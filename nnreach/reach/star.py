"""Star-set reach rules: ``"approx-star"`` (triangle relaxations) and ``"exact-star"`` (splitting).

Affine ops are exact on stars under both methods: the center goes through the op, the basis through
its linear part; the predicate is unchanged.

``"approx-star"`` (NNV's approx-star): a neuron of a piecewise-linear activation whose input range
``[l, u]`` lies in one linear piece is mapped exactly; otherwise it gets one fresh predicate variable
``z`` constrained to the convex hull of the activation's graph over ``[l, u]`` (for ReLU the triangle
``z >= 0, z >= x, z <= u (x - l) / (u - l)``). The range comes from cheap interval bounds over the
predicate box, then, if ``StarOptions.lp_bounds``, from two LPs per neuron the cheap bounds leave
undecided. Max pooling maps a window exactly when one entry dominates, else bounds it by a fresh
variable above every entry that can be the maximum.

``"exact-star"`` (NNV's exact-star, organised like nnenum): an activation splits the star into one
star per linear piece its input can reach, max pooling into one star per window entry that can be the
maximum; the union of the pieces is the exact image. The rule returns an iterator that works
depth-first, one undecided neuron at a time: cheap bounds decide most neurons; feasible points from
earlier LPs (witnesses) show that a neuron crosses a breakpoint without an LP; otherwise one or two
LPs, warm-started on one HiGHS model per branch, give its exact range. A branch that split has its
predicate box tightened by LP before it is yielded, which sharpens the cheap bounds of later layers.
No predicate variables are added, so every star keeps the input star's variables.

Predicate variables and constraints are only ever appended (see :mod:`.propagate` for why).
Sigmoid and tanh have no star rule yet (the registry raises UnsupportedError).

Reference: Tran et al., Star-Based Reachability Analysis of Deep Neural Networks, FM 2019; Bak et al.,
Improved Geometric Path Enumeration for Verifying ReLU Neural Networks (nnenum), CAV 2020.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import combinations
from typing import Callable, Iterator

import numpy as np

from ..errors import UnsupportedError
from ..lp import LinearProgram, LPStatus
from ..network.ops import (Activation, Add, AvgPool2d, Clip, Concat, Conv2d, ElementwiseAffine, LeakyRelu, Linear,
                           MaxPool2d, Op, Relu, Reshape, SparseAffine, Transpose, pool_windows, sliding_windows)
from ..sets.star import Star
from ._apply import apply_flat, linear_part
from .registry import rule
from .relax import parallel_relaxation

APPROX = "approx-star"
EXACT = "exact-star"
PIECEWISE = (Relu, LeakyRelu, Clip)


@dataclass(frozen=True, slots=True)
class StarOptions:
    """Options of the star rules (pass to :func:`nnreach.reach.reach` as ``options=``).

    Attributes:
        lp_bounds: approx-star: tighten the input range of neurons the cheap bounds leave undecided by
            LP (two per neuron; much tighter, and much slower on large layers).
        tighten_max_pred: exact-star: tighten the predicate box of a star that split (two LPs per
            predicate variable) only when it has at most this many variables.
        tol: a range within ``tol (1 + |v|)`` of a breakpoint counts as on one side (absorbs LP
            round-off; the output is then off by at most that much).
        max_witnesses: feasible points kept per branch to skip LPs.
        interrupt: called between LPs (a deadline check that raises to stop), or None.
        counters: a dict whose ``"lps"`` entry counts LP solves, or None.
        cache: exact-star: a dict (one per walk, e.g. ``{}``) through which a split hands its LP and
            feasible points to the next split of the same star, or None.
        prune: exact-star: ``prune(node, partial)`` is called for each branch of a split (before
            any split, and after each one) with a star containing the branch's image under node
            ``node`` (decided units exact, open ones relaxed as in approx-star); True drops the branch,
            False keeps it, a predicate point of ``partial`` keeps it and makes the next split explore
            the case containing that point first.
        node: the index of the node whose rule gets these options (set by the walk, for ``prune``).
    """

    lp_bounds: bool = True
    tighten_max_pred: int = 32
    tol: float = 1e-9
    max_witnesses: int = 32
    interrupt: Callable[[], None] | None = None
    counters: dict | None = field(default=None, compare=False)
    cache: dict | None = field(default=None, compare=False)
    prune: Callable[[int, Star], bool | np.ndarray] | None = None
    node: int = -1

    def for_node(self, index: int) -> StarOptions:
        """These options for the rule of node ``index`` (the walk calls this; ``prune`` needs it)."""
        return self if self.prune is None else replace(self, node=index)

    def tick(self, lps: int = 0) -> None:
        if self.counters is not None and lps:
            self.counters["lps"] = self.counters.get("lps", 0) + lps
        if self.interrupt is not None:
            self.interrupt()


DEFAULT = StarOptions()


# ---------------------------------------------------------------------------------------------
# Affine ops (both methods)


@rule((Linear, ElementwiseAffine, Add, Concat, Reshape, Transpose, SparseAffine, Conv2d, AvgPool2d), Star, APPROX)
@rule((Linear, ElementwiseAffine, Add, Concat, Reshape, Transpose, SparseAffine, Conv2d, AvgPool2d), Star, EXACT)
def affine_star(op: Op, xs: tuple[Star, ...], shapes, options: StarOptions = DEFAULT) -> Star:
    """Exact image under an affine op; multi-input ops get stars over the same predicate."""
    x = xs[0]
    out_shape = op.output_shape(*shapes)
    if isinstance(op, Reshape):
        center, basis = x.center, x.basis
    elif isinstance(op, Linear) and len(shapes[0]) == 1:
        center, basis = op.weight @ x.center + op.bias, op.weight @ x.basis
    else:
        center = apply_flat(op, [s.center[None] for s in xs], shapes)[0]
        basis = linear_part(op, [s.basis for s in xs], shapes)
    return Star(center, basis, x.C, x.d, x.pred_lb, x.pred_ub, out_shape)


# ---------------------------------------------------------------------------------------------
# Piecewise-linear activations: pieces, ranges


@lru_cache(maxsize=256)
def pieces(op: Activation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The linear pieces of a piecewise-linear activation.

    Returns:
        ``(b, s, t)``: sorted breakpoints (p,), and slopes and intercepts (p + 1,): on piece ``j``,
        ``[b[j-1], b[j]]`` (open-ended at both ends), ``f(x) = s[j] x + t[j]``.
    """
    bps = op.breakpoints
    if bps is None:
        raise UnsupportedError(f"{type(op).__name__} is not piecewise linear")
    b = np.unique(np.asarray(bps, dtype=np.float64))
    q = np.concatenate([[b[0] - 1.0], (b[:-1] + b[1:]) / 2, [b[-1] + 1.0]])
    w = np.concatenate([[0.5], (b[1:] - b[:-1]) / 4, [0.5]])
    s = (op.forward(q + w) - op.forward(q - w)) / (2 * w)
    t = op.forward(q) - s * q
    for arr in (b, s, t):
        arr.setflags(write=False)
    return b, s, t


def piece_lo(b: np.ndarray, v, tol: float) -> np.ndarray:
    """Index of the lowest piece a range with minimum ``v`` reaches by more than ``tol (1 + |v|)``."""
    v = np.asarray(v, dtype=np.float64)
    return np.searchsorted(b, v + tol * (1 + np.abs(v)), side="right")


def piece_hi(b: np.ndarray, v, tol: float) -> np.ndarray:
    """Index of the highest piece a range with maximum ``v`` reaches by more than ``tol (1 + |v|)``."""
    v = np.asarray(v, dtype=np.float64)
    return np.searchsorted(b, v - tol * (1 + np.abs(v)), side="left")


def piece_constraints(c: float, v: np.ndarray, b: np.ndarray, j: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Constraints ``A a <= rhs`` that put the neuron ``c + v . a`` in piece ``j`` of ``lo..hi``:
    ``>= b[j-1]`` unless ``j = lo`` and ``<= b[j]`` unless ``j = hi``; shapes (k, m), (k,), k <= 2."""
    A, rhs = [], []
    if j > lo:
        A.append(-v)
        rhs.append(c - b[j - 1])
    if j < hi:
        A.append(v)
        rhs.append(b[j] - c)
    return np.array(A).reshape(len(A), v.size), np.array(rhs, dtype=float)


def piece_range(b: np.ndarray, lo: np.ndarray, hi: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the lowest and highest pieces that ``[lo, hi]`` reaches (equal when it reaches one)."""
    jh = piece_hi(b, hi, tol)
    return np.minimum(piece_lo(b, lo, tol), jh), jh


def _lp_range(lp: LinearProgram, c: np.ndarray, V: np.ndarray, l: np.ndarray, u: np.ndarray,
              options: StarOptions) -> None:
    """Tighten ``l``, ``u`` (in place) to the LP range of ``c + V a``, widened a little for round-off."""
    for out, solve, sign in ((l, lp.minimize, -1.0), (u, lp.maximize, 1.0)):
        for i in range(V.shape[0]):
            options.tick(1)
            r = solve(V[i])
            if r.status is not LPStatus.OPTIMAL:
                return  # an empty (or numerically troubled) star: the cheap bounds stay valid
            v = r.value + c[i] + sign * options.tol * (1 + abs(r.value + c[i]))
            out[i] = min(out[i], v) if sign > 0 else max(out[i], v)


def input_range(x: Star, undecided: Callable[[np.ndarray, np.ndarray], np.ndarray],
                options: StarOptions) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the star's entries: cheap, then by LP where ``undecided(l, u)`` (a mask) asks for it
    and ``options.lp_bounds`` allows it."""
    l, u = x.estimate_bounds()
    if options.lp_bounds and x.C.shape[0]:
        idx = np.flatnonzero(undecided(l, u))
        if idx.size:
            ll, uu = l[idx], u[idx]
            _lp_range(LinearProgram(x.C, x.d, x.pred_lb, x.pred_ub), x.center[idx], x.basis[idx], ll, uu, options)
            l[idx], u[idx] = ll, np.maximum(uu, ll)
    return l, u


# ---------------------------------------------------------------------------------------------
# approx-star


def _extend(x: Star, center, basis_old, fresh_rows, scale, A_old, A_new, rhs, lo_new, hi_new, shape) -> Star:
    """A star with ``k`` fresh variables; output entry ``fresh_rows[j]`` gains ``scale[j]`` times the
    j-th of them, and the rows ``A_old a + A_new e <= rhs`` are appended."""
    n, m, k = center.shape[0], x.num_pred, fresh_rows.shape[0]
    basis = np.hstack([basis_old, np.zeros((n, k))])
    basis[fresh_rows, m + np.arange(k)] = scale
    C = np.block([[x.C, np.zeros((x.C.shape[0], k))], [A_old, A_new]])
    return Star(center, basis, C, np.concatenate([x.d, rhs]), np.concatenate([x.pred_lb, lo_new]),
                np.concatenate([x.pred_ub, hi_new]), shape)


def hull_lines(op: Activation, b: np.ndarray, l: np.ndarray, u: np.ndarray):
    """The facets of the convex hull of the graph of ``f`` over ``[l, u]`` (per neuron; l < u).

    Yields ``(slope, intercept, upper, lower)`` arrays shaped like ``l``: the line through two
    vertices of the graph, whether it bounds ``f`` from above / below on ``[l, u]``, and the rounding
    tolerance to widen the intercept by.
    """
    X = np.vstack([l[None], np.clip(b[:, None], l, u), u[None]])
    Y = op.forward(X)
    scale = 1 + np.abs(X).max(axis=0) + np.abs(Y).max(axis=0)
    tol = 1e-12 * scale
    if b.size == 1 and np.all(X[1] - X[0] > tol) and np.all(X[2] - X[1] > tol):
        # one breakpoint strictly inside: the triangle of the two piece lines and the chord
        _, s, t = pieces(op)
        chord = (Y[2] - Y[0]) / (X[2] - X[0])
        convex = s[1] > s[0]
        yes = np.ones(l.shape, dtype=bool)
        yield np.full(l.shape, s[0]), np.full(l.shape, t[0]), yes & ~convex, yes & convex, tol
        yield np.full(l.shape, s[1]), np.full(l.shape, t[1]), yes & ~convex, yes & convex, tol
        yield chord, Y[0] - chord * X[0], yes & convex, yes & ~convex, tol
        return
    dup = np.zeros(X.shape, dtype=bool)
    for i, j in combinations(range(X.shape[0]), 2):
        dup[j] |= np.abs(X[j] - X[i]) <= tol
    for i, j in combinations(range(X.shape[0]), 2):
        dx = X[j] - X[i]
        ok = ~dup[i] & ~dup[j] & (dx > tol)
        slope = np.where(ok, (Y[j] - Y[i]) / np.where(ok, dx, 1.0), 0.0)
        icpt = Y[i] - slope * X[i]
        r = Y - (slope * X + icpt)
        yield slope, icpt, ok & np.all(r <= tol, axis=0), ok & np.all(r >= -tol, axis=0), tol


def relax_activation(op: Activation, x: Star, l: np.ndarray, u: np.ndarray, fixed: np.ndarray | None = None,
                     tol: float = DEFAULT.tol) -> Star:
    """The approx-star image of ``x`` given input bounds ``l``, ``u`` (n,); ``fixed`` (n,) may name the
    piece of some neurons (-1 for the others), which are then mapped by that piece.

    An open neuron's output is ``z = lam x + mid + rad e`` with a fresh ``e`` in [-1, 1] (the DeepZ band
    of :func:`.relax.parallel_relaxation`, so cheap bounds keep the correlation with ``x``), cut down to
    the convex hull of the graph by the rows ``sign (z - slope x) <= sign icpt`` of :func:`hull_lines`.
    """
    b, s, t = pieces(op)
    jl, jh = piece_range(b, l, u, tol)
    if fixed is not None:
        jl, jh = np.where(fixed >= 0, fixed, jl), np.where(fixed >= 0, fixed, jh)
    stable = jl == jh
    center = s[jl] * x.center + t[jl]
    basis = s[jl][:, None] * x.basis
    idx = np.flatnonzero(~stable)
    if not idx.size:
        return Star(center, basis, x.C, x.d, x.pred_lb, x.pred_ub, x.shape)
    L, U = l[idx], np.maximum(u[idx], l[idx])
    lam, mu_lo, mu_hi = parallel_relaxation(op, L, U)
    mid, rad = (mu_lo + mu_hi) / 2, (mu_hi - mu_lo) / 2
    center[idx] = lam * x.center[idx] + mid
    basis[idx] = lam[:, None] * x.basis[idx]
    rows_a, rows_e, rhs = [], [], []
    for slope, icpt, upper, lower, eps in hull_lines(op, b, L, U):
        for mask, sign in ((upper, 1.0), (lower, -1.0)):
            k = np.flatnonzero(mask)
            i = idx[k]
            rows_a.append(sign * (lam[k] - slope[k])[:, None] * x.basis[i])
            rows_e.append((k, sign * rad[k]))
            rhs.append(sign * (icpt[k] + (slope[k] - lam[k]) * x.center[i] - mid[k]) + eps[k])
    A_old = np.vstack(rows_a)
    A_new = np.zeros((A_old.shape[0], idx.size))
    start = 0
    for k, coef in rows_e:
        A_new[start + np.arange(k.size), k] = coef
        start += k.size
    return _extend(x, center, basis, idx, rad, A_old, A_new, np.concatenate(rhs), -np.ones(idx.size),
                   np.ones(idx.size), x.shape)


@rule(PIECEWISE, Star, APPROX)
def activation_approx(op: Activation, xs, shapes, options: StarOptions = DEFAULT) -> Star:
    """Exact on neurons within one piece, the convex hull of the graph with a fresh variable elsewhere."""
    x = xs[0]
    b = pieces(op)[0]
    l, u = input_range(x, lambda l, u: np.not_equal(*piece_range(b, l, u, options.tol)), options)
    return relax_activation(op, x, l, u, tol=options.tol)


def _pool_candidates(win: np.ndarray, l: np.ndarray, u: np.ndarray):
    """Per window: which entries can be the maximum, and the window's lower bound."""
    valid = win >= 0
    wl = np.where(valid, l[win], -np.inf)
    floor = wl.max(axis=1)
    return valid & (np.where(valid, u[win], -np.inf) >= floor[:, None]), wl, floor


def relax_maxpool(win: np.ndarray, x: Star, l: np.ndarray, u: np.ndarray, out_shape,
                  fixed: np.ndarray | None = None, tol: float = DEFAULT.tol) -> Star:
    """The approx-star image of max pooling over windows ``win`` given input bounds ``l``, ``u``;
    ``fixed`` (n_out,) may name the maximal entry of some windows (-1 for the others)."""
    cand, wl, floor = _pool_candidates(win, l, u)
    rows = np.arange(win.shape[0])
    best = win[rows, wl.argmax(axis=1)]
    exact = cand.sum(axis=1) == 1
    if fixed is not None:
        best, exact = np.where(fixed >= 0, fixed, best), exact | (fixed >= 0)
    center = np.where(exact, x.center[best], 0.0)
    basis = np.where(exact[:, None], x.basis[best], 0.0)
    fresh = np.flatnonzero(~exact)
    if not fresh.size:
        return Star(center, basis, x.C, x.d, x.pred_lb, x.pred_ub, out_shape)
    ceil = np.where(cand, u[np.maximum(win, 0)], -np.inf).max(axis=1)[fresh]
    w_idx, k_idx = np.nonzero(cand[fresh])
    entries = win[fresh][w_idx, k_idx]
    b_fresh = best[fresh]
    A_old = np.vstack([x.basis[entries], -x.basis[b_fresh]])          # x_k - z <= 0; z - x_j <= ceil - l_j
    A_new = np.zeros((A_old.shape[0], fresh.size))
    A_new[np.arange(entries.size), w_idx] = -1.0
    A_new[entries.size + np.arange(fresh.size), np.arange(fresh.size)] = 1.0
    rhs = np.concatenate([-x.center[entries], ceil - l[b_fresh] + x.center[b_fresh]])
    rhs += tol * (1 + np.abs(rhs))
    return _extend(x, center, basis, fresh, np.ones(fresh.size), A_old, A_new, rhs, floor[fresh], ceil, out_shape)


@rule(MaxPool2d, Star, APPROX)
def maxpool_approx(op: MaxPool2d, xs, shapes, options: StarOptions = DEFAULT) -> Star:
    """Exact where one entry dominates its window; else a fresh ``z`` with ``z >= x_k`` for every
    candidate entry, ``max_k l_k <= z <= max_k u_k`` and ``z <= x_j + max_k u_k - l_j`` for the entry
    ``j`` with the largest lower bound."""
    x, shape = xs[0], shapes[0]
    win = pool_windows(op, shape)

    def undecided_entries(l, u):
        cand, _, _ = _pool_candidates(win, l, u)
        mask = np.zeros(l.shape[0], dtype=bool)
        mask[win[cand & (cand.sum(axis=1) > 1)[:, None]]] = True
        return mask

    l, u = input_range(x, undecided_entries, options)
    return relax_maxpool(win, x, l, u, op.output_shape(shape), tol=options.tol)


# ---------------------------------------------------------------------------------------------
# exact-star: depth-first splitting


@dataclass(slots=True)
class _Branch:
    """One branch of a split.

    Attributes:
        C, d: the constraints so far.
        choice: the case chosen per unit, -1 while open.
        lb, ub: the predicate box, kept tight (the LP bounds of the constraints) when tracked.
        wlo, whi: (m, m): row i is a feasible point with ``a_i = lb_i`` (resp. ``ub_i``); NaN if unknown.
        wit: (p, m) further feasible points (LP optima).
        lp: an LP over the constraints, built on demand and warm-started across the branch.
    """

    C: np.ndarray
    d: np.ndarray
    choice: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    wlo: np.ndarray
    whi: np.ndarray
    wit: np.ndarray
    lp: LinearProgram | None = None
    guide: np.ndarray | None = None
    priority: np.ndarray | None = None

    def child(self, unit: int, value: int, A: np.ndarray, rhs: np.ndarray, tol: float) -> _Branch:
        """A copy restricted by ``A a <= rhs``; witnesses it cuts off are dropped (NaN)."""
        choice = self.choice.copy()
        choice[unit] = value
        ok = lambda W: _satisfies(W, A, rhs, tol)
        return _Branch(np.vstack([self.C, A]), np.concatenate([self.d, rhs]), choice, self.lb.copy(),
                       self.ub.copy(), np.where(ok(self.wlo)[:, None], self.wlo, np.nan),
                       np.where(ok(self.whi)[:, None], self.whi, np.nan), self.wit[ok(self.wit)])


def _satisfies(W: np.ndarray, A: np.ndarray, rhs: np.ndarray, tol: float) -> np.ndarray:
    """Which rows of W satisfy ``A w <= rhs`` up to the tolerance (NaN rows do not)."""
    return np.all(W @ A.T <= rhs + tol * (1 + np.abs(rhs)), axis=1)


Case = tuple[int, np.ndarray | None, np.ndarray | None]
"""(choice value, rows A, rhs b): the case adds ``A a <= b`` (None: nothing to add)."""


def _key(C: np.ndarray, d: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> tuple:
    return C.shape, d.tobytes(), lb.tobytes(), ub.tobytes()


class _Splitter:
    """Depth-first enumeration of the cases of a star's open units (neurons or pooling windows).

    Subclasses say how a unit's cases are found (:meth:`resolve`) and what star a finished branch
    gives (:meth:`emit`). ``options.cache`` (when a dict) hands a finished branch's LP and witnesses
    to the next splitting rule that receives a star over the same predicate.
    """

    CACHE_SIZE = 16

    def __init__(self, x: Star, options: StarOptions):
        self.x, self.options = x, options
        self.track = x.num_pred <= options.tighten_max_pred

    def resolve(self, br: _Branch, todo: np.ndarray) -> tuple[int, list[Case]] | None:
        """Decide what the branch's box decides (in ``br.choice``), then pick an open unit of ``todo``
        and return its possible cases (one: decided; none: the branch is empty); None if every unit
        was decided."""
        raise NotImplementedError

    def emit(self, br: _Branch) -> Star:
        raise NotImplementedError

    def partial(self, br: _Branch) -> Star:
        """A star containing the branch's image: decided units exact, open ones relaxed."""
        raise NotImplementedError

    def branch_star(self, br: _Branch) -> Star:
        """The input star restricted to the branch."""
        x = self.x
        return Star(x.center, x.basis, br.C, br.d, br.lb, br.ub, x.shape)

    def pruned(self, br: _Branch) -> bool:
        opts = self.options
        if opts.prune is None:
            return False
        verdict = opts.prune(opts.node, self.partial(br))
        if isinstance(verdict, np.ndarray):
            br.guide = verdict[:self.x.num_pred]
            return False
        return bool(verdict)

    def cheap_bounds(self, br: _Branch, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Interval bounds of the entries ``rows`` of the star over the branch's box."""
        mid, rad = (br.lb + br.ub) / 2, (br.ub - br.lb) / 2
        c = self.x.center[rows] + self.x.basis[rows] @ mid
        r = np.abs(self.x.basis[rows]) @ rad
        return c - r, c + r

    def lp(self, br: _Branch) -> LinearProgram:
        if br.lp is None:
            br.lp = LinearProgram(br.C, br.d, self.x.pred_lb, self.x.pred_ub)
        return br.lp

    def solve(self, br: _Branch, sense: str, c: np.ndarray, keep: bool = True):
        """Minimize or maximize ``c @ a`` over the branch; the optimum becomes a witness if ``keep``."""
        self.options.tick(1)
        r = getattr(self.lp(br), sense)(c)
        if keep and r.status is LPStatus.OPTIMAL:
            br.wit = np.vstack([br.wit[len(br.wit) + 1 - self.options.max_witnesses:], r.x[None]])
        return r

    def root(self, choice: np.ndarray) -> _Branch:
        x, m = self.x, self.x.num_pred
        cache = self.options.cache
        entry = cache.pop(_key(x.C, x.d, x.pred_lb, x.pred_ub), None) if cache is not None else None
        if entry is not None and np.array_equal(entry[0], x.C):
            _, lp, wlo, whi, wit = entry
            return _Branch(x.C, x.d, choice, x.pred_lb.copy(), x.pred_ub.copy(), wlo, whi, wit, lp)
        wlo, whi = np.full((m, m), np.nan), np.full((m, m), np.nan)
        if not x.C.shape[0]:  # a plain box: its corners' neighbours are witnesses
            mid = (x.pred_lb + x.pred_ub) / 2
            wlo, whi = np.tile(mid, (m, 1)), np.tile(mid, (m, 1))
            np.fill_diagonal(wlo, x.pred_lb)
            np.fill_diagonal(whi, x.pred_ub)
        return _Branch(x.C, x.d, choice, x.pred_lb.copy(), x.pred_ub.copy(), wlo, whi, np.zeros((0, m)))

    def refresh(self, br: _Branch) -> bool:
        """Re-tighten the box sides whose witness is unknown or cut off; False if the branch is empty."""
        if not self.track:
            return True
        eye, tol = np.eye(self.x.num_pred), self.options.tol
        for W, bound, sense, sign in ((br.wlo, br.lb, "minimize", -1.0), (br.whi, br.ub, "maximize", 1.0)):
            for i in np.flatnonzero(np.isnan(W[:, 0])):
                r = self.solve(br, sense, eye[i], keep=False)
                if r.status is LPStatus.INFEASIBLE:
                    return False
                if r.status is not LPStatus.OPTIMAL:
                    continue
                W[i] = r.x
                v = r.value + sign * tol * (1 + abs(r.value))
                bound[i] = min(bound[i], v) if sign > 0 else max(bound[i], v)
        br.ub = np.maximum(br.ub, br.lb)
        return True

    def run(self, choice: np.ndarray) -> Iterator[Star]:
        opts = self.options
        stack = [self.root(choice)]
        first = True
        while stack:
            br = stack.pop()
            if (not first and not self.refresh(br)) or self.pruned(br):
                continue
            first = False
            while True:
                todo = np.flatnonzero(br.choice < 0)
                if not todo.size:
                    yield self.emit(br)
                    if opts.cache is not None:
                        while len(opts.cache) >= self.CACHE_SIZE:
                            del opts.cache[next(iter(opts.cache))]
                        opts.cache[_key(br.C, br.d, br.lb, br.ub)] = (br.C, br.lp, br.wlo, br.whi, br.wit)
                    break
                opts.tick()
                res = self.resolve(br, todo)
                if res is None:
                    continue
                unit, cases = res
                if not cases:
                    break
                if len(cases) == 1:
                    br.choice[unit] = cases[0][0]
                    continue
                if br.guide is not None:  # the case containing the guide point first
                    inside = [_satisfies(br.guide[None], A, rhs, opts.tol)[0] for _, A, rhs in cases]
                    cases.insert(0, cases.pop(int(np.argmax(inside))))
                stack.extend(br.child(unit, value, A, rhs, opts.tol) for value, A, rhs in cases[:0:-1])
                value, A, rhs = cases[0]
                lp, br = br.lp, br.child(unit, value, A, rhs, opts.tol)
                if lp is not None:
                    lp.add_constraints(A, rhs)
                    br.lp = lp
                if not self.refresh(br) or self.pruned(br):
                    break


class _ActivationSplitter(_Splitter):
    """Units are neurons; cases are the linear pieces their input reaches."""

    def __init__(self, op: Activation, x: Star, options: StarOptions):
        super().__init__(x, options)
        self.op = op
        self.b, self.s, self.t = pieces(op)

    def start(self) -> Iterator[Star]:
        jl, jh = piece_range(self.b, *self.x.estimate_bounds(), self.options.tol)
        return self.run(np.where(jl == jh, jl, -1))

    def resolve(self, br, todo):
        x, b, tol = self.x, self.b, self.options.tol
        jl, jh = piece_range(b, *self.cheap_bounds(br, todo), tol)
        decided = jl == jh
        if decided.any():
            br.choice[todo[decided]] = jl[decided]
            todo, jl, jh = todo[~decided], jl[~decided], jh[~decided]
            if not todo.size:
                return None
        known_lo = known_hi = np.zeros(todo.size, dtype=bool)
        W = np.vstack([br.wit, br.wlo, br.whi])
        W = W[~np.isnan(W[:, 0])]
        if W.shape[0]:
            vals = x.center[todo, None] + x.basis[todo] @ W.T
            known_lo = piece_lo(b, vals.min(axis=1), tol) <= jl
            known_hi = piece_hi(b, vals.max(axis=1), tol) >= jh
            both = np.flatnonzero(known_lo & known_hi)
            if both.size:  # witnesses show the whole cheap range is reached: split without an LP
                k = both[0]
                return todo[k], self.cases(todo[k], jl[k], jh[k])
        i, lo, hi = todo[0], int(jl[0]), int(jh[0])
        if not known_lo[0]:
            r = self.solve(br, "minimize", x.basis[i])
            if r.status is not LPStatus.OPTIMAL:
                return i, []
            lo = min(int(piece_lo(b, r.value + x.center[i], tol)), hi)
        if lo < hi and not known_hi[0]:
            r = self.solve(br, "maximize", x.basis[i])
            if r.status is not LPStatus.OPTIMAL:
                return i, []
            hi = max(int(piece_hi(b, r.value + x.center[i], tol)), lo)
        return i, self.cases(i, lo, hi)

    def cases(self, i: int, lo: int, hi: int) -> list[Case]:
        """Piece ``j`` of ``lo..hi`` adds ``x_i >= b[j-1]`` (unless j = lo) and ``x_i <= b[j]`` (unless j = hi)."""
        if lo >= hi:
            return [(lo, None, None)]
        c, v = self.x.center[i], self.x.basis[i]
        return [(j, *piece_constraints(c, v, self.b, j, lo, hi)) for j in range(lo, hi + 1)]

    def partial(self, br):
        l, u = self.cheap_bounds(br, np.arange(self.x.dim))
        return relax_activation(self.op, self.branch_star(br), l, u, br.choice, self.options.tol)

    def emit(self, br):
        x, j = self.x, br.choice
        return Star(self.s[j] * x.center + self.t[j], self.s[j][:, None] * x.basis, br.C, br.d, br.lb, br.ub, x.shape)


class _PoolSplitter(_Splitter):
    """Units are pooling windows; cases are the window entries that can be the maximum."""

    def __init__(self, op: MaxPool2d, x: Star, shape, options: StarOptions):
        super().__init__(x, options)
        self.win, self.out_shape = pool_windows(op, shape), op.output_shape(shape)

    def start(self) -> Iterator[Star]:
        cand, _, _ = _pool_candidates(self.win, *self.x.estimate_bounds())
        single = cand.sum(axis=1) == 1
        return self.run(np.where(single, self.win[np.arange(self.win.shape[0]), cand.argmax(axis=1)], -1))

    def resolve(self, br, todo):
        x, w = self.x, todo[0]
        row = self.win[w]
        l, u = self.cheap_bounds(br, np.maximum(row, 0))
        cand, _, _ = _pool_candidates(np.where(row >= 0, np.arange(row.size), -1)[None], l, u)
        entries = row[cand[0]]
        cases = []
        for j in entries:
            others = entries[entries != j]
            A = x.basis[others] - x.basis[j]
            rhs = x.center[j] - x.center[others]
            if not _satisfies(br.wit, A, rhs, self.options.tol).any():
                self.options.tick(1)
                lp = LinearProgram(np.vstack([br.C, A]), np.concatenate([br.d, rhs]), x.pred_lb, x.pred_ub)
                r = lp.minimize(np.zeros(x.num_pred))
                if r.status is not LPStatus.OPTIMAL:
                    continue
                br.wit = np.vstack([br.wit[len(br.wit) + 1 - self.options.max_witnesses:], r.x[None]])
            cases.append((int(j), A, rhs))
        if len(cases) == 1:
            return w, [(cases[0][0], None, None)]
        return w, cases

    def partial(self, br):
        l, u = self.cheap_bounds(br, np.arange(self.x.dim))
        return relax_maxpool(self.win, self.branch_star(br), l, u, self.out_shape, br.choice, self.options.tol)

    def emit(self, br):
        return Star(self.x.center[br.choice], self.x.basis[br.choice], br.C, br.d, br.lb, br.ub, self.out_shape)


@rule(PIECEWISE, Star, EXACT)
def activation_exact(op: Activation, xs, shapes, options: StarOptions = DEFAULT) -> Iterator[Star]:
    """Stars (depth-first, lazily) whose union is the exact image; each is non-empty."""
    return _ActivationSplitter(op, xs[0], options).start()


@rule(MaxPool2d, Star, EXACT)
def maxpool_exact(op: MaxPool2d, xs, shapes, options: StarOptions = DEFAULT) -> Iterator[Star]:
    """Stars (depth-first, lazily), one per combination of window maxima; union = exact image."""
    return _PoolSplitter(op, xs[0], shapes[0], options).start()
