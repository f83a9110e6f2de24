"""Batched search over the linear regions of a chain network, with star sets and symbolic bounds.

This is the engine of ``exact-star`` for *chain* networks: sequential networks of dense ``Linear``
layers, reshapes and piecewise-linear activations (ReLU, leaky ReLU, Clip), which is what
:func:`nnreach.network.simplify.simplify` makes of fully connected models.

A *region* is a star over the input: predicate variables ``a`` in a box ``[lo, hi]`` with constraints
``C a <= d``, the network input being ``x = c0 + V0 a``. It stands at one activation node and knows
the value reaching that node exactly, ``z = center + basis a``: every earlier neuron has a fixed
linear piece on the region (the constraints say which), and some neurons of the current node may be
fixed too. Regions are processed in batches of those standing at the same node:

1. Neurons whose interval range over the box lies in one piece are fixed. A region whose neurons
   are all fixed moves on to the next activation node through the affine layers between (exactly);
   past the last node its output is linear in ``a``, and one LP per unsafe polytope decides it.
2. The others are bounded: back-substitution (CROWN/DeepPoly, :mod:`nnreach.bounds.linear`) from
   the output to ``z``, with the open neurons relaxed and the fixed ones exact, gives linear lower
   bounds ``g_r(a)`` of every unsafe row ``(A y - b)_r`` and ``h(a)`` of a weighted sum of a
   polytope's rows (weights ``w >= 0`` summing to 1: where ``h > 0`` some row is positive, and
   relaxing for the sum is tighter than relaxing row by row). A polytope is excluded when one of
   these is positive over the box, else when the LP ``min_a max(g_r(a), h(a))`` over the region
   is positive; the LP's dual values are the children's new weights (the best mix of the rows).
   A region with every polytope excluded is dropped.
3. The minimiser of that LP is executed (an attack on every region, so counterexamples are found
   early) and, within a budget of LPs, a walk over linear regions starts from it
   (:mod:`.region_walk`); then the region is split. Candidates: its open neuron with the largest share of the
   bound's looseness (``|coefficient| x`` the gap of its relaxation; one child per linear piece, each
   with one more constraint) and, for at most ``LOW_DIMENSION`` input variables, the
   ``INPUT_CANDIDATES`` ones with the largest ``|coefficient| x`` width (halving the box). The children of all candidates of the batch are
   bounded in one more batched pass, and the candidate whose worse child is closest to exclusion is
   taken (an input split only if it gains ``STALL`` on its parent, since halving can go on forever).
   Children are contracted by interval reasoning and then, when ``Settings.star_box_lp`` allows and
   there are at most ``LOW_DIMENSION`` input variables, by LP (a feasible point per box side is
   kept, so only sides a new constraint cuts off are recomputed); the child holding the LP
   minimiser is explored first.

Leaves are linear regions; a polytope that meets a leaf yields the leaf's deepest point in it as a
counterexample candidate, which must be confirmed by execution (:mod:`.check`); an unconfirmed meeting
(at round-off level) makes the answer UNKNOWN instead of VIOLATED.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields, replace

import numpy as np

from ..bounds.linear import InputDomain, backward, intermediate_bounds
from ..bounds.relaxations import relax
from ..lp import LinearProgram, LPStatus
from ..network.graph import INPUT, Network
from ..network.ops import Activation, Linear, Reshape
from ..reach.star import piece_constraints, piece_hi, piece_lo, piece_range, pieces
from ..sets.polytope import HPolytope
from ..sets.star import Star
from .check import confirm
from .deadline import Deadline
from .problem import Problem
from .region_walk import epigraph, walk
from .result import Counterexample, Status
from .settings import Settings

NEURON_CANDIDATES = 1
"""Open neurons considered for each split, those with the largest share of the bound's looseness."""
INPUT_CANDIDATES = 3
"""Input variables considered for each split (halving the region's box along one)."""
LOW_DIMENSION = 32
"""Regions with more input variables than this are neither split along inputs nor given LP-tightened
boxes (each costs two LPs per variable); their constraints still enter every LP."""
STALL = 0.01
"""An input split is only taken if its worse child is this fraction closer to exclusion than its parent."""
BOUND_WORK = 1e7
"""Regions times domain variables times neurons that one batched bounding pass may take on (larger
batches are bounded in chunks, so that the deadline is checked every fraction of a second)."""
WALK_LPS = 2
"""The walks from the regions' LP minimisers may take this many LPs per LP of the regions, at most."""
TOL = 1e-9
"""A range within ``TOL (1 + |v|)`` of a breakpoint counts as on one side of it (LP round-off)."""


