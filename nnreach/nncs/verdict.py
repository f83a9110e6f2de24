"""Verdicts for closed loops: falsify by simulation, then prove with flowpipes, splitting X0 as needed.

1. Simulation (:mod:`.simulation`) from the center, corners and random points of X0, then a few rounds of
   sampling around the trajectories closest to a violation. A trajectory that violates the spec by more
   than :data:`.spec.VIOLATION_TOL` is simulated again alone with tolerances a hundred times tighter, and
   only when it still violates is the verdict ``violated``.
2. Flowpipes (:func:`.loop.reach`) checked set by set against the spec. When a set is not proved, its
   X0 box is bisected along the coordinate whose X0 generator moves the set most in the direction of
   the failed constraint, weighted by the box's width relative to X0 (see :func:`_split_dim`), and both halves are tried again, up to ``max_pieces`` boxes, on ``jobs``
   worker processes at once.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from .. import progress
from ..parallel.pools import ForkedPool, InlinePool, RayPool
from ..sets.box import Box
from ..verify.deadline import Deadline, Timeout
from .loop import ClosedLoop, Flowpipe, ReachOptions, reach
from .star_loop import StarPipe, pieces_of, star_reach
from .simulation import RTOL, ATOL, Trajectories, draw_disturbances, initial_points, simulate
from .spec import VIOLATION_TOL, Spec


class Verdict(Enum):
    HOLDS = "holds"
    VIOLATED = "violated"
    UNKNOWN = "unknown"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class Problem:
    """A closed-loop verification problem.

    Attributes:
        loop: the closed loop; X0: the initial box; steps: control periods; spec: the specification.
        reach_options: flowpipe settings.
        samples: trajectories simulated before reachability (half at most are corners).
        max_pieces: the most X0 boxes that splitting may try.
        method: ``"zono"`` (flowpipes of zonotopes, :mod:`.loop`), ``"approx-star"`` or ``"exact-star"``
            (stars at the sample times, linear plants only, :mod:`.star_loop`).
        max_stars: exact-star: the most stars at one sample time (over all X0 pieces).
    """

    loop: ClosedLoop
    X0: Box
    steps: int
    spec: Spec
    reach_options: ReachOptions = ReachOptions()
    samples: int = 200
    max_pieces: int = 256
    method: str = "zono"
    max_stars: int = 10_000

    @property
    def final_time(self) -> float:
        return self.steps * self.loop.period


@dataclass(frozen=True)
class Counterexample:
    """A simulated trajectory that violates the spec: ``x0`` (n,), its disturbances (steps, q), the
    trajectory, and where it breaks the spec."""

    x0: np.ndarray
    disturbances: np.ndarray
    trajectory: Trajectories
    violation: float
    message: str


@dataclass
class Outcome:
    """The verdict and what supports it: the flowpipes computed (the proved ones; with ``unknown`` also
    the one not proved; :class:`.star_loop.StarPipe` with a star method), the share of X0's volume they prove, the counterexample when ``violated``, the
    simulations, and the time taken."""

    verdict: Verdict
    seconds: float = 0.0
    flowpipes: list[Flowpipe] = field(default_factory=list)
    counterexample: Counterexample | None = None
    simulations: Trajectories | None = None
    pieces: int = 0
    proved: float = 0.0
    message: str = ""


def _confirm(problem: Problem, x0: np.ndarray, w: np.ndarray) -> Counterexample | None:
    tr = simulate(problem.loop, x0[None], problem.steps, disturbances=w[None], rtol=RTOL / 100, atol=ATOL / 100)
    v = float(problem.spec.robustness(tr.times, tr.states, problem.final_time)[0])
    if v <= VIOLATION_TOL:
        return None
    msg = problem.spec.describe_violation(tr.times, tr.states[0], problem.final_time)
    return Counterexample(x0, w, tr, v, msg)


def falsify(problem: Problem, rng: np.random.Generator, deadline: Deadline,
            rounds: int = 4) -> tuple[Counterexample | None, Trajectories]:
    """Search a violating trajectory; returns it (or None) and the first batch of simulations."""
    if problem.samples == 0:   # options.samples = 0: no simulation at all
        return None, None
    lo, hi = problem.X0.lo, problem.X0.hi
    x0 = initial_points(lo, hi, problem.samples, rng)
    first = None
    progress.stage("simulation")
    for r in range(rounds + 1):
        progress.note(step=f"round {r + 1}/{rounds + 1}", samples=x0.shape[0])
        w = draw_disturbances(problem.loop, x0.shape[0], problem.steps, rng)
        tr = simulate(problem.loop, x0, problem.steps, disturbances=w)
        if first is None:
            first = tr
        rob = problem.spec.robustness(tr.times, tr.states, problem.final_time)
        for k in np.argsort(-rob)[:3]:
            if rob[k] > VIOLATION_TOL:
                ce = _confirm(problem, x0[k], w[k])
                if ce is not None:
                    return ce, first
        if r == rounds:
            break
        deadline.check()
        # sample around the trajectories closest to a violation, in boxes shrinking each round
        best = x0[np.argsort(-rob)[:8]]
        radius = (hi - lo) / 4 / 2 ** r
        per = max(problem.samples // 16, 4)
        x0 = np.clip(np.repeat(best, per, axis=0) + rng.uniform(-1, 1, (best.shape[0] * per, lo.shape[0])) * radius,
                     lo, hi)
    return None, first


def _split_dim(box: Box, pipe: Flowpipe, X0: Box) -> int:
    """The coordinate to bisect: largest ``|d . G_k| * w_k / W_k`` over X0's generators k of the last set,
    with ``w_k`` the box's width and ``W_k`` X0's. ``|d . G_k|`` (the sensitivity of the failed constraint)
    is proportional to ``w_k``; the extra factor favours coordinates split less often so far, since the
    linearisation remainders grow with the products of the widths and do not show in ``G_k``."""
    G = pipe.sets[-1].set.generators[:, : box.dim]
    free = box.hi > box.lo
    rel = np.where(free, (box.hi - box.lo) / np.where(free, X0.hi - X0.lo, 1.0), 0.0)
    score = np.abs(pipe.direction @ G) * rel if pipe.direction is not None else np.zeros(box.dim)
    score = np.where(free, score, -1.0)
    if score.max() <= 0:  # no sensitivity known (e.g. the flow failed): the widest relative coordinate
        score = np.where(free, rel, -1.0)
    return int(np.argmax(score))


def _pipe(problem: Problem, box: Box, seconds: float | None) -> Flowpipe:
    """The flowpipe from ``box``, stopped at the first set the spec does not prove."""
    spec, final = problem.spec, problem.final_time
    return reach(problem.loop, box, problem.steps, problem.reach_options, deadline=Deadline(seconds),
                 check=lambda fs: spec.check_set(fs.set, fs.t0, fs.t1, final))


def _cluster_jobs(ray: str | None, jobs: int) -> int:
    """With a Ray address, connect and return the cluster's CPUs; else ``jobs``."""
    if ray is None:
        return jobs
    from ..parallel.ray_tasks import connect

    return connect(ray)


