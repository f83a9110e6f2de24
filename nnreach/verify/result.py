"""Verification results."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


class Status(enum.Enum):
    """Outcome of a verification run."""

    HOLDS = "holds"          # proved by a sound method: no input in the box reaches the unsafe region
    VIOLATED = "violated"    # a counterexample was found, executed and checked
    HOLDS_PROBABLY = "holds-probably"  # not a proof: a calibrated probabilistic output set misses the
    #                                    unsafe region (``conformal``); VNN-COMP files say unknown
    UNKNOWN = "unknown"      # the method could not decide
    TIMEOUT = "timeout"      # the time limit ran out first

    @property
    def vnncomp(self) -> str:
        """The word VNN-COMP result files use (``unknown`` for the probabilistic ``holds-probably``)."""
        return {"holds": "unsat", "violated": "sat", "holds-probably": "unknown"}.get(self.value, self.value)


@dataclass(frozen=True, slots=True)
class Counterexample:
    """An input inside the property's box whose output lies in its unsafe region.

    Attributes:
        x: flattened input, shape (n_in,).
        y: flattened output as computed by the checking implementation, shape (n_out,).
        property_index: which property of the problem it violates.
        checked_by: the implementation whose output confirmed it: ``"onnxruntime"`` (running the
            problem's ``model_path``, an ONNX file) or ``"nnreach"`` (nnreach's own forward pass in
            float32 and float64: networks built in Python, ``.nnet``/``.mat`` models, ONNX files
            onnxruntime cannot load).
    """

    x: np.ndarray
    y: np.ndarray
    property_index: int
    checked_by: str


@dataclass(frozen=True, slots=True)
class Result:
    """What :func:`nnreach.verify` returns.

    Attributes:
        status: the verdict.
        method: the method that produced it.
        seconds: wall time.
        counterexample: set exactly when ``status`` is VIOLATED.
        stats: counters the method reports (samples tried, attack steps, ...).
        reason: for UNKNOWN and TIMEOUT, one sentence on why: the stage that ran and what it had
            reached (:meth:`nnreach.progress.Tracker.reason`); empty otherwise.
        undecided: for UNKNOWN from a method that decided some properties of the problem and not
            others, the positions of the others (what ``auto`` gives its next stage); None otherwise.
    """

    status: Status
    method: str
    seconds: float = 0.0
    counterexample: Counterexample | None = None
    stats: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    undecided: tuple[int, ...] | None = None

    def __post_init__(self):
        if (self.status is Status.VIOLATED) != (self.counterexample is not None):
            raise ValueError("a counterexample is given exactly for VIOLATED results")