def is_chain(net: Network) -> bool:
    """Whether the search handles ``net``: sequential, of 1-D ``Linear`` layers, reshapes and
    piecewise-linear activations."""
    if not net.is_sequential:
        return False
    for node in net.nodes:
        op = node.op
        if isinstance(op, Activation):
            if op.breakpoints is None:
                return False
        elif not (isinstance(op, Reshape) or (isinstance(op, Linear) and len(net.shape_of(node.inputs[0])) == 1)):
            return False
    return True


@dataclass(slots=True)
class Region:
    """One region of the search (see the module docstring); arrays are not shared between regions
    unless read-only by convention (``prior`` entries, ``center``/``basis`` until the region moves).

    Attributes:
        pos: index of the activation node it stands at, or ``len(nodes)`` past the last one.
        center, basis: (n,), (n, m): the value reaching node ``pos`` (the output at the end).
        choice: (n,) the fixed piece of each neuron of node ``pos``, -1 while open.
        C, d: (k, m), (k,) the region's constraints.
        lo, hi: (m,) a box containing the region.
        alive: (P,) the unsafe polytopes not excluded yet.
        weights: (R,) nonnegative weights of the unsafe rows, summing to 1 over each polytope's rows;
            each polytope is also bounded as the weighted sum of its rows (see the module docstring).
        prior: bounds (n,) of later activation inputs that hold on the region, by node name.
        wlo, whi: (m, m) row i is a point of the region with ``a_i = lo_i`` (resp. ``hi_i``), NaN if unknown.
        guide: a point of the region to explore first (the last LP minimiser), or None.
    """

    pos: int
    center: np.ndarray
    basis: np.ndarray
    choice: np.ndarray
    C: np.ndarray
    d: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    alive: np.ndarray
    weights: np.ndarray
    prior: dict
    wlo: np.ndarray
    whi: np.ndarray
    guide: np.ndarray | None = None

    def writable(self) -> Region:
        """This region, with copies of any read-only arrays (regions deserialised without copying,
        as from Ray's object store, arrive read-only; the search updates some arrays in place)."""
        frozen = {f.name: np.array(v) for f in fields(self)
                  if isinstance(v := getattr(self, f.name), np.ndarray) and not v.flags.writeable}
        return replace(self, **frozen)  # ``prior`` entries are never written


@dataclass(frozen=True, slots=True)
class _Bounds:
    """Bounds of a batch of B regions at one node (R + P objectives: the rows, then one weighted
    sum per polytope).

    Attributes:
        l, u: (B, n) interval bounds of the node's value, cut to the fixed pieces.
        A, c: (B, R + P, m), (B, R + P) linear lower bounds ``A a + c`` of the objectives minus
            their right-hand sides.
        margin: (B, R + P) their minima over the boxes (positive: the objective excludes its polytope).
        coef: (B, R + P, n) the coefficients that back-substitution gave the node's output.
    """

    l: np.ndarray
    u: np.ndarray
    A: np.ndarray
    c: np.ndarray
    margin: np.ndarray
    coef: np.ndarray


class _Found(Exception):
    def __init__(self, counterexample: Counterexample):
        super().__init__()
        self.counterexample = counterexample


