"""Reader for VNN-LIB 1.0 property files (2.0 queries are passed on to :mod:`nnreach.io.vnnlib2`).

A VNN-LIB file declares the network's inputs ``X_0 .. X_{n-1}`` and outputs ``Y_0 .. Y_{m-1}`` and
asserts constraints on them. It describes the *unsafe* set: the property is violated when some
assignment satisfies every assert. The reader parses the file into s-expressions (tracking line and
column), brings the conjunction of the asserts to disjunctive normal form, splits each disjunct into
bounds on single inputs (a box) and linear constraints on the outputs (a polytope ``A y <= b``), and
groups the disjuncts that share an input box into one :class:`~nnreach.verify.problem.Property`.
Files of the plain shape that nearly every published property has are read by the vectorised
:mod:`.vnnlib_fast` instead, with the same result; it declines the others, which come here.

Supported:
    ``(declare-const X_i Real)``, ``(declare-const Y_i Real)`` with indices ``0 .. n-1``; ``; comments``;
    ``(assert F)`` where ``F`` nests ``and``, ``or`` and the comparisons ``<= >= < > =`` (strict ones
    read as non-strict, as the sets are closed); terms built from numbers (``2``, ``-0.5``, ``1e-3``),
    variables, ``(+ ...)``, ``(- a)``, ``(- a b ...)`` and products ``(* c t)`` with at most one
    non-constant factor. Inputs may only be bounded one at a time (``(* 2 X_0)`` is fine); outputs may
    appear in any linear combination.

Unsupported (:class:`~nnreach.errors.UnsupportedError`): constraints that mix inputs and outputs,
linear constraints over several inputs, nonlinear products, ``not`` / ``=>`` and other operators,
sorts other than ``Real``, commands other than ``declare-const`` and ``assert``.

VNN-LIB 2.0 queries (a file with ``vnnlib-version`` or ``declare-network``) are read by
:mod:`nnreach.io.vnnlib2`, which brings them to the same normal form and properties.

Example:
    >>> props = parse_vnnlib('''
    ... (declare-const X_0 Real)
    ... (declare-const Y_0 Real)
    ... (assert (<= -1 X_0))
    ... (assert (<= X_0 1))
    ... (assert (or (>= Y_0 2) (<= Y_0 (- 2))))
    ... ''')
    >>> len(props), len(props[0].unsafe), props[0].input_box.hi.tolist()
    (1, 2, [1.0])
"""

from __future__ import annotations

import itertools
import math
import os
import re
from typing import Callable, NamedTuple

import numpy as np

from ..errors import InputError, UnsupportedError
from ..sets.box import Box
from ..sets.polytope import HPolytope
from ..verify.problem import Properties, Property
from . import read_file
from .vnnlib_fast import parse_plain

__all__ = ["parse_vnnlib", "read_vnnlib"]

# A product of ``or``s with more disjuncts than this is refused instead of exhausting memory.
MAX_DISJUNCTS = 10_000

# Tokens and comments; the search skips the whitespace between them.
_TOKEN = re.compile(r"(?P<open>\()|(?P<close>\))|(?P<comment>;[^\n]*)|(?P<atom>[^\s();]+)")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NUMERIC_START = re.compile(r"[+-]?\.?[0-9]")
_VARIABLE = re.compile(r"([XY])_(0|[1-9][0-9]*)")
_COMPARISONS = frozenset({"<=", ">=", "<", ">", "="})
_OTHER_LOGIC = frozenset({"not", "=>", "xor", "distinct", "ite", "let", "exists", "forall"})
_VNNLIB2_COMMANDS = frozenset({"vnnlib-version", "declare-network"})


# ------------------------------------------------------------------------------------ s-expressions

class _Atom(NamedTuple):
    """A symbol or number; ``pos`` is its offset in the source text."""

    text: str
    pos: int


class _SList(NamedTuple):
    """A parenthesised list; ``pos`` is the offset of its ``(``."""

    items: list[_Atom | _SList]
    pos: int


