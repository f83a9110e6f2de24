"""The driver of every branch-and-bound search: batches, the stack, the deadline and the counters.

A search (:func:`search`) decides unsafe polytopes of one property with a :class:`Config`: a
bounding strategy (:mod:`.bounding`), a branching strategy (:mod:`.branching`) and an oracle
(:mod:`.oracle`) that attacks every open domain and decides the leaves. Batches of up to ``Config.batch``
domains come off a depth-first stack (which keeps it small and reaches counterexamples early): they
are bounded in one vectorised pass, the domains whose margin clears ``Settings.proof_margin`` or whose
cuts are infeasible are closed, the others are attacked and split, and their children go on the
stack. A branching strategy with a lookahead hands its children over with their linear bounds, which
the bounding strategy completes (an LP, say) instead of computing them again.

:func:`decide` runs a search per property and polytope and reports a :class:`~nnreach.verify.result.Result`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from math import prod
from typing import Callable

import numpy as np

from ...bounds.linear import RELAXED, relaxed_inputs
from ...network.graph import Network
from ..check import confirm
from ..deadline import Deadline
from ..problem import Problem
from ..result import Counterexample, Result, Status
from ..settings import Settings
from .domain import Bounded, Counters, Domains, Target, note_progress
from .oracle import Oracle
from .workers import WARMUP, Job, drive, pool_factory

Bounding = Callable[[Target, Domains], Bounded]


@dataclass(frozen=True, slots=True)
class Config:
    """A search: how domains are bounded and split, how many are bounded at once, and whether one
    search takes on all of a property's polytopes (``joint``: every domain is bounded for each of
    them, and the top of the tree is shared) or each polytope gets a search of its own."""

    bounding: Bounding
    branching: Callable
    batch: int = 64
    joint: bool = True
    oracle: Oracle = Oracle()


def _pop(stack: list, size: int) -> tuple[Domains, Bounded | None]:
    """The top stack entry if it is bounded already, else unbounded entries from the top until
    ``size`` domains are taken, as one batch."""
    doms, bd = stack.pop()
    if bd is not None:
        return doms, bd
    parts = [doms]
    count = doms.size
    while stack and stack[-1][1] is None and count + stack[-1][0].size <= size:
        parts.append(stack.pop()[0])
        count += parts[-1].size
    return Domains.concatenate(parts), None


Stack = list[tuple[Domains, Bounded | None]]
"""Entries of a search's stack: a batch of domains and, when a lookahead computed them, their linear bounds."""


def root(target: Target) -> Stack:
    """The stack a search starts from: the property's box, uncut."""
    net, box = target.net, target.box
    sizes = {i: prod(net.shape_of(i)) for n in net.nodes if isinstance(n.op, RELAXED) for i in relaxed_inputs(n)}
    return [(Domains.root(box.lo, box.hi, sizes, len(target.polys)), None)]


def drain(target: Target, config: Config, stack: Stack, stop: Callable[[], bool] | None = None) -> Counterexample | None:
    """Search the domains of ``stack`` (depth-first, in batches) until none is left or, if ``stop``
    is given, it returns True (asked after each batch); what is left stays on ``stack``. Returns a
    confirmed counterexample or None; a leaf that could not be decided sets ``target.unknown``."""
    margin = target.settings.proof_margin
    first = True
    while stack:
        target.deadline.check()
        note_progress(stack, target.counters)
        if not first and stop is not None and stop():
            return None
        first = False
        doms, known = _pop(stack, config.batch)
        bd = config.bounding(target, doms, known)
        target.cache.setdefault("root_bounds", bd.bounds)
        open_ = ~bd.empty & bd.open(margin).any(axis=1)
        target.counters.closed += int(doms.size - open_.sum())
        if not open_.any():
            continue
        doms, bd = doms.take(open_), bd.take(open_)
        ce = config.oracle.attack(target, doms, bd)
        if ce is not None:
            return ce
        children, cbd, leaves = config.branching(target, doms, bd, config.bounding)
        for d in leaves:
            target.deadline.check()
            out = config.oracle.decide_leaf(target, doms, bd, int(d))
            if isinstance(out, Counterexample):
                return out
            target.unknown |= out is Status.UNKNOWN
        if children is not None:
            target.counters.splits += children.size // 2
            if children.size <= config.batch:
                stack.append((children, cbd))
                continue
            for start in reversed(range(0, children.size, config.batch)):   # the first piece on top
                piece = np.arange(start, min(start + config.batch, children.size))
                stack.append((children.take(piece), None if cbd is None else cbd.take(piece)))
    return None


Workers = Callable[["Job"], object]
"""``workers(job)``: a pool (:mod:`nnreach.parallel.pools`) of :func:`.workers.search_chunk` on the job."""


def search(target: Target, config: Config, workers: Workers | None = None, warmup: float = WARMUP) -> Counterexample | Status:
    """Decide the target's polytopes: a confirmed counterexample, HOLDS, or UNKNOWN (a leaf that
    could not be decided). With ``workers``, a search not done after ``warmup`` seconds is shared
    among them in chunks (:mod:`.workers`)."""
    if any(p.A.shape[0] == 0 for p in target.polys):   # the whole output space is unsafe: any input is a counterexample
        ce = confirm(target.problem, target.index, target.box.center)
        return ce if ce is not None else Status.UNKNOWN
    stack = root(target)
    end = time.monotonic() + warmup
    ce = drain(target, config, stack, None if workers is None else lambda: time.monotonic() > end)
    if ce is not None:
        return ce
    if stack:
        with workers(Job.of(target, config)) as pool:
            out = drive(stack, pool, target)
        if isinstance(out, Counterexample):
            return out
    return Status.UNKNOWN if target.unknown else Status.HOLDS


def decide(problem: Problem, net: Network, config: Config, settings: Settings, deadline: Deadline, name: str,
           counters: Counters | None = None, roots: dict[int, dict] | None = None) -> Result:
    """A search per property and unsafe polytope (or per property, with ``config.joint``) of
    ``problem`` on its network ``net`` (simplified), shared among ``settings.jobs`` worker processes
    or the CPUs of the Ray cluster at ``settings.ray``: VIOLATED at the first confirmed
    counterexample, else HOLDS when every search proved its polytopes, else UNKNOWN. ``counters``
    (summed over the searches) go into the result's stats. ``roots``: per property index, what its
    searches share (the root's intermediate bounds, and under ``"proved"`` the positions of the
    polytopes proved), kept there for later calls on the same problem and network, which search only
    the polytopes not proved yet (None: nothing kept)."""
    counters = counters if counters is not None else Counters()
    workers = pool_factory(settings)
    unknown = False
    for index, prop in enumerate(problem.properties):
        shared: dict = {} if roots is None else roots.setdefault(index, {})
        proved: set = shared.setdefault("proved", set())
        every = tuple(range(len(prop.unsafe)))
        for which in [every] if config.joint else [(j,) for j in every]:
            which = tuple(j for j in which if j not in proved)
            if not which:
                continue
            polys = tuple(prop.unsafe[j] for j in which)
            target = Target(problem, index, polys, net, settings, deadline, counters, shared=shared)
            out = search(target, config, workers)
            if isinstance(out, Counterexample):
                return Result(Status.VIOLATED, name, counterexample=out, stats=counters.as_dict())
            if out is Status.HOLDS:
                proved.update(which)
            unknown |= out is Status.UNKNOWN
    return Result(Status.UNKNOWN if unknown else Status.HOLDS, name, stats=counters.as_dict())
