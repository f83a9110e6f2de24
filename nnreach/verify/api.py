"""The verification entry point: ``verify(problem, method) -> Result``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from numbers import Integral, Real
from typing import Callable

import numpy as np

from .. import progress
from ..errors import InputError, UnsupportedError
from ..io import Model, is_torch_module, load_model
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
from .problem import Problem, linf_ball, predicted_class, robustness_property
from .result import Result, Status
from .settings import Settings
from .symbolic import deeppoly

Method = Callable[[Problem, Settings, Deadline], Result]

def complete_methods(net: Network) -> list[tuple[str, Method, float]]:
    """The complete methods ``auto`` runs for ``net`` in turn, each with the share of the time left it
    may take: with few inputs and piecewise-linear activations ``exact-star`` (a region search on
    chains of dense layers, star splits on other networks: on the linearised networks of VNN-COMP
    2024, whose skip connection makes them no chain, it decided rows in 3-8 s that ``bab``'s input
    splits left open at 225 s); with many inputs, for chains, ``bab``'s neuron splits for
    :data:`BAB_SHARE` (they prove faster), then ``milp`` (whose solver finds counterexamples that
    neither the attack nor ``bab`` does); ``bab`` otherwise (sigmoid or tanh; many inputs)."""
    if net.input_size <= LOW_INPUT_DIM and net.piecewise_linear:
        return [("exact-star", exact_star, 1.0)]
    if net.is_chain:
        return [("bab", bab, BAB_SHARE), ("milp", milp, 1.0)]
    return [("bab", bab, 1.0)]


def network_kind(net: Network) -> str:
    """The facts :func:`complete_methods` chooses by, in words."""
    few = "few" if net.input_size <= LOW_INPUT_DIM else "many"
    if net.is_chain:
        return f"{few} inputs ({net.input_size}) and a chain of dense layers with piecewise-linear activations"
    if net.piecewise_linear:
        return f"{few} inputs ({net.input_size}) and piecewise-linear activations in a network other than a chain"
    return f"{few} inputs ({net.input_size}) and smooth activations or other nonlinear ops (sigmoid, tanh, products, sin, ...)"


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
FIRST_COMPLETE = (0.1, 3.0)
"""The share of the time left and the seconds, at most, of the first run of ``auto``'s first complete
method, before the full attack: easy rows end there; a harder row loses that run (with a 10 s cap
MNIST-FC 256x2 prop_3_0.03 went from 56 s to a timeout at 120 s)."""
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
    """``auto``'s stages: the first attack (:data:`QUICK_ATTACK`), back-substitution bounds, then
    with few inputs (:data:`LOW_INPUT_DIM`) the network's complete methods (:func:`complete_methods`),
    whose input splits or linear regions are attacked one by one anyway; with many, the first complete
    method for a short while (:data:`FIRST_COMPLETE`: easy rows end here), the full attack
    (:data:`ATTACK_SHARE`), then the complete methods. (With few inputs a first short run would be
    thrown away: the rows it does not finish took about 10 s longer on ACAS Xu.)"""
    complete = [(name, fn, settings, share, NO_LIMIT) for name, fn, share in complete_methods(problem.network)]
    start = [("quick-falsify", falsify, quick_attack(problem.network, settings), *QUICK_ATTACK),
             ("deeppoly", deeppoly, settings, 1.0, NO_LIMIT)]
    if problem.network.input_size <= LOW_INPUT_DIM:
        return start + complete
    first, first_fn = complete[0][:2]
    return start + [(f"quick-{first}", first_fn, settings, *FIRST_COMPLETE),
                    ("falsify", falsify, settings, ATTACK_SHARE, NO_LIMIT)] + complete


def auto(problem: Problem, settings: Settings, deadline: Deadline) -> Result:
    """The stages of :func:`ladder` in turn until one decides: each within its share of the time left
    and its cap (one cut there hands over to the next); a method that ended undecided, not cut, is not
    run again with the same settings on the same properties. A stage that decides some properties
    (``Result.undecided``) leaves the others to the next stages, and one cut while it had proved some
    unsafe polytopes unreachable (``Timeout.proved``) leaves the rest to them. ``stats`` has each stage's counters
    and ``<stage>.seconds``."""
    stats: dict = {}
    tried: set[tuple[Method, Settings]] = set()
    positions = np.arange(len(problem.properties))      # of the properties still open, in the whole problem
    for name, fn, s, share, cap in ladder(problem, settings):
        if (fn, s) in tried:
            continue
        progress.stage(f"auto: {name}")
        left = deadline.remaining()
        budget = min(share * left, cap)
        limit = deadline if budget >= left else Deadline(budget)
        started = time.perf_counter()
        try:
            r = fn(problem, s, limit)
        except UnsupportedError as e:  # a rung that does not apply to this network: noted, not fatal
            stats[f"{name}.skipped"] = str(e)
            continue
        except Timeout as e:
            if limit is deadline:
                raise
            stats[f"{name}.stopped_after_s"] = round(budget, 3)  # its share is spent; the next rung has the rest
            if e.proved:        # the next rungs leave out the polytopes it proved
                narrowed, kept = problem.without(e.proved)
                stats[f"{name}.polytopes_proved"] = sum(len(v) for v in e.proved.values())
                if narrowed is None:
                    return Result(Status.HOLDS, f"auto/{name}", stats=stats)
                problem, positions = narrowed, positions[kept]
            continue
        finally:
            stats[f"{name}.seconds"] = round(time.perf_counter() - started, 3)
        stats.update({f"{name}.{k}": v for k, v in r.stats.items()})
        if r.status is not Status.UNKNOWN:
            ce = r.counterexample
            if ce is not None:
                ce = replace(ce, property_index=int(positions[ce.property_index]))
            return Result(r.status, f"auto/{r.method}", counterexample=ce, stats=stats)
        tried.add((fn, s))
        if r.undecided is not None:     # the next stages take the properties this one left open
            problem, positions = problem.restricted(r.undecided), positions[list(r.undecided)]
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


def verify(problem: Problem | Model, method: str = "auto", *, properties=None,
           input_shape: int | Sequence[int] | None = None, timeout: float | None = None,
           settings: Settings | None = None) -> Result:
    """Decide whether the problem's properties hold.

    Args:
        problem: a :class:`Problem`, or a model (a path, a :class:`Network` or a torch module, as
            :func:`nnreach.load_model` takes it) with ``properties`` given.
        method: a key of :data:`METHODS`.
        properties: with a model only: a :class:`Property` or a sequence of them.
        input_shape: with a torch module only: its per-sample input shape (see :func:`nnreach.load_model`).
        timeout: seconds (None: no limit); on expiry the status is TIMEOUT.
        settings: method settings (default :class:`Settings`).
    Returns:
        A :class:`Result`; VIOLATED results carry a counterexample confirmed by execution;
        HOLDS_PROBABLY (``conformal`` only) is a statistical statement, not a proof.
    Raises:
        InputError: an argument of the wrong type or value (one line naming it).
    """
    if isinstance(problem, Problem):
        if properties is not None or input_shape is not None:
            raise InputError("properties and input_shape go with a model, not with a Problem (which has them)")
    elif properties is None:
        raise InputError(f"problem: expected a nnreach.Problem, or a model with properties=, got "
                         f"{type(problem).__name__} without properties")
    else:
        problem = Problem(load_model(problem, input_shape), properties)
    if not isinstance(method, str) or method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if timeout is not None and not (isinstance(timeout, Real) and timeout > 0):
        raise InputError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    if settings is not None and not isinstance(settings, Settings):
        raise InputError(f"settings: expected a nnreach.Settings or None, got {type(settings).__name__}")
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
    stats = r.stats
    if r.status in (Status.UNKNOWN, Status.TIMEOUT) and isinstance(problem.network, Network):
        advice = hint(method, problem.network)
        stats = stats if advice is None else {**stats, "hint": advice}
    return Result(r.status, r.method, time.perf_counter() - start, r.counterexample, stats, r.reason, r.undecided)


def verify_robustness(model: Model, image, eps: float, label: int | None = None, *,
                      clip: tuple[float, float] | None = None, method: str = "auto",
                      input_shape: int | Sequence[int] | None = None, timeout: float | None = None,
                      settings: Settings | None = None) -> Result:
    """Whether every input within L-inf distance ``eps`` of ``image`` is classified as ``label``.

    The property (:func:`robustness_property` on :func:`linf_ball`) is violated when some input of
    the ball, clipped to ``clip``, has an output ``y_j >= y_label`` for some ``j != label``.

    Args:
        model: a path, a :class:`Network` or a torch module (as :func:`nnreach.load_model` takes it).
        image: one input, an array of any shape without a batch axis (flattened; a torch module's
            input shape defaults to ``image.shape``).
        eps: the radius, >= 0, in the units of ``image``.
        label: the class the ball must keep; default: the network's prediction on ``image``
            (its largest output, by nnreach's forward pass in float64), recorded in ``stats["label"]``.
        clip: ``(lo, hi)`` bounds every input entry stays within (e.g. ``(0, 1)`` for pixels), or None.
        method, timeout, settings: as for :func:`verify`.
        input_shape: with a torch module only: its per-sample input shape (default ``image.shape``).
    Returns:
        The :class:`Result` of :func:`verify`, with the label used in ``stats["label"]``.
    Raises:
        InputError: an argument of the wrong type or value (one line naming it).
    """
    try:
        center = np.asarray(image, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"image: expected an array of numbers, got {type(image).__name__}") from None
    if center.size == 0 or not np.all(np.isfinite(center)):
        raise InputError("image: expected a non-empty array of finite numbers")
    if not isinstance(eps, Real) or isinstance(eps, bool):
        raise InputError(f"eps: expected a number, got {type(eps).__name__}")
    lo = hi = None
    if clip is not None:
        if not (isinstance(clip, Sequence) and len(clip) == 2 and all(isinstance(c, Real) for c in clip)
                and clip[0] <= clip[1]):
            raise InputError(f"clip: expected a pair (lo, hi) of numbers with lo <= hi, or None, got {clip!r}")
        lo, hi = clip
        if np.any(center < lo) or np.any(center > hi):
            raise InputError(f"image: its values [{center.min()}, {center.max()}] lie outside clip {tuple(clip)}")
    if input_shape is None and is_torch_module(model):
        input_shape = center.shape or (1,)
    net = load_model(model, input_shape)
    if center.size != net.input_size:
        raise InputError(f"image: {center.size} values but the model has {net.input_size} inputs")
    if label is None:
        label = predicted_class(net, center)
    elif not isinstance(label, Integral) or isinstance(label, bool):
        raise InputError(f"label: expected an int or None, got {type(label).__name__}")
    prop = robustness_property(linf_ball(center, eps, lo, hi), int(label), net.output_size)
    r = verify(Problem(net, prop), method, timeout=timeout, settings=settings)
    return replace(r, stats={**r.stats, "label": int(label)})
