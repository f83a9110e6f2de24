"""Tests of the VNN-LIB 1.0 reader: public benchmarks, every syntax form, random specs, every error."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from nnreach.errors import InputError, UnsupportedError
from nnreach.io.vnnlib import MAX_DISJUNCTS, parse_vnnlib, read_vnnlib
from nnreach.verify.problem import Property

BENCHMARKS = Path(__file__).resolve().parents[3] / "shared" / "benchmarks"
DATA = Path(__file__).resolve().parent / "data"
BENCHMARK_FILES = sorted(BENCHMARKS.glob("*/*.vnnlib"))
ACASXU = BENCHMARKS / "acasxu"
MNIST_FILES = sorted((BENCHMARKS / "mnistfc").glob("*.vnnlib"))


def _spec(body: str, n: int = 1, m: int = 1) -> str:
    """Declarations of ``X_0..X_{n-1}`` and ``Y_0..Y_{m-1}`` followed by ``body``."""
    decls = [f"(declare-const X_{i} Real)" for i in range(n)]
    decls += [f"(declare-const Y_{j} Real)" for j in range(m)]
    return "\n".join(decls) + "\n" + body


@functools.cache
def _read(path: Path) -> list[Property]:
    return read_vnnlib(path)


def _needs_benchmarks() -> None:
    if not BENCHMARKS.is_dir():
        pytest.skip(f"benchmarks not found at {BENCHMARKS}")


# ------------------------------------------------------------------------------------ benchmarks

@pytest.mark.parametrize("path", BENCHMARK_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_benchmark_file_parses(path: Path):
    props = _read(path)
    dims = {"acasxu": (5, 5), "mnistfc": (784, 10)}.get(path.parent.name)
    assert props
    for prop in props:
        assert np.all(np.isfinite(prop.input_box.lo)) and np.all(prop.input_box.lo <= prop.input_box.hi)
        if dims:
            assert (prop.input_dim, prop.output_dim) == dims


def test_benchmark_files_were_found():
    _needs_benchmarks()
    assert len(list((BENCHMARKS / "acasxu").glob("prop_*.vnnlib"))) == 10
    assert len(MNIST_FILES) > 0


# prop number -> number of rows of each unsafe polytope, per input box
ACASXU_SHAPES = {
    1: [[1]], 2: [[4]], 3: [[4]], 4: [[4]], 5: [[1, 1, 1, 1]], 6: [[1, 1, 1, 1], [1, 1, 1, 1]],
    7: [[3, 3]], 8: [[2, 2, 2]], 9: [[1, 1, 1, 1]], 10: [[1, 1, 1, 1]],
}


@pytest.mark.parametrize("number", sorted(ACASXU_SHAPES))
def test_acasxu_property_shapes(number: int):
    _needs_benchmarks()
    props = _read(ACASXU / f"prop_{number}.vnnlib")
    assert [[p.A.shape[0] for p in prop.unsafe] for prop in props] == ACASXU_SHAPES[number]
    assert all(p.A.shape[1] == 5 for prop in props for p in prop.unsafe)


def test_acasxu_prop_1_values():
    _needs_benchmarks()
    (prop,) = _read(ACASXU / "prop_1.vnnlib")
    np.testing.assert_array_equal(prop.input_box.lo, [0.6, -0.5, -0.5, 0.45, -0.5])
    np.testing.assert_array_equal(prop.input_box.hi, [0.679857769, 0.5, 0.5, 0.5, -0.45])
    (unsafe,) = prop.unsafe
    np.testing.assert_array_equal(unsafe.A, [[-1, 0, 0, 0, 0]])  # Y_0 >= 3.99... as -Y_0 <= -3.99...
    np.testing.assert_array_equal(unsafe.b, [-3.991125645861615])


def test_acasxu_prop_2_rows():
    _needs_benchmarks()
    (prop,) = _read(ACASXU / "prop_2.vnnlib")
    (unsafe,) = prop.unsafe  # Y_i <= Y_0 for i = 1..4, all at once
    np.testing.assert_array_equal(unsafe.A, [[-1, 1, 0, 0, 0], [-1, 0, 1, 0, 0],
                                             [-1, 0, 0, 1, 0], [-1, 0, 0, 0, 1]])
    np.testing.assert_array_equal(unsafe.b, np.zeros(4))


def test_acasxu_prop_6_has_two_input_boxes_in_file_order():
    _needs_benchmarks()
    first, second = _read(ACASXU / "prop_6.vnnlib")
    np.testing.assert_array_equal(first.input_box.lo, [-0.129289109, 0.11140846, -0.499999896, -0.5, -0.5])
    np.testing.assert_array_equal(first.input_box.hi, [0.700434925, 0.499999896, -0.499204121, 0.5, 0.5])
    np.testing.assert_array_equal(second.input_box.lo, [-0.129289109, -0.499999896, -0.499999896, -0.5, -0.5])
    np.testing.assert_array_equal(second.input_box.hi, [0.700434925, -0.11140846, -0.499204121, 0.5, 0.5])
    for prop in (first, second):  # Y_i <= Y_0 for one i = 1..4 in each disjunct
        assert [p.A.tolist() for p in prop.unsafe] == [[[-1.0] + [float(k == i) for k in range(1, 5)]]
                                                       for i in range(1, 5)]


@pytest.mark.parametrize("path", MNIST_FILES, ids=lambda p: p.name)
def test_mnist_robustness_property(path: Path):
    label = int(re.search(r"label: (\d+)", path.read_text()).group(1))
    eps = float(re.search(r"_(0\.\d+)\.vnnlib$", path.name).group(1))
    (prop,) = _read(path)
    box = prop.input_box
    assert box.dim == 784 and np.all(box.lo >= 0) and np.all(box.hi <= 1)
    assert np.all(box.hi - box.lo <= 2 * eps + 1e-6)
    assert len(prop.unsafe) == 9
    others = [j for j in range(10) if j != label]
    for j, p in zip(others, prop.unsafe):  # Y_j >= Y_label, i.e. Y_label - Y_j <= 0
        expected = np.zeros((1, 10))
        expected[0, label], expected[0, j] = 1, -1
        np.testing.assert_array_equal(p.A, expected)
        np.testing.assert_array_equal(p.b, [0])


def test_test_nano_values():
    _needs_benchmarks()
    (prop,) = _read(BENCHMARKS / "test" / "test_nano.vnnlib")
    assert prop.input_box.lo.tolist() == [-1] and prop.input_box.hi.tolist() == [1]
    assert prop.unsafe[0].A.tolist() == [[1]] and prop.unsafe[0].b.tolist() == [-1]


# -------------------------------------------------------------------------------- syntax forms

def test_all_forms_file():
    box1, box2 = read_vnnlib(DATA / "all_forms.vnnlib")
    np.testing.assert_array_equal(box1.input_box.lo, [-0.5, -0.5])
    np.testing.assert_array_equal(box1.input_box.hi, [0.0, 0.5])
    np.testing.assert_array_equal(box2.input_box.lo, [0.0, -0.5])
    np.testing.assert_array_equal(box2.input_box.hi, [1e-3, 0.5])
    first = ([[1, 2, -1], [1, 1, 0], [-1, -1, 0]], [-4, 0, 0])
    second = ([[1, 1, -1]], [-15])
    y0_at_least_minus_2 = ([[-1, 0, 0]], [2])
    expected = {
        0: [(first[0] + y0_at_least_minus_2[0], first[1] + y0_at_least_minus_2[1]),
            (second[0] + y0_at_least_minus_2[0], second[1] + y0_at_least_minus_2[1])],
        1: [first, second],
    }
    for k, prop in enumerate((box1, box2)):
        assert [(p.A.tolist(), p.b.tolist()) for p in prop.unsafe] == expected[k]


def _one(text: str, n: int = 1, m: int = 1) -> Property:
    (prop,) = parse_vnnlib(_spec(text, n, m))
    return prop


X0_UNIT = "(assert (>= X_0 -1)) (assert (<= X_0 1))\n"


@pytest.mark.parametrize("term, row, rhs", [
    ("(* 2 Y_0)", [2, 0], 1),
    ("(* Y_1 -3)", [0, -3], 1),
    ("(* 0.5 2 Y_0)", [1, 0], 1),
    ("(+ Y_0 Y_1 1)", [1, 1], 0),
    ("(+ Y_0)", [1, 0], 1),
    ("(- Y_0 Y_1 2)", [1, -1], 3),
    ("(- Y_1)", [0, -1], 1),
    ("(- (- Y_1))", [0, 1], 1),
    ("(+ (* 2 (- Y_0 Y_1)) (* -1 Y_0))", [1, -2], 1),
    ("(* (+ 1 1) Y_0)", [2, 0], 1),
])
def test_terms(term: str, row: list[float], rhs: float):
    prop = _one(X0_UNIT + f"(assert (<= {term} 1))", m=2)
    assert prop.unsafe[0].A.tolist() == [row] and prop.unsafe[0].b.tolist() == [rhs]


@pytest.mark.parametrize("text, value", [
    ("3", 3), ("-0.5", -0.5), ("(- 0.5)", -0.5), ("+2", 2), ("1e-3", 1e-3), ("2.5E+2", 250),
    ("-1.5e1", -15), ("7.", 7), (".25", 0.25), ("0012", 12),
])
def test_number_forms(text: str, value: float):
    prop = _one(X0_UNIT + f"(assert (<= Y_0 {text}))")
    assert prop.unsafe[0].b.tolist() == [value]


@pytest.mark.parametrize("assertion, row, rhs", [
    ("(<= Y_0 Y_1)", [1, -1], 0),
    ("(< Y_0 Y_1)", [1, -1], 0),
    ("(>= Y_0 Y_1)", [-1, 1], 0),
    ("(> Y_0 Y_1)", [-1, 1], 0),
    ("(<= 2 Y_0)", [-1, 0], -2),
    ("(>= 2 (+ Y_0 Y_1))", [1, 1], 2),
])
def test_comparisons(assertion: str, row: list[float], rhs: float):
    prop = _one(X0_UNIT + f"(assert {assertion})", m=2)
    assert prop.unsafe[0].A.tolist() == [row] and prop.unsafe[0].b.tolist() == [rhs]


def test_equality_gives_two_rows_and_a_point_bound():
    prop = _one("(assert (= X_0 0.25)) (assert (= Y_0 (* 2 Y_1)))", m=2)
    assert prop.input_box.lo.tolist() == [0.25] and prop.input_box.hi.tolist() == [0.25]
    assert prop.unsafe[0].A.tolist() == [[1, -2], [-1, 2]] and prop.unsafe[0].b.tolist() == [0, 0]


@pytest.mark.parametrize("bound, lo, hi", [
    ("(<= (* 2 X_0) 1)", -1, 0.5),
    ("(>= (* -2 X_0) 1)", -1, -0.5),
    ("(<= (- X_0) 0.5)", -0.5, 1),
    ("(>= 0.5 (+ X_0 X_0))", -1, 0.25),
    ("(<= X_0 5)", -1, 1),  # looser than X0_UNIT
])
def test_input_bounds_take_the_tightest(bound: str, lo: float, hi: float):
    prop = _one(X0_UNIT + f"(assert {bound}) (assert (<= Y_0 0))")
    assert prop.input_box.lo.tolist() == [lo] and prop.input_box.hi.tolist() == [hi]


def test_nested_and_or_distributes():
    prop = _one(X0_UNIT + "(assert (and (or (<= Y_0 1) (<= Y_0 2)) (or (and (>= Y_0 3)) (>= Y_0 4))))")
    assert [(p.A.tolist(), p.b.tolist()) for p in prop.unsafe] == [
        ([[1], [-1]], [1, -3]), ([[1], [-1]], [1, -4]), ([[1], [-1]], [2, -3]), ([[1], [-1]], [2, -4])]


def test_comments_anywhere():
    prop = _one("; header (with parens)\n(assert ; inside\n (>= X_0 ;;; more\n -1)) ; tail\n"
                "(assert (<= X_0 1))(assert (<= Y_0 0));no newline at the end")
    assert prop.input_box.lo.tolist() == [-1] and prop.unsafe[0].b.tolist() == [0]


def test_disjunct_without_output_constraint_is_the_whole_space():
    prop = _one(X0_UNIT + "(assert (or (<= Y_0 0) (<= X_0 1)))", m=3)
    assert [p.A.shape for p in prop.unsafe] == [(1, 3), (0, 3)]
    assert prop.is_unsafe(np.array([[5.0, 5.0, 5.0]])).tolist() == [True]


def test_spec_without_output_constraints_at_all():
    prop = _one(X0_UNIT, m=2)
    assert prop.unsafe[0].A.shape == (0, 2)


def test_constant_comparisons():
    prop = _one(X0_UNIT + "(assert (<= 1 2)) (assert (or (<= 2 1) (>= Y_0 0) (< (- Y_0 Y_0) -1)))")
    assert [(p.A.tolist(), p.b.tolist()) for p in prop.unsafe] == [([[-1]], [0])]


def test_same_input_box_twice_is_one_property():
    props = parse_vnnlib(_spec("(assert (or (and (>= X_0 0) (<= X_0 1) (<= Y_0 0))"
                               "            (and (<= 1 X_0) (<= X_0 2) (<= Y_0 1))"
                               "            (and (>= X_0 0) (<= X_0 1.0) (<= Y_0 2))))"))
    assert [(p.input_box.lo.tolist(), [u.b.tolist() for u in p.unsafe]) for p in props] == [
        ([0], [[0], [2]]), ([1], [[1]])]


def test_contradictory_disjunct_is_dropped():
    prop = _one("(assert (or (and (>= X_0 1) (<= X_0 0) (<= Y_0 7))"
                "            (and (>= X_0 0) (<= X_0 1) (<= Y_0 8))))")
    assert [p.b.tolist() for p in prop.unsafe] == [[8]]


def test_large_and_of_bounds_inside_one_assert():
    n = 300
    bounds = " ".join(f"(>= X_{i} {-i}) (<= X_{i} {i})" for i in range(n))
    prop = _one(f"(assert (and {bounds} (or (<= Y_0 0) (>= Y_0 1))))", n=n)
    assert prop.input_box.hi.tolist() == list(range(n)) and len(prop.unsafe) == 2


# ------------------------------------------------------------------------------ random semantics

Env = dict[str, float]


class _RandomSpec:
    """Random VNN-LIB text together with a direct evaluator of the same formula."""

    def __init__(self, rng: np.random.Generator, n: int, m: int):
        self.rng, self.n, self.m = rng, n, m

    def number(self, value: int) -> str:
        forms = [str(value), f"{value}.0", f"{value}e0", f"{value * 10}e-1"]
        if value < 0:
            forms.append(f"(- {-value})")
        return forms[self.rng.integers(len(forms))]

    def term(self, names: list[str], depth: int) -> tuple[str, Callable[[Env], float]]:
        rng = self.rng
        choice = rng.integers(5) if depth > 0 else rng.integers(2) if names else 0
        if choice == 0:
            value = int(rng.integers(-3, 4))
            return self.number(value), lambda env: value
        if choice == 1:
            name = names[rng.integers(len(names))]
            return name, lambda env: env[name]
        if choice == 2:
            parts = [self.term(names, depth - 1) for _ in range(rng.integers(1, 4))]
            return f"(+ {' '.join(t for t, _ in parts)})", lambda env: sum(f(env) for _, f in parts)
        if choice == 3:
            parts = [self.term(names, depth - 1) for _ in range(rng.integers(1, 3))]
            if len(parts) == 1:
                return f"(- {parts[0][0]})", lambda env: -parts[0][1](env)
            return f"(- {parts[0][0]} {parts[1][0]})", lambda env: parts[0][1](env) - parts[1][1](env)
        coeff = int(rng.choice([-2, -1, 1, 2]))
        text, f = self.term(names, depth - 1)
        factor = self.number(coeff)
        shown = f"(* {factor} {text})" if rng.random() < 0.5 else f"(* {text} {factor})"
        return shown, lambda env: coeff * f(env)

    def input_term(self, name: str) -> tuple[str, Callable[[Env], float]]:
        coeff, shift = int(self.rng.choice([-2, -1, 1, 2])), int(self.rng.integers(-2, 3))
        forms = [(name, lambda env: env[name]),
                 (f"(* {self.number(coeff)} {name})", lambda env: coeff * env[name]),
                 (f"(- {name})", lambda env: -env[name]),
                 (f"(+ {name} {self.number(shift)})", lambda env: env[name] + shift)]
        return forms[self.rng.integers(len(forms))]

    def comparison(self) -> tuple[str, Callable[[Env], bool]]:
        """An input bound (a scaled X_i against a constant, either side) or a linear output constraint."""
        rng = self.rng
        if rng.random() < 0.4:
            (lt, lf), (rt, rf) = self.input_term(f"X_{rng.integers(self.n)}"), self.term([], 0)
            if rng.random() < 0.5:
                (lt, lf), (rt, rf) = (rt, rf), (lt, lf)
        else:
            names = [f"Y_{j}" for j in range(self.m)]
            (lt, lf), (rt, rf) = self.term(names, 2), self.term(names, 2)
        op = ["<=", ">=", "<", ">", "="][rng.choice(5, p=[0.3, 0.3, 0.15, 0.15, 0.1])]
        # the reader reads strict comparisons as non-strict (closed sets); so does this evaluator
        test = {"<=": np.less_equal, "<": np.less_equal, ">=": np.greater_equal, ">": np.greater_equal,
                "=": np.equal}[op]
        return f"({op} {lt} {rt})", lambda env: bool(test(lf(env), rf(env)))

    def formula(self, depth: int) -> tuple[str, Callable[[Env], bool]]:
        if depth == 0 or self.rng.random() < 0.2:
            return self.comparison()
        parts = [self.formula(depth - 1) for _ in range(self.rng.integers(1, 4))]
        text = " ".join(t for t, _ in parts)
        if self.rng.random() < 0.4:
            return f"(and {text})", lambda env: all(f(env) for _, f in parts)
        return f"(or {text})", lambda env: any(f(env) for _, f in parts)

    def spec(self) -> tuple[str, Callable[[Env], bool]]:
        names = [f"X_{i}" for i in range(self.n)] + [f"Y_{j}" for j in range(self.m)]
        lines = [f"(declare-const {name} Real) ; {k}" for k, name in enumerate(self.rng.permutation(names))]
        lines += [f"(assert (<= -3 X_{i}))\n(assert (<= X_{i} 3))" for i in range(self.n)]
        asserts = [self.formula(2) for _ in range(self.rng.integers(1, 3))]
        lines += [f"(assert {text})" for text, _ in asserts]

        def holds(env: Env) -> bool:
            inside = all(-3 <= env[f"X_{i}"] <= 3 for i in range(self.n))
            return inside and all(f(env) for _, f in asserts)

        return "\n".join(lines), holds


def _member(props: list[Property], x: np.ndarray, y: np.ndarray) -> bool:
    return any(np.all(p.input_box.lo <= x) and np.all(x <= p.input_box.hi) and p.is_unsafe(y)[0]
               for p in props)


@pytest.mark.parametrize("seed", range(40))
def test_random_spec_membership_matches_the_formula(seed: int):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    text, holds = _RandomSpec(rng, n, m).spec()
    points = rng.integers(-4, 5, size=(300, n + m)).astype(float)
    expected = [holds({**{f"X_{i}": p[i] for i in range(n)}, **{f"Y_{j}": p[n + j] for j in range(m)}})
                for p in points]
    try:
        props = parse_vnnlib(text)
    except InputError as err:  # only acceptable when no input satisfies the formula
        assert "contradict each other" in str(err), f"seed {seed}: {err}\n{text}"
        assert not any(expected), f"seed {seed}\n{text}"
        return
    got = [_member(props, p[:n], p[n:]) for p in points]
    assert got == expected, f"seed {seed}\n{text}"
    assert all((p.input_dim, p.output_dim) == (n, m) for p in props)


def test_random_specs_are_not_trivial():
    """The random specs above must reach both verdicts on some points, else they test nothing."""
    hits = misses = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        n, m = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        _, holds = _RandomSpec(rng, n, m).spec()
        points = rng.integers(-4, 5, size=(300, n + m)).astype(float)
        for p in points:
            env = {**{f"X_{i}": p[i] for i in range(n)}, **{f"Y_{j}": p[n + j] for j in range(m)}}
            hits, misses = hits + holds(env), misses + (not holds(env))
    assert hits > 500 and misses > 500


# -------------------------------------------------------------------------------------- errors

def _error(text: str, error_type: type[InputError], *fragments: str) -> str:
    """Parse ``text``, expecting exactly ``error_type`` with one line naming all ``fragments``."""
    with pytest.raises(InputError) as info:
        parse_vnnlib(text, source="spec.vnnlib")
    message = str(info.value)
    assert type(info.value) is error_type, message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


HEADER = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n"  # errors in the body start on line 3


@pytest.mark.parametrize("body, fragments", [
    ("(assert (<= X_0 1)))", ["spec.vnnlib:3:20:", "')' has no matching '('"]),
    ("(assert (<= X_0 1)\n(assert (>= X_0 0))", ["spec.vnnlib:3:1:", "never closed"]),
    ("(assert (<= X_5 1))", ["spec.vnnlib:3:13:", "undeclared variable X_5"]),
    ("(assert (<= X_0 foo))", ["spec.vnnlib:3:17:", "unknown symbol 'foo'"]),
    ("(assert (<= X_0 1.2.3))", ["spec.vnnlib:3:17:", "bad number '1.2.3'"]),
    ("(assert (<= X_0 1e))", ["3:17:", "bad number '1e'"]),
    ("(assert (<= X_0 -5x))", ["3:17:", "bad number '-5x'"]),
    ("(assert (<= X_0 1e999))", ["3:17:", "'1e999' is out of range"]),
    ("(assert (<= (* 1e300 1e300 Y_0) 1))", ["3:9:", "constant of this constraint is out of range"]),
    ("(assert (<= X_0 1 2))", ["3:9:", "'<=' takes 2 arguments, got 3"]),
    ("(assert (<= X_0 1) (<= X_0 2))", ["3:1:", "'assert' takes one formula, got 2"]),
    ("(assert X_0)", ["3:9:", "expected a comparison, 'and' or 'or', got 'X_0'"]),
    ("(assert (+ X_0 1))", ["3:9:", "expected a comparison, 'and' or 'or', got '+'"]),
    ("(assert (<= (and (<= X_0 1)) 1))", ["3:13:", "expected a term, got the formula '(and ...)'"]),
    ("(assert ())", ["3:9:", "empty expression"]),
    ("(assert ((<= X_0 1)))", ["3:10:", "expected an operator name"]),
    ("(assert (<= (+) 1))", ["3:13:", "'+' needs at least one argument"]),
    ("assert", ["3:1:", "expected a command such as (assert ...), got 'assert'"]),
    ("(declare-const X_1)", ["3:1:", "expected (declare-const NAME Real)"]),
    ("(declare-const X_0 Real)", ["3:16:", "X_0 is declared twice"]),
    ("(assert (<= X_0 1)) (assert (>= X_0 0)) (declare-const X_2 Real)", ["X_1 is not declared", "0..n-1"]),
    ("(assert (<= X_0 1))", ["spec.vnnlib: X_0 has no lower bound"]),
    ("(assert (>= X_0 1))", ["X_0 has no upper bound"]),
    ("(assert (or (and (>= X_0 0) (<= X_0 1)) (>= X_0 0)))", ["X_0 has no upper bound (in disjunct 2 of 2)"]),
    ("(assert (>= X_0 1)) (assert (<= X_0 0))", ["spec.vnnlib: the asserts contradict each other"]),
    ("(assert (>= X_0 0)) (assert (<= X_0 1)) (assert (or (<= 2 1) (> 0 1)))", ["contradict each other"]),
    ("; nothing", ["no assert"]),
])
def test_input_errors(body: str, fragments: list[str]):
    _error(HEADER + body, InputError, *fragments)


@pytest.mark.parametrize("body, fragments", [
    ("(assert (<= X_0 Y_0))", ["spec.vnnlib:3:9:", "mixes inputs (X) and outputs (Y)"]),
    ("(declare-const X_1 Real) (assert (<= (+ X_0 X_1) 1))", ["3:34:", "several inputs (X_0, X_1)"]),
    ("(assert (<= (* Y_0 Y_0) 1))", ["3:13:", "nonlinear product"]),
    ("(assert (<= (/ Y_0 2) 1))", ["3:13:", "operator '/' is not supported"]),
    ("(assert (not (<= Y_0 1)))", ["3:9:", "'not' is not supported"]),
    ("(assert (=> (<= Y_0 1) (<= Y_0 2)))", ["3:9:", "'=>' is not supported"]),
    ("(declare-fun f (Real) Real)", ["3:1:", "command 'declare-fun' is not supported"]),
    ("(check-sat)", ["3:1:", "command 'check-sat' is not supported"]),
    ("(declare-const X_1 Int)", ["3:20:", "sort 'Int' of X_1 is not supported"]),
    ("(declare-const Z Real)", ["3:16:", "cannot declare 'Z'"]),
    ("(declare-const X_01 Real)", ["cannot declare 'X_01'"]),
])
def test_unsupported_constructs(body: str, fragments: list[str]):
    _error(HEADER + body, UnsupportedError, *fragments)


def test_missing_declarations():
    _error("(declare-const Y_0 Real)\n(assert (<= Y_0 1))", InputError, "no inputs declared")
    _error("(declare-const X_0 Real)\n(assert (<= X_0 1))", InputError, "no outputs declared")
    _error("(declare-const X_0 Real)\n(declare-const Y_3 Real)\n(assert (<= X_0 1))", InputError,
           "Y_0 is not declared but Y_3 is")


def test_a_shaped_declare_const_is_not_vnnlib_1_0():
    _error("(declare-const X Real [5])\n(declare-const Y Real [5])", InputError, "spec.vnnlib:1:1:",
           "expected (declare-const NAME Real)")


def test_normal_form_blow_up_is_refused():
    k = (MAX_DISJUNCTS - 1).bit_length()  # 2**k > MAX_DISJUNCTS
    body = "".join(f"(assert (or (<= Y_0 {i}) (>= Y_0 {i})))\n" for i in range(k))
    _error(_spec(X0_UNIT + body), UnsupportedError, f"{2 ** k} disjuncts")


def test_read_errors_name_the_file(tmp_path: Path):
    with pytest.raises(InputError, match="cannot read VNN-LIB file .*missing.vnnlib"):
        read_vnnlib(tmp_path / "missing.vnnlib")
    binary = tmp_path / "binary.vnnlib"
    binary.write_bytes(b"(assert \xff\xfe)")
    with pytest.raises(InputError, match="binary.vnnlib: not a text file"):
        read_vnnlib(binary)
    bad = tmp_path / "bad.vnnlib"
    bad.write_text(HEADER + "(assert (<= X_0 foo))")
    with pytest.raises(InputError, match=re.escape(f"{bad}:3:17: unknown symbol 'foo'")):
        read_vnnlib(bad)
