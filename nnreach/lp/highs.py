"""An incremental linear program over HiGHS (``highspy``), with checked answers.

The model ``{x in R^n : A_ub x <= b_ub, A_eq x = b_eq, lb <= x <= ub}`` is passed to HiGHS once; each
``minimize``/``maximize`` changes only the objective, so the simplex method restarts from
the previous optimal basis (primal simplex, since that basis stays primal feasible), and
``add_constraints`` appends rows (dual simplex on the next solve, since the basis stays
dual feasible).

A verifier must not trust a solver blindly: every proof built on an LP rests on its optimal value
or on its claim that a set is empty. So neither is taken from HiGHS as it is:

* the value returned is a *bound* computed here from HiGHS's dual solution ``y`` by weak duality,
  ``min c.x >= y.b + sum_i min(d_i lb_i, d_i ub_i)`` with ``d = c - A^T y`` (``y <= 0`` on the
  inequality rows, of either sign on the equality rows), less a
  rounding allowance: it can only be below the true minimum (above the maximum), never optimistic,
  and equals the optimum up to solver tolerances. HiGHS leaves reduced costs up to its tolerance
  (1e-7) on a column; on a column without a finite bound that makes the sum ``-inf`` (an objective
  ``(6e-17, 1)`` over a box given by rows was one). Then the column's range over the rows (its
  *implied* bounds, two more checked LPs, kept: rows are only ever added) bounds the term instead;
  an unbounded column stays ``-inf``;
* "infeasible" is only reported when HiGHS's dual ray is a Farkas certificate that checks out here:
  ``min over the box of (z^T A) x > z.b`` for ``z >= 0`` on the inequality rows (either sign on
  the equality rows). An unchecked claim is an ERROR (no
  decision), which callers treat as "could not show anything".

Presolve is off: besides costing more than it saves on programs this small, HiGHS 1.16's presolve
was measured to declare feasible one-row programs infeasible.

Example:
    >>> import numpy as np
    >>> lp = LinearProgram(np.array([[1.0, 1.0]]), np.array([1.0]), lb=np.zeros(2))
    >>> lp.maximize(np.array([2.0, 1.0])).value
    2.0
"""

from dataclasses import dataclass
from enum import StrEnum

import os
import sys

import highspy
import numpy as np

_DUAL_SIMPLEX = 1
_PRIMAL_SIMPLEX = 4
_ROUNDING = 4 * np.finfo(np.float64).eps
"""Relative rounding allowance per term of the checks' sums."""


class LPStatus(StrEnum):
    """Outcome of one solve."""

    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    TIME_LIMIT = "time limit"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class LPResult:
    """Result of one solve.

    Attributes:
        status: see :class:`LPStatus`.
        value: for OPTIMAL, a checked bound on the optimal value (lower for a minimization, upper
            for a maximization; see the module docstring); for a minimization ``+inf`` when
            infeasible and ``-inf`` when unbounded (signs swapped for a maximization); ``nan`` on
            error.
        x: an optimal point, shape (n,), or None unless the status is OPTIMAL.
    """

    status: LPStatus
    value: float
    x: np.ndarray | None


# HiGHS model status -> ours (HiGHS never reports "unbounded or infeasible" since its option
# allow_unbounded_or_infeasible is off by default). Anything else is an error.
_STATUS = {
    highspy.HighsModelStatus.kOptimal: LPStatus.OPTIMAL,
    highspy.HighsModelStatus.kInfeasible: LPStatus.INFEASIBLE,
    highspy.HighsModelStatus.kUnbounded: LPStatus.UNBOUNDED,
    highspy.HighsModelStatus.kTimeLimit: LPStatus.TIME_LIMIT,
}

_EMPTY = "empty set: the linear constraints are infeasible"


_banner_shown = False


