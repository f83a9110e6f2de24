"""Closed-loop problems from TOML files (see ``examples/nncs/*.toml`` and the README).

Layout::

    name = "ACC"                  # optional; expected = "holds" | "violated" | "unknown" (for the runner)
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
    modes = [[-1], [0], [1]]      # instead of outputs: the plant input of each mode, the mode being the
                                  # largest network output (one row per output)
    models = ["a.onnx", "b.onnx", "c.onnx"]  # with modes, instead of model: the network read after a
    initial_mode = 0              # period in each mode, and the mode before the first period
    [initial]                     # one entry per state: [lo, hi] or a number
    x = [0, 1]
    v = 0
    [[spec.safe]]                 # also [[spec.avoid]] and [spec.goal]; each with constraints and/or box
    constraints = ["x >= 10 + 1.4*v"]     # "<=" or ">="; affine, or nonlinear as in dynamics (method zono)
    box = { v = [-1, 1] }
    time = [0.5, 1.0]             # optional window (safe and avoid sets)
    [options]                     # optional: method, substeps, order, samples, max_pieces, max_stars, timeout
    [plot]                        # optional: pairs = [["x", "v"]], time = ["x - v"] (affine)

Every error (a syntax error, a missing or unknown key, a value of the wrong type or shape, a number that
is not finite or out of range, an expression that is not affine) is an :class:`~nnreach.errors.InputError`
naming the key, on one line. Names (states, inputs, disturbances, constants) must be distinct Python
identifiers; expressions are parsed without evaluating code (:func:`.expr.parse`).
"""

from __future__ import annotations

import keyword
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import sympy

from ..errors import InputError
from ..io import load_model
from ..network.graph import Network
from ..sets.box import Box
from .expr import Expressions, parse
from .loop import ClosedLoop, Modes, ReachOptions
from .plant import Plant
from .spec import Nonlinear, Polytope, Spec, Window
from .star_loop import METHODS, require_linear
from .verdict import Problem

KEYS = {
    "file": {"name", "expected", "steps", "plant", "controller", "initial", "spec", "options", "plot"},
    "plant": {"kind", "states", "inputs", "constants", "dynamics", "disturbances", "A", "B", "c", "E"},
    "controller": {"model", "models", "initial_mode", "period", "inputs", "outputs", "modes"},
    "spec": {"safe", "avoid", "goal"},
    "window": {"constraints", "box", "time"},
    "goal": {"constraints", "box"},
    "options": {"method", "substeps", "order", "samples", "max_pieces", "max_stars", "timeout"},
    "plot": {"pairs", "time"},
}
"""The keys each table may have (anything else is a typo, reported rather than ignored)."""
COUNTS = {"steps": (1, 10_000), "substeps": (1, 10_000), "samples": (0, 100_000), "max_pieces": (1, 1_000_000),
          "max_stars": (1, 10_000_000)}
"""The allowed range of each integer setting."""
EXPECTED = ("holds", "violated", "unknown")
"""The verdicts ``expected`` may name (``unknown``: no tool is known to decide the problem)."""


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


# -- values ------------------------------------------------------------------------------------------

def _at(where: str, key) -> str:
    """The name of ``key`` inside ``where`` for messages (quoted unless it is an identifier)."""
    return f"{where}.{key}" if isinstance(key, str) and key.isidentifier() else f"{where}[{key!r}]"


def _table(value, where: str, kind: str) -> dict:
    """``value``, which must be a table with only the keys of ``KEYS[kind]``."""
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a table, got {type(value).__name__}")
    unknown = sorted(repr(k) for k in set(value) - KEYS[kind])
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)} (expected {', '.join(sorted(KEYS[kind]))})")
    return value


def _get(table: dict, key: str, where: str, kind=None, default: Any = ...):
    if key not in table:
        if default is ...:
            raise InputError(f"{where}: missing key {key!r}")
        return default
    value = table[key]
    if kind is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise InputError(f"{_at(where, key)}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def _strings(value, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where}: expected a list of strings")
    return value


