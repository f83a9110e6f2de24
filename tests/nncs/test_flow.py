"""The flow over-approximation contains sampled solutions; on linear systems it is the exact image."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from nnreach.nncs.expr import compile_strings
from nnreach.nncs.flow import Expansion, FlowError, _quadratic_range, flow_step, remainder
from nnreach.nncs.plant import AffineField
from nnreach.nncs.zono import box_zonotope
from nnreach.sets.zonotope import Zonotope

from .containment import directions

SYSTEMS = {
    # name: (dynamics over (x, y, u), box lo, box hi, step)
    "van der pol": (["y", "(1 - x**2)*y - x + u"], [1.2, 2.2, 0.1], [1.4, 2.4, 0.2], 0.05),
    "pendulum": (["y", "-2*sin(x) - 0.1*y + u"], [0.8, -0.3, -0.5], [1.1, 0.0, 0.5], 0.1),
    "quotient": (["y*cos(x)", "-y/(2 + x**2) + u*x"], [0.2, 0.5, 0.0], [0.6, 0.9, 0.3], 0.1),
}


def _solutions(f, y0: np.ndarray, h: float, points: int) -> tuple[np.ndarray, np.ndarray]:
    """(T,), (K, T, N) solutions of y' = (f(y), 0) from the rows of y0."""
    K, N = y0.shape

    def rhs(_t, y):
        Y = y.reshape(K, N)
        out = np.zeros_like(Y)
        out[:, : f.n] = f(Y)
        return out.ravel()

    t = np.linspace(0, h, points)
    sol = solve_ivp(rhs, (0, h), y0.ravel(), t_eval=t, rtol=1e-12, atol=1e-13, method="DOP853")
    return t, sol.y.T.reshape(points, K, N).transpose(1, 0, 2)


def _escape(Z: Zonotope, pts: np.ndarray, D: np.ndarray) -> float:
    support = D @ Z.center + np.abs(D @ Z.generators).sum(axis=1)
    return float((pts @ D.T - support).max())


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_flow_step_contains_sampled_solutions(name):
    exprs, lo, hi, h = SYSTEMS[name]
    f = compile_strings(exprs, ["x", "y", "u"], {}, name)
    R0 = box_zonotope(np.array(lo), np.array(hi))
    rng = np.random.default_rng(0)
    y0 = np.vstack([R0.sample(400, rng), np.array(np.meshgrid(*zip(lo, hi))).reshape(3, -1).T])
    t, ys = _solutions(f, y0, h, 21)
    step = flow_step(f, R0, h)
    D = directions(3, rng, 60)
    assert _escape(step.point, ys[:, -1], D) <= 1e-12
    assert _escape(step.interval, ys.reshape(-1, 3), D) <= 1e-12
    # and it is not grossly loose: the interval hull of the end set is within 2x the sampled spread + 0.01
    s_lo, s_hi = ys[:, -1].min(axis=0), ys[:, -1].max(axis=0)
    z_lo, z_hi = step.point.bounds()
    assert np.all(z_hi - z_lo <= 2 * (s_hi - s_lo) + 0.01)


def test_flow_step_on_a_linear_system_is_the_exact_image():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((3, 3))
    field = AffineField(np.hstack([A, np.zeros((3, 0))]), np.zeros(3))
    R0 = Zonotope(rng.standard_normal(3), rng.standard_normal((3, 4)))
    h = 0.1
    step = flow_step(field, R0, h)
    exact = R0.affine_map(expm(A * h))
    for d in directions(3, rng, 30):
        assert step.point.support(d) >= exact.support(d) - 1e-12
        assert step.point.support(d) <= exact.support(d) + 1e-9


def test_flow_step_refuses_a_set_too_large_to_linearise():
    f = compile_strings(["y", "x**3*y**2"], ["x", "y"], {}, "blowup")
    with pytest.raises(FlowError):
        flow_step(f, box_zonotope(np.array([5.0, 5.0]), np.array([9.0, 9.0])), 1.0)


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_remainder_encloses_sampled_linearisation_errors(name):
    """``f(y) - f(p) - J(p) (y - p)`` at points of a zonotope lies in :func:`remainder`'s interval."""
    exprs, lo, hi, _ = SYSTEMS[name]
    f = compile_strings(exprs, ["x", "y", "u"], {}, name)
    rng = np.random.default_rng(5)
    Z = Zonotope((np.array(lo) + np.array(hi)) / 2, rng.standard_normal((3, 6)) * 0.05)
    ex = Expansion.at(f, Z.center + 0.01)
    rem = remainder(f, ex, Z)
    y = Z.sample(3000, rng)
    err = f(y) - ex.f.mid - (y - ex.p) @ ex.J.mid.T
    assert np.all(err >= rem.lo[:2] - 1e-12) and np.all(err <= rem.hi[:2] + 1e-12)


def test_quadratic_range_encloses_samples_and_is_tight_for_rank_one():
    rng = np.random.default_rng(2)
    v = rng.standard_normal(4)
    Q = np.stack([np.outer(v, v), rng.standard_normal((4, 4))])
    Q[1] = Q[1] + Q[1].T
    c, G = rng.standard_normal(4) * 0.1, rng.standard_normal((4, 7)) * 0.3
    got = _quadratic_range(Q, c, G)
    d = c + rng.uniform(-1, 1, (20000, 7)) @ G.T
    vals = np.einsum("kn,inm,km->ki", d, Q, d)
    assert np.all(vals >= got.lo) and np.all(vals <= got.hi)
    s_hi = (abs(v @ c) + np.abs(v @ G).sum()) ** 2   # (v . d)^2 attains it at a vertex
    assert got.hi[0] <= s_hi * (1 + 1e-9) and got.lo[0] >= -1e-9


def test_third_derivatives_enclose_finite_differences():
    f = compile_strings(["sin(x)*y**2 + x**3*u", "cos(x - y)/(2 + x**2)"], ["x", "y", "u"], {}, "third")
    lo, hi = np.array([0.2, -0.4, 0.1]), np.array([0.6, 0.3, 0.5])
    T = f.third(lo, hi)
    rng = np.random.default_rng(4)
    e = 1e-3
    for y in lo + rng.uniform(size=(50, 3)) * (hi - lo):
        for k in range(3):
            step = e * np.eye(3)[k]
            Hp, Hm = f.hessian(y + step, y + step), f.hessian(y - step, y - step)
            fd = (Hp.mid - Hm.mid) / (2 * e)          # d/dy_k of the Hessian, (n, N, N)
            assert np.all(fd >= T.lo[..., k] - 1e-4) and np.all(fd <= T.hi[..., k] + 1e-4)