def new_highs() -> highspy.Highs:
    """A silenced, single-threaded HiGHS instance without presolve.

    highspy prints its banner to the C-level stdout when the first instance of a process is
    constructed, before any option can be set; stdout (file descriptor 1) is pointed at /dev/null
    for that one construction, so the CLI's output stays clean.
    """
    global _banner_shown
    if _banner_shown:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _banner_shown = True
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("presolve", "off")  # see the module docstring
    return h


def csr_rows(A, n: int, name: str) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """``A`` (dense, or anything scipy.sparse accepts, shape (k, n)) in compressed rows:
    ``(k, row starts (k,), column indices, values)``, the layout HiGHS's ``addRows`` takes."""
    if isinstance(A, np.ndarray) or isinstance(A, (list, tuple)):
        M = np.asarray(A, dtype=np.float64)
        if M.ndim != 2 or M.shape[1] != n:
            raise ValueError(f"{name} must have shape (k, {n}), got {M.shape}")
        rows, cols = np.nonzero(M)
        starts = np.searchsorted(rows, np.arange(M.shape[0])).astype(np.int32)
        return M.shape[0], starts, cols.astype(np.int32), M[rows, cols]
    import scipy.sparse as sp  # only for sparse input; dense input avoids its import time

    M = sp.csr_array(A, dtype=np.float64)
    if M.ndim != 2 or M.shape[1] != n:
        raise ValueError(f"{name} must have shape (k, {n}), got {M.shape}")
    return M.shape[0], M.indptr[:-1].astype(np.int32), M.indices.astype(np.int32), M.data


def _vector(values, n: int, name: str, fill: float | None = None) -> np.ndarray:
    """``values`` as a float vector of shape (n,); None gives ``fill`` everywhere if allowed."""
    if values is None and fill is not None:
        return np.full(n, fill)
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {v.shape}")
    return v


@dataclass(frozen=True, slots=True)
class _Block:
    """Rows added at once, kept to check HiGHS's answers: entries ``values`` at ``(rows, cols)`` (rows
    numbered over the whole program, from ``start``), right-hand sides ``b``, and whether they are
    equalities."""

    start: int
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    b: np.ndarray
    equal: bool


