"""An incremental linear program over HiGHS (``highspy``).

The model ``{x in R^n : A_ub x <= b_ub, lb <= x <= ub}`` is passed to HiGHS once; each
``minimize``/``maximize`` changes only the objective, so the simplex method restarts from
the previous optimal basis (primal simplex, since that basis stays primal feasible), and
``add_constraints`` appends rows (dual simplex on the next solve, since the basis stays
dual feasible).

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
import scipy.sparse as sp

_DUAL_SIMPLEX = 1
_PRIMAL_SIMPLEX = 4


class LPStatus(StrEnum):
    """Outcome of one solve."""

    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class LPResult:
    """Result of one solve.

    Attributes:
        status: see :class:`LPStatus`.
        value: the optimal objective value; for a minimization ``+inf`` when infeasible and
            ``-inf`` when unbounded (signs swapped for a maximization); ``nan`` on error.
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
}

_EMPTY = "empty set: the linear constraints are infeasible"


_banner_shown = False


def _new_highs() -> highspy.Highs:
    """A silenced, single-threaded HiGHS instance.

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
    return h


def _csr(A, n: int, name: str) -> sp.csr_array:
    """``A`` (dense or scipy.sparse, shape (k, n)) as a float CSR array."""
    M = sp.csr_array(A, dtype=np.float64)
    if M.ndim != 2 or M.shape[1] != n:
        raise ValueError(f"{name} must have shape (k, {n}), got {M.shape}")
    return M


def _vector(values, n: int, name: str, fill: float | None = None) -> np.ndarray:
    """``values`` as a float vector of shape (n,); None gives ``fill`` everywhere if allowed."""
    if values is None and fill is not None:
        return np.full(n, fill)
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {v.shape}")
    return v


class LinearProgram:
    """The feasible set ``{x in R^n : A_ub x <= b_ub, lb <= x <= ub}`` loaded into HiGHS.

    Args:
        A_ub: constraint matrix, shape (k, n), dense numpy or scipy.sparse; k may be 0.
        b_ub: right-hand sides, shape (k,).
        lb: lower variable bounds, shape (n,); None means ``-inf``.
        ub: upper variable bounds, shape (n,); None means ``+inf``.

    HiGHS runs silenced and single-threaded. The object is mutable (``add_constraints``)
    and not thread-safe; build one per set operation.
    """

    __slots__ = ("_highs", "_n", "_cols", "_rows_added")

    def __init__(self, A_ub, b_ub, lb=None, ub=None):
        shape = np.shape(A_ub)
        if len(shape) != 2:
            raise ValueError(f"A_ub must have shape (k, n), got {shape}")
        n = shape[1]
        self._n = n
        self._cols = np.arange(n, dtype=np.int32)
        h = _new_highs()
        h.addVars(n, _vector(lb, n, "lb", -np.inf), _vector(ub, n, "ub", np.inf))
        self._highs = h
        self._rows_added = True
        self.add_constraints(A_ub, b_ub)

    @property
    def num_vars(self) -> int:
        return self._n

    @property
    def num_constraints(self) -> int:
        return self._highs.getNumRow()

    def add_constraints(self, A, b) -> None:
        """Append the rows ``A x <= b``; A has shape (p, n) (dense or sparse), b shape (p,)."""
        M = _csr(A, self._n, "A")
        p = M.shape[0]
        upper = _vector(b, p, "b")
        if p == 0:
            return
        self._highs.addRows(
            p,
            np.full(p, -np.inf),
            upper,
            M.nnz,
            M.indptr[:-1].astype(np.int32),
            M.indices.astype(np.int32),
            M.data,
        )
        self._rows_added = True

    def minimize(self, c: np.ndarray) -> LPResult:
        """Minimize ``c @ x``; c has shape (n,)."""
        c = _vector(c, self._n, "c")
        status = self._run(c)
        if status is LPStatus.OPTIMAL:
            x = np.array(self._highs.getSolution().col_value)
            return LPResult(status, float(self._highs.getObjectiveValue()), x)
        value = {LPStatus.INFEASIBLE: np.inf, LPStatus.UNBOUNDED: -np.inf}.get(status, np.nan)
        return LPResult(status, value, None)

    def maximize(self, c: np.ndarray) -> LPResult:
        """Maximize ``c @ x``; c has shape (n,)."""
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
        if status == highspy.HighsModelStatus.kModelEmpty:
            # No variables: HiGHS does not check the rows 0 <= b_ub itself.
            feasible = np.all(np.asarray(h.getLp().row_upper_) >= 0)
            return LPStatus.OPTIMAL if feasible else LPStatus.INFEASIBLE
        return _STATUS.get(status, LPStatus.ERROR)

    def _model_status(self) -> str:
        h = self._highs
        return h.modelStatusToString(h.getModelStatus())
