"""Vector fields and maps given as expression strings, compiled with sympy.

:class:`Expressions` parses ``n`` expressions in a list of variables (state, then control inputs, then
disturbances) and compiles the values on batches of points (numpy), and the values, Jacobian, Hessians
and third derivatives on boxes (interval arithmetic, :mod:`.interval`), which is what the sound flow
over-approximation needs.
"""

from __future__ import annotations

import ast
import warnings
from itertools import permutations
from typing import Mapping, Sequence

import numpy as np
import sympy

from ..errors import InputError
from . import interval as iv
from .interval import Interval

_MODULE = {**iv.MODULE, "pi": np.pi, "E": np.e}


FUNCTIONS = {"sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "exp": sympy.exp, "tanh": sympy.tanh,
             "atan": sympy.atan, "sqrt": sympy.sqrt, "log": sympy.log}
"""The functions an expression may call, with one argument: those with interval versions in
:mod:`.interval` whose derivatives are made of them too."""
NAMED = {"pi": sympy.pi, "E": sympy.E}
"""Named numbers (a variable or constant of the same name takes precedence)."""
MAX_LENGTH = 2000
"""Characters of one expression, at most."""
MAX_DEPTH = 40
"""Nesting depth of one expression's syntax tree, at most (derivatives grow with it)."""
MAX_EXPONENT = 64
"""Largest magnitude of an exponent (exponents must be numbers)."""
MAX_MAGNITUDE = 1e300
"""Largest magnitude of a number in an expression (and of the numerator and denominator of a fraction)."""

_BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a ** b, ast.BitXor: lambda a, b: a ** b}
_UNARY = {ast.UAdd: lambda a: a, ast.USub: lambda a: -a}


def parse(text: str, names: Mapping[str, sympy.Symbol], constants: Mapping[str, float], what: str) -> sympy.Expr:
    """The sympy expression of ``text`` over the symbols ``names``, with ``constants`` substituted.

    ``text`` is read by Python's parser (:mod:`ast`, which runs nothing) and built node by node from
    numbers, the names, :data:`NAMED`, ``+ - * / **`` (``^`` is ``**`` too) and calls of
    :data:`FUNCTIONS`; nothing else is accepted. Exponents must be numbers (at most
    :data:`MAX_EXPONENT` in magnitude) and every number real and finite (at most
    :data:`MAX_MAGNITUDE`), which with :data:`MAX_LENGTH` and :data:`MAX_DEPTH` keeps building and
    differentiating cheap.

    Raises InputError naming ``what`` for a syntax error, an unknown name or anything not allowed.
    """
    if not isinstance(text, str):
        raise InputError(f"{what}: expected an expression string, got {text!r}")
    if len(text) > MAX_LENGTH:
        raise InputError(f"{what}: expression longer than {MAX_LENGTH} characters")
    shown = repr(text) if len(text) <= 60 else repr(text[:60]) + "..."
    try:
        with warnings.catch_warnings():  # odd literals warn on stderr
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise InputError(f"{what}: cannot parse {shown}: {err.msg}") from None
    except (ValueError, RecursionError, MemoryError):  # null bytes, too deep for the parser
        raise InputError(f"{what}: cannot parse {shown}") from None
    scope = {**NAMED, **{k: sympy.Float(v) for k, v in constants.items()}, **names}
    unknown = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - set(scope) - set(FUNCTIONS))
    if unknown:
        raise InputError(f"{what}: unknown name(s) {', '.join(unknown)} in {shown}")
    return _build(tree.body, scope, f"{what}: {shown}", 0)


def _build(node: ast.AST, scope: Mapping[str, sympy.Expr], where: str, depth: int) -> sympy.Expr:
    """The sympy expression of one syntax-tree node (see :func:`parse`); ``where`` names it in errors."""
    if depth > MAX_DEPTH:
        raise InputError(f"{where}: nested more than {MAX_DEPTH} deep")
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _checked_number(sympy.sympify(node.value), where)
    if isinstance(node, ast.Name) and node.id in scope:
        return scope[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_build(node.operand, scope, where, depth + 1))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        a, b = _build(node.left, scope, where, depth + 1), _build(node.right, scope, where, depth + 1)
        if type(node.op) in (ast.Pow, ast.BitXor):
            _check_exponent(b, where)
        return _checked_number(_BINARY[type(node.op)](a, b), where)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS \
            and node.func.id not in scope:
        if len(node.args) != 1 or node.keywords:
            raise InputError(f"{where}: {node.func.id} takes one argument")
        return _checked_number(FUNCTIONS[node.func.id](_build(node.args[0], scope, where, depth + 1)), where)
    raise InputError(f"{where}: {_describe(node)} is not allowed (numbers, names, + - * / ** and "
                     f"{', '.join(FUNCTIONS)} only)")


