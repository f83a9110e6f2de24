"""Closed-loop specifications: stay in safe sets, never enter avoid sets, end in a goal set.

Every set is a polytope ``{x : H x <= g}`` over the state. A safe or avoid set applies over a time
window ``[t0, t1]`` (default: the whole horizon); the goal applies at the final time. Times closer than
:data:`TIME_TOL` are identified (sample times are computed as ``k * period`` and the spec's times are
written in decimal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..lp import LinearProgram
from ..sets.zonotope import Zonotope

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

    def set_excess(self, Z: Zonotope) -> tuple[float, int]:
        """``max_i (max_{x in Z} H_i x - g_i)`` (<= 0 iff Z is inside) and the row attaining it."""
        s = self.H @ Z.center + np.abs(self.H @ Z.generators).sum(axis=1) - self.g
        i = int(np.argmax(s))
        return float(s[i]), i

    def disjoint(self, Z: Zonotope) -> tuple[bool, int]:
        """Whether Z misses the polytope (proved by a separating row, or an LP with a Farkas
        certificate), and the row closest to separating them."""
        low = self.H @ Z.center - np.abs(self.H @ Z.generators).sum(axis=1) - self.g
        i = int(np.argmax(low))
        if low[i] > 0:
            return True, i
        m = Z.generators.shape[1]
        lp = LinearProgram(self.H @ Z.generators, self.g - self.H @ Z.center, -np.ones(m), np.ones(m))
        return not lp.is_feasible(), i


@dataclass(frozen=True)
class Window:
    """A polytope that applies over the times ``[t0, t1]``."""

    poly: Polytope
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
        goal: the state must be in this polytope at the final time (None: no goal).
    """

    safe: tuple[Window, ...] = ()
    avoid: tuple[Window, ...] = ()
    goal: Polytope | None = None

    def check_set(self, Z: Zonotope, t0: float, t1: float, final: float) -> np.ndarray | None:
        """None when the set ``Z`` of the times ``[t0, t1]`` is proved to meet the spec; otherwise the
        normal (n,) of a constraint it was not proved to meet."""
        for w in self.safe:
            if w.applies(t0, t1):
                e, i = w.poly.set_excess(Z)
                if e > 0:
                    return w.poly.H[i]
        for w in self.avoid:
            if w.applies(t0, t1):
                ok, i = w.poly.disjoint(Z)
                if not ok:
                    return w.poly.H[i]
        if self.goal is not None and t0 == t1 and abs(t0 - final) <= TIME_TOL:
            e, i = self.goal.set_excess(Z)
            if e > 0:
                return self.goal.H[i]
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