def _workers(fn, problem: Problem, jobs: int, ray: bool):
    """The pool that runs ``fn(problem, box, seconds)`` for the boxes: Ray tasks on a connected cluster,
    ``jobs`` forked processes, or inline."""
    if ray:
        return RayPool(fn, problem, jobs)
    return InlinePool(fn, problem) if jobs <= 1 else ForkedPool(fn, problem, jobs)


def _submit(pool, box: Box, deadline: Deadline) -> Future:
    """Start reaching ``box`` in ``pool`` with the seconds ``deadline`` leaves (None: no limit)."""
    left = deadline.remaining()
    return pool.submit(box, None if left == float("inf") else max(left, 0.0))


def _finished(running: dict[Future, Box]) -> Iterator[tuple[Box, object]]:
    """Wait until some of ``running`` are done; each one's box and result, taken out of ``running``."""
    done, _ = wait(running, return_when=FIRST_COMPLETED)
    for fut in done:
        yield running.pop(fut), fut.result()


def _share(box: Box, X0: Box) -> float:
    """The share of X0's volume in ``box``, over the coordinates X0 does not fix."""
    free = X0.hi > X0.lo
    return float(np.prod((box.hi - box.lo)[free] / (X0.hi - X0.lo)[free]))


def prove(problem: Problem, deadline: Deadline, jobs: int = 1, ray: str | None = None) -> Outcome:
    """Flowpipes from X0, splitting boxes that are not proved; HOLDS when all pieces are proved.

    With ``jobs > 1`` up to ``jobs`` boxes are reached at once in worker processes; with ``ray`` (a
    cluster address, ``"local"`` starts one) as Ray tasks, as many at once as the cluster has CPUs.
    Which boxes are tried does not depend on ``jobs`` (each box's split depends only on its own flowpipe); only when
    ``max_pieces`` runs out can the boxes tried by then differ.
    """
    jobs = _cluster_jobs(ray, jobs)
    pool = _workers(_pipe, problem, jobs, ray is not None)
    todo = [problem.X0]
    running: dict[Future, Box] = {}
    done: list[Flowpipe] = []
    tried, proved = 0, 0.0
    progress.stage("flowpipes")
    try:
        while todo or running:
            while todo and len(running) < max(jobs, 1):
                box = todo.pop()
                tried += 1
                running[_submit(pool, box, deadline)] = box
            progress.note(open=len(todo) + len(running), closed=len(done), workers=f"{len(running)}/{max(jobs, 1)}")
            for box, pipe in _finished(running):
                if pipe.failure is None:
                    done.append(pipe)
                    proved += _share(box, problem.X0)
                    continue
                if tried + len(todo) + len(running) + 2 > problem.max_pieces or not np.any(box.hi > box.lo):
                    return Outcome(Verdict.UNKNOWN, flowpipes=done + [pipe], pieces=tried, proved=proved,
                                   message=f"{pipe.failure} (after {tried} boxes; {_percent(proved)} of X0 proved)")
                k = _split_dim(box, pipe, problem.X0)
                mid = (box.lo[k] + box.hi[k]) / 2
                left_hi, right_lo = box.hi.copy(), box.lo.copy()
                left_hi[k], right_lo[k] = mid, mid
                todo += [Box(right_lo, box.hi), Box(box.lo, left_hi)]
    except Timeout:  # the proved flowpipes are what there is to show
        return _timed_out(flowpipes=done, pieces=tried, proved=proved)
    finally:  # boxes still being reached run to their end (at most the deadline), then the workers exit
        pool.shutdown(wait=True, cancel_futures=True)
    return Outcome(Verdict.HOLDS, flowpipes=done, pieces=tried, proved=1.0, message=f"proved with {tried} box(es)")


