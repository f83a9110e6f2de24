"""Branching strategies: how an open domain is split into children that cover it.

Two kinds of split:

* *Input splits* halve the box along one input. The candidates are the inputs with the largest
  ``|coefficient| x width`` in the linear lower bound of the excess (the "smear" of ReluVal, which is
  also what alpha-beta-CROWN's input-split score measures: how much a halving can raise that bound),
  of the plain bound where there is one (:func:`sensitivity`).
* *Neuron splits* cut one neuron's input interval: a piecewise-linear activation at a breakpoint
  inside it (ReLU at 0), a smooth one at 0 when the interval crosses 0 (sigmoid and tanh are convex on
  one side, concave on the other) and at the midpoint otherwise, as GenBaB does. An entry of a max
  pooling window whose maximum can still move between entries is cut too: the entry with the
  largest upper bound, at the largest upper bound ``m`` of the others, so that in the child
  ``x >= m`` it dominates the window (exact) and in the other its range shrinks (its score: the
  coefficient of the window's output times the window's range ``max u - max l``), once every
  activation of the domain is decided: these cuts make the search complete on max pooling, but
  ranked among the ReLUs they took the place of better cuts (on a conv net with max pooling at eps
  0.03, 216 domains closed in 30 s instead of 364). The candidates are
  the neurons with the largest BaBSR score ``|coefficient| x relaxation gap`` (the coefficient that
  reached the neuron's output in the bound, the gap of the relaxation line it went through), or,
  after an LP of the relaxation, the one whose output strays most from the activation at the LP's
  optimum. Where the bounding strategy gives the linear functions ``L(x) <= z <= U(x)`` bounding
  the split neuron's input, each child also gets the cut as a linear constraint on the input
  (``L(x) <= t`` below, ``U(x) >= t`` above; exact when everything before the neuron is fixed, as
  in a search over linear regions), and its box is shrunk by interval reasoning on it.

Strategies: :class:`InputSplit` and :class:`NeuronSplit` take the best candidate of one kind;
:class:`LookaheadSplit` bounds the children of several candidates of both kinds (neurons of the
first layer that has an undecided one, as star-set searches split, or the best-scoring anywhere, as
filtered smart branching does) and takes the candidate whose worse child is closest to being closed;
an input split must gain ``STALL`` of its parent's shortfall, since halving can go on forever.

A strategy returns the children (two per split domain, the first covering the lower side), the
children's bounds when it computed them, and the domains it cannot split (leaves, decided by the
oracle); children inherit their parent's bounds, margins and optimised parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Callable

import numpy as np

from ...bounds.relaxations import max_of_others, max_pool_exact, relax, window_values
from ...network.ops import Activation, MaxPool2d, pool_windows
from ...reach.relax import crosses_breakpoint
from .domain import Bounded, Domains, Target

STALL = 0.01
"""A split that improves the worse half's margin by less than this fraction of the gap has stalled."""
TOL = 1e-9
"""Relative slack of the box contraction by a new constraint (LP and round-off)."""

Bounding = Callable[[Target, Domains], Bounded]
Split = tuple[Domains | None, Bounded | None, np.ndarray]


def progress(margin: np.ndarray, proof_margin: float) -> np.ndarray:
    """How close each domain (B, P margins) is to being closed: minus the summed shortfall of its open
    polytopes (0 when closed)."""
    return -np.sum(np.maximum(proof_margin - margin, 0.0), axis=1)


def _children(doms: Domains, bd: Bounded, lo: np.ndarray, hi: np.ndarray, cuts, since: np.ndarray | None,
              rows: np.ndarray, rhs: np.ndarray) -> Domains:
    """Children (2B) of a batch: given boxes, cuts and new constraint rows (2B, n_in), (2B,), the
    parents' bounds, margins, parameters and constraints; ``since`` (B,) the first node a child's
    split can change (None: any)."""
    twice = np.concatenate([np.arange(doms.size)] * 2)
    m = doms.lo.shape[1]
    all_rows = all_rhs = None
    if doms.rows is not None or np.any(rows):   # domains without constraints keep none
        old_rows = np.zeros((doms.size, 0, m)) if doms.rows is None else doms.rows
        old_rhs = np.zeros((doms.size, 0)) if doms.rhs is None else doms.rhs
        lo, hi = contract(lo, hi, rows, rhs)
        all_rows = np.concatenate([old_rows[twice], rows[:, None]], axis=1)
        all_rhs = np.concatenate([old_rhs[twice], rhs[:, None]], axis=1)
    witnesses = None
    if doms.witnesses is not None:   # a witness cut off by the new constraint or outside the new box is lost
        witnesses = doms.witnesses[twice].copy()
        lost = (np.einsum("bsim,bm->bsi", witnesses, rows) > rhs[:, None, None] + TOL * (1 + np.abs(rhs[:, None, None])))
        lost |= np.any((witnesses < lo[:, None, None]) | (witnesses > hi[:, None, None]), axis=-1)
        witnesses[lost] = np.nan
    return Domains(lo, hi, cuts, bd.margin[twice], {k: (l[twice], u[twice]) for k, (l, u) in bd.bounds.items()},
                   None if bd.params is None else bd.params.take(twice), None if since is None else since[twice],
                   all_rows, all_rhs, witnesses)


