"""Local search for counterexamples over the linear regions of a chain network.

A chain network of piecewise-linear activations (:attr:`nnreach.network.Network.is_chain`) is affine
on each *linear region*, the inputs that put every neuron in the same linear piece. On one region the
deepest point of an unsafe polytope ``A y <= b`` (the input with the smallest worst row
``max_i a_i . y - b_i``) is one LP. :func:`walk` repeats that LP from region to region: the optimum
lies on the region's border, the walk steps just across it and goes on while the depth improves. It is
what the gradient attack and the exact search run from their candidate points, which often end next to
a counterexample they cannot step onto, or in a shallow valley that leads to one across a few regions.
"""

from __future__ import annotations

import numpy as np

from ..lp import LinearProgram, LPStatus
from ..lp.highs import LPResult
from ..network.graph import Network
from ..network.ops import Activation, Linear
from ..reach.star import pieces
from ..sets.polytope import HPolytope
from .check import confirm
from .deadline import Deadline
from .problem import Problem
from .result import Counterexample

STEPS = 30
"""Linear regions that one walk goes through, at most."""
OVERSHOOT = 1e-6
"""A walk steps past a region's deepest point, along the step that reached it, by this fraction of the
box's sides (in the coordinate that moves most)."""


def epigraph(G: np.ndarray, g: np.ndarray, C: np.ndarray, d: np.ndarray, lo: np.ndarray,
             hi: np.ndarray) -> tuple[LinearProgram, LPResult]:
    """The LP ``min_a max_i (G a + g)_i`` subject to ``C a <= d``, ``lo <= a <= hi`` (one more variable
    ``t`` with ``G a + g <= t``, the last of ``result.x``), solved; the program is returned too, for
    its duals."""
    m = lo.size
    lp = LinearProgram(np.block([[G, -np.ones((G.shape[0], 1))], [C, np.zeros((C.shape[0], 1))]]),
                       np.concatenate([-g, d]), np.append(lo, -np.inf), np.append(hi, np.inf))
    return lp, lp.minimize(np.append(np.zeros(m), 1.0))


def linear_region(net: Network, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The linear region of a chain network around input ``x`` (n,): ``(rows, rhs, M, q)`` with the
    region ``{x' : rows x' <= rhs}`` (every neuron in the piece it has at ``x``) and the output
    ``M x' + q`` on it."""
    n = x.size
    M, q = np.eye(n), np.zeros(n)
    rows, rhs = [np.zeros((0, n))], [np.zeros(0)]
    for node in net.nodes:
        op = node.op
        if isinstance(op, Linear):
            M, q = op.weight @ M, op.weight @ q + op.bias
        elif isinstance(op, Activation):
            b, s, t = pieces(op)
            z = M @ x + q
            j = np.searchsorted(b, z)
            ext = np.concatenate([[-np.inf], b, [np.inf]])
            lo, hi = ext[j], ext[j + 1]
            has_lo, has_hi = np.isfinite(lo), np.isfinite(hi)
            rows += [-M[has_lo], M[has_hi]]
            rhs += [q[has_lo] - lo[has_lo], hi[has_hi] - q[has_hi]]
            M, q = s[j][:, None] * M, s[j] * q + t[j]
    return np.vstack(rows), np.concatenate(rhs), M, q


def walk(problem: Problem, index: int, poly: HPolytope, x: np.ndarray, stats: dict,
         deadline: Deadline | None = None) -> Counterexample | None:
    """Walk from input ``x`` (n,) of property ``index``'s box towards ``poly`` over linear regions (at
    most :data:`STEPS`); the first region optimum with depth <= 0 that is confirmed by execution, or
    None. ``stats["walk_lps"]`` counts the LPs; the ``deadline`` is checked before each."""
    box = problem.properties[index].input_box
    width = np.maximum(box.hi - box.lo, 1e-300)
    depth = np.inf
    for _ in range(STEPS):
        if deadline is not None:
            deadline.check()
        rows, rhs, M, q = linear_region(problem.network, x)
        G, g = poly.A @ M, poly.A @ q - poly.b
        stats["walk_lps"] = stats.get("walk_lps", 0) + 1
        _, r = epigraph(G, g, rows, rhs, box.lo, box.hi)
        if r.status is not LPStatus.OPTIMAL:
            return None
        deepest = r.x[:box.dim]
        reached = float(np.max(G @ deepest + g))   # the optimum's depth (r.value is only a bound on it)
        if np.isfinite(depth) and reached >= depth - 1e-9 * (1 + abs(depth)):
            return None
        depth = reached
        if depth <= 0:
            stats["confirm_calls"] = stats.get("confirm_calls", 0) + 1
            ce = confirm(problem, index, deepest)
            if ce is not None:
                return ce
        step = (deepest - x) / width
        if not np.any(step):
            return None
        x = np.clip(deepest + OVERSHOOT * width * step / np.abs(step).max(), box.lo, box.hi)
    return None
