"""The verification entry point: ``verify(problem, method) -> Result``."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

from .. import progress
from ..errors import InputError, UnsupportedError
from ..network.graph import Network
from ..network.simplify import simplify
from . import bounds
from .approx_star import approx_star
from .bab import LOW_INPUT_DIM, bab
from .conformal import conformal
from .deadline import Deadline, Timeout
from .exact_star import exact_star
from .falsify import falsify
from .milp import milp
from .problem import Problem
from .result import Result, Status
from .settings import Settings
from .symbolic import deeppoly

Method = Callable[[Problem, Settings, Deadline], Result]

def complete_methods(net: Network) -> list[tuple[str, Method, float]]:
    """The complete methods ``auto`` runs for ``net`` in turn, each with the share of the time left it
    may take: for chains of dense layers and piecewise-linear activations ``exact-star`` with few
    inputs; with many, ``bab``'s neuron splits for :data:`BAB_SHARE` (they prove faster), then ``milp``
    (whose solver finds counterexamples that neither the attack nor ``bab`` does); ``bab`` for other
    networks (input splits with few inputs, neuron splits with many)."""
    if net.is_chain:
        if net.input_size <= LOW_INPUT_DIM:
            return [("exact-star", exact_star, 1.0)]
        return [("bab", bab, BAB_SHARE), ("milp", milp, 1.0)]
    return [("bab", bab, 1.0)]


ATTACK_SHARE = 0.25
"""Fraction of the time left that ``auto``'s full attack may take when a complete method follows."""
BAB_SHARE = 0.5
"""Fraction of the time left that ``bab`` may take before ``milp`` on chains with many inputs."""


def auto(problem: Problem, settings: Settings, deadline: Deadline) -> Result:
    """Quick falsification, cheap bounds (interval, zonotope, back-substitution), the full attack
    budget (at most :data:`ATTACK_SHARE` of the time left), then the network's complete methods
    (:func:`complete_methods`)."""
    stats: dict = {}
    ladder: list[tuple[str, Method, Settings, float]] = [("falsify", falsify, Settings.quick(), 1.0),
                                                         ("interval", bounds.interval, settings, 1.0),
                                                         ("zono", bounds.zono, settings, 1.0),
                                                         ("deeppoly", deeppoly, settings, 1.0),
                                                         ("falsify", falsify, settings, ATTACK_SHARE)]
    ladder += [(name, fn, settings, share) for name, fn, share in complete_methods(problem.network)]
    for name, fn, s, fraction in ladder:
        progress.stage(f"auto: {name}" + (" (quick)" if s is not settings else ""))
        left = deadline.remaining()
        try:
            if fraction < 1.0 and left != float("inf"):
                try:
                    r = fn(problem, s, Deadline(fraction * left))
                except Timeout:  # its share is spent; the next rung has the rest
                    stats[f"{name}.stopped_after_s"] = round(fraction * left, 3)
                    continue
            else:
                r = fn(problem, s, deadline)
        except UnsupportedError as e:  # a rung that does not apply to this network: noted, not fatal
            stats[f"{name}.skipped"] = str(e)
            continue
        stats.update({f"{name}.{k}": v for k, v in r.stats.items()})
        if r.status is not Status.UNKNOWN:
            return Result(r.status, f"auto/{r.method}", counterexample=r.counterexample, stats=stats)
    return Result(Status.UNKNOWN, "auto", stats=stats)


METHODS: dict[str, Method] = {
    "auto": auto,
    "falsify": falsify,
    "interval": bounds.interval,
    "zono": bounds.zono,
    "deeppoly": deeppoly,
    "approx-star": approx_star,
    "exact-star": exact_star,
    "bab": bab,
    "milp": milp,
    "conformal": conformal,
}
"""Every method by its ``--method`` name (``conformal`` is probabilistic: it answers HOLDS_PROBABLY,
never HOLDS)."""


def verify(problem: Problem, method: str = "auto", *, timeout: float | None = None,
           settings: Settings | None = None) -> Result:
    """Decide whether the problem's properties hold.

    Args:
        problem: network and properties.
        method: a key of :data:`METHODS`.
        timeout: seconds (None: no limit); on expiry the status is TIMEOUT.
        settings: method settings (default :class:`Settings`).
    Returns:
        A :class:`Result`; VIOLATED results carry a counterexample confirmed by execution;
        HOLDS_PROBABLY (``conformal`` only) is a statistical statement, not a proof.
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if timeout is not None and not timeout > 0:
        raise InputError(f"timeout must be positive, got {timeout}")
    with progress.tracking(timeout) as tracker:
        progress.stage(method)
        r = _run(problem, method, timeout, settings)
        if r.status in (Status.UNKNOWN, Status.TIMEOUT) and not r.reason:
            r = replace(r, reason=tracker.reason(timed_out=r.status is Status.TIMEOUT))
    return r


def _run(problem: Problem, method: str, timeout: float | None, settings: Settings | None) -> Result:
    """:func:`verify` once its arguments are checked: the method on the simplified network, timed."""
    start = time.perf_counter()
    if not isinstance(problem.network, Network):   # a model only onnxruntime runs (nnreach.io.runtime)
        if method != "conformal":
            raise InputError(f"method {method} needs a model nnreach can load; only conformal runs a model "
                             "whose operators it does not support")
    else:
        problem = replace(problem, network=simplify(problem.network))
    try:
        r = METHODS[method](problem, settings or Settings(), Deadline(timeout))
    except Timeout:
        r = Result(Status.TIMEOUT, method)
    return Result(r.status, r.method, time.perf_counter() - start, r.counterexample, r.stats, r.reason)
