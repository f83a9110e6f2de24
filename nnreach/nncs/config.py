"""Closed-loop problems from TOML files (see ``examples/nncs/*.toml`` and the README).

Layout::

    name = "ACC"                  # optional; expected = "holds" | "violated" (for the runner)
    steps = 50                    # control periods
    [plant]
    kind = "continuous"           # or "discrete" (x+ = dynamics, once per period)
    states = ["x", "v"]
    inputs = ["a"]
    constants = { mu = 1e-4 }     # names usable in expressions
    dynamics = ["v", "a - mu*v**2"]       # one per state; or matrices A, B (and c, E) for x' = A x + B u + E w + c
    disturbances = { w = [-1e-4, 1e-4] } # optional, held constant within a period
    [controller]
    model = "net.onnx"            # .onnx / .nnet / .mat, relative to this file
    period = 0.1
    inputs = ["30", "x - 1"]      # affine in the states (default: the states)
    outputs = ["y0 - 10"]         # plant inputs, affine in the network outputs y0, y1, ... (default: y)
    [initial]                     # one entry per state: [lo, hi] or a number
    x = [0, 1]
    v = 0
    [[spec.safe]]                 # also [[spec.avoid]] and [spec.goal]; each with constraints and/or box
    constraints = ["x >= 10 + 1.4*v"]     # linear; "<=" or ">="
    box = { v = [-1, 1] }
    time = [0.5, 1.0]             # optional window (safe and avoid sets)
    [options]                     # optional: substeps, order, samples, max_pieces, timeout
    [plot]                        # optional: pairs = [["x", "v"]], time = ["x - v"] (affine)

Every error (a syntax error, a missing key, an expression that is not affine) is an
:class:`~nnreach.errors.InputError` naming the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import sympy

from ..errors import InputError
from ..io import load_model
from ..sets.box import Box
from .expr import parse
from .loop import ClosedLoop, ReachOptions
from .plant import Plant
from .spec import Polytope, Spec, Window
from .verdict import Problem


@dataclass(frozen=True)
class Config:
    """A parsed TOML file: the problem, its name and expected verdict, the time limit, and what to plot.

    Attributes:
        plot_pairs: pairs of state indices to draw against each other.
        plot_time: affine functions of the state ``(w (n,), c)`` to draw over time, with their labels.
    """

    problem: Problem
    name: str
    expected: str | None
    timeout: float | None
    plot_pairs: tuple[tuple[int, int], ...]
    plot_time: tuple[tuple[np.ndarray, float, str], ...]


def _get(table: dict, key: str, where: str, kind=None, default: Any = ...):
    if key not in table:
        if default is ...:
            raise InputError(f"{where}: missing key {key!r}")
        return default
    value = table[key]
    if kind is not None and not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise InputError(f"{where}.{key}: expected {names}, got {type(value).__name__}")
    return value


def _strings(value, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where}: expected a list of strings")
    return value


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _interval(value, where: str) -> tuple[float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), float(value)
    if not isinstance(value, list) or len(value) != 2:
        raise InputError(f"{where}: expected [lo, hi] or a number, got {value!r}")
    lo, hi = _number(value[0], where), _number(value[1], where)
    if lo > hi:
        raise InputError(f"{where}: lo {lo} > hi {hi}")
    return lo, hi


def _matrix(value, rows: int | None, where: str) -> np.ndarray:
    try:
        M = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected a matrix of numbers") from None
    if M.ndim != 2 or (rows is not None and M.shape[0] != rows):
        raise InputError(f"{where}: expected a matrix with {rows} rows, got shape {M.shape}")
    return M


def affine(texts: Sequence[str], names: Sequence[str], constants: dict, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` with ``expr_i = W_i . vars + b_i`` for affine expression strings; W (k, len(names))."""
    syms = {v: sympy.Symbol(v) for v in names}
    exprs = [parse(t, syms, constants, f"{where}[{i}]") for i, t in enumerate(texts)]
    try:
        A, b = sympy.linear_eq_to_matrix(exprs, [syms[v] for v in names])
    except ValueError:  # sympy NonlinearError derives from it
        raise InputError(f"{where}: expressions must be affine in {', '.join(names)}") from None
    try:
        return np.array(A, dtype=float).reshape(len(exprs), len(names)), -np.array(b, dtype=float).reshape(-1)
    except TypeError:
        raise InputError(f"{where}: expressions must be affine with numeric coefficients") from None