class _Located(Exception):
    """An error at a source offset (or ``None``), turned into ``error_type`` with ``file:line:col``."""

    def __init__(self, pos: int | None, message: str, error_type: type[InputError] = InputError):
        super().__init__(message)
        self.pos, self.message, self.error_type = pos, message, error_type


def _location(text: str, source: str, pos: int | None) -> str:
    """``source:line:col`` (1-based) of offset ``pos`` in ``text``, or just ``source``."""
    if pos is None:
        return source
    line = text.count("\n", 0, pos) + 1
    col = pos - text.rfind("\n", 0, pos)
    return f"{source}:{line}:{col}"


def _parse_sexprs(text: str) -> list[_Atom | _SList]:
    """Parse ``text`` into its top-level s-expressions, dropping ``;`` comments.

    Raises ``_Located`` on unbalanced parentheses.
    """
    top: list[_Atom | _SList] = []
    open_lists: list[_SList] = []
    items = top
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "atom":
            items.append(_Atom(match.group(), match.start()))
        elif kind == "open":
            node = _SList([], match.start())
            items.append(node)
            open_lists.append(node)
            items = node.items
        elif kind == "close":
            if not open_lists:
                raise _Located(match.start(), "unbalanced parentheses: ')' has no matching '('")
            open_lists.pop()
            items = open_lists[-1].items if open_lists else top
    if open_lists:
        raise _Located(open_lists[0].pos, "unbalanced parentheses: this '(' is never closed")
    return top


def _head(node: _SList) -> tuple[str, list[_Atom | _SList]]:
    """The operator name of ``(op args...)`` and its arguments."""
    if not node.items:
        raise _Located(node.pos, "empty expression '()'")
    first = node.items[0]
    if isinstance(first, _SList):
        raise _Located(first.pos, "expected an operator name after '(', got another '('")
    return first.text, node.items[1:]


# ---------------------------------------------------------------------------------- linear algebra

_Var = tuple[str, int]  # ("X", i) or ("Y", j)


class _Linear(NamedTuple):
    """The affine expression ``sum(c * v for v, c in coeffs.items()) + const`` (no zero coefficients)."""

    coeffs: dict[_Var, float]
    const: float


def _add(terms: list[_Linear]) -> _Linear:
    coeffs: dict[_Var, float] = {}
    for term in terms:
        for var, c in term.coeffs.items():
            coeffs[var] = coeffs.get(var, 0.0) + c
    return _Linear({v: c for v, c in coeffs.items() if c != 0.0}, sum(t.const for t in terms))


def _scale(term: _Linear, factor: float) -> _Linear:
    if factor == 0.0:
        return _Linear({}, 0.0)
    return _Linear({v: factor * c for v, c in term.coeffs.items()}, factor * term.const)


# ------------------------------------------------------------------------- literals and normal form

class _Bound(NamedTuple):
    """``X_index <= value`` when ``upper``, else ``X_index >= value``."""

    index: int
    upper: bool
    value: float


class _Row(NamedTuple):
    """The output constraint ``sum(c * Y_j for j, c in coeffs) <= rhs``."""

    coeffs: tuple[tuple[int, float], ...]
    rhs: float


_Literal = _Bound | _Row
_DNF = list[list[_Literal]]  # a disjunction of conjunctions; [] is false, [[]] is true
_Namer = Callable[[str, int], str]
"""The name of a variable in messages: ``("X", 3)`` -> ``"X_3"`` in VNN-LIB 1.0."""


def _name(kind: str, index: int) -> str:
    return f"{kind}_{index}"


