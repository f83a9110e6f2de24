"""Exact star-set reachability with early pruning and stopping (NNV's exact-star, nnenum's search).

Requirements: a network of affine ops and piecewise-linear activations (ReLU, leaky ReLU, Clip) and max
    pooling; meant for inputs of low dimension (ACAS Xu has 5), where the number of linear regions
    the input box meets stays manageable.
Returns: HOLDS when no output star meets an unsafe polytope; VIOLATED with a confirmed counterexample;
    UNKNOWN when a star meets an unsafe polytope but no point of the intersection is confirmed by
    execution (the intersection is thin, at the float precision of the model).
Method: for chain networks (dense layers and piecewise-linear activations, see
    :attr:`nnreach.network.Network.is_chain`) with at most :data:`LOW_DIMENSION` inputs, a search over
    linear regions in the search core (:data:`REGIONS`): a domain is the input box with the neurons
    split so far, each split a linear constraint on the input (exact, as every neuron before a split
    one is fixed: splits go layer by layer); it is bounded by forward-mode and back-substitution
    bounds and alpha-CROWN, then by the LP ``min max`` of the rows' bounds over its constraints, and
    split at a neuron of its first undecided layer or halved along an input, whichever of the
    candidates' children, all bounded, is closest to being closed; LP optima are attacked and walks
    over linear regions start from them; a domain whose neurons are all decided is a linear region,
    decided by one LP. Chains with more inputs get ``bab``'s neuron splits (beta-CROWN, one exact LP
    per linear region at the leaves). Other networks (DAGs, convolutions, max
    pooling): per property, walk the exact-star splits depth-first (:func:`nnreach.reach.iter_reach`). Before
    each non-affine node, the partial star (its predicate box tightened by LP after every split) is
    over-approximated by a zonotope and pushed through the remaining nodes with DeepZ; if that excludes
    every unsafe polytope, the branch is dropped. At each output star, an LP checks star ∩ polytope;
    a feasible predicate point ``a`` maps back to the input ``c0 + V0 a[:m0]`` (the input star's
    variables come first) and is executed (:func:`.check.confirm`); if it is not confirmed, the deepest
    point of the unsafe polytope in the star and the Chebyshev center of the intersection are tried.
    The search stops at the first confirmed counterexample.
Soundness and completeness: sound and complete for piecewise-linear networks up to LP round-off
    (``Settings.proof_margin`` absorbs it in proofs), except that unconfirmable intersections give
    UNKNOWN rather than VIOLATED.
Reference: Tran et al., Star-Based Reachability Analysis of Deep Neural Networks, FM 2019; Bak et al.,
    Improved Geometric Path Enumeration for Verifying ReLU Neural Networks (nnenum), CAV 2020.
"""

from __future__ import annotations

import numpy as np

from .. import progress
from ..bounds.optimised import Optimisation
from ..lp import LinearProgram, LPStatus
from ..network.graph import Network
from ..network.simplify import simplify
from ..reach.propagate import align, iter_reach, iter_reach_from
from ..reach.star import StarOptions
from ..sets.convert import overapproximate
from ..sets.polytope import HPolytope
from ..sets.star import Star
from ..sets.zonotope import Zonotope
from .bounds import excludes
from .check import confirm, confirm_some
from .deadline import Deadline
from .problem import Problem
from .result import Counterexample, Result, Status
from .settings import Settings
from .bab import NEURON_SPLITS
from .search import Config, LinearBounding, LookaheadSplit, Oracle, RegionLPBounding, decide

NAME = "exact-star"
LOW_DIMENSION = 32
"""Chains with at most this many inputs are searched over linear regions (:data:`REGIONS`)."""
REGIONS = Config(RegionLPBounding(LinearBounding("both", Optimisation(steps=10), record=True, rows=True, functions=True),
                                  tighten=False),
                 LookaheadSplit(neurons=1, inputs=3), batch=128, joint=True, oracle=Oracle(walk=0.25))
