"""Branching strategies: how an open domain is split into children that cover it.

* :class:`InputSplit`: halve the box along one input. The candidates are the inputs with the
  largest ``|coefficient| x width`` in the linear lower bound of the excess (the "smear" of ReluVal,
  which is also what alpha-beta-CROWN's input-split score measures: how much a halving can raise that
  bound). With ``lookahead > 1`` the halves of that many candidates are all bounded and the input
  whose worse half is best is taken; when none improves the worse half by ``STALL`` of the gap, the
  relatively widest candidate is halved instead, so that no box becomes a thin strip whose bound
  never converges.
* :class:`NeuronSplit`: cut one neuron's input interval: a piecewise-linear activation at a
  breakpoint inside it (ReLU at 0), a smooth one at 0 when the interval crosses 0 (sigmoid and tanh
  are convex on one side, concave on the other) and at the midpoint otherwise, as GenBaB does. The
  neuron is the one with the largest BaBSR score ``|coefficient| x relaxation gap`` (the coefficient
  that reached the neuron's output in the bound, the gap of the relaxation line it went through), or,
  after an LP of the relaxation, the one whose output strays most from the activation at the LP's
  optimum.

A strategy returns the children (two per split domain, the first covering the lower side) and the
domains it cannot split (leaves, decided by the oracle); children inherit their parent's bounds,
margin and optimised parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Callable

import numpy as np

from ...bounds.relaxations import relax
from ...network.ops import Activation
from ...reach.relax import breakpoints, crosses_breakpoint
from .domain import Bounded, Domains, Target

STALL = 0.01
"""A split that improves the worse half's margin by less than this fraction of the gap has stalled."""

Bounding = Callable[[Target, Domains], Bounded]


def _children(doms: Domains, bd: Bounded, lo: np.ndarray, hi: np.ndarray, cuts, since: np.ndarray | None = None) -> Domains:
    """Children (2B) of a batch: given boxes and cuts, the parents' bounds, margins and parameters;
    ``since`` (B,) the first node a child's split can change (None: any)."""
    twice = np.concatenate([np.arange(doms.size)] * 2)
    return Domains(lo, hi, cuts, np.concatenate([bd.margin, bd.margin]),
                   {k: (l[twice], u[twice]) for k, (l, u) in bd.bounds.items()},
                   None if bd.params is None else bd.params.take(twice),
                   None if since is None else since[twice])


@dataclass(frozen=True, slots=True)
class InputSplit:
    """Halve the box along one input (see the module docstring).

    Attributes:
        lookahead: candidate inputs whose halves are bounded before one is chosen (1: the best
            smear, no extra bounding).
    """

    lookahead: int = 1

    def __call__(self, target: Target, doms: Domains, bd: Bounded, bounding: Bounding
                 ) -> tuple[Domains | None, Bounded | None, np.ndarray]:
        """Children (bounded already when there was a lookahead: their bounds, else None) and the
        indices of the domains that cannot be split (every side below the minimum width)."""
        box = target.box
        root_width = np.maximum(box.hi - box.lo, 1e-12)
        min_width = target.settings.min_split_width * root_width
        width = doms.hi - doms.lo
        wide = width > min_width
        leaves = np.flatnonzero(~wide.any(axis=1))
        keep = np.flatnonzero(wide.any(axis=1))
        if not keep.size:
            return None, None, leaves
        doms, bd, width, wide = doms.take(keep), bd.take(keep), width[keep], wide[keep]
        guide = bd.guide(target.settings.proof_margin)
        smear = np.abs(bd.A[np.arange(doms.size), guide]) * width * wide
        B, n = doms.lo.shape
        k = min(self.lookahead, n)
        if k == 1:
            dims = np.argmax(smear, axis=1)
            return self._halves(doms, bd, dims), None, leaves
        cand = np.argsort(-smear, axis=1)[:, :k]                          # (B, k)
        rep = np.repeat(np.arange(B), k)
        trial = self._halves(doms.take(rep), bd.take(rep), cand.reshape(-1))   # 2 B k children
        tb = bounding(target, trial)
        m = _progress(tb.margin, target.settings.proof_margin).reshape(2, B, k)
        worse = np.minimum(m[0], m[1])                                     # (B, k)
        worse = np.where(np.take_along_axis(wide, cand, axis=1), worse, -np.inf)
        best = np.argmax(worse, axis=1)
        parent = _progress(bd.margin, target.settings.proof_margin)
        stalled = worse[np.arange(B), best] - parent <= STALL * np.abs(parent)
        relative = np.take_along_axis(width / root_width, cand, axis=1)
        best = np.where(stalled, np.argmax(np.where(np.isfinite(worse), relative, -1.0), axis=1), best)
        pick = np.concatenate([np.arange(B) * k + best, B * k + np.arange(B) * k + best])
        return trial.take(pick), tb.take(pick), leaves

    @staticmethod
    def _halves(doms: Domains, bd: Bounded, dims: np.ndarray) -> Domains:
        rows = np.arange(doms.size)
        mid = (doms.lo[rows, dims] + doms.hi[rows, dims]) / 2
        lo = np.concatenate([doms.lo, doms.lo])
        hi = np.concatenate([doms.hi, doms.hi])
        hi[rows, dims] = mid
        lo[doms.size + rows, dims] = mid
        twice = np.concatenate([rows, rows])
        return _children(doms, bd, lo, hi, {k: (l[twice], u[twice]) for k, (l, u) in doms.cuts.items()})