def _literal(form: _Linear, pos: int | None, name: _Namer = _name) -> _Literal | bool:
    """Classify the constraint ``form <= 0``: an input bound, an output row, or a constant truth."""
    if not (math.isfinite(form.const) and all(map(math.isfinite, form.coeffs.values()))):
        raise _Located(pos, "a coefficient or constant of this constraint is out of range")
    if not form.coeffs:
        return form.const <= 0.0
    kinds = {kind for kind, _ in form.coeffs}
    if kinds == {"Y"}:
        return _Row(tuple((j, c) for (_, j), c in form.coeffs.items()), 0.0 - form.const)
    if len(kinds) > 1:
        raise _Located(pos, "constraint mixes inputs (X) and outputs (Y); only bounds on single inputs "
                            "and linear constraints on outputs are supported", UnsupportedError)
    if len(form.coeffs) > 1:
        names = ", ".join(name("X", i) for _, i in form.coeffs)
        raise _Located(pos, f"linear constraint over several inputs ({names}); only bounds on single "
                            "inputs are supported", UnsupportedError)
    ((_, i), c), = form.coeffs.items()
    return _Bound(i, c > 0.0, 0.0 - form.const / c)


def _conjoin(dnfs: list[_DNF], pos: int | None) -> _DNF:
    """The normal form of the conjunction of ``dnfs``, distributing only over those with an ``or``."""
    common: list[_Literal] = []
    split: list[_DNF] = []
    for dnf in dnfs:
        if not dnf:
            return []
        if len(dnf) == 1:
            common.extend(dnf[0])
        else:
            split.append(dnf)
    size = math.prod(len(dnf) for dnf in split)
    if size > MAX_DISJUNCTS:
        raise _Located(pos, f"the disjunctive normal form has {size} disjuncts (limit {MAX_DISJUNCTS})",
                       UnsupportedError)
    return [common + [lit for conj in combo for lit in conj] for combo in itertools.product(*split)]


# ----------------------------------------------------------------------------------------- reader

