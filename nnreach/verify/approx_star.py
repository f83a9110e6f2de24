"""Over-approximate star-set reachability with triangle relaxations (NNV's approx-star).

Requirements: a network of affine ops, piecewise-linear activations (ReLU, leaky ReLU, Clip) and max
    pooling (see :mod:`nnreach.reach.star`).
Returns: HOLDS when the over-approximated output star misses every unsafe polytope, else UNKNOWN.
Method: one star per property is pushed through the network with ``"approx-star"``: affine ops exactly,
    every neuron whose input range crosses a breakpoint replaced by the convex hull of the activation's
    graph over that range (the ReLU triangle), with a fresh predicate variable. Input ranges come from
    interval bounds over the predicate box, tightened by LP for the neurons they leave undecided when
    ``Settings.star_lp_bounds`` is on (the default; two LPs per such neuron). Then one LP per unsafe
    polytope ``A y <= b`` decides whether the output star meets it.
Soundness and completeness: sound (the star contains every output; LP bounds are widened by a relative
    1e-9 and the final check allows ``Settings.proof_margin``), incomplete; never returns VIOLATED.
Reference: Tran et al., Star-Based Reachability Analysis of Deep Neural Networks, FM 2019.
"""

from __future__ import annotations

from ..network.simplify import simplify
from ..reach.propagate import reach
from ..reach.star import StarOptions
from .deadline import Deadline
from .exact_star import intersection_point
from .problem import Problem
from .result import Result, Status
from .settings import Settings

NAME = "approx-star"


def approx_star(problem: Problem, settings: Settings, deadline: Deadline) -> Result:
    """HOLDS if the approx-star output set of every property misses its unsafe region, else UNKNOWN."""
    net = simplify(problem.network)
    stats: dict = {"lps": 0, "unproved_polytopes": 0}
    options = StarOptions(lp_bounds=getattr(settings, "star_lp_bounds", True), interrupt=deadline.check,
                          counters=stats)
    for prop in problem.properties:
        deadline.check()
        out = reach(net, prop.input_box, NAME, options=options)
        stats["predicate_variables"] = max(stats.get("predicate_variables", 0), out.num_pred)
        for poly in prop.unsafe:
            deadline.check()
            if intersection_point(out, poly, settings.proof_margin, stats) is not None:
                stats["unproved_polytopes"] += 1
    status = Status.HOLDS if stats["unproved_polytopes"] == 0 else Status.UNKNOWN
    return Result(status, NAME, stats=stats)
