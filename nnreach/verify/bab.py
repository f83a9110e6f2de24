"""Branch-and-bound with batched symbolic linear bounds: over input boxes here, over neuron splits in
:mod:`.neuron_bab` for networks with more than :data:`LOW_INPUT_DIM` inputs (:func:`bab` chooses).

Requirements: a network whose ops have linear relaxations (:mod:`nnreach.bounds`); input splitting is
    meant for inputs of low dimension (ACAS Xu has 5), where it shrinks every neuron's range quickly.
Returns: HOLDS when every sub-box is proved safe, VIOLATED with a confirmed counterexample, UNKNOWN if
    a sub-box shrinks below ``Settings.min_split_width`` of the original width without a decision.
Method: for each unsafe polytope ``A y <= b`` keep a stack of open boxes. Take up to ``Settings.batch``
    boxes at once and bound ``A y`` on all of them with one batched back-substitution pass (DeepPoly /
    CROWN); a box is safe when some row has ``min a_i . y > b_i``. The centers of open boxes and, per
    row, the corners minimising the row's linear lower bound are executed. Each open box is then split
    in half along the dimension whose two halves have the best worse bound: the halves of up to
    ``LOOKAHEAD`` candidate dimensions (those with the largest ``|coefficient| x width`` of the row
    closest to being proved, the "smear" of ReluVal) are all bounded in the same batched pass, and
    the best pair is kept, already bounded; when no candidate improves the worse half noticeably
    (``STALL``), the relatively widest candidate is split instead, so that no box becomes a thin strip
    whose bound never converges. Depth-first order keeps the stack small.
Soundness and completeness: sound (the bounds over-approximate); complete for ReLU networks in the
    limit of small boxes except on the measure-zero set where an output lies exactly on the unsafe
    boundary, where it answers UNKNOWN.
Reference: Wang et al., Formal Security Analysis of Neural Networks using Symbolic Intervals (ReluVal),
    USENIX Security 2018; Zhang et al., CROWN, NeurIPS 2018; Singh et al., DeepPoly, POPL 2019.
"""

from __future__ import annotations

import numpy as np

from ..bounds.linear import InputDomain, backward, intermediate_bounds
from ..sets.polytope import HPolytope
from .check import confirm, confirm_some
from .deadline import Deadline, Timeout
from .neuron_bab import split_neurons
from .problem import Problem
from .result import Counterexample, Result, Status
from .settings import Settings

NAME = "bab"
LOOKAHEAD = 8
"""Candidate split dimensions whose halves are bounded before one is chosen."""
STALL = 0.01
"""A split that improves the worse half's margin by less than this fraction of the gap has stalled."""


def bound_boxes(net, lo: np.ndarray, hi: np.ndarray, poly: HPolytope) -> tuple[np.ndarray, np.ndarray]:
    """Back-substitution bounds of ``A y - b`` on boxes (B, n): the margins (B, rows) and the input
    coefficients (B, rows, n) of their linear lower bounds."""
    dom = InputDomain(lo, hi)
    lb = backward(net, dom, net.output, poly.A, intermediate_bounds(net, dom))
    return lb.lower - poly.b, lb.A


def _attack(problem: Problem, index: int, poly: HPolytope, lo, hi, A_in, stats) -> Counterexample | None:
    """Execute each open box's center and the corners minimising each row's linear lower bound."""
    pts = [(lo + hi) / 2] + [np.where(A_in[:, r] > 0, lo, hi) for r in range(A_in.shape[1])]
    x = np.concatenate(pts)
    y = problem.network.forward(x)
    return confirm_some(problem, index, x, np.all(y @ poly.A.T <= poly.b, axis=1), stats)


def _halves(lo, hi, dims):
    """Both halves of each box (B, n) along its dimensions ``dims`` (B, k): arrays (B, k, 2, n)."""
    B, k = dims.shape
    L = np.broadcast_to(lo[:, None, None], (B, k, 2, lo.shape[1])).copy()
    H = np.broadcast_to(hi[:, None, None], (B, k, 2, lo.shape[1])).copy()
    rows, cols = np.arange(B)[:, None], np.arange(k)[None]
    mid = (lo[rows, dims] + hi[rows, dims]) / 2
    H[rows, cols, 0, dims] = mid
    L[rows, cols, 1, dims] = mid
    return L, H


