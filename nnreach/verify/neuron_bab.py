"""Branch-and-bound over neuron splits, for networks with many inputs (the high-dimensional half of ``bab``).

Requirements: a network whose ops have linear relaxations (:mod:`nnreach.bounds`). Meant for inputs of
    high dimension (images), where splitting the input box gets nowhere but only a few hundred
    neurons are undecided.
Returns: HOLDS when every sub-problem is closed, VIOLATED with a confirmed counterexample, UNKNOWN when a
    sub-problem is left that cannot be split further (smooth activations) or decided by its LP.
Method: a sub-problem (domain) is the input box together with cuts of some neurons' input intervals:
    a piecewise-linear activation is cut at a breakpoint inside its interval (ReLU at 0), a smooth one
    at 0 when its interval crosses 0 (sigmoid and tanh are convex on one side, concave on the other)
    and at the midpoint otherwise, as the general branch-and-bound GenBaB does. A batch of domains is
    bounded in one vectorised pass: back-substitution bounds of every activation input
    (:func:`nnreach.bounds.linear.domain_bounds`) with the parent's bounds and the cut as prior, so only
    neurons still inexact are recomputed, then of the unsafe rows ``A y - b``. A domain is closed when
    some row's lower bound is positive or when the bounds show that no input of the box meets its cuts.
    Each open domain's corners that minimise the rows' linear lower bounds are executed (an attack).
    Networks with smooth activations (and no max pooling) then get one LP per open domain over the
    relaxation with the cuts as constraints (:mod:`nnreach.bounds.lp_relaxation`): it closes it when it shows
    ``max_i (A y - b)_i > 0`` on all of it, and the input of its optimum is executed too. A domain
    left open is split at the neuron with the largest score: after an LP, how far the neuron's output
    strays from the activation at the LP's optimum; otherwise ``|coefficient| x relaxation gap`` (the
    coefficient that reaches the neuron in the bound of the row closest to being proved; the gap
    between the relaxation line in use and the activation), in the manner of BaBSR. Batches come off a
    depth-first stack. A domain of a piecewise-linear network whose neurons are all decided is affine:
    one LP over the box, with every cut neuron kept on its side, decides it exactly.
Soundness and completeness: sound. A cut restricts a neuron's input to part of its interval, so the
    two children of a domain cover it and the bounds of each hold on the inputs of the box that meet
    its cuts (the relaxations of cut neurons are tighter, never wrong; a parent's margin holds on its
    children too and is kept). Complete for piecewise-linear networks (the LP at the leaves). For
    smooth activations complete up to a tolerance: the LP keeps every neuron inside its cut interval,
    so as the intervals shrink the relaxation and the LP converge to the network, and the LP's
    optimum to a counterexample if there is one; a neuron interval is not cut below
    ``Settings.min_split_width`` of its root width, and a domain with none left to cut is UNKNOWN.
    (Back-substitution alone would not converge: its cuts are priors, not constraints, so its bounds
    range over inputs of the box outside the domain; so networks with max pooling, which has no LP
    encoding, are not decided completely when they have smooth activations.)
Reference: Bunel et al., Branch and Bound for Piecewise Linear Neural Network Verification, JMLR 2020
    (BaBSR); Wang et al., Beta-CROWN, NeurIPS 2021; Shi et al., Neural Network Verification with
    Branch-and-Bound for General Nonlinearities (GenBaB), TACAS 2025.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bounds.linear import Bounds, InputDomain, LinearBound, Relaxations, backward, domain_bounds
from ..bounds.lp_relaxation import RelaxationLP
from ..errors import UnsupportedError
from ..lp import LinearProgram, LPStatus
from ..network.graph import Network, Node
from ..network.ops import Activation
from ..reach.relax import breakpoints, crosses_breakpoint
from ..sets.polytope import HPolytope
from .check import confirm, confirm_some
from .deadline import Deadline
from .problem import Problem
from .result import Counterexample, Status
from .settings import Settings

DOMAIN_BATCH = 64
"""Domains bounded in one vectorised pass, at most."""
EMPTY_TOL = 1e-7
"""A domain is empty when some neuron's bounds cross by more than this (relative) amount."""


@dataclass(frozen=True, slots=True)
class _Neuron:
    """One activation node, the name of its input node and the input's (flattened) size."""

    node: Node
    source: str
    size: int

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def op(self) -> Activation:
        return self.node.op


def _neurons(net: Network) -> list[_Neuron]:
    return [_Neuron(node, node.inputs[0], int(np.prod(net.shape_of(node.inputs[0]))))
            for node in net.nodes if isinstance(node.op, Activation)]