class LinearProgram:
    """The feasible set ``{x in R^n : A_ub x <= b_ub, A_eq x = b_eq, lb <= x <= ub}`` loaded into HiGHS.

    Args:
        A_ub: constraint matrix, shape (k, n), dense numpy or scipy.sparse; k may be 0.
        b_ub: right-hand sides, shape (k,).
        lb: lower variable bounds, shape (n,); None means ``-inf``.
        ub: upper variable bounds, shape (n,); None means ``+inf``.
        A_eq, b_eq: equality rows (p, n) and their right-hand sides (p,), or None. An equality is one
            row, where two opposite inequalities would be two (half the non-zeros).

    HiGHS runs silenced and single-threaded. The object is mutable (``add_constraints``)
    and not thread-safe; build one per set operation. A copy of the rows is kept to check
    HiGHS's answers.
    """

    __slots__ = ("_highs", "_n", "_cols", "_rows_added", "_lb", "_ub", "_blocks", "_k", "_implied", "_nested")

    def __init__(self, A_ub, b_ub, lb=None, ub=None, A_eq=None, b_eq=None):
        shape = np.shape(A_ub)
        if len(shape) != 2:
            raise ValueError(f"A_ub must have shape (k, n), got {shape}")
        n = shape[1]
        self._n = n
        self._cols = np.arange(n, dtype=np.int32)
        h = new_highs()
        self._lb, self._ub = _vector(lb, n, "lb", -np.inf), _vector(ub, n, "ub", np.inf)
        h.addVars(n, self._lb, self._ub)
        self._highs = h
        self._rows_added = True
        self._blocks: list[_Block] = []
        self._k = 0
        self._implied = (self._lb.copy(), self._ub.copy())   # tightened on demand (see _implied_bounds)
        self._nested = False                                  # an LP of implied bounds: no further ones
        self.add_constraints(A_ub, b_ub)
        if A_eq is not None:
            self.add_constraints(A_eq, b_eq, equal=True)

    @property
    def num_vars(self) -> int:
        return self._n

    @property
    def num_constraints(self) -> int:
        return self._highs.getNumRow()

    def add_constraints(self, A, b, equal: bool = False) -> None:
        """Append the rows ``A x <= b`` (``A x = b`` with ``equal``); A has shape (p, n) (dense or
        sparse), b shape (p,)."""
        p, starts, cols, values = csr_rows(A, self._n, "A")
        upper = _vector(b, p, "b")
        if p == 0:
            return
        self._highs.addRows(p, upper if equal else np.full(p, -np.inf), upper, values.size, starts, cols, values)
        rows = self._k + np.repeat(np.arange(p), np.diff(np.append(starts, values.size)))
        self._blocks.append(_Block(self._k, rows, cols, values, upper, equal))
        self._k += p
        self._rows_added = True

    def limit_time(self, seconds: float) -> None:
        """Stop every later solve after ``seconds`` (status ``TIME_LIMIT``); ``inf``: no limit."""
        self._highs.setOptionValue("time_limit", float(max(seconds, 0.0)) if np.isfinite(seconds) else np.inf)

    def interior_point(self) -> None:
        """Solve with HiGHS's interior point method (then crossover to a basis, whose duals are checked
        as always) instead of the simplex method: much faster on large dense programs that are solved
        once (a 12,001 x 3,185 relaxation of a sigmoid net, its links then two inequalities each: 3.6 s
        instead of 120 s and 91,525 simplex iterations); the simplex method stays better for programs
        re-solved from a previous basis."""
        self._highs.setOptionValue("solver", "ipm")

    def minimize(self, c: np.ndarray) -> LPResult:
        """Minimize ``c @ x``; c has shape (n,). The value is a checked lower bound of the minimum."""
        c = _vector(c, self._n, "c")
        status = self._run(c)
        if status is LPStatus.OPTIMAL:
            sol = self._highs.getSolution()
            x = np.array(sol.col_value)
            return LPResult(status, self._dual_bound(c, np.array(sol.row_dual), x), x)
        value = {LPStatus.INFEASIBLE: np.inf, LPStatus.UNBOUNDED: -np.inf}.get(status, np.nan)
        return LPResult(status, value, None)

    # -- checking HiGHS's answers -------------------------------------------------------------------

    def _transpose_times(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``A^T y`` over all rows added so far, and ``|A|^T |y|`` (the size of its rounding error)."""
        out, size = np.zeros(self._n), np.zeros(self._n)
        for blk in self._blocks:
            out += np.bincount(blk.cols, weights=blk.values * y[blk.rows], minlength=self._n)
            size += np.bincount(blk.cols, weights=np.abs(blk.values * y[blk.rows]), minlength=self._n)
        return out, size

    def _rhs(self) -> np.ndarray:
        return np.concatenate([blk.b for blk in self._blocks]) if self._blocks else np.zeros(0)

    def _signed(self, y: np.ndarray, sign: float) -> np.ndarray:
        """``sign y`` with its entries on the inequality rows made ``>= 0`` (the multipliers that keep
        an inequality's direction; an equality's may have either sign)."""
        out = sign * y
        for blk in self._blocks:
            if not blk.equal:
                at = slice(blk.start, blk.start + blk.b.size)
                out[at] = np.maximum(out[at], 0.0)
        return out

    def _box_minimum(self, g: np.ndarray, noise: np.ndarray, x: np.ndarray | None = None,
                     bounds: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[float, float]:
        """``sum_i min(g_i lb_i, g_i ub_i)`` and the sum of the magnitudes of its terms, over the
        variable bounds or the given ones (valid on the feasible set).

        On a column with an infinite bound, a coefficient within rounding ``noise`` of 0 counts as
        0 (plus ``|g_i| (2 |x_i| + 1)`` with ``x`` the solver's point, if given): an exact dual would
        have 0 there, and only the optimum's own coordinate matters; a larger one makes the sum
        ``-inf``.
        """
        lb, ub = bounds if bounds is not None else (self._lb, self._ub)
        free = (~np.isfinite(lb) & (g > 0)) | (~np.isfinite(ub) & (g < 0))
        zero = free & (np.abs(g) <= _ROUNDING * (self._n + self._k + 1) * noise)
        gg = np.where(zero, 0.0, g)
        terms = np.zeros_like(gg)
        pos, neg = gg > 0, gg < 0
        terms[pos], terms[neg] = gg[pos] * lb[pos], gg[neg] * ub[neg]
        slack = float((np.abs(g[zero]) * (2 * np.abs(x[zero]) + 1)).sum()) if x is not None else 0.0
        finite = np.isfinite(terms)
        return float(terms.sum()) - slack, float(np.abs(terms[finite]).sum()) + slack

    def _dual_bound(self, c: np.ndarray, y: np.ndarray, x: np.ndarray) -> float:
        """A lower bound of ``min c.x`` from the row duals ``y`` (HiGHS's signs) by weak duality;
        ``x`` is the solver's optimal point (see :meth:`_box_minimum`)."""
        y = -self._signed(y, -1.0)
        b = self._rhs()
        Ay, noise = self._transpose_times(y)
        d = c - Ay
        box, size = self._box_minimum(d, noise + np.abs(c), x)
        if box == -np.inf and not self._nested:   # a reduced cost HiGHS left on a free column
            box, size = self._box_minimum(d, noise + np.abs(c), x, self._implied_bounds(d))
        yb = float(y @ b) if b.size else 0.0
        size += float(np.abs(y) @ np.abs(b)) if b.size else 0.0
        return yb + box - _ROUNDING * (self._n + self._k + 1) * size

    def _implied_bounds(self, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of every column valid on the feasible set, with the range over the rows computed
        (checked) for the infinite sides that the reduced costs ``d`` need; kept for later calls.
        The LPs run in a copy of the program, so that this one's solution stays the last solve's."""
        lb, ub = self._implied
        need_lo, need_hi = (d > 0) & ~np.isfinite(lb), (d < 0) & ~np.isfinite(ub)
        if self._blocks and (need_lo.any() or need_hi.any()):
            import scipy.sparse as sp

            copy = LinearProgram(np.zeros((0, self._n)), np.zeros(0), self._lb, self._ub)
            for blk in self._blocks:
                copy.add_constraints(sp.csr_array((blk.values, (blk.rows - blk.start, blk.cols)), shape=(blk.b.size, self._n)),
                                     blk.b, equal=blk.equal)
            copy._nested = True
            e = np.zeros(self._n)
            for i in np.flatnonzero(need_lo | need_hi):
                e[i] = 1.0
                if need_lo[i]:
                    r = copy.minimize(e)
                    if r.status is LPStatus.OPTIMAL:
                        lb[i] = max(lb[i], r.value)
                if need_hi[i]:
                    r = copy.maximize(e)
                    if r.status is LPStatus.OPTIMAL:
                        ub[i] = min(ub[i], r.value)
                e[i] = 0.0
        return lb, ub

    def _certified_infeasible(self) -> bool:
        """Whether HiGHS's dual ray proves the constraints infeasible (Farkas), checked here."""
        if not self._k:
            return False
        h = self._highs
        _, has_ray, ray = h.getDualRay()
        if not has_ray:  # e.g. the primal simplex found it: solve again with the dual one for a ray
            h.clearSolver()
            h.setOptionValue("simplex_strategy", _DUAL_SIMPLEX)
            h.run()
            if h.getModelStatus() != highspy.HighsModelStatus.kInfeasible:
                return False
            _, has_ray, ray = h.getDualRay()
            if not has_ray:
                return False
        b, ray = self._rhs(), np.asarray(ray, dtype=np.float64)
        for z in (self._signed(ray, 1.0), self._signed(ray, -1.0)):
            g, noise = self._transpose_times(z)
            lhs, size = self._box_minimum(g, noise)
            size += float(z @ np.abs(b))
            if lhs - float(z @ b) > _ROUNDING * (self._n + self._k + 1) * size:
                return True
        return False

    def row_duals(self) -> np.ndarray:
        """The constraint rows' dual values (k,) of the last solve, which must have been optimal
        (HiGHS's signs: <= 0 for a binding row of a minimization)."""
        return np.array(self._highs.getSolution().row_dual)

    def maximize(self, c: np.ndarray) -> LPResult:
        """Maximize ``c @ x``; c has shape (n,). The value is a checked upper bound of the maximum."""
        r = self.minimize(-np.asarray(c, dtype=np.float64))
        return LPResult(r.status, -r.value, r.x)

    def is_feasible(self) -> bool:
        """Whether the constraints admit a point. Raises RuntimeError if HiGHS fails."""
        status = self._run(np.zeros(self._n))
        if status is LPStatus.ERROR:
            raise RuntimeError(f"HiGHS failed on a feasibility problem: {self._model_status()}")
        return status is LPStatus.OPTIMAL

    def bounds_of(self, M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``(min, max)`` of each entry of ``M @ x`` over the feasible set.

        Args:
            M: shape (p, n), dense.

        Returns:
            lo, hi: shape (p,) each; entries are infinite where the program is unbounded.
            Zero rows of M give 0 without a solve; ``hi >= lo`` even on flat sets where
            the two solves could cross by rounding.

        Raises:
            ValueError("empty set") if the constraints are infeasible; RuntimeError if
            HiGHS fails.
        """
        M = np.asarray(M, dtype=np.float64)
        if M.ndim != 2 or M.shape[1] != self._n:
            raise ValueError(f"M must have shape (p, {self._n}), got {M.shape}")
        rows = np.flatnonzero(np.any(M != 0, axis=1))
        if rows.size == 0 and not self.is_feasible():
            raise ValueError(_EMPTY)
        lo = np.zeros(M.shape[0])
        hi = np.zeros(M.shape[0])
        # All minimizations, then all maximizations: measured faster than alternating per row.
        for out, solve in ((lo, self.minimize), (hi, self.maximize)):
            for i in rows:
                r = solve(M[i])
                if r.status is LPStatus.INFEASIBLE:
                    raise ValueError(_EMPTY)
                if r.status is LPStatus.ERROR:
                    raise RuntimeError(f"HiGHS failed while bounding row {i}: {self._model_status()}")
                out[i] = r.value
        return lo, np.maximum(hi, lo)

    def _run(self, c: np.ndarray) -> LPStatus:
        h = self._highs
        h.setOptionValue("simplex_strategy", _DUAL_SIMPLEX if self._rows_added else _PRIMAL_SIMPLEX)
        self._rows_added = False
        h.changeColsCost(self._n, self._cols, c)
        h.run()
        status = h.getModelStatus()
        if status not in _STATUS and status != highspy.HighsModelStatus.kModelEmpty:
            h.clearSolver()  # e.g. "not set" after an infeasible solve: start again from scratch
            h.run()
            status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kModelEmpty:
            # No variables: HiGHS does not check the rows 0 <= b_ub itself.
            feasible = np.all(np.asarray(h.getLp().row_upper_) >= 0)
            return LPStatus.OPTIMAL if feasible else LPStatus.INFEASIBLE
        ours = _STATUS.get(status, LPStatus.ERROR)
        if ours is LPStatus.INFEASIBLE and not self._certified_infeasible():
            return LPStatus.ERROR
        return ours

    def _model_status(self) -> str:
        h = self._highs
        return h.modelStatusToString(h.getModelStatus())