def _describe(node: ast.AST) -> str:
    """What a rejected node is, for the message."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return f"calling {node.func.id!r}"
    if isinstance(node, ast.Name):
        return f"the function {node.id!r} without an argument"
    if isinstance(node, ast.Constant):
        return f"the constant {node.value!r}"
    return type(getattr(node, "op", node)).__name__


def _check_exponent(b: sympy.Expr, where: str) -> None:
    if b.free_symbols:
        raise InputError(f"{where}: exponents must be numbers (write exp(b*log(a)) for a**b)")
    if abs(float(b)) > MAX_EXPONENT:
        raise InputError(f"{where}: exponent {b} is larger than {MAX_EXPONENT} in magnitude")


def _checked_number(e: sympy.Expr, where: str) -> sympy.Expr:
    """``e``, after checking that it is not, and has no part that is, complex, infinite, undefined or a
    number above :data:`MAX_MAGNITUDE`, and that none of its powers has an exponent above
    :data:`MAX_EXPONENT` (products of powers combine)."""
    if e.has(sympy.I, sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise InputError(f"{where}: a part of it is infinite, undefined or complex")
    if e.is_number:
        if isinstance(e, sympy.Rational) and max(abs(e.p), e.q) > MAX_MAGNITUDE:
            raise InputError(f"{where}: a number in it is larger than {MAX_MAGNITUDE:g}")
        try:
            value = complex(e.evalf(20))
        except (OverflowError, TypeError, ValueError):
            value = complex(np.inf)
        if value.imag != 0 or not abs(value.real) <= MAX_MAGNITUDE:
            raise InputError(f"{where}: a part of it is not a real number of at most {MAX_MAGNITUDE:g}")
    elif any(abs(float(p.exp)) > MAX_EXPONENT for p in e.atoms(sympy.Pow) if p.exp.is_number):
        raise InputError(f"{where}: an exponent is larger than {MAX_EXPONENT} in magnitude")
    return e


class Expressions:
    """``n`` real functions of ``N`` variables, with derivatives.

    Attributes:
        variables: the variable names, length N.
        exprs: the sympy expressions, length n.
    """

    def __init__(self, exprs: Sequence[sympy.Expr], variables: Sequence[str]):
        self.variables = tuple(variables)
        self.exprs = tuple(exprs)
        syms = [sympy.Symbol(v) for v in self.variables]
        n, N = len(self.exprs), len(syms)
        self.n, self.N = n, N
        self._num = sympy.lambdify(syms, list(self.exprs), modules="numpy", cse=True)
        jac = sympy.Matrix(self.exprs).jacobian(syms)
        first = {(i, j): jac[i, j] for i in range(n) for j in range(N) if jac[i, j] != 0}
        self._jac_idx = list(first)
        self._jac = sympy.lambdify(syms, list(first.values()), modules=[_MODULE], cse=True)
        self._jac_num = sympy.lambdify(syms, list(first.values()), modules="numpy", cse=True)
        second = _next_derivatives(first, syms)
        self._hess = _SymmetricTensor(second, syms, (n, N, N))
        self._third = _SymmetricTensor(_next_derivatives(second, syms), syms, (n, N, N, N))
        self._val = sympy.lambdify(syms, list(self.exprs), modules=[_MODULE], cse=True)

    @property
    def is_affine(self) -> bool:
        return self._hess.is_zero

    def __call__(self, y: np.ndarray) -> np.ndarray:
        """Values at points ``y`` of shape (K, N); returns (K, n) (floats, not rigorous)."""
        y = np.asarray(y, dtype=np.float64)
        vals = self._num(*y.T)
        return np.stack([np.broadcast_to(np.asarray(v, dtype=np.float64), y.shape[:1]) for v in vals], axis=1)

    def jacobian_at(self, y: np.ndarray) -> np.ndarray:
        """The Jacobian (K, n, N) at points ``y`` (K, N) (floats, not rigorous)."""
        y = np.asarray(y, dtype=np.float64)
        out = np.zeros((y.shape[0], self.n, self.N))
        for (i, j), v in zip(self._jac_idx, self._jac_num(*y.T) if self._jac_idx else []):
            out[:, i, j] = v
        return out

    def _args(self, lo: np.ndarray, hi: np.ndarray) -> list[Interval]:
        return [Interval(a, b) for a, b in zip(lo, hi)]

    def values(self, lo: np.ndarray, hi: np.ndarray) -> Interval:
        """Enclosure of the values over the box ``[lo, hi]`` (N,), an Interval of shape (n,)."""
        vals = [Interval.of(v) for v in self._val(*self._args(lo, hi))]
        return Interval(np.array([v.lo for v in vals]), np.array([v.hi for v in vals]))

    def jacobian(self, lo: np.ndarray, hi: np.ndarray) -> Interval:
        """Enclosure of the Jacobian over the box ``[lo, hi]``, an Interval of shape (n, N)."""
        jl, jh = np.zeros((self.n, self.N)), np.zeros((self.n, self.N))
        for (i, j), v in zip(self._jac_idx, self._jac(*self._args(lo, hi)) if self._jac_idx else []):
            v = Interval.of(v)
            jl[i, j], jh[i, j] = v.lo, v.hi
        return Interval(jl, jh)

    def hessian(self, lo: np.ndarray, hi: np.ndarray) -> Interval:
        """Enclosure of the Hessians over the box ``[lo, hi]`` (see :data:`SUBBOXES`), an Interval of shape (n, N, N)."""
        return self._hess(lo, hi)

    def third(self, lo: np.ndarray, hi: np.ndarray) -> Interval:
        """Enclosure of the third derivatives ``d^3 f_i / dy_j dy_k dy_l`` over the box ``[lo, hi]``,
        an Interval of shape (n, N, N, N)."""
        return self._third(lo, hi)


def _next_derivatives(prev: dict[tuple, sympy.Expr], syms: Sequence[sympy.Symbol]) -> dict[tuple, sympy.Expr]:
    """From the nonzero derivatives ``{(i, j1 <= ... <= jk): d^k f_i / dy_j1 ... dy_jk}``, those of
    order k + 1 (keys ``(i, j1, ..., jk, l)`` with ``l >= jk``) that are not identically zero."""
    out = {}
    for key, e in prev.items():
        for l in range(key[-1], len(syms)):
            d = sympy.diff(e, syms[l])
            if d != 0:
                out[key + (l,)] = d
    return out


SUBBOXES = 256
"""Derivative tensors are enclosed over the box as the hull of their enclosures over at most this many
sub-boxes (a grid over the coordinates the tensor depends on), which tames the dependency problem of
interval arithmetic at the cost of one vectorised evaluation."""


class _SymmetricTensor:
    """A tensor of derivatives of one order, compiled for intervals from its entries with sorted
    variable indices (the others follow by symmetry)."""

    def __init__(self, entries: dict[tuple, sympy.Expr], syms: Sequence[sympy.Symbol], shape: tuple[int, ...]):
        self.shape = shape
        self.is_zero = not entries
        self._fn = sympy.lambdify(syms, list(entries.values()), modules=[_MODULE], cse=True)
        used = set().union(*(e.free_symbols for e in entries.values())) if entries else set()
        self._depends = np.array([s in used for s in syms])
        # every position of the full tensor, with the entry it takes its value from
        pos = [(k, (key[0],) + perm) for k, key in enumerate(entries) for perm in set(permutations(key[1:]))]
        self._source = np.array([k for k, _ in pos], dtype=int)
        self._where = tuple(np.array([q for _, q in pos], dtype=int).reshape(-1, len(shape)).T)

    def _grid(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sub-boxes (K, N) covering ``[lo, hi]``: each coordinate the tensor depends on and of positive
        width cut into k equal parts, with ``k^count <= SUBBOXES``; the cuts are shared by neighbours."""
        split = self._depends & (hi > lo)
        count = int(split.sum())
        k = max(int(np.floor(SUBBOXES ** (1 / count) + 1e-9)), 1) if count else 1
        t = np.linspace(0.0, 1.0, k + 1)
        cuts = [lo[j] + t * (hi[j] - lo[j]) if split[j] else np.array([lo[j], hi[j]]) for j in range(lo.shape[0])]
        cuts = [np.concatenate([[lo[j]], c[1:-1], [hi[j]]]) for j, c in enumerate(cuts)]  # exact ends
        idx = np.indices([len(c) - 1 for c in cuts]).reshape(len(cuts), -1)
        return (np.stack([c[i] for c, i in zip(cuts, idx)], axis=1),
                np.stack([c[i + 1] for c, i in zip(cuts, idx)], axis=1))

    def __call__(self, lo: np.ndarray, hi: np.ndarray) -> Interval:
        """Enclosure over the box ``[lo, hi]`` (N,), an Interval of the tensor's shape."""
        out_lo, out_hi = np.zeros(self.shape), np.zeros(self.shape)
        if not self.is_zero:
            g_lo, g_hi = self._grid(lo, hi)
            vals = [Interval.of(v) for v in self._fn(*(Interval(a, b) for a, b in zip(g_lo.T, g_hi.T)))]
            K = g_lo.shape[0]
            out_lo[self._where] = np.array([np.broadcast_to(v.lo, (K,)).min() for v in vals])[self._source]
            out_hi[self._where] = np.array([np.broadcast_to(v.hi, (K,)).max() for v in vals])[self._source]
        return Interval(out_lo, out_hi)


def compile_strings(texts: Sequence[str], variables: Sequence[str], constants: Mapping[str, float],
                    what: str) -> Expressions:
    """Parse and compile expression strings over ``variables`` (names must be distinct)."""
    if len(set(variables)) != len(variables):
        raise InputError(f"{what}: variable names must be distinct, got {list(variables)}")
    clash = sorted(set(variables) & set(constants))
    if clash:
        raise InputError(f"{what}: {', '.join(clash)} is both a variable and a constant")
    names = {v: sympy.Symbol(v) for v in variables}
    return Expressions([parse(t, names, constants, f"{what}[{k}]") for k, t in enumerate(texts)], variables)