def _polytope(table: dict, states: Sequence[str], constants: dict, where: str) -> Polytope:
    H, g = [], []
    for i, text in enumerate(_strings(_get(table, "constraints", where, default=[]), f"{where}.constraints")):
        for op, sign in (("<=", 1.0), (">=", -1.0)):
            if op in text:
                lhs, rhs = text.split(op, 1)
                break
        else:
            raise InputError(f"{where}.constraints[{i}]: expected 'lhs <= rhs' or 'lhs >= rhs', got {text!r}")
        W, b = affine([f"({lhs}) - ({rhs})"], states, constants, f"{where}.constraints[{i}]")
        H.append(sign * W[0])
        g.append(-sign * b[0])
    box = _get(table, "box", where, dict, {})
    for name, value in box.items():
        if name not in states:
            raise InputError(f"{where}.box: unknown state {name!r}")
        lo, hi = _interval(value, f"{where}.box.{name}")
        e = np.eye(len(states))[list(states).index(name)]
        H += [e, -e]
        g += [hi, -lo]
    if not H:
        raise InputError(f"{where}: needs 'constraints' or 'box'")
    return Polytope(np.array(H), np.array(g))


def _windows(items, states, constants, where) -> tuple[Window, ...]:
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise InputError(f"{where}: expected a table or an array of tables")
    out = []
    for k, item in enumerate(items):
        if not isinstance(item, dict):
            raise InputError(f"{where}[{k}]: expected a table")
        t0, t1 = _interval(_get(item, "time", f"{where}[{k}]", default=[0.0, float("inf")]), f"{where}[{k}].time")
        out.append(Window(_polytope(item, states, constants, f"{where}[{k}]"), t0, t1))
    return tuple(out)


def _plant(table: dict) -> Plant:
    states = _strings(_get(table, "states", "plant"), "plant.states")
    inputs = _strings(_get(table, "inputs", "plant"), "plant.inputs")
    kind = _get(table, "kind", "plant", str, "continuous")
    if kind not in ("continuous", "discrete"):
        raise InputError(f"plant.kind: expected 'continuous' or 'discrete', got {kind!r}")
    constants = {k: _number(v, f"plant.constants.{k}") for k, v in _get(table, "constants", "plant", dict, {}).items()}
    dist = {k: _interval(v, f"plant.disturbances.{k}")
            for k, v in _get(table, "disturbances", "plant", dict, {}).items()}
    if "dynamics" in table:
        return Plant.from_strings(states, inputs, _strings(table["dynamics"], "plant.dynamics"),
                                  constants=constants, disturbances=dist, discrete=kind == "discrete")
    if "A" not in table:
        raise InputError("plant: needs 'dynamics' (expressions) or matrices 'A' and 'B'")
    n = len(states)
    A = _matrix(table["A"], n, "plant.A")
    B = _matrix(_get(table, "B", "plant"), n, "plant.B")
    c = np.array(_get(table, "c", "plant", list, [0.0] * n), dtype=float)
    E = _matrix(table["E"], n, "plant.E") if "E" in table else None
    if (E is None) != (not dist) or (E is not None and E.shape[1] != len(dist)):
        raise InputError("plant: disturbances of a linear plant need a matrix E with one column per disturbance")
    w = np.array(list(dist.values()), dtype=float).reshape(-1, 2)
    return Plant.linear(A, B, c, E=E, w_lo=w[:, 0], w_hi=w[:, 1], discrete=kind == "discrete",
                        states=states, inputs=inputs, disturbances=list(dist))


