"""Bounding strategies: how a batch of domains gets a lower bound of the polytope's excess.

* :class:`LinearBounding`: intermediate bounds of every relaxed node's input, by back-substitution
  (``"backward"``, CROWN/DeepPoly), by forward symbolic bounds (``"forward"``, cheap for few inputs), or
  the parent's (``"reuse"``), always intersected with the parent's bounds and the domain's cuts; then
  the polytope's rows, mixed with weights (:class:`nnreach.bounds.optimised.Mixture`), bounded by
  back-substitution with optimised line parameters and split multipliers (alpha-CROWN and beta-CROWN,
  :mod:`nnreach.bounds.optimised`; ``Optimisation.none()`` is plain CROWN), warm-started from the parent.
* :class:`RegionLPBounding`: the above with each row bounded too, then for the domains left open the
  LP ``min max`` of the rows' linear lower bounds over the domain's box and its constraints (the
  splits as linear constraints on the input); cheap for few inputs, and exact on linear regions.
* :class:`RelaxationLPBounding`: the above, then for the domains left open the LP of the whole
  relaxation with the cuts as constraints (:mod:`nnreach.bounds.lp_relaxation`); it makes neuron
  splits complete for smooth activations and yields a candidate input and a branching signal.

Every strategy is called as ``strategy(target, domains, known=None)`` and returns a
:class:`.domain.Bounded`; ``known`` are linear bounds of the domains computed already (by a
branching lookahead), which a strategy completes instead of computing them again. A domain's margin
never drops below its parent's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...bounds.forward import forward_bounds
from ...bounds.linear import RELAXED, Bounds, InputDomain, backward, domain_bounds, relaxed_inputs
from ...bounds.lp_relaxation import RelaxationLP
from ...bounds.optimised import Optimisation, Parameters, optimise, optimised_bounds
from ...errors import UnsupportedError
from ...lp import LinearProgram, LPStatus
from ..region_walk import epigraph
from ...network.ops import Activation
from .branching import cut_nodes
from .domain import Bounded, Domains, Target

EMPTY_TOL = 1e-7
"""A domain is empty when some neuron's bounds cross by more than this (relative) amount."""

INTERMEDIATE = ("backward", "forward", "both", "reuse")

ROOT_SHARE = 0.25
"""The share of a search's time left that the root's optimised intermediate bounds may take; the
nodes reached after it get back-substitution only (on a conv net with max pooling, optimising every
neuron of the first layers took over 100 s)."""


def priors(doms: Domains) -> Bounds:
    """The cuts of each domain intersected with its parent's bounds."""
    if doms.bounds is None:
        return doms.cuts
    return {k: (np.maximum(lo, doms.bounds[k][0]), np.minimum(hi, doms.bounds[k][1])) if k in doms.bounds else (lo, hi)
            for k, (lo, hi) in doms.cuts.items()}


