"""Closed-loop verification of neural network control systems (NNCS).

A plant (:mod:`.plant`) under a network controller sampled with zero-order hold (:mod:`.loop`),
flowpipes by zonotopes with a sound flow over-approximation (:mod:`.flow`), specifications
(:mod:`.spec`), star sets at the sample times for linear plants (:mod:`.star_loop`), simulation (:mod:`.simulation`), verdicts (:mod:`.verdict`), TOML files (:mod:`.config`)
and pictures (:mod:`.plot`)::

    cfg = nnreach.nncs.load_config("examples/nncs/acc.toml")
    outcome = nnreach.nncs.verify(cfg.problem, timeout=60)
    pipe = nnreach.nncs.reach(cfg.problem.loop, cfg.problem.X0, cfg.problem.steps)

The names below are imported on first use, so that ``nnreach`` commands that do not need closed
loops do not pay for importing sympy.
"""

from importlib import import_module

_WHERE = {
    "Config": "config", "load_config": "config",
    "ClosedLoop": "loop", "FlowSet": "loop", "Flowpipe": "loop", "Modes": "loop", "ReachOptions": "loop",
    "reach": "loop",
    "AffineField": "plant", "Plant": "plant",
    "Trajectories": "simulation", "simulate": "simulation",
    "Nonlinear": "spec", "Polytope": "spec", "Spec": "spec", "Window": "spec",
    "Counterexample": "verdict", "Outcome": "verdict", "Problem": "verdict", "Verdict": "verdict", "verify": "verdict",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_WHERE[name]}", __name__), name)
