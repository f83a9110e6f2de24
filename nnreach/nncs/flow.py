"""Sound over-approximation of the flow of ``y' = f(y)`` over one time step, on zonotopes.

Conservative linearisation (Althoff 2008, as in CORA): around a point ``p`` the field is
``f(y) = f(p) + J (y - p) + L(y)`` where ``J`` is the Jacobian at ``p`` and ``L`` is the Taylor
remainder. The linear system with the constant input ``f(p) + l`` and the bounded input ``L - l`` (``l``
the middle of the remainder's enclosure, so that a remainder of one sign costs half its width) is solved
with a Taylor series of ``e^{J t}`` whose tail is bounded by a norm estimate, and the time-interval
enclosure adds the correction matrices ``F`` and ``F~`` of the convex-hull interpolation. The remainder
is enclosed (see :func:`remainder`) over the time-interval set with derivatives enclosed by interval
arithmetic (:mod:`.expr`) over the interval hull ``B`` of that set and ``p``: since the set depends on
the remainder's enclosure, a guess ``[a, b]`` is enlarged until the remainder over the resulting set lies
in ``[a, b]``, which proves (by the usual fixed-point argument) that every solution stays in the set
over the whole step. ``f(p)`` and ``J`` are enclosed by interval arithmetic too; their widths are added to
the remainder. For affine fields the remainder is zero and the result is the exact image up to the
Taylor tail and rounding. Every result is enlarged by :func:`.zono.with_rounding`.
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


GUESS_WIDEN = 1.2
"""A guess taken from the previous step is widened by this factor about its middle."""


@dataclass(frozen=True)
class Step:
    """The result of one flow step.

    Attributes:
        point: a zonotope containing every solution at time ``h``.
        interval: a zonotope containing every solution at every time in ``[0, h]``.
        remainder: the remainder's enclosure (N,) over the accepted set, a guess for the next step.
    """

    point: Zonotope
    interval: Zonotope
    remainder: Interval


@dataclass(frozen=True)
class Expansion:
    """The field at the expansion point ``p`` (N,): enclosures of ``f(p)`` (n,), ``J(p)`` (n, N) and,
    for fields that are not affine, of the Hessians ``H(p)`` (n, N, N)."""

    p: np.ndarray
    f: Interval
    J: Interval
    H: Interval | None

    @classmethod
    def at(cls, field, p: np.ndarray) -> "Expansion":
        return cls(p, field.values(p, p), field.jacobian(p, p), None if field.is_affine else field.hessian(p, p))


def _center_radius(v: Interval) -> tuple[np.ndarray, np.ndarray]:
    """The middle of ``v`` and a radius with ``[mid - rad, mid + rad]`` containing ``v`` despite rounding."""
    mid = (v.lo + v.hi) / 2
    return mid, np.maximum(v.hi - mid, mid - v.lo)


def _widen(v: Interval, factor: float) -> Interval:
    """``v`` scaled by ``factor`` about its middle, plus a tiny absolute margin."""
    mid, rad = _center_radius(v)
    return Interval(mid - factor * rad - 1e-15, mid + factor * rad + 1e-15)


def _sum(terms: Interval, axes: tuple[int, ...]) -> Interval:
    """The sum of interval terms over ``axes``, widened by a bound on the float summation error."""
    err = 1e-12 * terms.mag.sum(axis=axes)
    return Interval(terms.lo.sum(axis=axes) - err, terms.hi.sum(axis=axes) + err)


def _quadratic_range(Q: np.ndarray, c: np.ndarray, G: np.ndarray) -> Interval:
    """An Interval (n,) containing ``d^T Q_i d`` over the zonotope ``d = c + G e``, for each of the
    symmetric matrices Q (n, N, N); the intersection of :func:`_generator_range` and :func:`_eigen_range`."""
    return _intersect([_generator_range(Q, c, G), _eigen_range(Q, c, G)])


def _generator_range(Q: np.ndarray, c: np.ndarray, G: np.ndarray) -> Interval:
    """``c^T Q c + 2 c^T Q G e + e^T (G^T Q G) e`` bounded term by term (squares e_j^2 in [0, 1]);
    Q (n, N, N), c (N,), G (N, m)."""
    n, N, m = Q.shape[0], G.shape[0], G.shape[1]
    QG = Q @ G                                                                # (n, N, m)
    M = (G.T @ QG.transpose(1, 0, 2).reshape(N, n * m)).reshape(m, n, m).transpose(1, 0, 2)  # G^T Q_i G
    const = np.einsum("n,inm,m->i", c, Q, c)
    lin = 2 * np.abs(c @ QG).sum(axis=1)
    dg = np.diagonal(M, axis1=1, axis2=2)
    absM = np.abs(M).sum(axis=(1, 2))
    off = absM - np.abs(dg).sum(axis=1)
    err = 1e-12 * (np.abs(const) + lin + absM)  # covers the float sums
    return Interval(const - lin + np.minimum(dg, 0).sum(axis=1) - off - err,
                    const + lin + np.maximum(dg, 0).sum(axis=1) + off + err)


def _eigen_range(Q: np.ndarray, c: np.ndarray, G: np.ndarray) -> Interval:
    """``d^T Q_i d = sum_r lam_r (v_r . d)^2 + d^T E_i d`` with the eigenpairs of Q_i (float, so ``E_i``,
    the residual, is bounded by ``|d|^T |E_i| |d|``): each ``v_r . d`` is an exact interval over the
    zonotope, so a quadratic of low rank (a function of few directions) is bounded tightly."""
    lam, V = np.linalg.eigh(Q)                                   # (n, N), (n, N, N): Q_i = V_i diag V_i^T
    E = Q - np.einsum("inr,ir,imr->inm", V, lam, V)
    proj_c = np.einsum("inr,n->ir", V, c)                        # v_r . c, (n, N)
    proj_r = np.abs(np.einsum("inr,nm->irm", V, G)).sum(axis=2)  # |v_r^T G|_1, (n, N)
    sq = Interval(proj_c - proj_r, proj_c + proj_r) ** 2
    main = _sum(sq * lam, (1,))
    mag = np.abs(c) + np.abs(G).sum(axis=1)
    resid = np.einsum("j,ijk,k->i", mag, np.abs(E), mag) + 1e-12 * (np.abs(Q).sum(axis=(1, 2)) * mag.max() ** 2)
    return Interval(main.lo - resid, main.hi + resid)


def _products2(d: Interval) -> Interval:
    """Enclosures (N, N) of ``d_j d_k`` over the box ``d`` (N,), exact on the diagonal (squares)."""
    dd = Interval(d.lo[:, None], d.hi[:, None]) * Interval(d.lo[None, :], d.hi[None, :])
    diag = np.eye(d.lo.shape[0], dtype=bool)
    sq = d ** 2
    return Interval(np.where(diag, sq.lo[:, None], dd.lo), np.where(diag, sq.hi[:, None], dd.hi))


def _products3(d: Interval) -> Interval:
    """Enclosures (N, N, N) of ``d_j d_k d_l`` over the box ``d`` (N,), with repeated indices as powers
    (``d_a^2 d_c``, ``d_a^3``) so that they are exact."""
    N = d.lo.shape[0]
    a, b, c = np.sort(np.indices((N, N, N)).reshape(3, -1), axis=0)   # each triple sorted, a <= b <= c
    da, db, dc = (Interval(d.lo[i], d.hi[i]) for i in (a, b, c))
    picks = [(a == c, da ** 3), (a == b, da ** 2 * dc), (b == c, db ** 2 * da)]
    out = da * db * dc
    for cond, v in reversed(picks):  # the first matching case wins
        out = Interval(np.where(cond, v.lo, out.lo), np.where(cond, v.hi, out.hi))
    return Interval(out.lo.reshape(N, N, N), out.hi.reshape(N, N, N))


def _intersect(forms: list[Interval]) -> Interval:
    """The intersection of enclosures of one quantity; an undefined (NaN) bound counts as unbounded."""
    lo = np.max([np.where(np.isnan(f.lo), -np.inf, f.lo) for f in forms], axis=0)
    hi = np.min([np.where(np.isnan(f.hi), np.inf, f.hi) for f in forms], axis=0)
    return Interval(lo, hi)


def _lagrange_forms(field, ex: Expansion, Z: Zonotope, d: Interval) -> list[Interval]:
    """Enclosures (n,) of ``L(y) = f(y) - f(p) - J(p) (y - p)`` for y in Z, with ``d`` the box of
    ``y - p`` (the hull ``B`` of Z and p, minus p):

    * second order, interval form: ``1/2 sum_jk H_ijk(B) d_j d_k`` by interval arithmetic;
    * second order, zonotope form: ``1/2 d^T H_mid(B) d`` over the zonotope ``Z - p`` (which keeps the
      correlations between the coordinates of d) plus ``1/2 |d|^T H_rad(B) |d|``;
    * third order: ``1/2 d^T H(p) d`` over the zonotope ``Z - p`` plus ``1/6 sum_jkl T_ijkl(B) d_j d_k d_l``
      by interval arithmetic (T the third derivatives).
    """
    lo, hi = d.lo + ex.p, d.hi + ex.p
    c, G = Z.center - ex.p, Z.generators
    mag = d.mag

    def quadratic(H: Interval) -> Interval:
        rad = np.einsum("j,ijk,k->i", mag, (H.hi - H.lo) / 2, mag) * (1 + 1e-12)
        q = _quadratic_range(H.mid, c, G)
        return Interval(0.5 * (q.lo - rad), 0.5 * (q.hi + rad))

    H = field.hessian(lo, hi)
    interval2 = _sum(H * _products2(d), (1, 2))
    forms = [Interval(0.5 * interval2.lo, 0.5 * interval2.hi)]
    if np.all(np.isfinite(H.lo)) and np.all(np.isfinite(H.hi)):
        forms.append(quadratic(H))
    cubic = _sum(field.third(lo, hi) * _products3(d), (1, 2, 3))
    forms.append(quadratic(ex.H) + Interval(cubic.lo / 6, cubic.hi / 6))
    return forms


def remainder(field, ex: Expansion, Z: Zonotope) -> Interval:
    """An Interval (N,) containing ``f(y) - f~(p) - J~ (y - p)`` for ``y`` in the zonotope ``Z``, where
    ``f~``, ``J~`` are the midpoints of the enclosures of ``ex`` (zero in the coordinates n..N-1 that
    the field does not move): the intersection of the forms of :func:`_lagrange_forms`, plus the radii
    of the enclosures of ``f(p)`` and ``J(p)``.
    """
    p = ex.p
    N, n = p.shape[0], field.n
    lo, hi = Z.bounds()
    slack = 1e-12 * zono.magnitude(Z) + zono.ROUND_ABS  # the float bounds of Z, rounded outward
    lo, hi = np.minimum(lo - slack, p), np.maximum(hi + slack, p)
    d = Interval(lo - p, hi - p)
    spread = (ex.f.hi - ex.f.lo) / 2 + (ex.J.hi - ex.J.lo) / 2 @ d.mag
    L = Interval(np.zeros(n)) if field.is_affine else _intersect(_lagrange_forms(field, ex, Z, d))
    out = L + Interval(-spread, spread)
    return Interval(np.concatenate([out.lo, np.zeros(N - n)]), np.concatenate([out.hi, np.zeros(N - n)]))


def _linear_sets(tay: Taylor, Z0: Zonotope, u: np.ndarray, rad: np.ndarray, h: float) -> tuple[Zonotope, Zonotope]:
    """Zonotopes containing, at time ``h`` and over ``[0, h]``, every solution of ``z' = A z + u + v(t)``
    with ``z(0)`` in Z0 and ``|v(t)| <= rad`` (the matrices of ``A`` and ``h`` in ``tay``; u, rad (N,))."""
    N = Z0.dim
    mag0 = zono.magnitude(Z0)
    tail = tay.phi * mag0.sum() + h * tay.phi * np.abs(u).sum()    # (e^{Ah} - T) z0 + (Gamma - P) u
    inp = tay.P_abs @ rad + h * tay.phi * rad.sum()                 # inputs in [-rad, rad] over [0, h]
    hom = Z0.affine_map(tay.T, tay.P @ u)                           # T z0 + P u
    point = zono.add_box(hom, np.full(N, tail) + inp)
    hull = zono.enclose(Z0, hom)                                    # CH(z0, T z0 + P u)
    corr = zono.interval_map(tay.F_mid, tay.F_rad, Z0)              # F z0
    interval = zono.add_box(
        Zonotope(hull.center + corr.center, np.hstack([hull.generators, corr.generators])),
        np.abs(tay.Ft_mid @ u) + tay.Ft_rad @ np.abs(u) + tail + inp)  # F~ u, the tails and the inputs
    return point, interval


def flow_step(field, R0: Zonotope, h: float, guess: Interval | None = None) -> Step:
    """Over-approximate the solutions of ``y' = (field(y), 0)`` from ``R0`` over ``[0, h]``.

    Args:
        field: an :class:`.expr.Expressions` (or :class:`.plant.AffineField`) with ``n`` outputs over
            ``N = R0.dim`` variables; coordinates ``n..N-1`` (inputs held constant) do not move.
        R0: the set at time 0, N dimensions.
        h: the step.
        guess: a first enclosure (N,) of the remainder (e.g. the previous step's), widened by
            :data:`GUESS_WIDEN` before use.
    Raises:
        FlowError when the remainder iteration does not close.
    """
    N, n = R0.dim, field.n
    c = R0.center
    fc = np.zeros(N)
    fc[:n] = field(c[None])[0]
    p = c + h / 2 * fc
    ex = Expansion.at(field, p)
    fp = np.zeros(N)
    fp[:n] = ex.f.mid
    A = np.zeros((N, N))
    A[:n] = ex.J.mid
    tay = taylor(A, h)
    Z0 = Zonotope(c - p, R0.generators)
    g = Interval(np.zeros(N)) if guess is None else _widen(guess, GUESS_WIDEN)
    for _ in range(REMAINDER_TRIES):
        mid, rad = _center_radius(g)
        point, ti = _linear_sets(tay, Z0, fp + mid, rad, h)
        ti = Zonotope(ti.center + p, ti.generators)
        with np.errstate(over="ignore", invalid="ignore"):  # infinities only make the check fail
            actual = remainder(field, ex, ti)
        if np.all(actual.lo >= g.lo) and np.all(actual.hi <= g.hi):
            return Step(zono.with_rounding(Zonotope(point.center + p, point.generators)), zono.with_rounding(ti),
                        actual)
        if not (np.all(np.isfinite(actual.lo)) and np.all(np.isfinite(actual.hi))):
            break
        wide = _widen(actual, 1.5)
        g = Interval(np.minimum(g.lo, wide.lo), np.maximum(g.hi, wide.hi))
    raise FlowError("the Lagrange remainder did not converge; the set is too large for one step")