@dataclass(frozen=True, slots=True)
class LinearBounding:
    """Intermediate bounds, then the polytope's rows by (optimised) back-substitution.

    Attributes:
        intermediate: one of :data:`INTERMEDIATE` (``"both"``: forward mode, then back-substitution
            for the neurons it leaves undecided; ``"reuse"`` computes by back-substitution where a
            domain has no parent bounds).
        optimisation: the gradient ascent of the final bound (alpha, beta and the rows' weights).
        record: return the coefficients reaching every activation and max pooling (for neuron-split scores).
        root: how the root's intermediate bounds are optimised (alpha-CROWN node by node) when
            the rows are not excluded on plain ones already (measured on a CIFAR ResNet: 69 s for
            the optimised bounds, where the plain ones sufficed), or None for back-substitution.
        recompute: with ``"backward"`` bounds after a neuron split, how many relaxed nodes after the
            split get new bounds (the nodes before it keep their parent's bounds, which nothing
            changed; None: all after it).
        rows: also bound every polytope row on its own (``Bounded.rows``), and at the root use them
            in the margins.
        functions: with ``"forward"`` bounds, return the linear functions bounding each relaxed
            node's input (``Bounded.functions``; what a neuron split turns into a constraint).
    """

    intermediate: str = "backward"
    optimisation: Optimisation = field(default_factory=Optimisation)
    record: bool = False
    root: Optimisation | None = None
    recompute: int | None = None
    rows: bool = False
    functions: bool = False

    def __post_init__(self):
        if self.intermediate not in INTERMEDIATE:
            raise ValueError(f"intermediate must be one of {INTERMEDIATE}, got {self.intermediate!r}")

    def __call__(self, target: Target, doms: Domains, known: Bounded | None = None) -> Bounded:
        if known is not None:
            return known
        net = target.net
        dom = InputDomain(doms.lo, doms.hi)
        prior = priors(doms)
        functions = {} if self.intermediate == "both" or (self.functions and self.intermediate == "forward") else None
        if self.intermediate in ("forward", "both"):
            bounds, empty = forward_bounds(net, dom, prior=prior, tol=EMPTY_TOL, functions=functions)
            if self.intermediate == "both":   # back-substitution where forward mode leaves neurons undecided
                exact = frozenset(k for k, (L, U) in (functions or {}).items() if np.array_equal(L, U))
                bounds, more = domain_bounds(net, dom, prior=bounds, tol=EMPTY_TOL, keep=exact)
                empty |= more
        elif self.intermediate == "reuse" and doms.bounds is not None:
            bounds = {k: (lo, np.maximum(hi, lo)) for k, (lo, hi) in prior.items()}
            empty = np.zeros(doms.size, dtype=bool)
            for lo, hi in prior.values():
                empty |= np.any(lo - hi > EMPTY_TOL * (1 + np.abs(lo) + np.abs(hi)), axis=1)
        elif doms.bounds is None and self.root is not None:   # the root: the same for every polytope
            if "plain root" not in target.shared:
                target.shared["plain root"] = domain_bounds(net, dom, prior=prior, tol=EMPTY_TOL,
                                                            check=target.deadline.check)
            bd = self._final(target, doms, dom, *target.shared["plain root"])
            if np.all(bd.empty | ~bd.open(target.settings.proof_margin).any(axis=1)):
                return bd     # closed on plain intermediate bounds: no need to optimise them
            if "root" not in target.shared:
                target.shared["root"] = optimised_bounds(net, dom, prior=prior, tol=EMPTY_TOL, settings=self.root,
                                                         plain=target.shared["plain root"], check=target.deadline.check,
                                                         until=target.deadline.instant(ROOT_SHARE))
            bounds, empty = target.shared["root"]
        else:
            keep = frozenset()
            if doms.since is not None and doms.bounds is not None:   # nothing before the earliest split changed
                first = int(doms.since.min())
                keep = frozenset(i for n in net.nodes[:first + 1] for i in relaxed_inputs(n) if i in doms.bounds)
                if self.recompute is not None:      # and further on, the parent's bounds are kept
                    later = [i for n in net.nodes[first + 1:] if isinstance(n.op, RELAXED) for i in relaxed_inputs(n)]
                    keep = keep | frozenset(later[self.recompute:])
            bounds, empty = domain_bounds(net, dom, prior=prior, tol=EMPTY_TOL, keep=keep)
        bd = self._final(target, doms, dom, bounds, empty)
        bd.functions = functions if self.functions else None
        return bd

    def _final(self, target: Target, doms: Domains, dom: InputDomain, bounds: Bounds, empty: np.ndarray) -> Bounded:
        """The polytope's rows bounded on the given intermediate bounds."""
        net = target.net
        record = tuple(n.name for n in cut_nodes(net)) if self.record else ()
        cuts = {k: v for k, v in doms.cuts.items() if np.any(np.isfinite(v[0])) or np.any(np.isfinite(v[1]))}
        goal = target.settings.proof_margin
        lb, params = optimise(net, dom, net.output, target.objective, bounds, cuts=cuts, init=doms.params,
                              settings=self.optimisation, goal=goal, record=record)
        target.counters.domains += doms.size
        if self.optimisation.steps:
            target.counters.optimised += doms.size
        margin = np.maximum(lb.lower, doms.margin)
        obj = target.objective
        rows = None
        if self.rows or (doms.params is None and len(obj.owner) > obj.count):   # at the root: each row on its own too
            each = backward(net, dom, net.output, obj.rows, bounds)
            rows = (each.A, each.c - obj.rhs)
            excess = each.lower - obj.rhs
            for p in range(obj.count):
                margin[:, p] = np.maximum(margin[:, p], excess[:, obj.owner == p].max(axis=1))
        return Bounded(margin, empty, bounds, lb.A, lb.c, lb.recorded, params, rows=rows if self.rows else None)