def _cuttable(op: Activation, l: np.ndarray, u: np.ndarray, min_width: np.ndarray) -> np.ndarray:
    """Neurons whose relaxation on ``[l, u]`` is inexact and whose interval may still be cut."""
    if breakpoints(op) is None:
        return u - l > min_width
    return crosses_breakpoint(op, l, u)


def _cut_point(op: Activation, l: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Where to cut each neuron's interval ``[l, u]`` (arrays of one shape)."""
    bps = breakpoints(op)
    if bps is None:
        return np.where((l < 0) & (u > 0), 0.0, (l + u) / 2)
    point = (l + u) / 2
    for b in reversed(bps):  # the first breakpoint inside wins
        point = np.where((l < b) & (u > b), b, point)
    return point


def _gaps(op: Activation, rel, l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How far the upper and the lower relaxation line get from ``f`` on ``[l, u]``, estimated at the
    ends, the midpoint and the breakpoints (or 0): two arrays of the shape of ``l``."""
    knees = breakpoints(op) or (0.0,)
    points = [l, u, (l + u) / 2] + [np.clip(b, l, u) for b in knees]
    up = np.max([rel.hi_slope * x + rel.hi_bias - op.forward(x) for x in points], axis=0)
    down = np.max([op.forward(x) - rel.lo_slope * x - rel.lo_bias for x in points], axis=0)
    return np.maximum(up, 0.0), np.maximum(down, 0.0)


class _Search:
    """The state of one polytope's search: the problem, its neurons and the root's widths."""

    def __init__(self, problem: Problem, index: int, poly: HPolytope, settings: Settings, stats: dict):
        self.problem, self.index, self.poly, self.settings, self.stats = problem, index, poly, settings, stats
        self.net = problem.network
        self.box = problem.properties[index].input_box
        self.neurons = _neurons(self.net)
        self.min_width: dict[str, np.ndarray] = {}
        try:
            self.lp = RelaxationLP(self.net)
        except UnsupportedError:   # max pooling: back-substitution bounds only
            self.lp = None

    def domain(self, count: int) -> InputDomain:
        return InputDomain(np.repeat(self.box.lo[None], count, 0), np.repeat(self.box.hi[None], count, 0))

    def bound(self, prior: Bounds) -> tuple[Bounds, np.ndarray, LinearBound]:
        """Bounds of a batch of domains given by their priors: activation-input bounds, which domains
        are empty, and the rows' linear lower bounds (coefficients recorded at every activation)."""
        count = next(iter(prior.values()))[0].shape[0]
        dom = self.domain(count)
        bounds, empty = domain_bounds(self.net, dom, prior=prior, tol=EMPTY_TOL)
        lb = backward(self.net, dom, self.net.output, self.poly.A, bounds,
                      record=tuple(n.name for n in self.neurons))
        self.stats["domains"] = self.stats.get("domains", 0) + count
        return bounds, empty, lb

    def attack(self, lb: LinearBound) -> Counterexample | None:
        """Execute, per domain, the corners of the box minimising each row's linear lower bound."""
        lo, hi = self.box.lo, self.box.hi
        x = np.concatenate([np.where(lb.A[:, r] > 0, lo, hi) for r in range(lb.A.shape[1])])
        return self.confirm_some(x)

    def confirm_some(self, x: np.ndarray) -> Counterexample | None:
        """A checked counterexample among the candidate inputs ``x`` (k, n_in) whose outputs reach
        the polytope, or None."""
        y = self.net.forward(x)
        return confirm_some(self.problem, self.index, x, np.all(y @ self.poly.A.T <= self.poly.b, axis=1), self.stats)

    def relaxation_lps(self, bounds: Bounds, deadline: Deadline) -> tuple[np.ndarray, list[np.ndarray], Counterexample | None]:
        """The LPs of the relaxation of a batch of domains with their cuts: which domains they close
        (D,), per activation node how far each neuron's output strays from the activation at the
        optimum (D, n), and a counterexample among the optima's inputs, if one confirms."""
        count = next(iter(bounds.values()))[0].shape[0]
        closed = np.zeros(count, dtype=bool)
        strays = [np.zeros((count, n.size)) for n in self.neurons]
        points = []
        for d in range(count):
            deadline.check()
            self.stats["relaxation_lps"] = self.stats.get("relaxation_lps", 0) + 1
            ex = self.lp.minimum_excess(self.box.lo, self.box.hi, {k: (l[d], u[d]) for k, (l, u) in bounds.items()},
                                        self.poly.A, self.poly.b)
            closed[d] = ex.status is LPStatus.INFEASIBLE or (ex.status is LPStatus.OPTIMAL and ex.value > self.settings.proof_margin)
            if ex.v is not None and not closed[d]:
                points.append(np.clip(ex.v[:self.lp.n_in], self.box.lo, self.box.hi))
                for k, gap in enumerate(self.lp.violations(ex.v)):
                    strays[k][d] = gap
        return closed, strays, self.confirm_some(np.array(points)) if points else None

    def scores(self, bounds: Bounds, lb: LinearBound, rel: Relaxations, margin: np.ndarray,
               strays: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """Per activation node, the split score (D, n) of its neurons (0: not worth cutting, -1: cannot
        be cut); coefficients are those of the row closest to being proved. With ``strays`` (from
        :meth:`relaxation_lps`), the score is how far each neuron strays at the LP's optimum."""
        row = np.argmax(margin, axis=1)
        out = []
        for k, n in enumerate(self.neurons):
            l, u = bounds[n.source]
            ok = _cuttable(n.op, l, u, self.min_width[n.source])
            if strays is not None:
                out.append(np.where(ok, strays[k], -1.0))
                continue
            coef = lb.recorded.get(n.name)
            coef = np.zeros_like(l) if coef is None else coef[np.arange(len(row)), row]
            up, down = _gaps(n.op, rel.of(n.node), l, u)
            score = np.maximum(-coef, 0.0) * up + np.maximum(coef, 0.0) * down
            out.append(np.where(ok, score, -1.0))
        return out

    def split(self, bounds: Bounds, scores: list[np.ndarray]) -> Bounds:
        """Priors (2D) of the two children of each domain: its bounds, with the chosen neuron's interval
        cut; domains are assumed to have a cuttable neuron. A domain whose cuttable neurons all score
        0 cuts its widest one."""
        S = np.concatenate(scores, axis=1)
        widths = np.concatenate([bounds[n.source][1] - bounds[n.source][0] for n in self.neurons], axis=1)
        zero = S.max(axis=1) <= 0
        S[zero] = np.where(S[zero] < 0, -1.0, widths[zero])
        pick = np.argmax(S, axis=1)
        offsets = np.cumsum([0] + [n.size for n in self.neurons])
        rows = np.arange(len(pick))
        children: Bounds = {}
        for k, n in enumerate(self.neurons):
            l, u = bounds[n.source]
            l2, u2 = np.concatenate([l, l]), np.concatenate([u, u])
            mine = (pick >= offsets[k]) & (pick < offsets[k + 1])
            if mine.any():
                r, j = rows[mine], pick[mine] - offsets[k]
                t = _cut_point(n.op, l[r, j], u[r, j])
                u2[r, j] = t
                l2[len(pick) + r, j] = t
            children[n.source] = (l2, u2)
        self.stats["splits"] = self.stats.get("splits", 0) + len(pick)
        return children

    def solve_affine(self, bounds: Bounds, root: Bounds, d: int) -> Status | Counterexample:
        """Decide domain ``d`` of a piecewise-linear network all of whose neurons are decided: the
        network is affine there; an LP finds the deepest unsafe point with every neuron that the root
        left undecided on its side."""
        self.stats["lps"] = self.stats.get("lps", 0) + 1
        one = {k: (l[d:d + 1], u[d:d + 1]) for k, (l, u) in bounds.items()}
        dom = self.domain(1)
        rows, rhs = [], []
        for n in self.neurons:
            l, u = one[n.source]
            rl, ru = root[n.source]
            idx = np.flatnonzero(_cuttable(n.op, rl[0], ru[0], self.min_width[n.source]))
            if not idx.size:
                continue
            lin = backward(self.net, dom, n.source, np.eye(n.size)[idx], one)  # exact: z = A x + c
            for b in breakpoints(n.op):
                above = l[0, idx] >= b
                rows.append(np.where(above[:, None], -lin.A[0], lin.A[0]))
                rhs.append(np.where(above, lin.c[0] - b, b - lin.c[0]))
        obj = backward(self.net, dom, self.net.output, self.poly.A, one)
        G, g = obj.A[0], obj.c[0] - self.poly.b       # unsafe: G x + g <= 0 (every row)
        m = G.shape[1]
        A = np.vstack([np.hstack([G, -np.ones((G.shape[0], 1))])] + [np.hstack([r, np.zeros((r.shape[0], 1))]) for r in rows])
        b = np.concatenate([-g] + rhs)
        lp = LinearProgram(A, b, np.append(self.box.lo, -np.inf), np.append(self.box.hi, np.inf))
        res = lp.minimize(np.append(np.zeros(m), 1.0))
        if res.status is LPStatus.INFEASIBLE or (res.status is LPStatus.OPTIMAL and res.value > self.settings.proof_margin):
            return Status.HOLDS
        if res.status is LPStatus.OPTIMAL:
            ce = confirm(self.problem, self.index, res.x[:m])
            if ce is not None:
                return ce
        return Status.UNKNOWN


def _merge(batches: list[Bounds]) -> Bounds:
    return {k: (np.concatenate([b[k][0] for b in batches]), np.concatenate([b[k][1] for b in batches]))
            for k in batches[0]}


def _take(bounds: Bounds, keep: np.ndarray) -> Bounds:
    return {k: (l[keep], u[keep]) for k, (l, u) in bounds.items()}


def _take_bound(lb: LinearBound, keep: np.ndarray) -> LinearBound:
    return LinearBound(lb.A[keep], lb.c[keep], lb.lower[keep], {k: v[keep] for k, v in lb.recorded.items()})


def split_neurons(problem: Problem, index: int, poly: HPolytope, settings: Settings, deadline: Deadline,
                  stats: dict) -> Status | Counterexample:
    """Decide one unsafe polytope of property ``index``: HOLDS, UNKNOWN or a counterexample."""
    search = _Search(problem, index, poly, settings, stats)
    if poly.A.shape[0] == 0:  # the whole output space is unsafe: any input is a counterexample
        ce = confirm(problem, index, search.box.center)
        return ce if ce is not None else Status.UNKNOWN
    infinite = {n.source: (np.full((1, n.size), -np.inf), np.full((1, n.size), np.inf)) for n in search.neurons}
    root = domain_bounds(problem.network, search.domain(1))[0]
    search.min_width = {k: settings.min_split_width * (u[0] - l[0]) for k, (l, u) in root.items()}
    piecewise = all(breakpoints(n.op) is not None for n in search.neurons)
    use_lp = search.lp is not None and not piecewise
    # Stack entries: priors of a batch of domains and their parents' margins (D, rows), which hold
    # on the children too: bounds of a child can come out lower, as its cut is not a constraint of
    # the back-substitution (inputs of the box outside the cut still count).
    stack, unknown = [(infinite, np.full((1, poly.A.shape[0]), -np.inf))], False
    while stack:
        deadline.check()
        batch, size = [], 0
        while stack and size < DOMAIN_BATCH:
            batch.append(stack.pop())
            size += batch[-1][1].shape[0]
        bounds, empty, lb = search.bound(_merge([b for b, _ in batch]))
        margin = np.maximum(lb.lower - poly.b, np.concatenate([m for _, m in batch]))
        open_ = ~(empty | np.any(margin > settings.proof_margin, axis=1))
        if not open_.any():
            continue
        bounds, margin = _take(bounds, open_), margin[open_]
        lb = _take_bound(lb, open_)
        ce = search.attack(lb)
        if ce is not None:
            return ce
        strays = None
        if use_lp:
            closed, strays, ce = search.relaxation_lps(bounds, deadline)
            if ce is not None:
                return ce
            if closed.all():
                continue
            keep = ~closed
            bounds, margin, strays = _take(bounds, keep), margin[keep], [s[keep] for s in strays]
            lb = _take_bound(lb, keep)
        scores = search.scores(bounds, lb, Relaxations(bounds, "adaptive"), margin, strays)
        cuttable = np.any(np.concatenate(scores, axis=1) >= 0, axis=1)
        for d in np.flatnonzero(~cuttable):
            deadline.check()
            out = search.solve_affine(bounds, root, d) if piecewise else Status.UNKNOWN
            if isinstance(out, Counterexample):
                return out
            unknown |= out is Status.UNKNOWN
        if cuttable.any():
            keep = np.flatnonzero(cuttable)
            children = search.split(_take(bounds, keep), [s[keep] for s in scores])
            parents = np.concatenate([margin[keep], margin[keep]])
            for start in range(0, len(parents), DOMAIN_BATCH):   # entries stay batch-sized
                part = np.arange(start, min(start + DOMAIN_BATCH, len(parents)))
                stack.append((_take(children, part), parents[part]))
    return Status.UNKNOWN if unknown else Status.HOLDS