"""The search over linear regions of chains with few inputs (see the module docstring)."""
SAMPLES = 256
"""Random inputs executed per property before the search (a cheap shortcut to easy counterexamples)."""


def intersection_point(star: Star, poly: HPolytope, margin: float, stats: dict | None = None) -> np.ndarray | None:
    """A predicate point ``a`` of ``star`` whose image lies in ``{y : A y <= b + margin}``, or None when
    the intersection is empty (cheap interval test first, then one LP)."""
    if poly.A.shape[0] == 0:
        return (star.pred_lb + star.pred_ub) / 2 if not star.C.shape[0] else _feasible(star.C, star.d, star, stats)
    AV, rhs = poly.A @ star.basis, poly.b + margin - poly.A @ star.center
    mid, rad = (star.pred_lb + star.pred_ub) / 2, (star.pred_ub - star.pred_lb) / 2
    if np.any(AV @ mid - np.abs(AV) @ rad > rhs):
        return None
    return _feasible(np.vstack([star.C, AV]), np.concatenate([star.d, rhs]), star, stats)


def _feasible(A: np.ndarray, b: np.ndarray, star: Star, stats: dict | None) -> np.ndarray | None:
    if stats is not None:
        stats["lps"] = stats.get("lps", 0) + 1
    r = LinearProgram(A, b, star.pred_lb, star.pred_ub).minimize(np.zeros(star.num_pred))
    return r.x if r.status is LPStatus.OPTIMAL else None


def deepest_point(star: Star, poly: HPolytope, everywhere: bool) -> np.ndarray | None:
    """A predicate point maximising the smallest normalised slack of the polytope's rows (and, if
    ``everywhere``, of the star's own constraints too): a point well inside star ∩ polytope, or None
    when the intersection has no interior."""
    AV, rhs = poly.A @ star.basis, poly.b - poly.A @ star.center
    rows, bounds = np.vstack([AV, star.C]), np.concatenate([rhs, star.d])
    norms = np.linalg.norm(rows, axis=1)
    if not everywhere:
        norms[AV.shape[0]:] = 0.0
    m = star.num_pred
    lp = LinearProgram(np.hstack([rows, norms[:, None]]), bounds, np.append(star.pred_lb, -np.inf),
                       np.append(star.pred_ub, 1e6))
    r = lp.maximize(np.append(np.zeros(m), 1.0))
    if r.status is not LPStatus.OPTIMAL or r.x[m] <= 0:
        return None
    return r.x[:m]


def _zono_excludes(net: Network, pos: int, values, joint: Star, polys, margin: float) -> bool:
    """Whether DeepZ from node ``pos`` on, started from the star's predicate box, misses every polytope."""
    zvals = {k: overapproximate(align(v, joint), Zonotope) for k, v in values.items()}
    zjoint = next(z for k, z in zvals.items() if values[k] is joint)
    out = next(iter_reach_from(net, pos, zvals, zjoint, "zono"))
    return all(excludes(out, p, margin) for p in polys)


class _Found(Exception):
    """Raised inside the walk when a counterexample is confirmed."""

    def __init__(self, counterexample: Counterexample):
        super().__init__()
        self.counterexample = counterexample


def _check_leaf(problem: Problem, index: int, leaf: Star, x0: Star, margin: float, stats: dict) -> Status:
    """An output star against every unsafe polytope: HOLDS (no intersection) or UNKNOWN (an
    intersection without a confirmed point); raises :class:`_Found` with a confirmed counterexample."""
    stats["leaves"] += 1
    status = Status.HOLDS
    for poly in problem.properties[index].unsafe:
        a = intersection_point(leaf, poly, margin, stats)
        if a is None:
            continue
        for cand in (a, deepest_point(leaf, poly, False), deepest_point(leaf, poly, True)):
            if cand is not None:
                stats["confirm_calls"] = stats.get("confirm_calls", 0) + 1
                ce = confirm(problem, index, x0.center + x0.basis @ cand[:x0.num_pred])
                if ce is not None:
                    raise _Found(ce)
        stats["unconfirmed"] = stats.get("unconfirmed", 0) + 1
        status = Status.UNKNOWN
    return status


