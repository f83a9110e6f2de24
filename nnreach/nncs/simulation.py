"""Simulation of closed loops: many trajectories at once, integrated with tight tolerances.

All trajectories of a batch are one stacked ODE for ``scipy.integrate.solve_ivp`` (DOP853), period by
period: at each sample the controller's float64 forward pass gives every trajectory its input, held
for the period. Disturbances are drawn per trajectory and per period (constant within a period).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from ..errors import InputError
from .loop import ClosedLoop

RTOL, ATOL = 1e-10, 1e-12


@dataclass(frozen=True)
class Trajectories:
    """Attributes:
        times: (T,) sample times, increasing, from 0 to ``steps * period``.
        states: (K, T, n) states at those times.
        disturbances: (K, steps, q) the disturbance of each period.
    """

    times: np.ndarray
    states: np.ndarray
    disturbances: np.ndarray


def draw_disturbances(loop: ClosedLoop, count: int, steps: int, rng: np.random.Generator) -> np.ndarray:
    """(count, steps, q) disturbances: corners of the box for half the periods, uniform for the rest."""
    lo, hi = loop.plant.w_lo, loop.plant.w_hi
    q = lo.shape[0]
    u = rng.uniform(size=(count, steps, q))
    corner = rng.uniform(size=(count, steps, 1)) < 0.5
    u = np.where(corner, np.round(u), u)
    return lo + u * (hi - lo)


def simulate(loop: ClosedLoop, x0: np.ndarray, steps: int, *, disturbances: np.ndarray | None = None,
             points: int = 10, rtol: float = RTOL, atol: float = ATOL) -> Trajectories:
    """Trajectories from the initial states ``x0`` (K, n) over ``steps`` periods.

    Args:
        disturbances: (K, steps, q); default: the middle of the disturbance box.
        points: states recorded per period (continuous plants; discrete ones record the samples).
    """
    plant = loop.plant
    x = np.array(x0, dtype=np.float64, ndmin=2)
    K, n = x.shape
    q = len(plant.disturbances)
    if disturbances is None:
        disturbances = np.broadcast_to((plant.w_lo + plant.w_hi) / 2, (K, steps, q))
    T = loop.period
    times, states = [0.0], [x]
    mode = None                      # of a mode-switching controller: the mode of each trajectory
    for k in range(steps):
        u, mode = loop.decide(x, mode)
        w = disturbances[:, k]
        if plant.discrete:
            x = plant.field(np.hstack([x, u, w]))
            if not np.all(np.isfinite(x)):
                raise InputError(f"the closed loop cannot be simulated from X0 (period {k}: states are not "
                                 "finite); check the map")
            times.append((k + 1) * T)
            states.append(x)
            continue
        uw = np.hstack([u, w])

        def rhs(_t, y, uw=uw):
            return plant.field(np.hstack([y.reshape(K, n), uw])).ravel()

        t_eval = k * T + np.linspace(0.0, T, points + 1)
        t_eval[-1] = (k + 1) * T
        sol = solve_ivp(rhs, (k * T, (k + 1) * T), x.ravel(), method="DOP853", t_eval=t_eval,
                        rtol=rtol, atol=atol)
        if not sol.success or not np.all(np.isfinite(sol.y)):
            raise InputError(f"the closed loop cannot be simulated from X0 (period {k}: "
                             f"{sol.message if not sol.success else 'states are not finite'}); check the dynamics")
        ys = sol.y.T.reshape(-1, K, n)
        times.extend(t_eval[1:])
        states.extend(ys[1:])
        x = ys[-1]
    return Trajectories(np.array(times), np.stack(states, axis=1), np.asarray(disturbances))


def initial_points(lo: np.ndarray, hi: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points of the box ``[lo, hi]`` (count, n): the center, corners (all when there are at
    most ``count // 2``, otherwise random ones), then uniform points."""
    free = np.flatnonzero(hi > lo)
    pts = [(lo + hi) / 2]
    n_corners = min(2 ** len(free), max(count // 2, 1))
    if 2 ** len(free) <= n_corners:
        bits = (np.arange(2 ** len(free))[:, None] >> np.arange(len(free))) & 1
    else:
        bits = rng.integers(0, 2, (n_corners, len(free)))
    corners = np.tile(lo, (bits.shape[0], 1))
    corners[:, free] = np.where(bits == 1, hi[free], lo[free])
    pts.extend(corners)
    rest = max(count - len(pts), 0)
    pts.extend(lo + rng.uniform(size=(rest, lo.shape[0])) * (hi - lo))
    return np.array(pts[:count])