@dataclass(frozen=True, slots=True)
class RegionLPBounding:
    """:class:`LinearBounding` (with each row bounded on its own), then for every open domain and
    polytope the LP ``min_x max(g(x))`` over the domain's box and constraints of the linear lower
    bounds ``g`` of its rows and of their mixture (a point must violate every row at once to be unsafe).
    Where it is positive the polytope is excluded; its minimiser is a candidate input, and its dual
    values become the mixture's weights (the best mix of the rows), inherited by the children.

    With ``tighten``, the box of every domain with constraints is first shrunk to the constraints'
    extent by LP (two per input, only for the sides whose witness point a constraint cut off), which
    tightens every bound computed on the box.

    Attributes:
        linear: the linear bounds (``rows`` and, for neuron splits, ``functions`` set).
        tighten: shrink the boxes by LP first.
    """

    linear: LinearBounding = field(default_factory=lambda: LinearBounding("forward", Optimisation.none(), rows=True,
                                                                          functions=True))
    tighten: bool = True

    def __call__(self, target: Target, doms: Domains, known: Bounded | None = None) -> Bounded:
        if known is not None:
            bd = known
        else:
            empty = tighten_boxes(target, doms) if self.tighten else np.zeros(doms.size, dtype=bool)
            bd = self.linear(target, doms)
            bd.empty |= empty
        proof = target.settings.proof_margin
        obj = target.objective
        A_rows, c_rows = bd.rows
        bd.margin, bd.empty = bd.margin.copy(), bd.empty.copy()
        points = np.full(doms.lo.shape, np.nan)
        weights = None if bd.params is None or bd.params.weights is None else bd.params.weights.copy()
        m = doms.lo.shape[1]
        for d in np.flatnonzero(~bd.empty & bd.open(proof).any(axis=1)):
            target.deadline.check()
            C = np.zeros((0, m)) if doms.rows is None else doms.rows[d]
            rhs = np.zeros(0) if doms.rhs is None else doms.rhs[d]
            for p in np.flatnonzero(bd.margin[d] <= proof):
                mine = np.flatnonzero(obj.owner == p)
                G = np.vstack([A_rows[d, mine], bd.A[d, p][None]])
                g = np.append(c_rows[d, mine], bd.c[d, p])
                target.counters.lps += 1
                lp, res = epigraph(G, g, C, rhs, doms.lo[d], doms.hi[d])
                if res.status is LPStatus.INFEASIBLE:
                    bd.empty[d] = True
                    break
                if res.status is not LPStatus.OPTIMAL:
                    continue
                bd.margin[d, p] = max(bd.margin[d, p], res.value)
                if bd.margin[d, p] > proof:
                    continue
                if np.isnan(points[d, 0]):
                    points[d] = res.x[:m]
                mu = np.abs(lp.row_duals()[:len(mine) + 1])
                if weights is not None and mu.sum() > 0:
                    w = mu[:-1] + mu[-1] * weights[d, mine]
                    weights[d, mine] = w / w.sum()
        bd.points = points
        if weights is not None:
            bd.params = Parameters(bd.params.alpha, bd.params.beta, weights)
        return bd


