"""Falsification: random sampling, then a projected gradient attack (PGD).

Requirements: any network (the attack uses the network's backward pass).
Returns: VIOLATED with a confirmed counterexample (see :mod:`.check`), or UNKNOWN.
Method: per property, evaluate ``samples`` inputs (box center, corners when there are few, uniform
    points); then, per unsafe polytope ``A y <= b``, run ``pgd_restarts`` parallel signed-gradient
    descents of the margin ``max_i (a_i . y - b_i)`` (negative inside the polytope), projected on the box,
    with a step that shrinks from a tenth of the box width.
Soundness and completeness: never claims HOLDS; every VIOLATED answer is confirmed independently.
Reference: Madry et al., Towards Deep Learning Models Resistant to Adversarial Attacks, ICLR 2018.
"""

from __future__ import annotations

from itertools import product

import numpy as np

from ..sets.box import Box
from .check import confirm
from .deadline import Deadline
from .problem import Problem, Property
from .result import Result, Status
from .settings import Settings

NAME = "falsify"


def _candidates(box: Box, n: int, rng: np.random.Generator) -> np.ndarray:
    """Center, all corners when there are at most 64, then uniform points: (k, dim)."""
    pts = [(box.lo + box.hi)[None] / 2]
    if box.dim <= 6:
        pts.append(np.array([np.where(c, box.hi, box.lo) for c in product((0, 1), repeat=box.dim)]))
    pts.append(rng.uniform(box.lo, box.hi, size=(max(n, 0), box.dim)))
    return np.vstack(pts)


def _first_confirmed(problem: Problem, index: int, x: np.ndarray, y: np.ndarray, stats: dict):
    prop = problem.properties[index]
    hits = np.flatnonzero(prop.is_unsafe(y))
    for k in hits[:8]:
        stats["confirm_calls"] = stats.get("confirm_calls", 0) + 1
        ce = confirm(problem, index, x[k])
        if ce is not None:
            return ce
    return None


def _pgd(problem: Problem, index: int, settings: Settings, rng, deadline: Deadline, stats: dict):
    prop: Property = problem.properties[index]
    box, net = prop.input_box, problem.network
    width = box.hi - box.lo
    for poly in prop.unsafe:
        if poly.A.shape[0] == 0:
            continue
        x = rng.uniform(box.lo, box.hi, size=(settings.pgd_restarts, box.dim))
        for step in range(settings.pgd_steps):
            deadline.check()
            y = net.forward(x)
            ce = _first_confirmed(problem, index, x, y, stats)
            if ce is not None:
                return ce
            worst = np.argmax(y @ poly.A.T - poly.b, axis=1)
            _, g = net.gradient(x, poly.A[worst])
            alpha = width * 0.1 * (1 - step / settings.pgd_steps) + width * 1e-3
            x = np.clip(x - alpha * np.sign(g), box.lo, box.hi)
            stats["pgd_steps"] = stats.get("pgd_steps", 0) + 1
    return None


def falsify(problem: Problem, settings: Settings, deadline: Deadline) -> Result:
    """Search for a counterexample; VIOLATED with a confirmed one, else UNKNOWN."""
    rng = np.random.default_rng(settings.seed)
    stats: dict = {}
    for index, prop in enumerate(problem.properties):
        deadline.check()
        x = _candidates(prop.input_box, settings.samples, rng)
        stats["samples"] = stats.get("samples", 0) + len(x)
        ce = _first_confirmed(problem, index, x, problem.network.forward(x), stats)
        if ce is None and settings.pgd_steps and settings.pgd_restarts:
            ce = _pgd(problem, index, settings, rng, deadline, stats)
        if ce is not None:
            return Result(Status.VIOLATED, NAME, counterexample=ce, stats=stats)
    return Result(Status.UNKNOWN, NAME, stats=stats)