class _Reader:
    """Interprets the commands of one file: declarations, then terms and formulas of the asserts."""

    def __init__(self) -> None:
        self.variables: dict[str, _Var] = {}
        self.asserts: list[_DNF] = []

    def command(self, form: _Atom | _SList) -> None:
        if isinstance(form, _Atom):
            raise _Located(form.pos, f"expected a command such as (assert ...), got '{form.text}'")
        head, args = _head(form)
        if head == "declare-const":
            self.declare(args, form.pos)
        elif head == "assert":
            if len(args) != 1:
                raise _Located(form.pos, f"'assert' takes one formula, got {len(args)}")
            self.asserts.append(self.formula(args[0]))
        else:
            raise _Located(form.pos, f"command '{head}' is not supported (VNN-LIB 1.0 has declare-const "
                                     "and assert)", UnsupportedError)

    def declare(self, args: list[_Atom | _SList], pos: int) -> None:
        if len(args) != 2 or not all(isinstance(a, _Atom) for a in args):
            raise _Located(pos, "expected (declare-const NAME Real)")
        name, sort = args
        if sort.text != "Real":
            raise _Located(sort.pos, f"sort '{sort.text}' of {name.text} is not supported; VNN-LIB 1.0 "
                                     "variables are Real", UnsupportedError)
        match = _VARIABLE.fullmatch(name.text)
        if match is None:
            raise _Located(name.pos, f"cannot declare '{name.text}': only inputs X_i and outputs Y_i are "
                                     "supported", UnsupportedError)
        if name.text in self.variables:
            raise _Located(name.pos, f"{name.text} is declared twice")
        self.variables[name.text] = (match[1], int(match[2]))

    def formula(self, node: _Atom | _SList) -> _DNF:
        if isinstance(node, _Atom):
            raise _Located(node.pos, f"expected a comparison, 'and' or 'or', got '{node.text}'")
        head, args = _head(node)
        if head == "and":
            return _conjoin([self.formula(a) for a in args], node.pos)
        if head == "or":
            return [conj for a in args for conj in self.formula(a)]
        if head in _COMPARISONS:
            return self.comparison(head, args, node.pos)
        if head in _OTHER_LOGIC:
            raise _Located(node.pos, f"'{head}' is not supported in formulas (only and, or, <=, >=, <, >, =)",
                           UnsupportedError)
        raise _Located(node.pos, f"expected a comparison, 'and' or 'or', got '{head}'")

    def comparison(self, op: str, args: list[_Atom | _SList], pos: int) -> _DNF:
        if len(args) != 2:
            raise _Located(pos, f"'{op}' takes 2 arguments, got {len(args)}")
        lhs, rhs = (self.term(a) for a in args)
        below = _add([lhs, _scale(rhs, -1.0)])  # lhs - rhs <= 0
        above = _scale(below, -1.0)
        forms = {"<=": [below], "<": [below], ">=": [above], ">": [above], "=": [below, above]}[op]
        conj: list[_Literal] = []
        for form in forms:
            lit = _literal(form, pos)
            if isinstance(lit, bool):
                if not lit:
                    return []
            else:
                conj.append(lit)
        return [conj]

    def term(self, node: _Atom | _SList) -> _Linear:
        if isinstance(node, _Atom):
            return self.atom(node)
        head, args = _head(node)
        if head not in ("+", "-", "*"):
            if head in _COMPARISONS or head in ("and", "or"):
                raise _Located(node.pos, f"expected a term, got the formula '({head} ...)'")
            raise _Located(node.pos, f"operator '{head}' is not supported in terms (only +, -, *)",
                           UnsupportedError)
        if not args:
            raise _Located(node.pos, f"'{head}' needs at least one argument")
        terms = [self.term(a) for a in args]
        if head == "+":
            return _add(terms)
        if head == "*":
            return self.product(terms, node.pos)
        if len(terms) == 1:
            return _scale(terms[0], -1.0)
        return _add([terms[0]] + [_scale(t, -1.0) for t in terms[1:]])

    @staticmethod
    def product(terms: list[_Linear], pos: int) -> _Linear:
        varying = [t for t in terms if t.coeffs]
        if len(varying) > 1:
            raise _Located(pos, "nonlinear product of variables; only products with constants are "
                                "supported", UnsupportedError)
        factor = math.prod(t.const for t in terms if not t.coeffs)
        return _scale(varying[0], factor) if varying else _Linear({}, factor)

    def atom(self, node: _Atom) -> _Linear:
        text = node.text
        if _NUMERIC_START.match(text):
            return _Linear({}, _number(node))
        var = self.variables.get(text)
        if var is not None:
            return _Linear({var: 1.0}, 0.0)
        if _VARIABLE.fullmatch(text):
            raise _Located(node.pos, f"undeclared variable {text}")
        raise _Located(node.pos, f"unknown symbol '{text}'")

    def size(self, kind: str) -> int:
        """The number of declared inputs (``"X"``) or outputs (``"Y"``), checking indices 0..n-1."""
        indices = {i for k, i in self.variables.values() if k == kind}
        what = "inputs" if kind == "X" else "outputs"
        if not indices:
            raise _Located(None, f"no {what} declared (expected (declare-const {kind}_0 Real) ...)")
        missing = min(set(range(max(indices) + 1)) - indices, default=None)
        if missing is not None:
            raise _Located(None, f"{kind}_{missing} is not declared but {kind}_{max(indices)} is; "
                                 f"{what} must be numbered 0..n-1")
        return len(indices)


def _number(node: _Atom) -> float:
    if not _NUMBER.fullmatch(node.text):
        raise _Located(node.pos, f"bad number '{node.text}'")
    value = float(node.text)
    if not math.isfinite(value):
        raise _Located(node.pos, f"number '{node.text}' is out of range")
    return value


def _is_vnnlib2(forms: list[_Atom | _SList]) -> bool:
    """Whether the top-level ``forms`` hold a VNN-LIB 2.0 command (``vnnlib-version``, ``declare-network``)."""
    return any(isinstance(form, _SList) and form.items and isinstance(form.items[0], _Atom)
               and form.items[0].text in _VNNLIB2_COMMANDS for form in forms)


# ------------------------------------------------------------------------------------- properties

