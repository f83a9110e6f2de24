"""The verification entry point: ``verify(problem, method) -> Result``."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

from ..errors import InputError, UnsupportedError
from ..network.graph import Network
from ..network.simplify import simplify
from . import bounds
from .approx_star import approx_star
from .bab import LOW_INPUT_DIM, bab
from .conformal import conformal
from .deadline import Deadline, Timeout
from .exact_star import exact_star
from .falsify import budgets, falsify
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


def network_kind(net: Network) -> str:
    """The facts :func:`complete_methods` chooses by, in words."""
    if not net.is_chain:
        return "a network other than a chain of dense layers with piecewise-linear activations"
    few = "few" if net.input_size <= LOW_INPUT_DIM else "many"
    return f"{few} inputs ({net.input_size}) and a chain of dense layers with piecewise-linear activations"


def hint(method: str, net: Network) -> str | None:
    """For a method chosen by name (not ``auto``) that did not decide: the complete methods ``auto``
    runs on ``net`` (:func:`complete_methods`) other than ``method``, and why, as one line; None when
    there are none."""
    names = [name for name, _, _ in complete_methods(net)]
    others = [name for name in names if name != method]
    if method == "auto" or not others:
        return None
    return f"{network_kind(net)}: {' or '.join(others)} may decide this (auto runs {', then '.join(names)})"


QUICK_ATTACK = (0.05, 1.0)
"""The share of the time left and the seconds, at most, of ``auto``'s first attack
(:func:`quick_attack`)."""
QUICK_WORK = 1e8
"""Multiply-adds of the first attack's gradient steps per unsafe polytope (see
:func:`nnreach.verify.falsify.budgets`): 6 starts on MNIST-FC 256x2, 128 on ACAS Xu; about 0.1 s."""
FIRST_COMPLETE = (0.1, 10.0)
"""The share of the time left and the seconds, at most, of the first run of ``auto``'s first complete
method, before the full attack."""
ATTACK_SHARE = 0.25
"""Fraction of the time left that ``auto``'s full attack may take when a complete method follows."""
BAB_SHARE = 0.5
"""Fraction of the time left that ``bab`` may take before ``milp`` on chains with many inputs."""

NO_LIMIT = float("inf")
"""The cap of a rung that only its share of the time bounds."""
Rung = tuple[str, Method, Settings, float, float]
"""A stage of ``auto``: its name in the stats, the method, its settings, the share of the time left
and the seconds it may take (the last complete method: ``1.0, NO_LIMIT``, all of it)."""


def quick_attack(net: Network, settings: Settings) -> Settings:
    """The settings of ``auto``'s first attack: 256 samples, 20 gradient steps per start, the starts
    that :data:`QUICK_WORK` pays for, no polishing walks (an LP per linear region: on MNIST-FC 256x2
    rows that ``bab`` proves in 0.3 s they took 2.7 s)."""
    return budgets(net, replace(settings, samples=256, pgd_steps=20, polish=False), attack_work=QUICK_WORK)


def ladder(problem: Problem, settings: Settings) -> list[Rung]:
    """``auto``'s stages: the first attack (:data:`QUICK_ATTACK`), cheap bounds (interval, zonotope,
    back-substitution), the first complete method for a short while (:data:`FIRST_COMPLETE`: easy
    rows end here), the full attack (:data:`ATTACK_SHARE`), then the network's complete methods
    (:func:`complete_methods`)."""
    complete = complete_methods(problem.network)
    first, first_fn, _ = complete[0]
    return [("quick-falsify", falsify, quick_attack(problem.network, settings), *QUICK_ATTACK),
            ("deeppoly", deeppoly, settings, 1.0, NO_LIMIT),
            (f"quick-{first}", first_fn, settings, *FIRST_COMPLETE),
            ("falsify", falsify, settings, ATTACK_SHARE, NO_LIMIT)] + \
        [(name, fn, settings, share, NO_LIMIT) for name, fn, share in complete]


def auto(problem: Problem, settings: Settings, deadline: Deadline) -> Result:
    """The stages of :func:`ladder` in turn until one decides: each within its share of the time left
    and its cap (one cut there hands over to the next); a method that ended undecided, not cut, is not
    run again with the same settings. ``stats`` has each stage's counters and ``<stage>.seconds``."""
    stats: dict = {}
    undecided: set[tuple[Method, Settings]] = set()
    for name, fn, s, share, cap in ladder(problem, settings):
        if (fn, s) in undecided:
            continue
        left = deadline.remaining()
        budget = min(share * left, cap)
        limit = deadline if budget >= left else Deadline(budget)
        started = time.perf_counter()
        try:
            r = fn(problem, s, limit)
        except UnsupportedError as e:  # a rung that does not apply to this network: noted, not fatal
            stats[f"{name}.skipped"] = str(e)
            continue
        except Timeout:
            if limit is deadline:
                raise
            stats[f"{name}.stopped_after_s"] = round(budget, 3)  # its share is spent; the next rung has the rest
            continue
        finally:
            stats[f"{name}.seconds"] = round(time.perf_counter() - started, 3)
        stats.update({f"{name}.{k}": v for k, v in r.stats.items()})
        if r.status is not Status.UNKNOWN:
            return Result(r.status, f"auto/{r.method}", counterexample=r.counterexample, stats=stats)
        undecided.add((fn, s))
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
    stats = r.stats
    if r.status in (Status.UNKNOWN, Status.TIMEOUT) and isinstance(problem.network, Network):
        advice = hint(method, problem.network)
        stats = stats if advice is None else {**stats, "hint": advice}
    return Result(r.status, r.method, time.perf_counter() - start, r.counterexample, stats)
