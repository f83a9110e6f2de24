"""Fuzzing of the closed-loop TOML reader (:func:`nnreach.nncs.config.load_config`) with mutated real
files (hypothesis).

Seeds are ``examples/nncs/*.toml`` (those whose expressions compile in well under a second). Mutations:
byte and token edits of the text (as for the other readers, :mod:`.test_fuzz_readers`), and structural
edits of the parsed file written back as TOML: a key deleted or added, a value replaced by one of another
type or by an odd number (zero, negative, huge, NaN, infinite), a list made shorter, longer or nested,
an expression replaced by random text (code, unknown names, huge powers, division by zero, ...), the
controller path replaced by a missing, foreign or malformed one.

Every input must end in a :class:`nnreach.Config` or :class:`nnreach.errors.InputError` within the
hypothesis deadline; an accepted file must also be consistent: finite numbers of matching shapes
everywhere, a positive period, and a plant field whose values and interval derivatives can be evaluated
over X0. ``nnreach nncs`` on mutated files (a few, as running a loop is slow) exits 0 or 2 with one
line on stderr.
"""

from __future__ import annotations

import copy
import json
import math
import tempfile
import tomllib
from pathlib import Path

import numpy as np
from hypothesis import given, settings, strategies as st

from nnreach.cli import main
from nnreach.errors import InputError
from nnreach.nncs.config import Config, load_config
from nnreach.nncs.plant import AffineField

from .test_fuzz_readers import EXAMPLES, FUZZ, REPO, _byte_edits, _token_edits

NNCS = REPO / "examples" / "nncs"
SLOW = {"airplane.toml", "double_pendulum_less.toml", "double_pendulum_more.toml"}
"""Seeds left out: their expressions take about a second to compile, every time."""
SEEDS = [p for p in sorted(NNCS.glob("*.toml")) if p.name not in SLOW]
ODD_VALUES = [0, -1, 1, 2, -0.0, 0.5, 1e-300, 1e300, -1e300, math.nan, math.inf, -math.inf, 10**18, True, False,
              "", "x", "1", "holds", [], [[]], [0], [1, 0], [0, 1, 2], [[1, 2], [3]], [math.nan, 1], {}, {"x": 1},
              {"stepz": 3}]
MODEL_PATHS = ["nothing.onnx", "controllers", "", "../acc.toml", "/dev/null", "controllers/controllerTora.onnx",
               "controllers/controller_5_20.mat", "a\nb.onnx", "x\x00.onnx", "controllers/../../nncs/acc.toml",
               "controllers/controller_single_pendulum.onnx"]
EXPRESSION_TOKENS = ["x", "x1", "x2", "v_ego", "y0", "y1", "u", "w", "mu", "sin", "cos", "exp", "log", "sqrt", "tan",
                     "atan", "tanh", "Abs", "asin", "pi", "E", "I", "oo", "zoo", "nan", "__import__", "os", "system",
                     "lambda", "eval", "0", "1", "2", "-3", "0.1", "1e309", "1e-320", "9", "99", "10**400", "+", "-",
                     "*", "/", "**", "^", "(", ")", ",", ".", "[", "]", "'", '"', "\\", " ", "\n", "<=", ">=", "<",
                     "==", "=", "and", "if", ";", "\x00", "é", "x**x", "1/0", "0/0", "sqrt(-1)", "log(0)"]


# ------------------------------------------------------------------------------------- writing TOML

