"""Sound over-approximation of the flow of ``y' = f(y)`` over one time step, on zonotopes.

Conservative linearisation (Althoff 2008, as in CORA): around a point ``p`` the field is
``f(y) = f(p) + J (y - p) + L(y)`` where ``J`` is the Jacobian at ``p`` and the Lagrange remainder is
``L_i(y) = 1/2 (y - p)^T H_i(xi) (y - p)`` with ``xi`` between ``p`` and ``y``. The linear system with
the constant input ``f(p)`` and the bounded input ``L`` is solved with a Taylor series of ``e^{J t}``
whose tail is bounded by a norm estimate, and the time-interval enclosure adds the correction
matrices ``F`` and ``F~`` of the convex-hull interpolation. The remainder is bounded with Hessians
enclosed by interval arithmetic (:mod:`.expr`) over the interval hull ``B`` of the time-interval set and
``p`` (see :func:`_remainder`): since that set depends on the remainder bound, a guess ``r`` is enlarged
until the remainder over the resulting set lies in ``[-r, r]``, which proves (by the usual fixed-point
argument) that every solution stays in the set over the whole step. ``f(p)`` and ``J`` are enclosed by
interval arithmetic too; their widths are added to the remainder. For affine fields the remainder is
zero and the result is the exact image up to the Taylor tail and rounding. Every result is enlarged by :func:`.zono.with_rounding`.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np

from ..sets.zonotope import Zonotope
from . import zono
from .interval import Interval

TAIL_TOL = 1e-15
"""Taylor terms are added until the tail bound of ``e^{J h}`` is below this (at most ``MAX_TERMS``)."""
MAX_TERMS = 40
REMAINDER_TRIES = 12
"""Enlargements of the remainder guess before a step is given up (the caller halves the step)."""


class FlowError(Exception):
    """The remainder iteration did not close: the set or the step is too large for linearisation."""


@dataclass(frozen=True)
class Taylor:
    """Matrices of one step ``h`` for ``z' = A z + v``; all (N, N) arrays.

    Attributes:
        T: ``sum_{i<=eta} (A h)^i / i!``; ``|e^{A h} - T| <= phi`` entrywise.
        P: ``sum_{i<=eta} A^i h^(i+1) / (i+1)!``; ``|int_0^h e^{A s} ds - P| <= h phi``.
        P_abs: ``sum_{i<=eta} |A^i| h^(i+1) / (i+1)!`` (for inputs in a box).
        F_mid, F_rad: the interval matrix ``F`` of the homogeneous time-interval enclosure.
        Ft_mid, Ft_rad: the interval matrix ``F~`` of the constant-input time-interval enclosure.
        phi: the entrywise tail bound.
    """

    T: np.ndarray
    P: np.ndarray
    P_abs: np.ndarray
    F_mid: np.ndarray
    F_rad: np.ndarray
    Ft_mid: np.ndarray
    Ft_rad: np.ndarray
    phi: float


def taylor(A: np.ndarray, h: float) -> Taylor:
    """The matrices of :class:`Taylor` for ``A`` (N, N) and step ``h > 0``.

    The tail bound: every entry of ``sum_{i>eta} (A h)^i / i!`` is at most its infinity norm, at most
    ``a^(eta+1) / (eta+1)! / (1 - a / (eta + 2))`` with ``a = |A h|_inf`` (geometric majorant).
    """
    N = A.shape[0]
    a = float(np.abs(A * h).sum(axis=1).max()) if N else 0.0
    eta = 1
    while True:
        eps = a / (eta + 2)
        phi = a ** (eta + 1) / factorial(eta + 1) / (1 - eps) if eps < 1 else np.inf
        if phi <= TAIL_TOL or eta >= MAX_TERMS:
            break
        eta += 1
    if not np.isfinite(phi):
        raise FlowError(f"step {h} too large for the Taylor series (|A h| = {a:.3g})")
    Ah = A * h
    power = np.eye(N)                      # (A h)^i
    T = np.eye(N)
    P = np.eye(N) * h
    P_abs = np.eye(N) * h
    F_lo, F_hi = np.zeros((N, N)), np.zeros((N, N))
    Ft_lo, Ft_hi = np.zeros((N, N)), np.zeros((N, N))
    for i in range(1, eta + 2):
        prev = power                        # (A h)^(i-1)
        power = power @ Ah                  # (A h)^i
        if i >= 2:
            alpha = i ** (-i / (i - 1)) - i ** (-1 / (i - 1))  # < 0
            # F~ term: [alpha, 0] h^i A^(i-1) / i! = h [alpha, 0] (A h)^(i-1) / i!
            M = prev * (h / factorial(i))
            Ft_lo += np.minimum(alpha * M, 0.0)
            Ft_hi += np.maximum(alpha * M, 0.0)
            if i <= eta:
                M = power / factorial(i)
                F_lo += np.minimum(alpha * M, 0.0)
                F_hi += np.maximum(alpha * M, 0.0)
        if i <= eta:
            T = T + power / factorial(i)
            P = P + power * (h / factorial(i + 1))
            P_abs = P_abs + np.abs(power) * (h / factorial(i + 1))
    F_lo -= phi
    F_hi += phi
    Ft_lo -= phi * h
    Ft_hi += phi * h
    return Taylor(T, P, P_abs, (F_lo + F_hi) / 2, (F_hi - F_lo) / 2, (Ft_lo + Ft_hi) / 2, (Ft_hi - Ft_lo) / 2,
                  phi)


@dataclass(frozen=True)
class Step:
    """The result of one flow step.

    Attributes:
        point: a zonotope containing every solution at time ``h``.
        interval: a zonotope containing every solution at every time in ``[0, h]``.
        remainder: the remainder radius (N,) over the accepted set, a guess for the next step.
    """

    point: Zonotope
    interval: Zonotope
    remainder: np.ndarray


def _quadratic_bound(Q: np.ndarray, c: np.ndarray, G: np.ndarray) -> np.ndarray:
    """``max |d^T Q_i d|`` over the zonotope ``d = c + G e``, for each of the matrices Q (n, N, N):
    ``c^T Q c + 2 c^T Q G e + e^T (G^T Q G) e`` bounded term by term (squares e_j^2 in [0, 1])."""
    QG = Q @ G                                           # (n, N, m)
    M = np.einsum("nm,inl->iml", G, QG)                  # G^T Q_i G, (n, m, m)
    const = np.einsum("n,inm,m->i", c, Q, c)
    lin = 2 * np.abs(np.einsum("n,inm->im", c, QG)).sum(axis=1)
    dg = np.diagonal(M, axis1=1, axis2=2)
    off = np.abs(M).sum(axis=(1, 2)) - np.abs(dg).sum(axis=1)
    hi = const + lin + np.maximum(dg, 0).sum(axis=1) + off
    lo = const - lin + np.minimum(dg, 0).sum(axis=1) - off
    size = np.abs(const) + lin + np.abs(M).sum(axis=(1, 2))
    return np.maximum(np.abs(lo), np.abs(hi)) + 1e-12 * size  # the margin covers the float sums


def _remainder(field, p: np.ndarray, Z: Zonotope, f_rad: np.ndarray, J_rad: np.ndarray) -> np.ndarray:
    """Radius (N,) of a box containing ``f(y) - f~(p) - J~ (y - p)`` for ``y`` in the zonotope ``Z``,
    where ``f~``, ``J~`` are the midpoints of enclosures of radius ``f_rad`` (n,), ``J_rad`` (n, N).

    The Lagrange term ``1/2 d^T H(xi) d`` (``d = y - p``, ``xi`` in the hull ``B`` of Z and p) is
    bounded with ``H(B) = H_mid +- H_rad``: ``d^T H_mid d`` over the zonotope ``Z - p`` (which keeps
    the correlations between the coordinates of d) plus ``|d|^T H_rad |d|``, and, whichever is smaller,
    by interval arithmetic over the box ``B - p``.
    """
    N = p.shape[0]
    n = field.n
    lo, hi = Z.bounds()
    slack = 1e-12 * zono.magnitude(Z) + zono.ROUND_ABS  # the float bounds of Z, rounded outward
    lo, hi = np.minimum(lo - slack, p), np.maximum(hi + slack, p)
    d = Interval(lo - p, hi - p)
    mag = d.mag
    r = f_rad + J_rad @ mag
    if not field.is_affine:
        H = field.hessian(lo, hi)                       # (n, N, N)
        # interval form: 1/2 sum_jk H_ijk d_j d_k, with d_j^2 >= 0 on the diagonal
        dd = Interval(d.lo[:, None], d.hi[:, None]) * Interval(d.lo[None, :], d.hi[None, :])
        diag = np.eye(N, dtype=bool)
        sq = d ** 2
        dd = Interval(np.where(diag, sq.lo[:, None], dd.lo), np.where(diag, sq.hi[:, None], dd.hi))
        q = H * Interval(dd.lo[None], dd.hi[None])
        s = Interval(q.lo.sum(axis=(1, 2)), q.hi.sum(axis=(1, 2)))
        box_form = s.mag + 1e-12 * np.maximum(np.abs(q.lo), np.abs(q.hi)).sum(axis=(1, 2))
        h_mid, h_rad = H.mid, (H.hi - H.lo) / 2
        if np.all(np.isfinite(h_mid)) and np.all(np.isfinite(h_rad)):
            zono_form = (_quadratic_bound(h_mid, Z.center - p, Z.generators)
                         + np.einsum("j,ijk,k->i", mag, h_rad, mag) * (1 + 1e-12))
            box_form = np.minimum(box_form, zono_form)
        r = r + 0.5 * box_form
    out = np.zeros(N)
    out[:n] = r
    return out


def flow_step(field, R0: Zonotope, h: float, guess: np.ndarray | None = None) -> Step:
    """Over-approximate the solutions of ``y' = (field(y), 0)`` from ``R0`` over ``[0, h]``.

    Args:
        field: an :class:`.expr.Expressions` (or :class:`.plant.AffineField`) with ``n`` outputs over
            ``N = R0.dim`` variables; coordinates ``n..N-1`` (inputs held constant) do not move.
        R0: the set at time 0, N dimensions.
        h: the step.
        guess: a first remainder radius (N,) (e.g. the previous step's).
    Raises:
        FlowError when the remainder iteration does not close.
    """
    N, n = R0.dim, field.n
    c = R0.center
    fc = np.zeros(N)
    fc[:n] = field(c[None])[0]
    p = c + h / 2 * fc
    f_iv, J_iv = field.values(p, p), field.jacobian(p, p)
    fp = np.zeros(N)
    fp[:n] = f_iv.mid
    A = np.zeros((N, N))
    A[:n] = J_iv.mid
    f_rad, J_rad = (f_iv.hi - f_iv.lo) / 2, (J_iv.hi - J_iv.lo) / 2
    tay = taylor(A, h)
    Z0 = Zonotope(c - p, R0.generators)
    mag0 = zono.magnitude(Z0)
    tail = tay.phi * mag0.sum() + h * tay.phi * np.abs(fp).sum()   # (e^{Ah} - T) z0 + (Gamma - P) fp
    hom = Z0.affine_map(tay.T, tay.P @ fp)                          # T z0 + P fp
    point_lin = zono.add_box(hom, np.full(N, tail))
    hull = zono.enclose(Z0, hom)                                    # CH(z0, T z0 + P fp)
    corr = zono.interval_map(tay.F_mid, tay.F_rad, Z0)              # F z0
    interval_lin = zono.add_box(
        Zonotope(hull.center + corr.center, np.hstack([hull.generators, corr.generators])),
        np.abs(tay.Ft_mid @ fp) + tay.Ft_rad @ np.abs(fp) + tail)   # F~ fp and the tails
    r = np.zeros(N) if guess is None else np.asarray(guess, float).copy()
    for _ in range(REMAINDER_TRIES):
        inp = tay.P_abs @ r + h * tay.phi * r.sum()                  # inputs in [-r, r] over [0, h]
        ti = zono.add_box(interval_lin, inp)
        with np.errstate(over="ignore", invalid="ignore"):  # infinities only make the check fail
            actual = _remainder(field, p, Zonotope(ti.center + p, ti.generators), f_rad, J_rad)
        if np.all(actual <= r):
            point = zono.add_box(point_lin, inp)
            return Step(zono.with_rounding(Zonotope(point.center + p, point.generators)),
                        zono.with_rounding(Zonotope(ti.center + p, ti.generators)), actual)
        if not np.all(np.isfinite(actual)):
            break
        r = np.maximum(r, actual * 1.5 + 1e-15)
    raise FlowError("the Lagrange remainder did not converge; the set is too large for one step")