@dataclass(frozen=True, slots=True)
class RelaxationLPBounding:
    """:class:`LinearBounding`, then one LP of the relaxation per domain left open (see the module
    docstring); networks whose relaxation has no LP (max pooling) keep the linear bounds only."""

    linear: LinearBounding = field(default_factory=LinearBounding)

    def __call__(self, target: Target, doms: Domains, known: Bounded | None = None) -> Bounded:
        bd = self.linear(target, doms, known)
        program = _program(target)
        if program is None:
            return bd
        proof = target.settings.proof_margin
        open_ = np.flatnonzero(~bd.empty & bd.open(proof).any(axis=1))
        bd.margin, bd.empty = bd.margin.copy(), bd.empty.copy()
        points = np.full(doms.lo.shape, np.nan)
        activations = [n for n in target.net.nodes if isinstance(n.op, Activation)]
        strays = {n.name: np.zeros((doms.size, int(np.prod(n.shape)))) for n in activations}
        box = target.box
        for d in open_:
            target.deadline.check()
            one = {k: (l[d], u[d]) for k, (l, u) in bd.bounds.items()}
            for p, poly in enumerate(target.polys):
                if bd.margin[d, p] > proof or bd.empty[d]:
                    continue
                target.counters.lps += 1
                ex = program.minimum_excess(doms.lo[d], doms.hi[d], one, poly.A, poly.b, target.deadline.remaining())
                if ex.status is LPStatus.INFEASIBLE:
                    bd.empty[d] = True
                elif ex.status is LPStatus.OPTIMAL:
                    bd.margin[d, p] = max(bd.margin[d, p], ex.value)
                if ex.v is not None and bd.margin[d, p] <= proof and np.isnan(points[d, 0]):
                    points[d] = np.clip(ex.v[:program.n_in], box.lo, box.hi)
                    for node, gap in zip(activations, program.violations(ex.v)):
                        strays[node.name][d] = gap
        bd.points, bd.strays = points, strays
        return bd


def _program(target: Target) -> RelaxationLP | None:
    """The relaxation LP of the searched network (built once per search), or None without one."""
    if "relaxation_lp" not in target.cache:
        try:
            target.cache["relaxation_lp"] = RelaxationLP(target.net)
        except UnsupportedError:   # max pooling
            target.cache["relaxation_lp"] = None
    return target.cache["relaxation_lp"]


def tighten_boxes(target: Target, doms: Domains) -> np.ndarray:
    """Shrink the box of each domain with constraints (in place) to their extent: an LP per side whose
    witness is unknown; witnesses are kept (created for the batch if missing). Returns the domains
    (B,) the LPs found empty."""
    B, m = doms.lo.shape
    empty = np.zeros(B, dtype=bool)
    if doms.rows is None:
        return empty
    doms.lo, doms.hi = doms.lo.copy(), doms.hi.copy()
    doms.witnesses = np.full((B, 2, m, m), np.nan) if doms.witnesses is None else doms.witnesses.copy()
    for d in range(B):
        todo = np.argwhere(np.isnan(doms.witnesses[d, :, :, 0]))
        if not len(todo):
            continue
        target.deadline.check()
        lp = LinearProgram(doms.rows[d], doms.rhs[d], doms.lo[d], doms.hi[d])
        for side, i in todo:
            target.counters.box_lps += 1
            e = np.zeros(m)
            e[i] = 1.0
            res = lp.maximize(e) if side else lp.minimize(e)
            if res.status is LPStatus.INFEASIBLE:
                empty[d] = True
                break
            if res.status is not LPStatus.OPTIMAL:
                continue
            doms.witnesses[d, side, i] = res.x
            slack = 1e-9 * (1 + abs(res.value))
            if side:
                doms.hi[d, i] = min(doms.hi[d, i], res.value + slack)
            else:
                doms.lo[d, i] = max(doms.lo[d, i], res.value - slack)
        doms.hi[d] = np.maximum(doms.hi[d], doms.lo[d])
    return empty