def _toml_value(v) -> str:
    """``v`` as a TOML value (tables inline)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_value(str(k))} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"no TOML for {type(v).__name__}")


def to_toml(data: dict) -> str:
    """A TOML document of ``data``: one ``key = value`` line per top-level key."""
    return "".join(f"{_toml_value(str(k))} = {_toml_value(v)}\n" for k, v in data.items())


# ------------------------------------------------------------------------------------- structural edits

def _leaves(value, path=()):
    """Every position inside ``value`` (nested dicts and lists) as a path of keys and indices."""
    yield path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        yield from _leaves(v, path + (k,))


def _parent(data, path):
    for k in path[:-1]:
        data = data[k]
    return data


def _expression():
    return st.one_of(st.lists(st.sampled_from(EXPRESSION_TOKENS), min_size=1, max_size=12).map("".join),
                     st.text(max_size=30))


def _odd_value(draw):
    """A fresh copy of one of :data:`ODD_VALUES` (later edits may change it in place)."""
    return copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))


def _structural(data: dict, draw) -> dict:
    """One structural edit of ``data`` (a parsed TOML file, modified in place and returned)."""
    kind = draw(st.sampled_from(["delete", "replace", "expression", "shape", "model", "add_key"]))
    paths = [p for p in _leaves(data) if p]
    path = draw(st.sampled_from(paths))
    parent, key = _parent(data, path), path[-1]
    if kind == "delete":
        del parent[key]
    elif kind == "replace":
        parent[key] = _odd_value(draw)
    elif kind == "expression":
        strings = [p for p in paths if isinstance(_parent(data, p)[p[-1]], str)]
        if strings:
            p = draw(st.sampled_from(strings))
            _parent(data, p)[p[-1]] = draw(_expression())
    elif kind == "shape" and isinstance(parent[key], list):
        value = parent[key]
        action = draw(st.sampled_from(["drop", "duplicate", "wrap", "reverse"]))
        if action == "drop" and value:
            del value[draw(st.integers(0, len(value) - 1))]
        elif action == "duplicate" and value:
            value.append(value[-1])
        elif action == "wrap":
            parent[key] = [value]
        else:
            value.reverse()
    elif kind == "model" and isinstance(data.get("controller"), dict):
        data["controller"]["model"] = draw(st.sampled_from(MODEL_PATHS))
    elif kind == "add_key" and isinstance(parent, dict):
        parent[draw(st.sampled_from(["stepz", "extra", "kind", "time", "box", "E"]))] = _odd_value(draw)
    return data


# ------------------------------------------------------------------------------------- oracle

def _finite(*arrays) -> bool:
    return all(np.all(np.isfinite(np.asarray(a, dtype=float))) for a in arrays)


def _check_config(cfg: Config) -> None:
    """An accepted file is consistent: finite numbers of matching shapes, an evaluable plant field."""
    pb = cfg.problem
    loop, plant = pb.loop, pb.loop.plant
    n, m = plant.n, plant.m
    assert pb.X0.dim == n and _finite(pb.X0.lo, pb.X0.hi) and np.all(pb.X0.lo <= pb.X0.hi)
    assert isinstance(pb.steps, int) and not isinstance(pb.steps, bool) and pb.steps >= 1
    assert math.isfinite(loop.period) and loop.period > 0
    assert loop.in_W.shape == (loop.controller.input_size, n) and loop.out_W.shape == (m, loop.controller.output_size)
    assert _finite(loop.in_W, loop.in_b, loop.out_W, loop.out_b, plant.w_lo, plant.w_hi)
    spec = pb.spec
    assert spec.safe or spec.avoid or spec.goal is not None
    for poly in [w.poly for w in spec.safe + spec.avoid] + ([spec.goal] if spec.goal is not None else []):
        assert poly.H.shape[1] == n and _finite(poly.H, poly.g)
    for w in spec.safe + spec.avoid:
        assert w.t0 <= w.t1 and not math.isnan(w.t0)
    assert cfg.timeout is None or (math.isfinite(cfg.timeout) and cfg.timeout > 0)
    assert cfg.expected in (None, "holds", "violated")
    lo = np.concatenate([pb.X0.lo, -np.ones(m), plant.w_lo])
    hi = np.concatenate([pb.X0.hi, np.ones(m), plant.w_hi])
    with np.errstate(all="ignore"):
        assert plant.field((lo + hi)[None] / 2).shape == (1, n)
        plant.field.values(lo, hi)
        plant.field.jacobian(lo, hi)
        if not isinstance(plant.field, AffineField):
            plant.field.hessian(lo, hi)


def _load_text(data: bytes, seed: Path) -> Config | None:
    """Write ``data`` as a TOML file beside a link to the example controllers and load it: the Config,
    or None on InputError (any other exception fails the test)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "controllers").symlink_to(seed.parent / "controllers")
        path = Path(tmp) / "fuzz.toml"
        path.write_bytes(data)
        try:
            cfg = load_config(path)
        except InputError:
            return None
    _check_config(cfg)
    return cfg


def _seed_and_text():
    def of(path: Path):
        text = path.read_text()
        return st.tuples(st.just(path), st.one_of(_byte_edits(text.encode()),
                                                  _token_edits(text).map(lambda s: s.encode("utf-8"))))
    return st.sampled_from(SEEDS).flatmap(of)


# ------------------------------------------------------------------------------------- tests

@FUZZ
@given(case=_seed_and_text())
def test_fuzz_nncs_text(case):
    seed, data = case
    _load_text(data, seed)


@FUZZ
@given(data=st.data())
def test_fuzz_nncs_structure(data):
    seed = data.draw(st.sampled_from(SEEDS))
    parsed = tomllib.loads(seed.read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        parsed = _structural(parsed, data.draw)
    _load_text(to_toml(parsed).encode("utf-8"), seed)


@FUZZ
@given(seed=st.sampled_from(SEEDS), text=_expression(), where=st.sampled_from(["dynamics", "inputs", "outputs",
                                                                               "constraints", "time"]))
def test_fuzz_nncs_expressions(seed, text, where):
    """A random expression in place of the first one of a kind: parsed (never executed) or rejected."""
    parsed = tomllib.loads(seed.read_text())
    tables = {"dynamics": parsed["plant"], "inputs": parsed["controller"], "outputs": parsed["controller"],
              "time": parsed.get("plot", {})}
    table = parsed["spec"]["safe"][0] if where == "constraints" and parsed["spec"].get("safe") else tables.get(where)
    if table is None:
        return
    table[where] = [text] + list(table.get(where, []))[1:]
    _load_text(to_toml(parsed).encode("utf-8"), seed)


@settings(FUZZ, max_examples=max(EXAMPLES // 100, 4))
@given(data=st.data())
def test_fuzz_nncs_cli(data, capsys):
    """``nnreach nncs`` on a structurally mutated file, with a short time limit: exit 0 or 2, and 2
    means one stderr line."""
    seed = data.draw(st.sampled_from(SEEDS))
    parsed = _structural(tomllib.loads(seed.read_text()), data.draw)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "controllers").symlink_to(seed.parent / "controllers")
        path = Path(tmp) / "fuzz.toml"
        path.write_text(to_toml(parsed))
        capsys.readouterr()
        code = main(["nncs", str(path), "--timeout", "0.5", "--jobs", "1"])
        err = capsys.readouterr().err
    assert code in (0, 2), f"exit code {code}: {err}"
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("nnreach: error: "), err


def test_round_trip_of_the_seeds_through_the_toml_writer():
    for seed in SEEDS:
        assert tomllib.loads(to_toml(tomllib.loads(seed.read_text()))) == tomllib.loads(seed.read_text())