def split_boxes(problem: Problem, index: int, poly: HPolytope, settings: Settings, deadline: Deadline,
                stats: dict) -> Status | Counterexample:
    """Decide one unsafe polytope of property ``index``: HOLDS, UNKNOWN or a counterexample."""
    net = problem.network
    box = problem.properties[index].input_box
    if poly.A.shape[0] == 0:  # the whole output space is unsafe: any input is a counterexample
        ce = confirm(problem, index, box.center)
        return ce if ce is not None else Status.UNKNOWN
    min_width = settings.min_split_width * np.maximum(box.hi - box.lo, 1e-12)
    lo, hi = box.lo[None].copy(), box.hi[None].copy()
    margin, A_in = bound_boxes(net, lo, hi, poly)
    stack = [(lo, hi, margin, A_in)]
    gave_up = False
    while stack:
        deadline.check()
        lo, hi, margin, A_in = stack.pop()
        stats["boxes"] = stats.get("boxes", 0) + len(lo)
        open_ = ~np.any(margin > settings.proof_margin, axis=1)
        if not open_.any():
            continue
        lo, hi, A_in, margin = lo[open_], hi[open_], A_in[open_], margin[open_]
        ce = _attack(problem, index, poly, lo, hi, A_in, stats)
        if ce is not None:
            return ce
        width = hi - lo
        splittable = np.any(width > min_width, axis=1)
        gave_up |= not splittable.all()
        lo, hi, A_in, margin, width = lo[splittable], hi[splittable], A_in[splittable], margin[splittable], width[splittable]
        if not len(lo):
            continue
        row = np.argmax(margin, axis=1)
        smear = np.abs(A_in[np.arange(len(lo)), row]) * width * (width > min_width)
        k = min(LOOKAHEAD, lo.shape[1])
        dims = np.argsort(-smear, axis=1)[:, :k]
        parents = max(1, settings.batch // (2 * k))
        for s in range(0, len(lo), parents):
            L, H = _halves(lo[s:s + parents], hi[s:s + parents], dims[s:s + parents])
            B = L.shape[0]
            m, A = bound_boxes(net, L.reshape(-1, L.shape[-1]), H.reshape(-1, H.shape[-1]), poly)
            m = m.reshape(B, k, 2, -1)
            worse = np.minimum(m[:, :, 0].max(axis=-1), m[:, :, 1].max(axis=-1))   # (B, k)
            cand = dims[s:s + parents]
            rows = np.arange(B)[:, None]
            worse = np.where((width > min_width)[s:s + parents][rows, cand], worse, -np.inf)
            best = np.argmax(worse, axis=1)
            # No candidate improves the worse half by a hundredth of the gap: the bound has stalled
            # along these dimensions (a thin strip); split the relatively widest candidate instead.
            parent = margin[s:s + parents].max(axis=1)
            stalled = worse[np.arange(B), best] - parent <= STALL * np.abs(parent)
            relative = (width / np.maximum(box.hi - box.lo, 1e-300))[s:s + parents][rows, cand]
            best = np.where(stalled, np.argmax(np.where(np.isfinite(worse), relative, -1.0), axis=1), best)
            pick = lambda X: X.reshape(B, k, 2, *X.shape[1:])[np.arange(B), best].reshape(2 * B, *X.shape[1:])
            stack.append((pick(L.reshape(B * k * 2, -1)), pick(H.reshape(B * k * 2, -1)),
                          pick(m.reshape(B * k * 2, -1)), pick(A)))
    return Status.UNKNOWN if gave_up else Status.HOLDS


LOW_INPUT_DIM = 16
"""``bab`` splits the input box for inputs of at most this many dimensions, neurons above."""
INPUT_SHARE = 0.5
"""With few inputs, the input splits get this share of the time; neuron splits get the rest (they find
tiny counterexample regions that input splits miss)."""


def _search(problem: Problem, split, settings: Settings, deadline: Deadline, stats: dict) -> Result:
    """``split`` (:func:`split_boxes` or :func:`split_neurons`) over every property and polytope."""
    unknown = False
    for index, prop in enumerate(problem.properties):
        for poly in prop.unsafe:
            out = split(problem, index, poly, settings, deadline, stats)
            if isinstance(out, Counterexample):
                return Result(Status.VIOLATED, NAME, counterexample=out, stats=stats)
            unknown |= out is Status.UNKNOWN
    return Result(Status.UNKNOWN if unknown else Status.HOLDS, NAME, stats=stats)


def bab(problem: Problem, settings: Settings, deadline: Deadline) -> Result:
    """Branch-and-bound over every property and unsafe polytope: for networks with at most
    :data:`LOW_INPUT_DIM` inputs input splits during :data:`INPUT_SHARE` of the time, then neuron
    splits (:mod:`.neuron_bab`); neuron splits only for more inputs."""
    if problem.network.input_size > LOW_INPUT_DIM:
        return _search(problem, split_neurons, settings, deadline, {"splitting": "neurons"})
    left = deadline.remaining()
    share = Deadline(INPUT_SHARE * left) if left != float("inf") else deadline
    try:
        r = _search(problem, split_boxes, settings, share, {"splitting": "inputs"})
        if r.status is not Status.UNKNOWN or share is deadline:
            return r
    except Timeout:
        pass
    return _search(problem, split_neurons, settings, deadline, {"splitting": "inputs, then neurons"})