def search(problem: Problem, net: Network, index: int, settings: Settings, deadline: Deadline,
           stats: dict) -> Counterexample | Status:
    """Decide property ``index``: a counterexample, HOLDS, or UNKNOWN (an unconfirmed intersection)."""
    for key in ("prune_checks", "pruned", "leaves", "lps"):
        stats.setdefault(key, 0)
    prop = problem.properties[index]
    margin = settings.proof_margin
    x0 = Star.from_box(prop.input_box)
    polys = prop.unsafe
    sequential = net.is_sequential
    cheap = StarOptions(lp_bounds=False)

    def attack(a: np.ndarray) -> None:
        """Execute the input of predicate point ``a``; raise :class:`_Found` if it is confirmed unsafe."""
        x = x0.center + x0.basis @ a[:x0.num_pred]
        if prop.is_unsafe(net.forward(x[None]))[0]:
            stats["confirm_calls"] = stats.get("confirm_calls", 0) + 1
            ce = confirm(problem, index, x)
            if ce is not None:
                raise _Found(ce)

    def prune(pos: int, partial: Star) -> bool | np.ndarray:
        """True if approx-star from the partial image of node ``pos`` on misses every polytope; else a
        point of an intersection (after executing it: the search ends if it is a counterexample)."""
        stats["prune_checks"] += 1
        out = next(iter_reach_from(net, pos + 1, {net.nodes[pos].name: partial}, partial, "approx-star",
                                   options=cheap))
        points = [a for a in (intersection_point(out, p, margin, stats) for p in polys) if a is not None]
        for a in points:
            attack(a)
        stats["pruned"] += not points
        return points[0] if points else True

    def visit(pos, values, joint):
        deadline.check()
        if progress.due():
            progress.note(sets=stats["leaves"], closed=stats["pruned"])
        if sequential or net.nodes[pos].op.is_affine:
            return joint
        stats["prune_checks"] += 1
        if _zono_excludes(net, pos, values, joint, polys, margin):
            stats["pruned"] += 1
            return None
        return joint

    options = StarOptions(interrupt=deadline.check, counters=stats, cache={}, prune=prune if sequential else None)
    status = Status.HOLDS
    try:
        box, rng = prop.input_box, np.random.default_rng(settings.seed)
        xs = np.vstack([box.center, rng.uniform(box.lo, box.hi, (SAMPLES, box.dim))])
        ce = confirm_some(problem, index, xs, prop.is_unsafe(net.forward(xs)), stats)
        if ce is not None:
            return ce
        for leaf in iter_reach(net, x0, NAME, visit=visit, options=options):
            deadline.check()
            if _check_leaf(problem, index, leaf, x0, margin, stats) is Status.UNKNOWN:
                status = Status.UNKNOWN
    except _Found as found:
        return found.counterexample
    return status


def exact_star(problem: Problem, settings: Settings, deadline: Deadline) -> Result:
    """Exact star-set search over every property; see the module docstring."""
    net = simplify(problem.network)
    if net.is_chain:
        config = REGIONS if net.input_size <= LOW_DIMENSION else NEURON_SPLITS
        return decide(problem, net, config, settings, deadline, NAME)
    stats: dict = {}
    unknown = False
    for index in range(len(problem.properties)):
        out = search(problem, net, index, settings, deadline, stats)
        if isinstance(out, Counterexample):
            return Result(Status.VIOLATED, NAME, counterexample=out, stats=stats)
        unknown |= out is Status.UNKNOWN
    return Result(Status.UNKNOWN if unknown else Status.HOLDS, NAME, stats=stats)
