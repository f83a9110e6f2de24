"""The verification entry point: ``verify(problem, method) -> Result``."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

from ..errors import InputError
from ..network.simplify import simplify
from . import bounds
from .deadline import Deadline, Timeout
from .falsify import falsify
from .problem import Problem
from .result import Result, Status
from .settings import Settings

Method = Callable[[Problem, Settings, Deadline], Result]


def auto(problem: Problem, settings: Settings, deadline: Deadline) -> Result:
    """Quick falsification, then interval and zonotope bounds, then the full attack budget."""
    stats: dict = {}
    for name, fn, s in (("falsify", falsify, Settings.quick()), ("interval", bounds.interval, settings),
                        ("zono", bounds.zono, settings), ("falsify", falsify, settings)):
        r = fn(problem, s, deadline)
        stats.update({f"{name}.{k}": v for k, v in r.stats.items()})
        if r.status is not Status.UNKNOWN:
            return Result(r.status, f"auto/{r.method}", counterexample=r.counterexample, stats=stats)
    return Result(Status.UNKNOWN, "auto", stats=stats)


METHODS: dict[str, Method] = {
    "auto": auto,
    "falsify": falsify,
    "interval": bounds.interval,
    "zono": bounds.zono,
}
"""Every method by its ``--method`` name."""


def verify(problem: Problem, method: str = "auto", *, timeout: float | None = None,
           settings: Settings | None = None) -> Result:
    """Decide whether the problem's properties hold.

    Args:
        problem: network and properties.
        method: a key of :data:`METHODS`.
        timeout: seconds (None: no limit); on expiry the status is TIMEOUT.
        settings: method settings (default :class:`Settings`).
    Returns:
        A :class:`Result`; VIOLATED results carry a counterexample confirmed by execution.
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if timeout is not None and not timeout > 0:
        raise InputError(f"timeout must be positive, got {timeout}")
    start = time.perf_counter()
    problem = replace(problem, network=simplify(problem.network))
    try:
        r = METHODS[method](problem, settings or Settings(), Deadline(timeout))
    except Timeout:
        r = Result(Status.TIMEOUT, method)
    return Result(r.status, r.method, time.perf_counter() - start, r.counterexample, r.stats)