def _progress(margin: np.ndarray, proof_margin: float) -> np.ndarray:
    """How close each domain (B, P margins) is to being closed: minus the summed shortfall of its open
    polytopes (0 when closed)."""
    return -np.sum(np.maximum(proof_margin - margin, 0.0), axis=1)


def cuttable(op: Activation, l: np.ndarray, u: np.ndarray, min_width: np.ndarray) -> np.ndarray:
    """Neurons whose relaxation on ``[l, u]`` is inexact and whose interval may still be cut."""
    if breakpoints(op) is None:
        return u - l > min_width
    return crosses_breakpoint(op, l, u)


def cut_point(op: Activation, l: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Where to cut each neuron's interval ``[l, u]`` (arrays of one shape)."""
    bps = breakpoints(op)
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
    knees = breakpoints(op) or (0.0,)
    points = [l, u, (l + u) / 2] + [np.clip(b, l, u) for b in knees]
    up = np.max([rel.hi_slope * x + rel.hi_bias - op.forward(x) for x in points], axis=0)
    down = np.max([op.forward(x) - rel.lo_slope * x - rel.lo_bias for x in points], axis=0)
    return np.maximum(up, 0.0), np.maximum(down, 0.0)


@dataclass(frozen=True, slots=True)
class NeuronSplit:
    """Cut one neuron's input interval (see the module docstring)."""

    def __call__(self, target: Target, doms: Domains, bd: Bounded, bounding: Bounding
                 ) -> tuple[Domains | None, Bounded | None, np.ndarray]:
        """Children and the indices of the domains with no neuron left to cut."""
        net = target.net
        neurons = [n for n in net.nodes if isinstance(n.op, Activation)]
        if "min_width" not in target.cache:   # the first call is on the root
            target.cache["min_width"] = {n.inputs[0]: target.settings.min_split_width * (bd.bounds[n.inputs[0]][1][0] - bd.bounds[n.inputs[0]][0][0])
                                         for n in neurons}
        min_width = target.cache["min_width"]
        guide = bd.guide(target.settings.proof_margin)
        scores = []
        for n in neurons:
            l, u = bd.bounds[n.inputs[0]]
            ok = cuttable(n.op, l, u, min_width[n.inputs[0]])
            if bd.strays is not None:
                score = bd.strays[n.name]
            else:
                coef = bd.coefficients.get(n.name)
                coef = np.zeros_like(l) if coef is None else coef[np.arange(len(guide)), guide]
                up, down = relaxation_gaps(n.op, l, u)
                score = np.maximum(-coef, 0.0) * up + np.maximum(coef, 0.0) * down
            scores.append(np.where(ok, score, -1.0))
        S = np.concatenate(scores, axis=1)
        can = np.any(S >= 0, axis=1)
        leaves = np.flatnonzero(~can)
        keep = np.flatnonzero(can)
        if not keep.size:
            return None, None, leaves
        doms, bd, S = doms.take(keep), bd.take(keep), S[keep]
        widths = np.concatenate([bd.bounds[n.inputs[0]][1] - bd.bounds[n.inputs[0]][0] for n in neurons], axis=1)
        zero = S.max(axis=1) <= 0          # nothing scores: cut the widest cuttable neuron
        S[zero] = np.where(S[zero] < 0, -1.0, widths[zero])
        pick = np.argmax(S, axis=1)
        offsets = np.cumsum([0] + [prod(n.shape) for n in neurons])
        rows = np.arange(len(pick))
        B = doms.size
        position = {node.name: k for k, node in enumerate(net.nodes)}
        since = np.zeros(B, dtype=np.int64)
        cuts = {}
        for k, n in enumerate(neurons):
            src = n.inputs[0]
            clo, chi = doms.cuts[src]
            l2, u2 = np.concatenate([clo, clo]), np.concatenate([chi, chi])
            mine = (pick >= offsets[k]) & (pick < offsets[k + 1])
            if mine.any():
                r, j = rows[mine], pick[mine] - offsets[k]
                l, u = bd.bounds[src]
                t = cut_point(n.op, l[r, j], u[r, j])
                u2[r, j] = t
                l2[B + r, j] = t
                since[r] = position[n.name]
            cuts[src] = (l2, u2)
        twice = np.concatenate([rows, rows])
        return _children(doms, bd, np.concatenate([doms.lo, doms.lo]), np.concatenate([doms.hi, doms.hi]),
                         {k: cuts.get(k, (v[0][twice], v[1][twice])) for k, v in doms.cuts.items()}, since), None, leaves