class RegionSearch:
    """The search for one property of a problem whose (simplified) network is a chain."""

    def __init__(self, problem: Problem, net: Network, index: int, settings: Settings, deadline: Deadline,
                 stats: dict):
        self.problem, self.net, self.index = problem, net, index
        self.settings, self.deadline, self.stats = settings, deadline, stats
        prop = problem.properties[index]
        self.prop = prop
        self.x0 = Star.from_box(prop.input_box)
        self.polys = prop.unsafe
        self.rows = np.vstack([p.A for p in self.polys])
        self.rhs = np.concatenate([p.b for p in self.polys])
        self.owner = np.concatenate([np.full(p.A.shape[0], k) for k, p in enumerate(self.polys)])
        self.margin = settings.proof_margin
        self.suffixes: dict[int, Network] = {}
        self.unconfirmed = False
        for key in ("regions", "bounded", "pruned", "leaves", "lps", "splits", "excluded_by_bounds",
                    "excluded_by_lp", "box_lps", "range_lps"):
            stats.setdefault(key, 0)

    # -- entry --------------------------------------------------------------------------------------

    def roots(self) -> list[Region] | Counterexample | Status:
        """The first regions of the search (the input box moved to the first activation node), or
        the decision when there is nothing to search."""
        if any(p.A.shape[0] == 0 for p in self.polys):  # the whole output space is unsafe
            ce = confirm(self.problem, self.index, self.prop.input_box.center)
            return ce if ce is not None else Status.UNKNOWN
        m = self.x0.num_pred
        root = Region(-1, self.x0.center, self.x0.basis, np.zeros(0, dtype=np.int64), np.zeros((0, m)), np.zeros(0),
                      self.x0.pred_lb.copy(), self.x0.pred_ub.copy(), np.ones(len(self.polys), dtype=bool),
                      1.0 / np.bincount(self.owner)[self.owner], {},
                      *_box_witnesses(self.x0.pred_lb, self.x0.pred_ub))
        return self._advance([root])

    def drain(self, stack: list[Region], until: float | None = None) -> Counterexample | list[Region]:
        """Search the regions of ``stack`` (depth-first, in batches) until none is left or, if
        ``until`` is given, until ``time.monotonic()`` passes it. Returns a confirmed
        counterexample or the regions left (empty when done); ``self.unconfirmed`` records
        unconfirmed meetings."""
        try:
            while stack:
                self.deadline.check()
                if until is not None and time.monotonic() > until:
                    return stack
                batch = _pop_batch(stack, self.settings.batch)
                if batch[0].pos == len(self.net.nodes):
                    for r in batch:
                        self._leaf(r)
                    continue
                stack.extend(self._step(batch))
        except _Found as found:
            return found.counterexample
        return stack

    def run(self) -> Counterexample | Status:
        """A confirmed counterexample, HOLDS, or UNKNOWN (a leaf met an unsafe polytope at round-off level)."""
        stack = self.roots()
        if not isinstance(stack, list):
            return stack
        out = self.drain(stack)
        if isinstance(out, Counterexample):
            return out
        return Status.UNKNOWN if self.unconfirmed else Status.HOLDS

    # -- moving through affine layers --------------------------------------------------------------

    def _advance(self, regions: list[Region]) -> list[Region]:
        """Regions whose node ``pos`` is fully fixed (or that start, ``pos == -1``), moved to the
        next activation node or past the last; batched per ``pos``."""
        nodes = self.net.nodes
        by_pos: dict[int, list[Region]] = {}
        for r in regions:
            by_pos.setdefault(r.pos, []).append(r)
        out = []
        for pos, group in by_pos.items():
            center = np.stack([r.center for r in group])
            basis = np.stack([r.basis for r in group])
            if pos >= 0:
                _, s, t = pieces(nodes[pos].op)
                choice = np.stack([r.choice for r in group])
                center = s[choice] * center + t[choice]
                basis = s[choice][:, :, None] * basis
            k = pos + 1
            while k < len(nodes) and not isinstance(nodes[k].op, Activation):
                op = nodes[k].op
                if isinstance(op, Linear):
                    center = center @ op.weight.T + op.bias
                    basis = np.matmul(op.weight, basis)
                k += 1
            n = center.shape[1]
            for j, r in enumerate(group):
                r.pos, r.center, r.basis = k, center[j], basis[j]
                r.choice = np.full(n, -1, dtype=np.int64)
                r.prior = {name: v for name, v in r.prior.items() if self._after(name, k)}
            out.extend(group)
        self.stats["regions"] += len(regions)
        return out

    def _after(self, name: str, pos: int) -> bool:
        """Whether node ``name`` is read by an activation after node ``pos``."""
        return any(n.inputs[0] == name for n in self.net.nodes[pos + 1:] if isinstance(n.op, Activation))

    def _suffix(self, pos: int) -> Network:
        net = self.suffixes.get(pos)
        if net is None:
            net = self.suffixes[pos] = self.net.suffix(pos)
        return net

    # -- one batch at an activation node -------------------------------------------------------------

    def _fix(self, batch: list[Region]) -> tuple[list[Region], list[Region]]:
        """Fix the neurons whose interval range over the box lies in one piece; returns the regions
        with every neuron fixed (moved on to the next node) and the others."""
        op = self.net.nodes[batch[0].pos].op
        b = pieces(op)[0]
        l, u = self._ranges(batch, _domain(batch))
        jl, jh = piece_range(b, l, u, TOL)
        rest = []
        for r, lo, hi in zip(batch, jl, jh):
            r.choice = np.where(r.choice >= 0, r.choice, np.where(lo == hi, lo, -1))
            if np.any(r.choice < 0):
                rest.append(r)
        done = [r for r in batch if not np.any(r.choice < 0)]
        return self._advance(done), rest

    def _ranges(self, regions: list[Region], dom: InputDomain) -> tuple[np.ndarray, np.ndarray]:
        """Interval bounds (B, n) of the value at the regions' node, cut to the fixed pieces."""
        ext = self._piece_ends(regions[0].pos)
        l, u = dom.input_bounds()
        choice = np.stack([r.choice for r in regions])
        fixed = choice >= 0
        j = np.maximum(choice, 0)
        return np.where(fixed, np.maximum(l, ext[j]), l), np.where(fixed, np.minimum(u, ext[j + 1]), u)

    def _piece_ends(self, pos: int) -> np.ndarray:
        """The breakpoints of node ``pos``'s activation with -inf and inf around them."""
        return np.concatenate([[-np.inf], pieces(self.net.nodes[pos].op)[0], [np.inf]])

    def _bound(self, regions: list[Region]) -> _Bounds:
        """Back-substitution bounds of every objective on regions standing at one node, in chunks of
        about :data:`BOUND_WORK` (the deadline is checked between chunks)."""
        suffix = self._suffix(regions[0].pos)
        neurons = sum(int(np.prod(node.shape)) for node in suffix.nodes)
        size = max(1, int(BOUND_WORK // (neurons * regions[0].lo.size + 1)))
        parts = []
        for start in range(0, len(regions), size):
            self.deadline.check()
            parts.append(self._bound_chunk(regions[start:start + size]))
        return _Bounds(*(np.concatenate([getattr(b, f.name) for b in parts]) for f in fields(_Bounds)))

    def _bound_chunk(self, regions: list[Region]) -> _Bounds:
        """:meth:`_bound` in one batched pass."""
        pos = regions[0].pos
        suffix = self._suffix(pos)
        dom = _domain(regions)
        l, u = self._ranges(regions, dom)
        prior = {INPUT: (l, u)}
        for name in {n.inputs[0] for n in suffix.nodes[1:] if isinstance(n.op, Activation)}:
            n = suffix.shape_of(name)[0]
            prior[name] = (np.stack([r.prior[name][0] if name in r.prior else np.full(n, -np.inf) for r in regions]),
                           np.stack([r.prior[name][1] if name in r.prior else np.full(n, np.inf) for r in regions]))
        bounds = intermediate_bounds(suffix, dom, prior=prior)
        head = suffix.nodes[0].name
        W = np.stack([r.weights for r in regions])                             # (B, R)
        combined = np.stack([W * (self.owner == k) for k in range(len(self.polys))], axis=1)   # (B, P, R)
        C = np.concatenate([np.broadcast_to(self.rows, (len(regions), *self.rows.shape)), combined @ self.rows],
                           axis=1)
        rhs = np.concatenate([np.broadcast_to(self.rhs, W.shape), combined @ self.rhs], axis=1)
        lb = backward(suffix, dom, suffix.output, C, bounds, record=(head,))
        self.stats["bounded"] += len(regions)
        for j, r in enumerate(regions):
            for name, (bl, bu) in bounds.items():
                if name != INPUT:
                    r.prior[name] = (bl[j], bu[j])
        return _Bounds(l, u, lb.A, lb.c - rhs, lb.lower - rhs, lb.recorded[head])

    def _step(self, batch: list[Region]) -> list[Region]:
        """Fix, move on, bound, attack and split a batch of regions at one activation node."""
        out, batch = self._fix(batch)
        if not batch:
            return out
        bd = self._bound(batch)
        open_ = []
        for j, r in enumerate(batch):
            row = self._exclude(r, bd.A[j], bd.c[j], bd.margin[j])
            if row is None:
                self.stats["pruned"] += 1
            else:
                open_.append((j, r, row))
        return out + self._branch(open_, bd)

    def _objectives(self, k: int) -> np.ndarray:
        """Indices, among the bounded objectives, of polytope ``k``'s rows and its combined row."""
        return np.append(np.flatnonzero(self.owner == k), len(self.owner) + k)

    def _excluded_by_bounds(self, r: Region, margin: np.ndarray) -> bool:
        """Exclude the polytopes with a positive margin over the box (margins (R + P,)); True if
        none is left."""
        for k in np.flatnonzero(r.alive):
            if np.any(margin[self._objectives(k)] > self.margin):
                r.alive[k] = False
                self.stats["excluded_by_bounds"] += 1
        return not r.alive.any()

    def _exclude(self, r: Region, A: np.ndarray, c: np.ndarray, margin: np.ndarray) -> int | None:
        """Exclude what polytopes the bounds exclude on region ``r`` (``A a + c`` are linear lower
        bounds of the objectives minus their right-hand sides, ``margin`` their minima over the box);
        attack at the LP minimiser of a remaining one and update its row weights from the LP.
        Returns None when every polytope is excluded, else the objective that guides splitting (the
        combined row of the first remaining polytope)."""
        for k in np.flatnonzero(r.alive):
            idx = self._objectives(k)
            if np.any(margin[idx] > self.margin):
                r.alive[k] = False
                self.stats["excluded_by_bounds"] += 1
                continue
            t, a, mu = self._epigraph(r, A[idx], c[idx])
            if t > self.margin:
                r.alive[k] = False
                self.stats["excluded_by_lp"] += 1
                continue
            if a is not None:
                r.guide = a
                self._attack(a, self.polys[k])
            if mu is not None and mu.sum() > 0:
                rows = idx[:-1]
                w = mu[:-1] + mu[-1] * r.weights[rows]
                r.weights = r.weights.copy()
                r.weights[rows] = w / w.sum()
            return int(idx[-1])
        return None

    def _epigraph(self, r: Region, G: np.ndarray, g: np.ndarray) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        """``min_a max_i (G a + g)_i`` over region ``r``, a minimiser and the rows' weights (duals)
        at the optimum (None, None if the region is empty: value +inf; or if the LP failed)."""
        self.deadline.check()
        m = r.lo.size
        self.stats["lps"] += 1
        lp, res = epigraph(G, g, r.C, r.d, r.lo, r.hi)
        if res.status is LPStatus.INFEASIBLE:
            return np.inf, None, None
        if res.status is not LPStatus.OPTIMAL:
            return -np.inf, None, None  # no decision from a troubled LP: keep the polytope
        return res.value, res.x[:m], np.abs(lp.row_duals()[:G.shape[0]])

    def _attack(self, a: np.ndarray, poly: HPolytope) -> None:
        """Execute the input of predicate point ``a`` and, while the walks' LPs number at most
        :data:`WALK_LPS` times the regions' LPs, walk from it towards ``poly`` over linear regions
        (:func:`.region_walk.walk`); raise :class:`_Found` on a confirmed counterexample."""
        x = self.x0.center + self.x0.basis @ a
        if self.prop.is_unsafe(self.net.forward(x[None]))[0]:
            self.stats["confirm_calls"] = self.stats.get("confirm_calls", 0) + 1
            ce = confirm(self.problem, self.index, x)
            if ce is not None:
                raise _Found(ce)
        if self.stats.get("walk_lps", 0) <= WALK_LPS * self.stats["lps"]:
            ce = walk(self.problem, self.index, poly, x, self.stats, self.deadline)
            if ce is not None:
                raise _Found(ce)

    # -- splitting ---------------------------------------------------------------------------------------

    def _branch(self, open_: list[tuple[int, Region, int]], bd: _Bounds) -> list[Region]:
        """Split each open region ``(index in the batch, region, guiding objective)``: the children
        of every candidate split are bounded in one batched pass, and the candidate whose worse
        child is the furthest from being excluded the least is kept. Children are returned with
        their boxes tightened by LP, the one holding its parent's guide point last."""
        if not open_:
            return []
        op = self.net.nodes[open_[0][1].pos].op
        b = pieces(op)[0]
        cands = [(t, neuron, chs) for t, (j, r, row) in enumerate(open_)
                 for neuron, chs in self._candidates(r, op, b, bd.l[j], bd.u[j], bd.coef[j, row], bd.A[j, row])]
        flat = [ch for _, _, chs in cands for ch in chs]
        margin = self._bound(flat).margin if flat else np.zeros((0, len(self.owner) + len(self.polys)))
        badness = self._badness(flat, margin)
        before = self._badness([r for _, r, _ in open_], bd.margin[[j for j, _, _ in open_]])
        chosen: dict[int, tuple[float, list[tuple[Region, np.ndarray]], bool]] = {}
        start = 0
        for t, neuron, chs in cands:
            worse = badness[start:start + len(chs)].max() if chs else 0.0
            # an input split must make headway: halving a box can go on forever (thin strips)
            stalled = not neuron and worse > (1 - STALL) * before[t]
            if not stalled and (t not in chosen or worse < chosen[t][0]):
                chosen[t] = (worse, [(ch, margin[start + i]) for i, ch in enumerate(chs)], neuron)
            start += len(chs)
        out = []
        for t, (_, chs, neuron) in chosen.items():
            parent = open_[t][1]
            self.stats["splits"] += 1
            self.stats["input_splits"] = self.stats.get("input_splits", 0) + (not neuron)
            kept = [ch for ch, m in chs if not self._excluded_by_bounds(ch, m) and self._tighten(ch)]
            self.stats["pruned"] += len(chs) - len(kept)
            if parent.guide is not None and len(kept) > 1:
                k = len(parent.C)
                inside = [np.all(ch.C[k:] @ parent.guide <= ch.d[k:] + TOL * (1 + np.abs(ch.d[k:])))
                          and np.all((ch.lo <= parent.guide) & (parent.guide <= ch.hi)) for ch in kept]
                kept.append(kept.pop(int(np.argmax(inside))))
            out.extend(kept)
        return out

    def _badness(self, regions: list[Region], margin: np.ndarray) -> np.ndarray:
        """How far each region is from being excluded: the sum over its remaining polytopes of the
        best objective's shortfall (0 when excluded); margins (B, R + P) -> (B,)."""
        out = np.zeros(len(regions))
        for k in range(len(self.polys)):
            best = margin[:, self._objectives(k)].max(axis=1)
            alive = np.array([r.alive[k] for r in regions], dtype=bool)
            out += np.where(alive, np.maximum(-best, 0.0), 0.0)
        return out

    def _candidates(self, r: Region, op: Activation, b: np.ndarray, l: np.ndarray, u: np.ndarray,
                    coef: np.ndarray, grad: np.ndarray):
        """Candidate splits of region ``r`` as ``(is a neuron split, children)``: the open neurons
        with the largest share of the bound's looseness (``|coef| x`` their relaxation's gap) and
        the input variables with the largest ``|grad| x`` width (the smear of the guiding objective)."""
        self.deadline.check()
        open_ = np.flatnonzero(r.choice < 0)
        rel = relax(op, l[open_], u[open_])
        ds, db = rel.hi_slope - rel.lo_slope, rel.hi_bias - rel.lo_bias
        gap = np.maximum(ds * l[open_] + db, ds * u[open_] + db)
        for i in open_[np.argsort(-np.abs(coef[open_]) * gap, kind="stable")[:NEURON_CANDIDATES]]:
            jl, jh = (int(v[0]) for v in piece_range(b, l[i:i + 1], u[i:i + 1], TOL))
            children = [self._child(r, i, j, *piece_constraints(r.center[i], r.basis[i], b, j, jl, jh))
                        for j in range(jl, jh + 1)]
            yield True, [child for child in children if child is not None]
        width = r.hi - r.lo
        smear = np.abs(grad) * width
        for d in np.argsort(-smear)[:INPUT_CANDIDATES if r.lo.size <= LOW_DIMENSION else 0]:
            if smear[d] <= 0 or width[d] <= TOL * (1 + np.abs(r.lo[d])):
                continue
            e = np.zeros(r.lo.size)
            e[d] = 1.0
            mid = (r.lo[d] + r.hi[d]) / 2
            yield False, [ch for ch in (self._child(r, -1, -1, e[None], np.array([mid])),
                                        self._child(r, -1, -1, -e[None], np.array([-mid]))) if ch is not None]

    def _child(self, r: Region, unit: int, piece: int, A: np.ndarray, rhs: np.ndarray) -> Region | None:
        """``r`` cut by the rows ``A a <= rhs``, with neuron ``unit`` fixed to ``piece`` (none if
        ``unit`` is -1: an input split); None if the box contraction shows it empty."""
        lo, hi = _contract(r.lo, r.hi, A, rhs)
        if np.any(lo > hi + TOL * (1 + np.abs(hi))):
            return None
        choice = r.choice.copy()
        if unit >= 0:
            choice[unit] = piece
        ok = lambda W: np.all(W @ A.T <= rhs + TOL * (1 + np.abs(rhs)), axis=1)
        wlo = np.where(ok(r.wlo)[:, None], r.wlo, np.nan)
        whi = np.where(ok(r.whi)[:, None], r.whi, np.nan)
        return Region(r.pos, r.center, r.basis, choice, np.vstack([r.C, A]), np.concatenate([r.d, rhs]),
                      lo, np.maximum(hi, lo), r.alive.copy(), r.weights, dict(r.prior), wlo, whi)

    def _tighten(self, r: Region) -> bool:
        """LP-tighten the box sides whose witness is unknown; False if the region is empty."""
        todo = [(W, i) for W in (r.wlo, r.whi) for i in np.flatnonzero(np.isnan(W[:, 0]))]
        if not todo or not self.settings.star_box_lp or r.lo.size > LOW_DIMENSION:
            return True
        lp = LinearProgram(r.C, r.d, r.lo, r.hi)
        m = r.lo.size
        for W, i in todo:
            self.deadline.check()
            lower = W is r.wlo
            e = np.zeros(m)
            e[i] = 1.0
            self.stats["box_lps"] += 1
            res = lp.minimize(e) if lower else lp.maximize(e)
            if res.status is LPStatus.INFEASIBLE:
                return False
            if res.status is not LPStatus.OPTIMAL:
                continue
            W[i] = res.x
            if lower:
                r.lo[i] = max(r.lo[i], res.value - TOL * (1 + abs(res.value)))
            else:
                r.hi[i] = min(r.hi[i], res.value + TOL * (1 + abs(res.value)))
        r.hi = np.maximum(r.hi, r.lo)
        return True

    # -- leaves -----------------------------------------------------------------------------------------

    def _leaf(self, r: Region) -> None:
        """A linear region: the output is ``center + basis a``; decide each remaining polytope by LP."""
        self.stats["leaves"] += 1
        for k in np.flatnonzero(r.alive):
            p = self.polys[k]
            t, a, _ = self._epigraph(r, p.A @ r.basis, p.A @ r.center - p.b)
            if a is None or t > self.margin:
                continue
            x = self.x0.center + self.x0.basis @ a
            self.stats["confirm_calls"] = self.stats.get("confirm_calls", 0) + 1
            ce = confirm(self.problem, self.index, x)
            if ce is not None:
                raise _Found(ce)
            self.unconfirmed = True


def _box_witnesses(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points of a plain box attaining each side: the center moved to that side (none above
    ``LOW_DIMENSION`` variables, where boxes are not tightened)."""
    if lo.size > LOW_DIMENSION:
        return np.zeros((0, lo.size)), np.zeros((0, lo.size))
    mid = (lo + hi) / 2
    wlo, whi = np.tile(mid, (lo.size, 1)), np.tile(mid, (lo.size, 1))
    np.fill_diagonal(wlo, lo)
    np.fill_diagonal(whi, hi)
    return wlo, whi


def _contract(lo: np.ndarray, hi: np.ndarray, A: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The box ``[lo, hi]`` shrunk by the rows ``A a <= rhs`` (interval reasoning, one pass)."""
    lo, hi = lo.copy(), hi.copy()
    for a, r in zip(A, rhs):
        lows = np.where(a > 0, a * lo, a * hi)          # the smallest value of each term
        rest = lows.sum() - lows                        # the smallest value of the other terms
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = (r - rest) / a
        pos, neg = a > 0, a < 0
        hi[pos] = np.minimum(hi[pos], bound[pos] + TOL * (1 + np.abs(bound[pos])))
        lo[neg] = np.maximum(lo[neg], bound[neg] - TOL * (1 + np.abs(bound[neg])))
    return lo, hi


def _domain(batch: list[Region]) -> InputDomain:
    return InputDomain(np.stack([r.lo for r in batch]), np.stack([r.hi for r in batch]),
                       np.stack([r.center for r in batch]), np.stack([r.basis for r in batch]))


def _pop_batch(stack: list[Region], size: int) -> list[Region]:
    """Up to ``size`` regions from the top of the stack that stand at the same node as the top one."""
    pos = stack[-1].pos
    batch, keep = [], []
    while stack and len(batch) < size:
        r = stack.pop()
        (batch if r.pos == pos else keep).append(r)
        if len(keep) > size:
            break
    stack.extend(reversed(keep))
    return batch


def search(problem: Problem, net: Network, index: int, settings: Settings, deadline: Deadline,
           stats: dict) -> Counterexample | Status:
    """Decide property ``index`` of ``problem`` on the chain network ``net`` (its simplified network)."""
    return RegionSearch(problem, net, index, settings, deadline, stats).run()
