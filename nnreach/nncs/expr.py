"""Vector fields and maps given as expression strings, compiled with sympy.

:class:`Expressions` parses ``n`` expressions in a list of variables (state, then control inputs, then
disturbances) and compiles three things: the values on batches of points (numpy), and the values,
Jacobian and Hessians on boxes (interval arithmetic, :mod:`.interval`), which is what the sound flow
over-approximation needs.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import sympy

from ..errors import InputError
from . import interval as iv
from .interval import Interval

_MODULE = {**iv.MODULE, "pi": np.pi, "E": np.e}


def parse(text: str, names: Mapping[str, sympy.Symbol], constants: Mapping[str, float], what: str) -> sympy.Expr:
    """The sympy expression of ``text`` over the symbols ``names``, with ``constants`` substituted.

    Raises InputError naming ``what`` for a syntax error or an unknown name.
    """
    local = {**{k: sympy.Float(v) for k, v in constants.items()}, **names}
    try:
        e = sympy.sympify(text, locals=local, rational=False)
    except (sympy.SympifyError, SyntaxError, TypeError) as err:
        raise InputError(f"{what}: cannot parse {text!r}: {err}") from None
    if not isinstance(e, sympy.Expr):
        raise InputError(f"{what}: {text!r} is not an expression")
    unknown = sorted(str(s) for s in e.free_symbols if str(s) not in names)
    if unknown:
        raise InputError(f"{what}: unknown name(s) {', '.join(unknown)} in {text!r}")
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
        self._jac_idx = [(i, j) for i in range(n) for j in range(N) if jac[i, j] != 0]
        self._jac = sympy.lambdify(syms, [jac[i, j] for i, j in self._jac_idx], modules=[_MODULE], cse=True)
        self._jac_num = sympy.lambdify(syms, [jac[i, j] for i, j in self._jac_idx], modules="numpy", cse=True)
        self._hess_idx = []
        hess = []
        for i in range(n):
            for j in range(N):
                if jac[i, j] == 0:
                    continue
                for k in range(j, N):
                    h = sympy.diff(jac[i, j], syms[k])
                    if h != 0:
                        self._hess_idx.append((i, j, k))
                        hess.append(h)
        self._hess = sympy.lambdify(syms, hess, modules=[_MODULE], cse=True)
        self._val = sympy.lambdify(syms, list(self.exprs), modules=[_MODULE], cse=True)

    @property
    def is_affine(self) -> bool:
        return not self._hess_idx

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
        """Enclosure of the Hessians over the box ``[lo, hi]``, an Interval of shape (n, N, N)."""
        hl, hh = np.zeros((self.n, self.N, self.N)), np.zeros((self.n, self.N, self.N))
        for (i, j, k), v in zip(self._hess_idx, self._hess(*self._args(lo, hi)) if self._hess_idx else []):
            v = Interval.of(v)
            hl[i, j, k], hh[i, j, k] = v.lo, v.hi
            hl[i, k, j], hh[i, k, j] = v.lo, v.hi
        return Interval(hl, hh)


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
