"""Closed-loop specifications: stay in safe sets, never enter avoid sets, end in a goal set.

Every set is a polytope ``{x : H x <= g}`` over the state, or a set ``{x : f_i(x) <= 0 for every i}``
of constraints nonlinear in the state (:class:`Nonlinear`). A safe or avoid set applies over a time
window ``[t0, t1]`` (default: the whole horizon); the goal applies at the final time. Times closer than
:data:`TIME_TOL` are identified (sample times are computed as ``k * period`` and the spec's times are
written in decimal).

Each set answers for a zonotope of reachable states ``Z``: ``set_excess(Z)``, an upper bound of how far
Z reaches out of the set (<= 0: Z is inside), and ``disjoint(Z)``, whether Z provably misses it; each
with the normal (n,) of the constraint that decided, which tells the search which way to split X0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..lp import LinearProgram
from ..sets.zonotope import Zonotope
from .expr import Expressions

TIME_TOL = 1e-9
VIOLATION_TOL = 1e-6
"""A simulated state counts as a violation only when it is wrong by more than this (in the units of
the constraint): integration with tolerances of 1e-10 is far more accurate than that."""


@dataclass(frozen=True)
class Polytope:
    """``{x : H x <= g}``; H (k, n), g (k,)."""

    H: np.ndarray
    g: np.ndarray

    def excess(self, x: np.ndarray) -> np.ndarray:
        """``max_i (H_i x - g_i)`` for points ``x`` (..., n): positive outside, <= 0 inside."""
        return (x @ self.H.T - self.g).max(axis=-1)

    def set_excess(self, Z: Zonotope) -> tuple[float, np.ndarray]:
        """``max_i (max_{x in Z} H_i x - g_i)`` (<= 0 iff Z is inside) and the row attaining it."""
        s = self.H @ Z.center + np.abs(self.H @ Z.generators).sum(axis=1) - self.g
        i = int(np.argmax(s))
        return float(s[i]), self.H[i]

    def disjoint(self, Z: Zonotope) -> tuple[bool, np.ndarray]:
        """Whether Z misses the polytope (proved by a separating row, or an LP with a Farkas
        certificate), and the row closest to separating them."""
        low = self.H @ Z.center - np.abs(self.H @ Z.generators).sum(axis=1) - self.g
        i = int(np.argmax(low))
        if low[i] > 0:
            return True, self.H[i]
        m = Z.generators.shape[1]
        lp = LinearProgram(self.H @ Z.generators, self.g - self.H @ Z.center, -np.ones(m), np.ones(m))
        return not lp.is_feasible(), self.H[i]


MAX_PIECES = 32
"""How many pieces :class:`Nonlinear` may cut a zonotope into to decide it (halving generators)."""


@dataclass(frozen=True)
class Nonlinear:
    """``{x : f_i(x) <= 0 for every i}``: constraints given as expressions in the states (as the plant's
    dynamics are), e.g. a speed limit ``sqrt(vx**2 + vy**2) <= 0.2 + 0.002*sqrt(sx**2 + sy**2)``.

    Over a zonotope ``Z = c + G e`` each ``f_i`` is enclosed soundly (outward-rounded interval
    arithmetic, :mod:`.interval`) by the better of its interval extension over Z's bounding box and the
    mean-value form ``f(c) + J_mid G e + (J - J_mid)(x - c)`` (J: the Jacobian's enclosure over the box,
    J_mid its midpoint: the first-order term keeps the zonotope's dependencies). What one enclosure
    leaves undecided is decided on halves of Z, cut along the generator that moves ``f`` most, up to
    :data:`MAX_PIECES` pieces.

    Attributes:
        f: the k functions of the n states.
        texts: the constraints as written (for messages).
    """

    f: Expressions
    texts: tuple[str, ...]

    def excess(self, x: np.ndarray) -> np.ndarray:
        """``max_i f_i(x)`` for points ``x`` (..., n): positive outside, <= 0 inside (floats)."""
        x = np.asarray(x, dtype=np.float64)
        return self.f(x.reshape(-1, x.shape[-1])).max(axis=1).reshape(x.shape[:-1])

    def bounds(self, Z: Zonotope) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lower and upper bounds (k,) of each ``f_i`` over Z, and the Jacobian's midpoint (k, n)."""
        c, G = Z.center, Z.generators
        r = np.abs(G).sum(axis=1)
        with np.errstate(invalid="ignore", over="ignore"):
            box = self.f.values(c - r, c + r)
            J = self.f.jacobian(c - r, c + r)
            finite = np.isfinite(J.lo) & np.isfinite(J.hi)      # sqrt'(0), say, is unbounded
            mid = np.where(finite, J.mid, 0.0)
            rad = np.where(finite, np.maximum(J.hi - mid, mid - J.lo), np.inf)
            at_c = self.f.values(c, c)
            spread = (np.abs(mid @ G).sum(axis=1) + np.where(r > 0, rad * r, 0.0).sum(axis=1)) * (1 + 1e-12) + 1e-300
            lo, hi = np.maximum(box.lo, at_c.lo - spread), np.minimum(box.hi, at_c.hi + spread)
        # NaN (a function undefined somewhere on Z) bounds nothing
        return np.where(np.isnan(lo), -np.inf, lo), np.where(np.isnan(hi), np.inf, hi), mid

    def set_excess(self, Z: Zonotope) -> tuple[float, np.ndarray]:
        """An upper bound of ``max_i max_{x in Z} f_i(x)`` when it is <= 0 (Z is inside); otherwise a
        positive number, the bound on the piece of Z left undecided; and the gradient of the
        constraint behind it."""
        return self._decide(Z, inside=True)

    def disjoint(self, Z: Zonotope) -> tuple[bool, np.ndarray]:
        """Whether Z misses the set: on every piece of Z some constraint is positive all over it."""
        worst, normal = self._decide(Z, inside=False)
        return worst < 0, normal

    def _decide(self, Z: Zonotope, inside: bool) -> tuple[float, np.ndarray]:
        """The worst score over Z's pieces, and the gradient (at the piece's midpoint Jacobian) of the
        constraint behind it. A piece scores ``max_i hi_i`` for ``inside`` (<= 0: the piece is in the
        set), else ``-max_i lo_i`` (< 0: some constraint is positive all over the piece). Pieces that
        score > 0 are halved while :data:`MAX_PIECES` allows; the first piece left with a score > 0
        ends the search."""
        pieces, count, worst, normal = [Z], 1, -np.inf, None
        while pieces:
            P = pieces.pop()
            lo, hi, mid = self.bounds(P)
            i = int(np.argmax(hi if inside else lo))
            value = float(hi[i] if inside else -lo[i])
            if value > 0 and count < MAX_PIECES and P.generators.shape[1]:
                j = int(np.argmax(np.abs(mid[i] @ P.generators)))
                G = P.generators.copy()
                G[:, j] /= 2
                pieces += [Zonotope(P.center + G[:, j], G), Zonotope(P.center - G[:, j], G)]
                count += 1
                continue
            if normal is None or value > worst:
                worst, normal = value, mid[i]
            if value > 0:
                break
        return worst, normal


@dataclass(frozen=True)
class Window:
    """A set (:class:`Polytope` or :class:`Nonlinear`) that applies over the times ``[t0, t1]``."""

    poly: Polytope | Nonlinear
    t0: float = 0.0
    t1: float = np.inf

    def applies(self, a: float, b: float) -> bool:
        """Whether states of times ``[a, b]`` fall in the window (a time-point set when a == b)."""
        if a == b:
            return self.t0 - TIME_TOL <= a <= self.t1 + TIME_TOL
        return a < self.t1 - TIME_TOL and b > self.t0 + TIME_TOL

    def at(self, times: np.ndarray) -> np.ndarray:
        """Which of the sample ``times`` (T,) fall in the window, as a boolean mask."""
        return (times >= self.t0 - TIME_TOL) & (times <= self.t1 + TIME_TOL)


@dataclass(frozen=True)
class Spec:
    """Attributes:
        safe: the state must be in each polytope during its window.
        avoid: the state must never be in each polytope during its window.
        goal: the state must be in this set at the final time (None: no goal).
    """

    safe: tuple[Window, ...] = ()
    avoid: tuple[Window, ...] = ()
    goal: Polytope | Nonlinear | None = None

    @property
    def affine(self) -> bool:
        """Whether every set is a polytope."""
        return all(isinstance(s, Polytope) for s in [w.poly for w in self.safe + self.avoid] + [self.goal]
                   if s is not None)

    def check_set(self, Z: Zonotope, t0: float, t1: float, final: float) -> np.ndarray | None:
        """None when the set ``Z`` of the times ``[t0, t1]`` is proved to meet the spec; otherwise the
        normal (n,) of a constraint it was not proved to meet."""
        for w in self.safe:
            if w.applies(t0, t1):
                e, normal = w.poly.set_excess(Z)
                if e > 0:
                    return normal
        for w in self.avoid:
            if w.applies(t0, t1):
                ok, normal = w.poly.disjoint(Z)
                if not ok:
                    return normal
        if self.goal is not None and t0 == t1 and abs(t0 - final) <= TIME_TOL:
            e, normal = self.goal.set_excess(Z)
            if e > 0:
                return normal
        return None

    def robustness(self, times: np.ndarray, states: np.ndarray, final: float) -> np.ndarray:
        """How much each trajectory violates the spec (> 0: violated by that much), shape (K,).

        Args:
            times: (T,) sample times; states: (K, T, n) simulated states; final: the final time.
        """
        worst = np.full(states.shape[0], -np.inf)
        for w in self.safe:
            sel = w.at(times)
            if sel.any():
                worst = np.maximum(worst, w.poly.excess(states[:, sel]).max(axis=1))
        for w in self.avoid:
            sel = w.at(times)
            if sel.any():
                worst = np.maximum(worst, (-w.poly.excess(states[:, sel])).max(axis=1))
        if self.goal is not None:
            last = int(np.argmin(np.abs(times - final)))
            worst = np.maximum(worst, self.goal.excess(states[:, last]))
        return worst

    def describe_violation(self, times: np.ndarray, states: np.ndarray, final: float) -> str:
        """Where the single trajectory ``states`` (T, n) first breaks the spec, as a short text: the first
        sample outside a safe set or inside an avoid set, with how far it is out (or in) there; else the
        goal it misses."""
        first = []   # (time, text) of each window's first violating sample
        for windows, sign, what in ((self.safe, 1.0, "leaves the safe set"), (self.avoid, -1.0, "enters an avoid set")):
            for w in windows:
                e = sign * w.poly.excess(states)
                hit = np.flatnonzero(w.at(times) & (e > VIOLATION_TOL))
                if hit.size:
                    k = hit[0]
                    first.append((times[k], f"{what} at t = {times[k]:.4g} (by {e[k]:.3g})"))
        return min(first)[1] if first else f"misses the goal at t = {final:.4g}"
