"""The oracle of a search: candidate inputs are executed, unsafe ones confirmed independently, and
the domains no split can shrink are decided exactly where that is possible.

Attacks: for each open domain, the inputs that minimise the linear lower bounds of the excesses
(corners of the box), the box's center, and the optimum of an LP where a bounding strategy solved one.
They run through the network in one batch; those whose outputs land in a polytope are confirmed by
:func:`nnreach.verify.check.confirm_some` (onnxruntime for ONNX models) before they count. On chain
networks, walks over linear regions may start from the LP optima, within a budget of LPs.

Leaves: a domain of a piecewise-linear network all of whose neurons are decided and whose max pooling
windows each have one entry that dominates is a linear region (with the splits' sides): one LP over
the box, with every neuron that the root left undecided kept on its side, finds the deepest unsafe
point or shows there is none. Other leaves (smooth activations cut to the minimum width, boxes halved
to the minimum width with neurons still undecided, a max pooling window whose maximum can still move
between entries, where back-substitution gives bounds rather than the function) are UNKNOWN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...bounds.linear import InputDomain, backward
from ...lp import LPStatus
from ...bounds.relaxations import max_pool_exact
from ...network.ops import Activation, MaxPool2d, pool_windows
from ...reach.relax import crosses_breakpoint
from ..check import confirm, confirm_some
from ..region_walk import epigraph, walk
from ..result import Counterexample, Status
from .branching import cut_nodes
from .domain import Bounded, Domains, Target


@dataclass(frozen=True, slots=True)
class Oracle:
    """Attacks on every open domain and exact decisions of leaves (see the module docstring).

    Attributes:
        walk: on chain networks, walks over linear regions (:func:`nnreach.verify.region_walk.walk`)
            start from the LP optima of the domains while their LPs number at most ``walk`` times
            the bounding LPs (0: no walks).
    """

    walk: float = 0.0

    def attack(self, target: Target, doms: Domains, bd: Bounded) -> Counterexample | None:
        """Execute each domain's candidate inputs; a confirmed counterexample, or None."""
        P = bd.A.shape[1]
        cands = [np.where(bd.A[:, p] > 0, doms.lo, doms.hi) for p in range(P)] + [(doms.lo + doms.hi) / 2]
        found = np.zeros(doms.size, dtype=bool) if bd.points is None else ~np.isnan(bd.points).any(axis=1)
        if found.any():
            cands.append(bd.points[found])
        x = np.concatenate(cands)
        target.counters.attacks += len(x)
        ce = try_inputs(target, x)
        if ce is not None or not self.walk or not found.any() or not _chain(target):
            return ce
        guide = bd.guide(target.settings.proof_margin)
        for d in np.flatnonzero(found):
            if target.counters.walk_lps > self.walk * target.counters.lps:
                break
            stats: dict = {}
            ce = walk(target.problem, target.index, target.polys[guide[d]], bd.points[d], stats, target.deadline)
            target.counters.walk_lps += stats.get("walk_lps", 0)
            target.counters.confirm_calls += stats.get("confirm_calls", 0)
            if ce is not None:
                return ce
        return None

    def decide_leaf(self, target: Target, doms: Domains, bd: Bounded, d: int) -> Status | Counterexample:
        return decide_leaf(target, doms, bd, d)


def _chain(target: Target) -> bool:
    if "chain" not in target.cache:
        target.cache["chain"] = target.net.is_chain
    return target.cache["chain"]


def try_inputs(target: Target, x: np.ndarray) -> Counterexample | None:
    """Run the inputs ``x`` (k, n_in) and confirm the first few that land in the polytope."""
    tries: dict = {}
    ce = confirm_some(target.problem, target.index, x, target.unsafe(target.net.forward(x)), tries)
    target.counters.confirm_calls += tries.get("confirm_calls", 0)
    return ce


def decide_leaf(target: Target, doms: Domains, bd: Bounded, d: int) -> Status | Counterexample:
    """Decide leaf ``d`` of a batch: the exact LP of a linear region of a piecewise-linear network
    (HOLDS, UNKNOWN when the LP's answer does not confirm, or a counterexample), else UNKNOWN."""
    target.counters.leaves += 1
    if not target.net.piecewise_linear or _any_undecided(target, bd, d):
        return Status.UNKNOWN
    net = target.net
    root = target.cache["root_bounds"]
    one = {k: (l[d:d + 1], u[d:d + 1]) for k, (l, u) in bd.bounds.items()}
    dom = InputDomain(doms.lo[d:d + 1], doms.hi[d:d + 1])
    rows, rhs = [np.zeros((0, dom.lo.shape[1]))], [np.zeros(0)]
    for n in net.nodes:
        if not isinstance(n.op, Activation):
            continue
        src = n.inputs[0]
        l, u = one[src]
        rl, ru = root[src]
        idx = np.flatnonzero(crosses_breakpoint(n.op, rl[0], ru[0]))
        if not idx.size:
            continue
        lin = backward(net, dom, src, np.eye(l.shape[1])[idx], one)   # exact here: z = A x + c
        for b in n.op.breakpoints:
            above = l[0, idx] >= b
            rows.append(np.where(above[:, None], -lin.A[0], lin.A[0]))
            rhs.append(np.where(above, lin.c[0] - b, b - lin.c[0]))
    rows, rhs = np.vstack(rows), np.concatenate(rhs)
    status = Status.HOLDS
    for p, poly in enumerate(target.polys):
        if bd.margin[d, p] > target.settings.proof_margin:
            continue
        target.counters.lps += 1
        obj = backward(net, dom, net.output, poly.A, one)
        _, res = epigraph(obj.A[0], obj.c[0] - poly.b, rows, rhs, doms.lo[d], doms.hi[d])
        if res.status is LPStatus.INFEASIBLE or (res.status is LPStatus.OPTIMAL and res.value > target.settings.proof_margin):
            continue
        if res.status is LPStatus.OPTIMAL:
            target.counters.confirm_calls += 1
            ce = confirm(target.problem, target.index, res.x[:dom.lo.shape[1]])
            if ce is not None:
                return ce
        status = Status.UNKNOWN
    return status



def _any_undecided(target: Target, bd: Bounded, d: int) -> bool:
    """Whether some neuron of domain ``d`` still has a breakpoint inside its interval, or some max
    pooling window no single entry dominates."""
    net = target.net
    for n in cut_nodes(net):
        l, u = (b[d:d + 1] for b in bd.bounds[n.inputs[0]])
        if isinstance(n.op, MaxPool2d):
            if not max_pool_exact(pool_windows(n.op, net.shape_of(n.inputs[0])), l, u).all():
                return True
        elif crosses_breakpoint(n.op, l[0], u[0]).any():
            return True
    return False