def _box(conj: list[_Literal], n: int, where: str, name: _Namer) -> Box | None:
    """The input box of one disjunct, or ``None`` if its bounds contradict each other."""
    lo, hi = [-math.inf] * n, [math.inf] * n
    for lit in conj:
        if isinstance(lit, _Bound):
            if lit.upper:
                hi[lit.index] = min(hi[lit.index], lit.value)
            else:
                lo[lit.index] = max(lo[lit.index], lit.value)
    if any(l > h for l, h in zip(lo, hi)):
        return None
    for side, values, missing in (("lower", lo, -math.inf), ("upper", hi, math.inf)):
        if missing in values:
            raise _Located(None, f"{name('X', values.index(missing))} has no {side} bound{where}")
    return Box(np.array(lo) + 0.0, np.array(hi) + 0.0)  # + 0.0 turns -0.0 into 0.0


def _polytope(conj: list[_Literal], m: int) -> HPolytope:
    """The output constraints of one disjunct as ``A y <= b`` (no rows: all of R^m)."""
    rows = [lit for lit in conj if isinstance(lit, _Row)]
    A = np.zeros((len(rows), m))
    for r, row in enumerate(rows):
        for j, c in row.coeffs:
            A[r, j] = c
    return HPolytope(A, np.array([row.rhs for row in rows], dtype=float) + 0.0)


def _properties(dnf: _DNF, n: int, m: int, name: _Namer = _name) -> Properties:
    """Group the disjuncts of ``dnf`` by input box, in order of first appearance (``n`` inputs, ``m``
    outputs; ``name`` names the inputs in messages)."""
    groups: dict[bytes, tuple[Box, list[HPolytope]]] = {}
    for k, conj in enumerate(dnf):
        box = _box(conj, n, f" (in disjunct {k + 1} of {len(dnf)})" if len(dnf) > 1 else "", name)
        if box is not None:
            key = box.lo.tobytes() + box.hi.tobytes()
            groups.setdefault(key, (box, []))[1].append(_polytope(conj, m))
    if not groups:
        raise _Located(None, "the asserts contradict each other: no input and output satisfy them all")
    return Properties.of(Property(box, tuple(polytopes)) for box, polytopes in groups.values())


def parse_vnnlib(text: str, *, source: str = "<string>") -> Properties:
    """Read a VNN-LIB property from ``text``: 1.0 here, 2.0 by :func:`nnreach.io.vnnlib2.parse_vnnlib2`.

    Args:
        text: the file contents.
        source: a name for error messages (the file path).

    Returns:
        One :class:`Property` per distinct input box, in file order, as :class:`Properties` (a
        sequence); each holds the unsafe output polytopes that go with that box.

    Raises:
        InputError: malformed text, with ``source:line:col`` where known.
        UnsupportedError: well-formed VNN-LIB that uses a construct nnreach does not handle.
    """
    plain = parse_plain(text)
    return plain if plain is not None else _parse_general(text, source)


def _parse_general(text: str, source: str) -> Properties:
    """:func:`parse_vnnlib` through the s-expression tree: every construct, exact error messages."""
    try:
        forms = _parse_sexprs(text)
        if _is_vnnlib2(forms):
            from .vnnlib2 import parse_vnnlib2

            return parse_vnnlib2(text, source=source).properties
        reader = _Reader()
        for form in forms:
            reader.command(form)
        n, m = reader.size("X"), reader.size("Y")
        if not reader.asserts:
            raise _Located(None, "no assert: the file does not constrain anything")
        return _properties(_conjoin(reader.asserts, None), n, m)
    except _Located as err:
        raise err.error_type(f"{_location(text, source, err.pos)}: {err.message}") from None


def read_vnnlib(path: str | os.PathLike) -> Properties:
    """Read a VNN-LIB property file (1.0 or 2.0), or a gzip-compressed ``.vnnlib.gz``; see :func:`parse_vnnlib`."""
    name = os.fspath(path)
    return parse_vnnlib(_read_text(name), source=name)


def _read_text(name: str) -> str:
    """The text of the VNN-LIB file ``name`` (decompressed if ``.gz``); InputError if it cannot be
    read or is not UTF-8."""
    data = read_file(name, "VNN-LIB file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{name}: not a text file (byte {err.start} is not valid UTF-8)") from None