def contract(lo: np.ndarray, hi: np.ndarray, a: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The boxes ``[lo, hi]`` (B, m) shrunk by one constraint ``a x <= r`` each ((B, m), (B,)) by interval
    reasoning; a box the constraint cuts off entirely comes out with ``lo > hi`` somewhere."""
    lows = np.where(a > 0, a * lo, a * hi)                  # the smallest value of each term
    rest = lows.sum(axis=1, keepdims=True) - lows           # the smallest value of the other terms
    with np.errstate(divide="ignore", invalid="ignore"):   # a = 0: no bound from this input
        bound = (r[:, None] - rest) / a
        slack = TOL * (1 + np.abs(bound))
        hi = np.where(a > 0, np.minimum(hi, bound + slack), hi)
        lo = np.where(a < 0, np.maximum(lo, bound - slack), lo)
    return lo, hi


def split_inputs(doms: Domains, bd: Bounded, dims: np.ndarray) -> Domains:
    """The two halves (2B) of each box along its input ``dims`` (B,)."""
    rows = np.arange(doms.size)
    mid = (doms.lo[rows, dims] + doms.hi[rows, dims]) / 2
    lo = np.concatenate([doms.lo, doms.lo])
    hi = np.concatenate([doms.hi, doms.hi])
    hi[rows, dims] = mid
    lo[doms.size + rows, dims] = mid
    twice = np.concatenate([rows, rows])
    m = doms.lo.shape[1]
    return _children(doms, bd, lo, hi, {k: (l[twice], u[twice]) for k, (l, u) in doms.cuts.items()}, None,
                     np.zeros((2 * doms.size, m)), np.zeros(2 * doms.size))


def cuttable(op: Activation, l: np.ndarray, u: np.ndarray, min_width: np.ndarray) -> np.ndarray:
    """Neurons whose relaxation on ``[l, u]`` is inexact and whose interval may still be cut."""
    if op.breakpoints is None:
        return u - l > min_width
    return crosses_breakpoint(op, l, u)


def cut_point(op: Activation, l: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Where to cut each neuron's interval ``[l, u]`` (arrays of one shape)."""
    bps = op.breakpoints
    if bps is None:
        return np.where((l < 0) & (u > 0), 0.0, (l + u) / 2)
    point = (l + u) / 2
    for b in reversed(bps):  # the first breakpoint inside wins
        point = np.where((l < b) & (u > b), b, point)
    return point


def relaxation_gaps(op: Activation, l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How far the upper and the lower default relaxation line get from ``f`` on ``[l, u]``, estimated
    at the ends, the midpoint and the breakpoints (or 0): two arrays of the shape of ``l``."""
    rel = relax(op, l, u)
    knees = op.breakpoints or (0.0,)
    points = [l, u, (l + u) / 2] + [np.clip(b, l, u) for b in knees]
    up = np.max([rel.hi_slope * x + rel.hi_bias - op.forward(x) for x in points], axis=0)
    down = np.max([op.forward(x) - rel.lo_slope * x - rel.lo_bias for x in points], axis=0)
    return np.maximum(up, 0.0), np.maximum(down, 0.0)


def cut_nodes(net) -> list:
    """The nodes whose input intervals neuron splits cut: activations and max poolings, in order."""
    return [n for n in net.nodes if isinstance(n.op, (Activation, MaxPool2d))]


def _pool_tops(net, node, l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For max pooling ``node`` on input bounds ``[l, u]`` (B, n_in), per window (B, n_out): the flat
    input index of its entry with the largest upper bound, the largest upper bound of the others
    (where that entry is cut; -inf for a window of one entry), and the window's range ``max u - max l``
    where no entry dominates it (0 where one does)."""
    win = pool_windows(node.op, net.shape_of(node.inputs[0]))
    wl, wu = window_values(win, l), window_values(win, u)
    k = wu.argmax(axis=-1)
    gap = np.where(max_pool_exact(win, l, u), 0.0, wu.max(axis=-1) - wl.max(axis=-1))
    return win[np.arange(win.shape[0]), k], max_of_others(wu, k), gap


def _pool_scores(net, node, l: np.ndarray, u: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Scores (B, n_in) of the entries of max pooling ``node``: for each window no entry dominates
    (range > 0), its top entry (:func:`_pool_tops`) gets ``|coefficient of the output| x range`` (the
    best over the windows it tops); -1 elsewhere."""
    top, _, gap = _pool_tops(net, node, l, u)
    loose = gap > 0
    score = np.full(l.shape, -1.0)
    rows = np.broadcast_to(np.arange(l.shape[0])[:, None], top.shape)
    np.maximum.at(score, (rows[loose], top[loose]), (np.abs(coef) * gap)[loose])
    return score


def _pool_cut_points(net, node, l: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Where to cut each entry (B, n_in) of max pooling ``node``: at the largest upper bound of the
    others in a window it tops, when that lies inside its interval (the largest such), else at the
    midpoint."""
    top, other, _ = _pool_tops(net, node, l, u)
    point = np.full(l.shape, -np.inf)
    rows = np.broadcast_to(np.arange(l.shape[0])[:, None], top.shape)
    np.maximum.at(point, (rows, top), other)
    return np.where((point > l) & (point < u), point, (l + u) / 2)


def neuron_scores(target: Target, bd: Bounded) -> tuple[np.ndarray, list]:
    """The split scores (B, N) of every cuttable neuron (the input entries of :func:`cut_nodes` in
    order; -1: cannot be cut, 0: not worth cutting) and those nodes."""
    net = target.net
    neurons = cut_nodes(net)
    if "min_width" not in target.cache:   # the first call is on the root
        target.cache["min_width"] = {n.inputs[0]: target.settings.min_split_width * (bd.bounds[n.inputs[0]][1][0] - bd.bounds[n.inputs[0]][0][0])
                                     for n in neurons}
    min_width = target.cache["min_width"]
    guide = bd.guide(target.settings.proof_margin)
    scores = []
    for n in neurons:
        l, u = bd.bounds[n.inputs[0]]
        coef = bd.coefficients.get(n.name)
        coef = np.zeros((len(guide), prod(n.shape))) if coef is None else coef[np.arange(len(guide)), guide]
        if isinstance(n.op, MaxPool2d):
            scores.append(np.where(u - l > min_width[n.inputs[0]], _pool_scores(net, n, l, u, coef), -1.0))
            continue
        ok = cuttable(n.op, l, u, min_width[n.inputs[0]])
        if bd.strays is not None and n.name in bd.strays:
            score = bd.strays[n.name]
        else:
            up, down = relaxation_gaps(n.op, l, u)
            score = np.maximum(-coef, 0.0) * up + np.maximum(coef, 0.0) * down
        scores.append(np.where(ok, score, -1.0))
    if not scores:
        return np.zeros((len(bd.margin), 0)), neurons
    pools = [isinstance(n.op, MaxPool2d) for n in neurons]
    if any(pools) and not all(pools):   # pooling entries only where every activation is decided
        active = np.concatenate([np.full(s.shape[1], not p) for s, p in zip(scores, pools)])
        S = np.concatenate(scores, axis=1)
        busy = np.any(S[:, active] >= 0, axis=1)
        S[np.ix_(busy, ~active)] = -1.0
        return S, neurons
    return np.concatenate(scores, axis=1), neurons


def cut_sizes(net, neurons: list) -> list[int]:
    """The number of cuttable entries of each node of :func:`cut_nodes`: its input's size."""
    return [prod(net.shape_of(n.inputs[0])) for n in neurons]


def split_neurons(target: Target, doms: Domains, bd: Bounded, pick: np.ndarray, neurons: list) -> Domains:
    """The two children (2B) of each domain cut at the neuron ``pick`` (B,), an index into the
    entries of the nodes ``neurons`` (:func:`cut_nodes`) in order."""
    net = target.net
    offsets = np.cumsum([0] + cut_sizes(net, neurons))
    rows = np.arange(len(pick))
    B, m = doms.lo.shape
    position = {node.name: k for k, node in enumerate(net.nodes)}
    since = np.zeros(B, dtype=np.int64)
    new_rows, new_rhs = np.zeros((2 * B, m)), np.zeros(2 * B)
    cuts = {}
    for k, n in enumerate(neurons):
        src = n.inputs[0]
        clo, chi = doms.cuts[src]
        l2, u2 = np.concatenate([clo, clo]), np.concatenate([chi, chi])
        mine = (pick >= offsets[k]) & (pick < offsets[k + 1])
        if mine.any():
            r, j = rows[mine], pick[mine] - offsets[k]
            l, u = bd.bounds[src]
            if isinstance(n.op, MaxPool2d):
                t = _pool_cut_points(net, n, l[r], u[r])[np.arange(len(r)), j]
            else:
                t = cut_point(n.op, l[r, j], u[r, j])
            u2[r, j] = t
            l2[B + r, j] = t
            since[r] = position[n.name]
            if bd.functions is not None and src in bd.functions:
                L, U = bd.functions[src]
                new_rows[r], new_rhs[r] = L[r, j, :-1], t - L[r, j, -1]                # L(x) <= t
                new_rows[B + r], new_rhs[B + r] = -U[r, j, :-1], U[r, j, -1] - t       # U(x) >= t
        cuts[src] = (l2, u2)
    twice = np.concatenate([rows, rows])
    return _children(doms, bd, np.concatenate([doms.lo, doms.lo]), np.concatenate([doms.hi, doms.hi]),
                     {k: cuts.get(k, (v[0][twice], v[1][twice])) for k, v in doms.cuts.items()}, since, new_rows, new_rhs)


def _nonempty(children: Domains, cbd: Bounded | None = None) -> tuple[Domains, Bounded | None]:
    """The children whose box the contraction left non-empty."""
    ok = np.all(children.lo <= children.hi + TOL * (1 + np.abs(children.hi)), axis=1)
    if ok.all():
        return children, cbd
    children = children.take(ok)
    children.hi = np.maximum(children.hi, children.lo)
    return children, None if cbd is None else cbd.take(ok)


def _bound_in_chunks(bounding: Bounding, target: Target, doms: Domains, size: int) -> Bounded:
    """``bounding`` on pieces of at most ``size`` domains (large batches bound slower: their
    undecided neurons are the union of the domains'), as one result."""
    if doms.size <= size:
        return bounding(target, doms)
    parts = [bounding(target, doms.take(np.arange(s, min(s + size, doms.size)))) for s in range(0, doms.size, size)]
    return Bounded.concatenate(parts)


def sensitivity(target: Target, bd: Bounded) -> np.ndarray:
    """(B, n_in): per domain, ``|coefficient|`` of each input in the linear lower bound of the guiding
    polytope's excess: of its rows' plain bounds where they are known (summed over the rows), which
    follow the network's slopes, rather than of an optimised bound, whose parameters flatten it to
    raise its minimum over the box."""
    guide = bd.guide(target.settings.proof_margin)
    if bd.rows is None:
        return np.abs(bd.A[np.arange(len(guide)), guide])
    members = target.objective.owner[None] == guide[:, None]                  # (B, R)
    return np.einsum("br,brn->bn", members.astype(float), np.abs(bd.rows[0]))


def _wide(target: Target, doms: Domains) -> np.ndarray:
    """(B, n_in): the sides wider than the minimum split width."""
    box = target.box
    return doms.hi - doms.lo > target.settings.min_split_width * np.maximum(box.hi - box.lo, 1e-12)


@dataclass(frozen=True, slots=True)
class InputSplit:
    """Halve the box along the input with the largest smear (see the module docstring)."""

    def __call__(self, target: Target, doms: Domains, bd: Bounded, bounding: Bounding) -> Split:
        wide = _wide(target, doms)
        leaves = np.flatnonzero(~wide.any(axis=1))
        keep = np.flatnonzero(wide.any(axis=1))
        if not keep.size:
            return None, None, leaves
        doms, bd, wide = doms.take(keep), bd.take(keep), wide[keep]
        smear = sensitivity(target, bd) * (doms.hi - doms.lo) * wide
        return split_inputs(doms, bd, np.argmax(smear, axis=1)), None, leaves


@dataclass(frozen=True, slots=True)
class NeuronSplit:
    """Cut the neuron with the best score (see the module docstring)."""

    def __call__(self, target: Target, doms: Domains, bd: Bounded, bounding: Bounding) -> Split:
        S, neurons = neuron_scores(target, bd)
        can = np.any(S >= 0, axis=1)
        leaves = np.flatnonzero(~can)
        keep = np.flatnonzero(can)
        if not keep.size:
            return None, None, leaves
        doms, bd, S = doms.take(keep), bd.take(keep), S[keep]
        widths = np.concatenate([bd.bounds[n.inputs[0]][1] - bd.bounds[n.inputs[0]][0] for n in neurons], axis=1)
        zero = S.max(axis=1) <= 0          # nothing scores: cut the widest cuttable neuron
        S[zero] = np.where(S[zero] < 0, -1.0, widths[zero])
        children, _ = _nonempty(split_neurons(target, doms, bd, np.argmax(S, axis=1), neurons))
        return children, None, leaves


@dataclass(frozen=True, slots=True)
class LookaheadSplit:
    """Bound the children of several candidates and take the best (see the module docstring).

    Attributes:
        neurons: neuron candidates per domain (the best scores).
        inputs: input candidates per domain.
        layer_order: neuron candidates only from the first activation node with a neuron to cut
            (as star-set searches split: every split is then a linear constraint on the input);
            otherwise from anywhere (filtered smart branching).
        evaluate: how the candidates' children are bounded (None: the search's bounding strategy,
            or its linear part where it has one).
    """

    neurons: int = 1
    inputs: int = 3
    layer_order: bool = True
    evaluate: Bounding | None = None

    def __call__(self, target: Target, doms: Domains, bd: Bounded, bounding: Bounding) -> Split:
        B = doms.size
        proof = target.settings.proof_margin
        S, neurons = neuron_scores(target, bd)
        sizes = cut_sizes(target.net, neurons)
        layer = np.repeat(np.arange(len(neurons)), sizes)
        first = np.where((S >= 0).any(axis=1), np.argmax(np.stack([(S[:, layer == k] >= 0).any(axis=1) for k in range(len(neurons))], axis=1), axis=1), -1) \
            if len(neurons) else np.full(B, -1)
        if self.layer_order:
            S = np.where(layer[None] == first[:, None], S, -1.0)    # neurons of the first node with one to cut
        wide = _wide(target, doms)
        smear = np.where(wide, sensitivity(target, bd) * (doms.hi - doms.lo), -1.0)
        cands: list[tuple[np.ndarray, bool, np.ndarray]] = []      # (domains, is neuron, neuron or input)
        order = np.argsort(-S, axis=1, kind="stable")[:, :self.neurons]
        for rank in range(min(self.neurons, S.shape[1])):
            pick = order[:, rank]
            ok = np.flatnonzero(S[np.arange(B), pick] >= 0)
            cands.append((ok, True, pick[ok]))
        order = np.argsort(-smear, axis=1, kind="stable")[:, :self.inputs]
        for rank in range(min(self.inputs, doms.lo.shape[1])):
            dim = order[:, rank]
            ok = np.flatnonzero(smear[np.arange(B), dim] > 0)
            cands.append((ok, False, dim[ok]))
        splittable = np.zeros(B, dtype=bool)
        for ok, _, _ in cands:
            splittable[ok] = True
        leaves = np.flatnonzero(~splittable)
        parts = [(split_neurons(target, doms.take(ok), bd.take(ok), which, neurons) if neuron
                  else split_inputs(doms.take(ok), bd.take(ok), which), ok, neuron) for ok, neuron, which in cands if ok.size]
        if not parts:
            return None, None, leaves
        evaluate = self.evaluate or getattr(bounding, "linear", bounding)
        all_children = Domains.concatenate([p for p, _, _ in parts])
        tb = _bound_in_chunks(evaluate, target, all_children, max(2 * B, 64))
        target.counters.lookahead += all_children.size
        before = progress(bd.margin, proof)
        best = np.full(B, -np.inf)
        choice = np.full((B, 2), -1)                      # per parent: the global index of its first child, and n
        start = 0
        for children, ok, neuron in parts:
            n = ok.size
            m = np.maximum(tb.margin[start:start + 2 * n], children.margin)
            empty = ~np.all(children.lo <= children.hi + TOL * (1 + np.abs(children.hi)), axis=1)
            m[empty] = np.inf
            tb.margin[start:start + 2 * n] = m
            worse = np.minimum(progress(m[:n], proof), progress(m[n:], proof))
            gain = worse - before[ok] > STALL * np.abs(before[ok])
            better = (worse > best[ok]) & (neuron | gain)
            unchosen = choice[ok, 0] < 0                  # every candidate stalled: the first one stands
            take = better | unchosen
            best[ok[take]] = np.where(better[take], worse[take], -np.inf)
            choice[ok[take]] = np.stack([start + np.flatnonzero(take), np.full(take.sum(), n)], axis=1)
            start += 2 * n
        split = choice[:, 0] >= 0
        idx = np.concatenate([choice[split, 0], choice[split, 0] + choice[split, 1]])
        children, cbd = _nonempty(all_children.take(idx), tb.take(idx))
        children.margin = cbd.margin.copy()
        return children, (cbd if self.evaluate is None else None), leaves
