"""Exact decisions for chains of dense layers and piecewise-linear activations by mixed-integer LP: ``milp``.

Requirements: a chain network (:attr:`nnreach.network.Network.is_chain`): dense layers, reshapes and
    ReLU, leaky ReLU or clip activations.
Returns: HOLDS when no input of the box reaches an unsafe polytope, VIOLATED with a confirmed
    counterexample, UNKNOWN when the solver's answer cannot be used (a candidate that does not confirm,
    a numerical failure).
Method: every activation is ``f(z) = m z + c + sum_k w_k relu(z - b_k)`` (:func:`relu_terms`). Bounds of
    every activation input by alpha-CROWN (:func:`nnreach.bounds.optimised.optimised_bounds`),
    tightened layer by layer by LP over the relaxation of the layers before, decide most terms; each
    undecided ``relu(s)`` with ``s`` in ``[l, u]`` gets a continuous ``a`` and a binary ``d`` (Tjeng et
    al.'s encoding): ``a >= s``, ``a >= 0``, ``a <= s - l (1 - d)``, ``a <= u d``; decided terms are
    affine in the earlier variables and are substituted. For each unsafe polytope ``A y <= b`` that the
    linear bounds leave open (nearest first) HiGHS minimises ``t`` subject to ``A y - b <= t`` and
    ``t <= INFEASIBLE_TOL``: the program is infeasible exactly when every input keeps some row above
    the tolerance, and any feasible point is a candidate counterexample, executed and confirmed.
Soundness and completeness: complete; HOLDS is exact up to HiGHS's feasibility tolerance (``1e-6``,
    far below the proof tolerance ``INFEASIBLE_TOL`` demanded here), not a certified bound like the LP
    answers elsewhere (:mod:`nnreach.lp`), which the documentation of verdicts says. VIOLATED answers
    are confirmed by execution like every other.
Reference: Tjeng, Xiao and Tedrake, Evaluating Robustness of Neural Networks with Mixed Integer
    Programming (MIPVerify), ICLR 2019.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np

from .. import progress
from ..bounds.linear import Bounds, InputDomain, backward
from ..bounds.optimised import Optimisation, optimised_bounds
from ..errors import UnsupportedError
from ..lp import LinearProgram, LPStatus
from ..lp.highs import csr_rows, new_highs
from ..network.graph import Network
from ..network.ops import Clip, LeakyRelu, Linear, Relu, Reshape
from ..reach.relax import crosses_breakpoint
from ..sets.box import Box
from ..sets.polytope import HPolytope
from .check import confirm
from .deadline import Deadline, Timeout
from .problem import Problem
from .result import Counterexample, Result, Status
from .settings import Settings

NAME = "milp"
ROOT = Optimisation(steps=20)
"""How the bounds that the LP tightening starts from are optimised (alpha-CROWN, neuron by neuron)."""
ROOT_SHARE = 0.25
"""The share of the time left that optimising those bounds may take (later nodes: back-substitution)."""
INFEASIBLE_TOL = 1e-5
"""An unsafe polytope is excluded when every input keeps some row ``a.y - b`` above this."""


@dataclass(slots=True)
class Encoding:
    """The mixed-integer program of one network on one input box, without the objective rows.

    The variables are the inputs, then ``(a, d)`` per undecided ReLU term. The network's output is
    ``E v + e`` of the variable vector ``v``.

    Attributes:
        lo, hi: (n_vars,) variable bounds; integral: (n_vars,) bool, the binaries.
        rows, rhs: (k, n_vars), (k,) constraints ``rows v <= rhs``.
        E, e: (n_out, n_vars), (n_out,) the output as an affine function of the variables.
    """

    lo: np.ndarray
    hi: np.ndarray
    integral: np.ndarray
    rows: np.ndarray
    rhs: np.ndarray
    E: np.ndarray
    e: np.ndarray


def relu_terms(op) -> tuple[float, float, tuple[tuple[float, float], ...]]:
    """``f(z) = m z + c + sum_k w_k relu(z - b_k)``: ``(m, c, ((w_k, b_k), ...))`` of a piecewise-linear
    activation (ReLU, leaky ReLU, clip)."""
    if isinstance(op, Relu):
        return 0.0, 0.0, ((1.0, 0.0),)
    if isinstance(op, LeakyRelu):
        return float(op.alpha), 0.0, ((1.0 - op.alpha, 0.0),)
    if isinstance(op, Clip):
        return 0.0, float(op.lo), ((1.0, float(op.lo)), (-1.0, float(op.hi)))
    raise UnsupportedError(f"milp has no encoding of {type(op).__name__}")


class _Builder:
    """Variables and constraints of an encoding under construction; rows grow with the variables."""

    def __init__(self, box: Box):
        self.lo, self.hi, self.integral = list(box.lo), list(box.hi), [False] * box.dim
        self.rows: list[np.ndarray] = []
        self.rhs: list[float] = []

    @property
    def width(self) -> int:
        return len(self.lo)

    def matrix(self) -> np.ndarray:
        return np.array([np.append(r, np.zeros(self.width - r.size)) for r in self.rows]).reshape(-1, self.width)

    def relu(self, z: np.ndarray, c: float, l: float, u: float) -> int:
        """A new variable ``a = relu(z . v + c)`` for ``l < z . v + c < u`` (one binary ``d``):
        ``a >= z v + c``, ``a <= z v + c - l (1 - d)``, ``a <= u d``, ``a >= 0``. Returns a's index."""
        a, d = self.width, self.width + 1
        self.lo += [0.0, 0.0]
        self.hi += [u, 1.0]
        self.integral += [False, True]
        for coef, ca, cd, rhs in ((z, -1.0, 0.0, -c), (-z, 1.0, -l, c - l)):
            r = np.append(coef, np.zeros(self.width - coef.size))
            r[a], r[d] = ca, cd
            self.rows.append(r)
            self.rhs.append(rhs)
        r = np.zeros(self.width)
        r[a], r[d] = 1.0, -u
        self.rows.append(r)
        self.rhs.append(0.0)
        return a

    def tighten(self, E: np.ndarray, e: np.ndarray, l: np.ndarray, u: np.ndarray, todo: np.ndarray,
                deadline: Deadline, jobs: int) -> None:
        """Tighten ``l``, ``u`` (in place) of the neurons ``todo`` of ``E v + e`` to their range over
        the LP relaxation of the constraints so far (binaries in [0, 1]), on ``jobs`` processes."""
        state = (self.matrix(), np.array(self.rhs), np.array(self.lo), np.array(self.hi), E, e, deadline)
        if jobs > 1 and todo.size >= 2 * jobs:
            from ..parallel.pools import fork_map
            results = (r for _, r in fork_map(_ranges, state, np.array_split(todo, 4 * jobs), jobs))
        else:
            results = [_ranges(state, todo)]
        for idx, lo, hi in results:
            l[idx], u[idx] = np.maximum(l[idx], lo), np.minimum(u[idx], hi)