def _star_pipe(problem: Problem, box: Box, seconds: float | None, max_stars: int) -> StarPipe:
    """The stars from ``box`` (see :func:`.star_loop.star_reach`), stopped at the first not proved."""
    return star_reach(problem.loop, box, problem.steps, problem.spec, problem.method, max_stars=max_stars,
                      deadline=Deadline(seconds), final=problem.final_time)


def prove_stars(problem: Problem, deadline: Deadline, jobs: int = 1, ray: str | None = None) -> Outcome:
    """Stars from X0 (cut into ``jobs`` pieces reached at once, each with its share of ``max_stars``):
    HOLDS when every star of every sample time meets the spec; VIOLATED when a star that was not proved
    gives a predicate point whose trajectory, simulated, violates the spec (the initial state and
    disturbances come from the point: :meth:`.star_loop.StarPipe.origin`); otherwise UNKNOWN. The spec
    is checked at the sample times only (see :mod:`.star_loop`), which the message says."""
    jobs = _cluster_jobs(ray, jobs)
    boxes = pieces_of(problem.X0, jobs)
    share = -(-problem.max_stars // len(boxes))
    pool = _workers(functools.partial(_star_pipe, max_stars=share), problem, jobs, ray is not None)
    progress.stage(problem.method)
    done: list[StarPipe] = []
    proved = 0.0
    try:
        running = {_submit(pool, box, deadline): box for box in boxes}
        while running:
            progress.note(open=len(running), closed=len(done))
            for box, pipe in _finished(running):
                if pipe.failure is None:
                    done.append(pipe)
                    proved += _share(box, problem.X0)
                    continue
                if pipe.witness is not None and not pipe.capped:
                    x0, w = pipe.origin(pipe.witness, problem.loop.plant, problem.steps)
                    ce = _confirm(problem, np.clip(x0, problem.X0.lo, problem.X0.hi), w)
                    if ce is not None:
                        return Outcome(Verdict.VIOLATED, flowpipes=done + [pipe], counterexample=ce,
                                       pieces=len(boxes), message=f"{pipe.failure}; its trajectory from x0 = "
                                       f"{np.round(ce.x0, 6).tolist()} {ce.message}")
                return Outcome(Verdict.UNKNOWN, flowpipes=done + [pipe], pieces=len(boxes), proved=proved,
                               message=f"{pipe.failure} ({problem.method}; {_percent(proved)} of X0 proved)")
    except Timeout:
        return _timed_out(flowpipes=done, pieces=len(boxes), proved=proved)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    stars = sum(len(p.sets) for p in done)
    return Outcome(Verdict.HOLDS, flowpipes=done, pieces=len(boxes), proved=1.0,
                   message=f"proved at the sample times with {stars} {problem.method} star(s) over "
                   f"{len(boxes)} X0 piece(s)")


def _percent(share: float) -> str:
    return f"{100 * share:.3g}%"


def _timed_out(**fields) -> Outcome:
    """A TIMEOUT outcome with the progress tracker's reason as its message, and the share of X0 proved
    when ``fields`` has it."""
    tracker = progress.current()
    message = tracker.reason(timed_out=True) if tracker else "time limit reached"
    if "proved" in fields:
        message += f"; {_percent(fields['proved'])} of X0 proved"
    return Outcome(Verdict.TIMEOUT, message=message, **fields)


def verify(problem: Problem, timeout: float | None = None, seed: int = 0, jobs: int = 1,
           ray: str | None = None) -> Outcome:
    """Falsify, then prove (on ``jobs`` processes or a Ray cluster, see :func:`prove`). The verdict is TIMEOUT when
    ``timeout`` seconds pass first."""
    start = time.perf_counter()
    deadline = Deadline(timeout)
    rng = np.random.default_rng(seed)
    sims = None
    try:
        ce, sims = falsify(problem, rng, deadline)
        if ce is not None:
            out = Outcome(Verdict.VIOLATED, counterexample=ce, message=f"trajectory from x0 = "
                          f"{np.round(ce.x0, 6).tolist()} {ce.message}")
        else:
            out = (prove if problem.method == "zono" else prove_stars)(problem, deadline, jobs, ray)
    except Timeout:
        out = _timed_out()
    out.simulations = sims
    out.seconds = time.perf_counter() - start
    return out