def _names(value, where: str) -> list[str]:
    """A list of distinct names, each a Python identifier that is not a keyword."""
    names = _strings(value, where)
    bad = [v for v in names if not v.isidentifier() or keyword.iskeyword(v)]
    if bad:
        raise InputError(f"{where}: {bad[0]!r} is not a valid name (letters, digits and _, not a keyword)")
    if len(set(names)) != len(names):
        raise InputError(f"{where}: names must be distinct, got {names}")
    return names


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: expected a number, got {value!r}")
    if not np.isfinite(float(value)):
        raise InputError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _positive(value, where: str) -> float:
    x = _number(value, where)
    if not x > 0:
        raise InputError(f"{where}: must be positive, got {x}")
    return x


def _count(table: dict, key: str, where: str, default: int) -> int:
    """An integer setting within its range of :data:`COUNTS`."""
    value = _get(table, key, where, int, default)
    lo, hi = COUNTS[key]
    if not lo <= value <= hi:
        raise InputError(f"{_at(where, key)}: must be between {lo} and {hi}, got {value}")
    return value


def _interval(value, where: str, open_end: bool = False) -> tuple[float, float]:
    """``[lo, hi]`` or a number (finite; ``hi`` may be ``inf`` if ``open_end``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number(value, where), _number(value, where)
    if not isinstance(value, list) or len(value) != 2:
        raise InputError(f"{where}: expected [lo, hi] or a number, got {value!r}")
    lo = _number(value[0], where)
    hi = float("inf") if open_end and value[1] == float("inf") else _number(value[1], where)
    if lo > hi:
        raise InputError(f"{where}: lo {lo} > hi {hi}")
    return lo, hi


def _matrix(value, rows: tuple[int, str], cols: tuple[int, str], where: str) -> np.ndarray:
    """A matrix of finite numbers with ``rows`` and ``cols``, each (count, what one stands for)."""
    try:
        M = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected a matrix of numbers") from None
    if M.shape != (rows[0], cols[0]):
        got = f"{M.shape[0]} x {M.shape[1]}" if M.ndim == 2 else f"an array of {M.ndim} dimension(s)"
        raise InputError(f"{where}: expected {rows[0]} row(s), one per {rows[1]}, and {cols[0]} column(s), one per "
                         f"{cols[1]}; got {got}")
    if not np.all(np.isfinite(M)):
        raise InputError(f"{where}: entries must be finite numbers")
    return M


# -- expressions and sets ------------------------------------------------------------------------------

def affine(texts: Sequence[str], names: Sequence[str], constants: dict, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` with ``expr_i = W_i . vars + b_i`` for affine expression strings; W (k, len(names))."""
    syms = _symbols(names, constants, where)
    return _coefficients([parse(t, syms, constants, f"{where}[{i}]") for i, t in enumerate(texts)], syms, where)


def _symbols(names: Sequence[str], constants: dict, where: str) -> dict[str, sympy.Symbol]:
    """A symbol per variable name; InputError when a name is a constant's too."""
    clash = sorted(set(names) & set(constants))
    if clash:
        raise InputError(f"{where}: {', '.join(clash)} is both a variable and a constant")
    return {v: sympy.Symbol(v) for v in names}


