"""Proofs from symbolic linear bounds over each input box: ``deeppoly``.

Requirements: any network whose ops have linear relaxations (:mod:`nnreach.bounds.relaxations`:
    ReLU, leaky ReLU, Clip, sigmoid, tanh) and affine ops with a vector-Jacobian product.
Returns: HOLDS when every unsafe polytope is excluded on every input box, else UNKNOWN.
Method: bounds of every activation input by back-substitution (:func:`nnreach.bounds.intermediate_bounds`),
    then of the unsafe rows ``A y - b``: linear lower bounds ``g_r(x)``. A polytope is excluded when
    some row's bound is positive over the box, or else when the LP ``min_x max_r g_r(x)`` over the box
    is positive (a point must violate every row at once to be unsafe), or else when the interval output
    box excludes it (:func:`.bounds.excludes`): a linear relaxation may be looser than interval
    arithmetic on some rows, and this way ``deeppoly`` proves whatever ``interval`` proves.
Soundness and completeness: sound (every relaxation line bounds its activation on its interval and is
    widened against rounding; ``Settings.proof_margin`` absorbs the rest), incomplete; never returns
    VIOLATED.
Reference: Singh et al., An Abstract Domain for Certifying Neural Networks (DeepPoly), POPL 2019;
    Zhang et al., Efficient Neural Network Robustness Certification with General Activation Functions
    (CROWN), NeurIPS 2018.
"""

from __future__ import annotations

import numpy as np

from ..bounds.linear import InputDomain, backward, intermediate_bounds
from ..lp import LinearProgram, LPStatus
from ..sets.box import Box
from ..sets.polytope import HPolytope
from .bounds import excludes, output_box
from .deadline import Deadline
from .problem import Problem
from .result import Result, Status
from .settings import Settings

NAME = "deeppoly"


def excluded_by_rows(G: np.ndarray, g: np.ndarray, lo: np.ndarray, hi: np.ndarray, margin: float) -> bool:
    """Whether ``max_r (G x + g)_r > margin`` for every ``x`` in the box ``[lo, hi]``: first row by row,
    then by the LP ``min t`` subject to ``G x + g <= t``. G (R, n), g (R,), lo/hi (n,)."""
    mid, rad = (lo + hi) / 2, (hi - lo) / 2
    if np.any(g + G @ mid - np.abs(G) @ rad > margin):
        return True
    if G.shape[0] == 1:
        return False
    n = G.shape[1]
    lp = LinearProgram(np.hstack([G, -np.ones((G.shape[0], 1))]), -g, np.append(lo, -np.inf), np.append(hi, np.inf))
    r = lp.minimize(np.append(np.zeros(n), 1.0))
    return r.status is LPStatus.OPTIMAL and r.value > margin


def excluded(net, lo: np.ndarray, hi: np.ndarray, polys: tuple[HPolytope, ...], margin: float) -> list[bool]:
    """Which of the polytopes ``A y <= b`` back-substitution bounds, or else the interval output box,
    exclude for inputs in the box ``[lo, hi]`` (n,); one bounding pass serves them all."""
    rows = [p.A for p in polys if p.A.shape[0]]
    if not rows:
        return [False] * len(polys)
    dom = InputDomain(lo[None], hi[None])
    lb = backward(net, dom, net.output, np.vstack(rows), intermediate_bounds(net, dom))
    return _excluded_on(net, lb.A[0], lb.c[0], lo, hi, polys, margin)


def _excluded_on(net, G: np.ndarray, g: np.ndarray, lo: np.ndarray, hi: np.ndarray, polys: tuple[HPolytope, ...],
                 margin: float) -> list[bool]:
    """:func:`excluded` given the rows' linear lower bounds ``G x + g`` (R, n), (R,) over the box (the
    polytopes' rows stacked, those of polytopes without rows left out)."""
    box = None
    out, start = [], 0
    for p in polys:
        k = p.A.shape[0]
        if k and not excluded_by_rows(G[start:start + k], g[start:start + k] - p.b, lo, hi, margin):
            box = output_box(net, Box(lo, hi)) if box is None else box
            out.append(excludes(box, p, margin))
        else:
            out.append(k > 0)
        start += k
    return out


BATCH_NUMBERS = 2 ** 20
""":func:`unproved` bounds as many input boxes at once as keep the coefficients of back-substitution
(boxes x widest value x its width or the input size) at this many numbers, 8 MB: on a learned index
of five 128-wide layers, 64 boxes at once bound its 60,000 boxes in 4.2 s, 1,024 at once in 10 s
and 32,768 at once in 43 s."""


def unproved(problem: Problem, settings: Settings, deadline: Deadline) -> np.ndarray:
    """The positions of the properties of ``problem`` with an unsafe polytope that back-substitution
    (:func:`excluded`) does not exclude. The boxes of a :class:`~nnreach.verify.problem.PropertyBlock`
    are bounded in batches; the boxes a polytope's rows leave open, one by one as :func:`excluded`
    goes on (the LP over the rows, the interval output box)."""
    net, margin = problem.network, settings.proof_margin
    widest = max(max(int(np.prod(net.shape_of(n.name))) for n in net.nodes), net.input_size)
    batch = max(1, BATCH_NUMBERS // (widest * max(widest, net.input_size)))
    open_: list[np.ndarray] = []
    for block, rows, where in problem.properties.batches():
        owner = block.owner
        for start in range(0, rows.size, batch):
            deadline.check()
            chunk, at = rows[start:start + batch], where[start:start + batch]
            lo, hi = block.lo[chunk], block.hi[chunk]
            dom = InputDomain(lo, hi)
            lb = backward(net, dom, net.output, block.rows, intermediate_bounds(net, dom))
            cleared = lb.lower - block.rhs[chunk] > margin                      # (B, R) rows excluded alone
            done = np.ones(chunk.size, dtype=bool)
            for p, size in enumerate(block.sizes):
                done &= (size > 0) & cleared[:, owner == p].any(axis=1)
            for b in np.flatnonzero(~done):
                deadline.check()
                prop = block.property(int(chunk[b]))
                if not all(_excluded_on(net, lb.A[b], lb.c[b], lo[b], hi[b], prop.unsafe, margin)):
                    open_.append(at[b:b + 1])
    return np.sort(np.concatenate(open_)) if open_ else np.zeros(0, np.int64)


def deeppoly(problem: Problem, settings: Settings, deadline: Deadline) -> Result:
    """HOLDS if back-substitution bounds exclude every unsafe polytope of every property, else UNKNOWN
    (``stats["unproved_properties"]``: how many properties are left open)."""
    left = unproved(problem, settings, deadline)
    status = Status.HOLDS if left.size == 0 else Status.UNKNOWN
    some = 0 < left.size < len(problem.properties)     # proved some and not others (Result.undecided)
    return Result(status, NAME, stats={"unproved_properties": int(left.size)},
                  undecided=tuple(left.tolist()) if some else None)