def _ranges(state: tuple, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked LP bounds (``-inf``/``inf`` where unknown) of the neurons ``idx`` of ``E v + e`` over
    ``{v : rows v <= rhs, lo <= v <= hi}``; ``state = (rows, rhs, lo, hi, E, e, deadline)``. The upper
    bound of a neuron whose lower one is >= 0 is not needed and not computed."""
    rows, rhs, vlo, vhi, E, e, deadline = state
    lp = LinearProgram(rows, rhs, vlo, vhi)
    lo, hi = np.full(idx.size, -np.inf), np.full(idx.size, np.inf)
    for k, j in enumerate(idx):
        deadline.check()
        r = lp.minimize(E[j])
        if r.status is LPStatus.OPTIMAL:
            lo[k] = r.value + e[j] - 1e-9 * (1 + abs(r.value + e[j]))   # the addition's rounding, outward
            if lo[k] >= 0:
                continue
        r = lp.maximize(E[j])
        if r.status is LPStatus.OPTIMAL:
            hi[k] = r.value + e[j] + 1e-9 * (1 + abs(r.value + e[j]))
    return idx, lo, hi


def encode(net: Network, box: Box, bounds: Bounds, deadline: Deadline | None = None, jobs: int = 1) -> Encoding:
    """The encoding of ``net`` on ``box`` with activation-input ``bounds`` (one domain, (1, n)); with
    a ``deadline``, the bounds of each layer's undecided neurons are first tightened by LP over the
    relaxation of the layers before it (which decides more neurons and shortens the big-M rows), on
    ``jobs`` processes."""
    build = _Builder(box)
    E, e = np.eye(box.dim), np.zeros(box.dim)   # the current node's value: E v + e
    layers, layer = sum(not isinstance(n.op, (Linear, Reshape)) for n in net.nodes), 0
    for node in net.nodes:
        op = node.op
        if isinstance(op, Linear):
            E, e = op.weight @ E, op.weight @ e + op.bias
            continue
        if isinstance(op, Reshape):
            continue
        m, c, terms = relu_terms(op)
        l, u = (b[0].copy() for b in bounds[node.inputs[0]])
        undecided = np.flatnonzero(crosses_breakpoint(op, l, u))
        layer += 1
        progress.note(step=f"encoding activation layer {layer}/{layers} ({undecided.size} undecided neurons)")
        if deadline is not None and build.rows and undecided.size:
            build.tighten(E, e, l, u, undecided, deadline, jobs)
        width = E.shape[1]
        parts = []                                   # per term: w, its affine part and its new variables
        for w, b in terms:
            active = l >= b
            new = [(j, build.relu(E[j], e[j] - b, l[j] - b, u[j] - b)) for j in np.flatnonzero((l < b) & (u > b))]
            parts.append((w, np.where(active[:, None], E, 0.0), np.where(active, e - b, 0.0), new))
        new_E, new_e = np.zeros((E.shape[0], build.width)), m * e + c
        new_E[:, :width] = m * E
        for w, tE, te, new in parts:
            new_E[:, :width] += w * tE
            new_e = new_e + w * te
            for j, a in new:
                new_E[j, a] += w
        E, e = new_E, new_e
    return Encoding(np.array(build.lo), np.array(build.hi), np.array(build.integral), build.matrix(),
                    np.array(build.rhs), E, e)


def _solve(enc: Encoding, poly: HPolytope, seconds: float) -> tuple[str, np.ndarray | None]:
    """Look for variables with ``A y - b <= INFEASIBLE_TOL`` (every row): ``("infeasible", None)``,
    ``("found", v)`` or ``("unknown", None)`` (time limit or a solver failure)."""
    n = enc.lo.size
    G, g = poly.A @ enc.E, poly.A @ enc.e - poly.b        # rows G v + g <= t
    A = np.vstack([np.hstack([enc.rows, np.zeros((enc.rows.shape[0], 1))]),
                   np.hstack([G, -np.ones((G.shape[0], 1))])])
    b = np.concatenate([enc.rhs, -g])
    h = new_highs()
    h.setOptionValue("presolve", "choose")                 # MIP presolve pays off here
    h.setOptionValue("time_limit", max(seconds, 0.01))
    h.setOptionValue("mip_max_improving_sols", 1)          # the first candidate is enough
    h.setOptionValue("mip_root_presolve_only", True)       # measured 3-20% faster on MNIST-FC programs
    h.addVars(n + 1, np.append(enc.lo, -np.inf), np.append(enc.hi, INFEASIBLE_TOL))
    h.changeColsIntegrality(int(enc.integral.sum()), np.flatnonzero(enc.integral).astype(np.int32),
                            np.full(int(enc.integral.sum()), highspy.HighsVarType.kInteger))
    h.changeColsCost(1, np.array([n], dtype=np.int32), np.array([1.0]))
    k, starts, cols, values = csr_rows(A, n + 1, "constraints")
    h.addRows(k, np.full(k, -np.inf), b, values.size, starts, cols, values)
    h.run()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return "infeasible", None
    sol = np.array(h.getSolution().col_value)
    if h.getInfo().primal_solution_status == 2 and sol.size == n + 1:   # a feasible point
        return "found", sol[:n]
    return "unknown", None


def _solve_one(state: tuple, poly: HPolytope) -> tuple[str, np.ndarray | None, float]:
    """:func:`_solve` on ``state = (encoding, deadline)``, with the seconds it took."""
    enc, deadline = state
    start = time.perf_counter()
    verdict, v = _solve(enc, poly, deadline.remaining())
    return verdict, v, time.perf_counter() - start


def decide(problem: Problem, index: int, deadline: Deadline, jobs: int, stats: dict) -> Status | Counterexample:
    """Decide property ``index``: the unsafe polytopes that linear bounds do not exclude, each by one
    mixed-integer program on a shared encoding, nearest first, on ``jobs`` processes."""
    net, box = problem.network, problem.properties[index].input_box
    dom = InputDomain(box.lo[None], box.hi[None])
    progress.note(step="optimising the root bounds")
    bounds = optimised_bounds(net, dom, settings=ROOT, check=deadline.check, until=deadline.instant(ROOT_SHARE))[0]
    todo = []
    for poly in problem.properties[index].unsafe:
        if poly.A.shape[0] == 0:
            ce = confirm(problem, index, box.center)
            return ce if ce is not None else Status.UNKNOWN
        margin = np.max(backward(net, dom, net.output, poly.A, bounds).lower[0] - poly.b)
        if margin <= INFEASIBLE_TOL:
            todo.append((margin, poly))
    if not todo:
        return Status.HOLDS
    start = time.perf_counter()
    enc = encode(net, box, bounds, deadline, jobs)
    stats["encode_s"] = stats.get("encode_s", 0.0) + round(time.perf_counter() - start, 3)
    stats["binaries"] = int(enc.integral.sum())
    polys = [p for _, p in sorted(todo, key=lambda t: t[0])]
    if jobs > 1 and len(polys) > 1:
        from ..parallel.pools import fork_map
        results = (r for _, r in fork_map(_solve_one, (enc, deadline), polys, min(jobs, len(polys))))
    else:
        results = (_solve_one((enc, deadline), p) for p in polys)
    unknown = False
    progress.note(step="solving mixed-integer programs", polytope=f"1/{len(polys)}")
    for k, (verdict, v, seconds) in enumerate(results, start=2):
        progress.note(polytope=f"{min(k, len(polys))}/{len(polys)}")
        stats["programs"] = stats.get("programs", 0) + 1
        stats.setdefault("program_s", []).append(round(seconds, 2))
        if verdict == "found":
            ce = confirm(problem, index, v[:box.dim])
            if ce is not None:
                return ce
        unknown |= verdict != "infeasible"
    deadline.check()
    return Status.UNKNOWN if unknown else Status.HOLDS


def milp(problem: Problem, settings: Settings, deadline: Deadline) -> Result:
    """Decide every property's unsafe polytopes by mixed-integer programs (see the module docstring)."""
    if not problem.network.is_chain:
        raise UnsupportedError("milp needs a chain of dense layers and piecewise-linear activations")
    stats: dict = {}
    unknown = False
    for index in range(len(problem.properties)):
        deadline.check()
        out = decide(problem, index, deadline, settings.jobs, stats)
        if isinstance(out, Counterexample):
            return Result(Status.VIOLATED, NAME, counterexample=out, stats=stats)
        unknown |= out is Status.UNKNOWN
    if deadline.expired():
        raise Timeout
    return Result(Status.UNKNOWN if unknown else Status.HOLDS, NAME, stats=stats)