def _coefficients(exprs: Sequence[sympy.Expr], syms: dict[str, sympy.Symbol], where: str) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` with ``expr_i = W_i . syms + b_i``; InputError unless the expressions are affine with
    finite numeric coefficients."""
    try:
        A, b = sympy.linear_eq_to_matrix(exprs, list(syms.values()))
    except ValueError:  # sympy NonlinearError derives from it
        raise InputError(f"{where}: expressions must be affine in {', '.join(syms)}") from None
    try:
        W, c = np.array(A, dtype=float).reshape(len(exprs), len(syms)), -np.array(b, dtype=float).reshape(-1)
    except TypeError:
        raise InputError(f"{where}: expressions must be affine with numeric coefficients") from None
    if not (np.all(np.isfinite(W)) and np.all(np.isfinite(c))):
        raise InputError(f"{where}: coefficients must be finite")
    return W, c


def _set(table: dict, states: Sequence[str], constants: dict, where: str) -> Polytope | Nonlinear:
    """The set of ``constraints`` (``lhs <= rhs`` or ``lhs >= rhs``, expressions in the states as the
    dynamics are) and ``box``: a :class:`Polytope` when every constraint is affine, else a
    :class:`Nonlinear` set."""
    syms = _symbols(states, constants, where)
    exprs, texts = [], []                                   # each constraint as f(x) <= 0
    for i, text in enumerate(_strings(_get(table, "constraints", where, default=[]), f"{where}.constraints")):
        for op, sign in (("<=", 1), (">=", -1)):
            if op in text:
                lhs, rhs = text.split(op, 1)
                break
        else:
            raise InputError(f"{where}.constraints[{i}]: expected 'lhs <= rhs' or 'lhs >= rhs', got {text!r}")
        e = sign * parse(f"({lhs}) - ({rhs})", syms, constants, f"{where}.constraints[{i}]")
        if not e.free_symbols & set(syms.values()):
            raise InputError(f"{where}.constraints[{i}]: {text!r} does not depend on the states")
        exprs.append(e)
        texts.append(text)
    box = _get(table, "box", where, dict, {})
    for name, value in box.items():
        if name not in states:
            raise InputError(f"{where}.box: unknown state {name!r}")
        lo, hi = _interval(value, _at(f"{where}.box", name))
        exprs += [syms[name] - hi, lo - syms[name]]
        texts += [f"{name} <= {hi}", f"{name} >= {lo}"]
    if not exprs:
        raise InputError(f"{where}: needs 'constraints' or 'box'")
    if all(e.is_polynomial(*syms.values()) and sympy.Poly(e, *syms.values()).total_degree() <= 1 for e in exprs):
        H, c = _coefficients(exprs, syms, where)              # H x + c <= 0
        return Polytope(H, -c)
    return Nonlinear(Expressions(exprs, states), tuple(texts))


def _windows(items, states, constants, where) -> tuple[Window, ...]:
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise InputError(f"{where}: expected a table or an array of tables")
    out = []
    for k, item in enumerate(items):
        item = _table(item, f"{where}[{k}]", "window")
        t0, t1 = _interval(_get(item, "time", f"{where}[{k}]", default=[0.0, float("inf")]), f"{where}[{k}].time",
                           open_end=True)
        out.append(Window(_set(item, states, constants, f"{where}[{k}]"), t0, t1))
    return tuple(out)


# -- tables ----------------------------------------------------------------------------------------------

def _constants(table: dict) -> dict[str, float]:
    raw = _get(table, "constants", "plant", dict, {})
    names = _names(list(raw), "plant.constants")
    return {k: _number(raw[k], _at("plant.constants", k)) for k in names}


def _plant(table: dict) -> tuple[Plant, dict[str, float]]:
    """The plant and its constants."""
    table = _table(table, "plant", "plant")
    states = _names(_get(table, "states", "plant"), "plant.states")
    inputs = _names(_get(table, "inputs", "plant"), "plant.inputs")
    if not states:
        raise InputError("plant.states: needs at least one state")
    kind = _get(table, "kind", "plant", str, "continuous")
    if kind not in ("continuous", "discrete"):
        raise InputError(f"plant.kind: expected 'continuous' or 'discrete', got {kind!r}")
    constants = _constants(table)
    raw = _get(table, "disturbances", "plant", dict, {})
    dist = {k: _interval(raw[k], _at("plant.disturbances", k)) for k in _names(list(raw), "plant.disturbances")}
    _names(states + inputs + list(dist) + list(constants), "plant: states, inputs, disturbances and constants")
    if ("dynamics" in table) == ("A" in table):
        raise InputError("plant: needs either 'dynamics' (expressions) or matrices 'A' and 'B', not both")
    if "dynamics" in table:
        if any(k in table for k in ("B", "c", "E")):
            raise InputError("plant: 'B', 'c' and 'E' belong to a linear plant (matrix 'A'), not to 'dynamics'")
        plant = Plant.from_strings(states, inputs, _strings(table["dynamics"], "plant.dynamics"),
                                   constants=constants, disturbances=dist, discrete=kind == "discrete")
        return plant, constants
    n = len(states)
    state, inp, dis = (n, "state (plant.states)"), (len(inputs), "input (plant.inputs)"), \
        (len(dist), "disturbance (plant.disturbances)")
    A = _matrix(table["A"], state, state, "plant.A")
    B = _matrix(_get(table, "B", "plant"), state, inp, "plant.B")
    c = _get(table, "c", "plant", list, [0.0] * n)
    if len(c) != n:
        raise InputError(f"plant.c: expected {n} entries, one per state (plant.states); got {len(c)}")
    c = _matrix([c], (1, "vector"), state, "plant.c")[0]
    E = _matrix(table["E"], state, dis, "plant.E") if "E" in table else None
    if (E is None) != (not dist):
        raise InputError("plant: disturbances of a linear plant need a matrix E with one column per disturbance")
    w = np.array(list(dist.values()), dtype=float).reshape(-1, 2)
    plant = Plant.linear(A, B, c, E=E, w_lo=w[:, 0], w_hi=w[:, 1], discrete=kind == "discrete",
                         states=states, inputs=inputs, disturbances=list(dist))
    return plant, constants


def _model_path(name, where: str, base: Path) -> Path:
    """The model file ``name`` (relative to ``base``) of the key ``where``."""
    if not isinstance(name, str) or not name or not name.isprintable():
        raise InputError(f"{where}: expected a file name, got {name!r}")
    return base / name


def _networks(ctl: dict, base: Path) -> tuple[Network, tuple[Network, ...], int]:
    """The controller network, the networks of the modes (``controller.models``: one per mode, read
    after a period in that mode; empty without) and the initial mode (``controller.initial_mode``)."""
    if "models" not in ctl:
        if "initial_mode" in ctl:
            raise InputError("controller.initial_mode: goes with controller.models (a network per mode)")
        return load_model(str(_model_path(_get(ctl, "model", "controller", str), "controller.model", base))), (), 0
    if "model" in ctl or "modes" not in ctl:
        raise InputError("controller.models: a network per mode goes with controller.modes, instead of controller.model")
    names = _get(ctl, "models", "controller", list)
    nets = tuple(load_model(str(_model_path(name, f"controller.models[{i}]", base))) for i, name in enumerate(names))
    initial = _get(ctl, "initial_mode", "controller", int, 0)
    if not nets or not 0 <= initial < len(nets):
        raise InputError(f"controller.initial_mode: expected one of 0..{len(nets) - 1} (controller.models has "
                         f"{len(nets)} networks), got {initial}")
    return nets[initial], nets, initial


def _loop(ctl: dict, plant: Plant, constants: dict, base: Path) -> ClosedLoop:
    ctl = _table(ctl, "controller", "controller")
    net, per_mode, initial = _networks(ctl, base)
    name = ctl.get("model", f"controller.models[{initial}]")
    period = _positive(_get(ctl, "period", "controller"), "controller.period")
    states = list(plant.states)
    in_W, in_b = affine(_strings(_get(ctl, "inputs", "controller", default=states), "controller.inputs"),
                        states, constants, "controller.inputs")
    if len(in_W) != net.input_size:
        given = "" if "inputs" in ctl else " (not given: one per state)"
        raise InputError(f"controller.inputs: {len(in_W)} expression(s){given} but the network {name} "
                         f"has {net.input_size} input(s)")
    if "modes" in ctl:
        if "outputs" in ctl:
            raise InputError("controller: give outputs (plant inputs affine in the network's outputs) or modes "
                             "(a plant input per mode, the mode being the largest output), not both")
        inputs = _matrix(ctl["modes"], (net.output_size, "network output (mode)"),
                         (plant.m, "plant input (plant.inputs)"), "controller.modes")
        return ClosedLoop(plant, net, period, in_W, in_b, np.zeros((plant.m, net.output_size)), np.zeros(plant.m),
                          Modes(inputs, per_mode, initial))
    ys = [f"y{i}" for i in range(net.output_size)]
    out_W, out_b = affine(_strings(_get(ctl, "outputs", "controller", default=ys), "controller.outputs"),
                          ys, constants, "controller.outputs")
    if len(out_W) != plant.m:
        given = "" if "outputs" in ctl else f" (not given: the network's outputs y0..y{net.output_size - 1})"
        raise InputError(f"controller.outputs: {len(out_W)} expression(s){given} but plant.inputs has "
                         f"{plant.m} input(s); give one expression per plant input")
    return ClosedLoop(plant, net, period, in_W, in_b, out_W, out_b)


def _initial(init: dict, states: Sequence[str]) -> Box:
    missing = [s for s in states if s not in init]
    if missing:
        raise InputError(f"initial: missing state(s) {', '.join(missing)}")
    extra = sorted(repr(k) for k in set(init) - set(states))
    if extra:
        raise InputError(f"initial: unknown state(s) {', '.join(extra)}")
    bounds = np.array([_interval(init[s], f"initial.{s}") for s in states])
    return Box(bounds[:, 0], bounds[:, 1])


def _spec(table: dict, states: Sequence[str], constants: dict) -> Spec:
    table = _table(table, "spec", "spec")
    goal = _table(table["goal"], "spec.goal", "goal") if "goal" in table else None
    spec = Spec(_windows(table.get("safe", []), states, constants, "spec.safe"),
                _windows(table.get("avoid", []), states, constants, "spec.avoid"),
                None if goal is None else _set(goal, states, constants, "spec.goal"))
    if not (spec.safe or spec.avoid or spec.goal):
        raise InputError("spec: needs at least one of safe, avoid, goal")
    return spec


def _plot(table: dict, states: Sequence[str], constants: dict) -> tuple[tuple, tuple]:
    """The pairs of state indices and the labelled affine functions to plot."""
    table = _table(table, "plot", "plot")
    pairs = []
    for k, pair in enumerate(_get(table, "pairs", "plot", list, [])):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) and p in states for p in pair)):
            raise InputError(f"plot.pairs[{k}]: expected two state names, got {pair!r}")
        pairs.append((states.index(pair[0]), states.index(pair[1])))
    texts = _strings(_get(table, "time", "plot", default=[]), "plot.time")
    W, b = affine(texts, states, constants, "plot.time") if texts else (np.zeros((0, len(states))), np.zeros(0))
    return tuple(pairs), tuple((W[i], float(b[i]), texts[i]) for i in range(len(texts)))


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: invalid TOML: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: invalid TOML: {e}") from None
    except RecursionError:
        raise InputError(f"{path}: invalid TOML: nested too deeply") from None


def load_config(path: str | Path) -> Config:
    """Parse a closed-loop TOML file (the controller model is loaded relative to it)."""
    path = Path(path)
    data = _table(_read(path), "file", "file")
    plant, constants = _plant(_get(data, "plant", "file", dict))
    states = list(plant.states)
    loop = _loop(_get(data, "controller", "file", dict), plant, constants, path.parent)
    x0 = _initial(_get(data, "initial", "file", dict), states)
    steps = _count(data, "steps", "file", ...)
    spec = _spec(_get(data, "spec", "file", dict), states, constants)
    opt = _table(_get(data, "options", "file", dict, {}), "options", "options")
    reach_opt = ReachOptions(substeps=_count(opt, "substeps", "options", ReachOptions.substeps),
                             order=_number(_get(opt, "order", "options", default=ReachOptions.order), "options.order"))
    if reach_opt.order < 1:
        raise InputError(f"options.order: must be at least 1, got {reach_opt.order}")
    method = _get(opt, "method", "options", str, Problem.method)
    if method not in METHODS:
        raise InputError(f"options.method: expected one of {', '.join(METHODS)}, got {method!r}")
    if method != "zono":
        require_linear(plant, method)
        if loop.modes is not None:
            raise InputError(f"options.method: {method} does not follow mode-switching controllers (controller.modes); "
                             "use method = \"zono\"")
        if not spec.affine:
            raise InputError(f"options.method: {method} checks affine specifications only (its stars are met with "
                             "polytopes by LP); this spec has nonlinear constraints: use method = \"zono\"")
    problem = Problem(loop, x0, steps, spec, reach_opt, samples=_count(opt, "samples", "options", Problem.samples),
                      max_pieces=_count(opt, "max_pieces", "options", Problem.max_pieces), method=method,
                      max_stars=_count(opt, "max_stars", "options", Problem.max_stars))
    timeout = _get(opt, "timeout", "options", default=None)
    expected = _get(data, "expected", "file", str, None)
    if expected not in (None, *EXPECTED):
        raise InputError(f"expected: must be one of {', '.join(EXPECTED)}, got {expected!r}")
    pairs, curves = _plot(_get(data, "plot", "file", dict, {}), states, constants)
    return Config(problem, _get(data, "name", "file", str, path.stem), expected,
                  None if timeout is None else _positive(timeout, "options.timeout"), pairs, curves)