def load_config(path: str | Path) -> Config:
    """Parse a closed-loop TOML file (the controller model is loaded relative to it)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: invalid TOML: {e}") from None
    plant = _plant(_get(data, "plant", "file", dict))
    states = plant.states
    constants = {k: float(v) for k, v in data["plant"].get("constants", {}).items()}
    ctl = _get(data, "controller", "file", dict)
    model = path.parent / _get(ctl, "model", "controller", str)
    net = load_model(str(model))
    period = _number(_get(ctl, "period", "controller"), "controller.period")
    in_W, in_b = affine(_strings(_get(ctl, "inputs", "controller", default=list(states)), "controller.inputs"),
                        states, constants, "controller.inputs")
    ys = [f"y{i}" for i in range(net.output_size)]
    out_W, out_b = affine(_strings(_get(ctl, "outputs", "controller", default=ys), "controller.outputs"),
                          ys, constants, "controller.outputs")
    loop = ClosedLoop(plant, net, period, in_W, in_b, out_W, out_b)
    init = _get(data, "initial", "file", dict)
    missing = [s for s in states if s not in init]
    if missing:
        raise InputError(f"initial: missing state(s) {', '.join(missing)}")
    extra = sorted(set(init) - set(states))
    if extra:
        raise InputError(f"initial: unknown state(s) {', '.join(extra)}")
    bounds = np.array([_interval(init[s], f"initial.{s}") for s in states])
    steps = _get(data, "steps", "file", int)
    if steps < 1:
        raise InputError("steps: must be at least 1")
    spec_t = _get(data, "spec", "file", dict)
    unknown = sorted(set(spec_t) - {"safe", "avoid", "goal"})
    if unknown:
        raise InputError(f"spec: unknown key(s) {', '.join(unknown)} (expected safe, avoid, goal)")
    spec = Spec(_windows(spec_t.get("safe", []), states, constants, "spec.safe"),
                _windows(spec_t.get("avoid", []), states, constants, "spec.avoid"),
                _polytope(spec_t["goal"], states, constants, "spec.goal") if "goal" in spec_t else None)
    if not (spec.safe or spec.avoid or spec.goal):
        raise InputError("spec: needs at least one of safe, avoid, goal")
    opt = _get(data, "options", "file", dict, {})
    reach_opt = ReachOptions(substeps=_get(opt, "substeps", "options", int, ReachOptions.substeps),
                             order=_number(_get(opt, "order", "options", default=ReachOptions.order), "options.order"))
    problem = Problem(loop, Box(bounds[:, 0], bounds[:, 1]), steps, spec, reach_opt,
                      samples=_get(opt, "samples", "options", int, Problem.samples),
                      max_pieces=_get(opt, "max_pieces", "options", int, Problem.max_pieces))
    timeout = _get(opt, "timeout", "options", default=None)
    plot = _get(data, "plot", "file", dict, {})
    pairs = []
    for k, pair in enumerate(_get(plot, "pairs", "plot", list, [])):
        if not (isinstance(pair, list) and len(pair) == 2 and all(p in states for p in pair)):
            raise InputError(f"plot.pairs[{k}]: expected two state names, got {pair!r}")
        pairs.append((states.index(pair[0]), states.index(pair[1])))
    texts = _strings(_get(plot, "time", "plot", default=[]), "plot.time")
    W, b = affine(texts, states, constants, "plot.time") if texts else (np.zeros((0, len(states))), np.zeros(0))
    return Config(problem, _get(data, "name", "file", str, path.stem), _get(data, "expected", "file", str, None),
                  None if timeout is None else _number(timeout, "options.timeout"), tuple(pairs),
                  tuple((W[i], float(b[i]), texts[i]) for i in range(len(texts))))
