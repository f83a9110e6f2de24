"""Proofs from over-approximate reachable sets: ``interval`` (boxes) and ``zono`` (zonotopes, DeepZ).

Requirements: any network whose ops have reach rules for the method (see :mod:`nnreach.reach`).
Returns: HOLDS when the over-approximated output set misses every unsafe polytope, else UNKNOWN.
Method: propagate each property's input box; an unsafe polytope ``A y <= b`` is excluded when some row
    has ``min a_i . y > b_i`` over the output set, or else when an LP shows that the output set (a box or
    zonotope, both exactly representable as stars) and the polytope do not intersect. ``zono`` meets its
    output zonotope with the interval output box in both tests (a zonotope relaxation may be looser than
    interval arithmetic on some rows), so it proves whatever ``interval`` proves.
Soundness and completeness: sound (the output set contains every output), incomplete (the relaxation
    may be too coarse); never returns VIOLATED.
Reference: Singh et al., Fast and Effective Robustness Certification (DeepZ), NeurIPS 2018.
"""

from __future__ import annotations

import numpy as np

from ..network.graph import Network
from ..reach.propagate import reach
from ..sets.box import Box
from ..sets.convert import overapproximate
from ..sets.polytope import HPolytope
from ..sets.star import Star
from .deadline import Deadline
from .problem import Problem
from .result import Result, Status
from .settings import Settings


def excludes(output_set, poly: HPolytope, margin: float, box: Box | None = None) -> bool:
    """True when ``output_set`` (Box or Zonotope) provably does not meet ``{y : A y <= b}``; ``box``, a
    box that holds every output too (interval bounds), is met with the output set first."""
    if poly.A.shape[0] == 0:
        return False
    lo, _ = output_set.affine_map(poly.A).bounds()
    rows, rhs = poly.A, poly.b + margin
    if box is not None:
        lo = np.maximum(lo, box.affine_map(poly.A).bounds()[0])
        rows, rhs = _with_box_rows(rows, rhs, box)
    if np.any(lo > poly.b + margin):
        return True
    star = overapproximate(output_set, Star)
    for a, b in zip(rows, rhs):
        star = star.intersect_halfspace(a, b)
    return star.is_empty()


CHECKED_PAIRS = 5000
""":func:`meets_unsafe` checks at most this many (set, unsafe polytope) pairs."""


def meets_unsafe(sets: list, polys, margin: float = 0.0) -> bool | None:
    """Whether some output set (Box, Zonotope, Star or AffineEnvelope) may meet some unsafe polytope:
    False when every set provably misses every polytope (:func:`excludes`), True when one is not shown
    to, None when that would take more than :data:`CHECKED_PAIRS` checks."""
    if len(sets) * len(polys) > CHECKED_PAIRS:
        return None
    sets = [s.to_star() if hasattr(s, "to_star") else s for s in sets]
    return not all(excludes(s, p, margin) for s in sets for p in polys)


def _with_box_rows(rows: np.ndarray, rhs: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """The halfspaces ``rows y <= rhs`` and those of the box's finite sides."""
    sides = overapproximate(box, HPolytope)
    finite = np.isfinite(sides.b)
    return np.vstack([rows, sides.A[finite]]), np.concatenate([rhs, sides.b[finite]])


def output_box(net: Network, input_box: Box) -> Box:
    """The interval-arithmetic bounds of the network's output over ``input_box``."""
    return reach(net, input_box, "interval")


def prove_by_reach(problem: Problem, method: str, settings: Settings, deadline: Deadline) -> Result:
    """HOLDS if the ``method`` reachable set of every property misses its unsafe region, else UNKNOWN;
    the sets of methods other than ``interval`` are met with the interval output box."""
    open_polytopes = 0
    for prop in problem.properties:
        deadline.check()
        out = reach(problem.network, prop.input_box, method)
        box = None if method == "interval" else output_box(problem.network, prop.input_box)
        open_polytopes += sum(not excludes(out, p, settings.proof_margin, box) for p in prop.unsafe)
    status = Status.HOLDS if open_polytopes == 0 else Status.UNKNOWN
    return Result(status, method, stats={"unproved_polytopes": open_polytopes})


def interval(problem: Problem, settings: Settings, deadline: Deadline) -> Result:
    return prove_by_reach(problem, "interval", settings, deadline)


def zono(problem: Problem, settings: Settings, deadline: Deadline) -> Result:
    return prove_by_reach(problem, "zono", settings, deadline)
