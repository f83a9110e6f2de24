"""Probabilistic verification: a calibrated output set (split conformal inference), never a proof.

Requirements: any model that runs: ONNX models are sampled in onnxruntime (nnreach's forward pass when
onnxruntime cannot load them, and for other formats); no relaxation or reach rule is needed.
Returns: VIOLATED when a sampled input is a counterexample, confirmed like every counterexample (see
    :mod:`.check`); HOLDS_PROBABLY when the calibrated output set misses every unsafe polytope (an LP
    per polytope over the set as a star, with the unsafe region widened by ``proof_margin``); else
    UNKNOWN.
Method: inputs drawn uniformly from the union of the properties' input boxes (in proportion to their
    volumes); an output set calibrated by :func:`nnreach.reach.conformal.calibrate` with the settings'
    ``coverage``, ``confidence`` and ``conformal_set``. The set is checked against the unsafe polytopes
    of every property (also those of the boxes an input was not drawn from: conservative).
Guarantee of HOLDS_PROBABLY (the result's ``stats["guarantee"]``): with confidence at least
    ``confidence`` over the calibration sample, a random input drawn uniformly from the input set has a
    safe output with probability at least ``coverage``. It is not a proof: inputs of small probability
    (adversarial ones) may be unsafe. VNN-COMP result files say ``unknown`` for it.
References: Vovk, Gammerman and Shafer, Algorithmic Learning in a Random World (2005); Lei et al.,
    Distribution-Free Predictive Inference for Regression, JASA 2018 (split conformal inference).
"""

from __future__ import annotations

import numpy as np

from ..io import model_format
from ..network.graph import Network
from ..reach.conformal import Calibration, Evaluate, Visit, calibrate
from ..sets.box import Box
from ..sets.star import Star
from ..sets.zonotope import Zonotope
from .check import confirm_some, run_onnxruntime
from .deadline import Deadline
from .problem import Problem
from .result import Counterexample, Result, Status
from .settings import Settings

NAME = "conformal"


def model_evaluator(network: Network, model_path: str | None) -> Evaluate:
    """The model on batches as it is executed: onnxruntime for an ONNX model file it loads, else
    ``network``'s forward pass (float64)."""
    if model_path is not None and model_format(model_path) == ".onnx":
        if run_onnxruntime(model_path, np.zeros((1, network.input_size))) is not None:
            return lambda x: run_onnxruntime(model_path, x)
    return network.forward


def calibrate_with(boxes: list[Box], evaluate: Evaluate, settings: Settings, deadline: Deadline | None = None,
                   visit: Visit | None = None) -> Calibration | None:
    """:func:`nnreach.reach.conformal.calibrate` with the settings' coverage, confidence, set kind,
    seed and jobs."""
    return calibrate(boxes, evaluate, coverage=settings.coverage, confidence=settings.confidence,
                     kind=settings.conformal_set, seed=settings.seed, jobs=settings.jobs, deadline=deadline,
                     visit=visit)


def misses(output_set, polytope, margin: float) -> bool:
    """Whether ``output_set`` (Box or Zonotope) and ``{y : A y <= b + margin}`` are disjoint (LP)."""
    star = Star.from_zonotope(output_set if isinstance(output_set, Zonotope) else Zonotope.from_box(output_set))
    for a, b in zip(polytope.A, polytope.b):
        star = star.intersect_halfspace(a, b + margin)
    return star.is_empty()


def conformal(problem: Problem, settings: Settings, deadline: Deadline) -> Result:
    """Calibrate an output set over the properties' input boxes; see the module docstring."""
    stats: dict = {}
    found: list[Counterexample] = []

    def visit(which: np.ndarray, x: np.ndarray, y: np.ndarray) -> bool:
        for k in np.unique(which):
            rows = which == k
            ce = confirm_some(problem, int(k), x[rows], problem.properties[k].is_unsafe(y[rows]), stats)
            if ce is not None:
                found.append(ce)
                return True
        return False

    evaluate = model_evaluator(problem.network, problem.model_path)
    cal = calibrate_with([p.input_box for p in problem.properties], evaluate, settings, deadline, visit)
    if cal is None:
        return Result(Status.VIOLATED, NAME, counterexample=found[0], stats=stats)
    stats.update(cal.stats())
    safe = all(misses(cal.set, poly, settings.proof_margin) for prop in problem.properties for poly in prop.unsafe)
    return Result(Status.HOLDS_PROBABLY if safe else Status.UNKNOWN, NAME, stats=stats)
