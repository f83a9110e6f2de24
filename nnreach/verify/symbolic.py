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
    box = output_box(net, Box(lo, hi))
    out, start = [], 0
    for p in polys:
        k = p.A.shape[0]
        out.append(k > 0 and (excluded_by_rows(lb.A[0, start:start + k], lb.c[0, start:start + k] - p.b, lo, hi,
                                               margin) or excludes(box, p, margin)))
        start += k
    return out


def deeppoly(problem: Problem, settings: Settings, deadline: Deadline) -> Result:
    """HOLDS if back-substitution bounds exclude every unsafe polytope of every property, else UNKNOWN."""
    open_polytopes = 0
    for prop in problem.properties:
        deadline.check()
        box = prop.input_box
        open_polytopes += sum(not e for e in excluded(problem.network, box.lo, box.hi, prop.unsafe,
                                                      settings.proof_margin))
    status = Status.HOLDS if open_polytopes == 0 else Status.UNKNOWN
    return Result(status, NAME, stats={"unproved_polytopes": open_polytopes})
