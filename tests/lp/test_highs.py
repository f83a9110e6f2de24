"""LinearProgram against scipy.optimize.linprog, and its status handling."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from nnreach.lp import LinearProgram, LPStatus

SEEDS = range(8)


def random_feasible(seed: int, n: int = 6, k: int = 10):
    """A bounded feasible LP: A (k, n), b (k,), lb, ub (n,)."""
    rng = np.random.default_rng(seed)
    print(f"seed = {seed}")
    A = rng.normal(size=(k, n))
    lb, ub = -rng.uniform(0.5, 2, n), rng.uniform(0.5, 2, n)
    x0 = rng.uniform(lb / 2, ub / 2)
    return rng, A, A @ x0 + rng.uniform(0, 1, k), lb, ub


def reference(c, A, b, lb, ub) -> float:
    return linprog(c, A_ub=A, b_ub=b, bounds=list(zip(lb, ub)), method="highs").fun


def assert_optimal(result, c, A, b, lb, ub, expected):
    assert result.status is LPStatus.OPTIMAL
    assert result.value == pytest.approx(expected, abs=1e-7)
    assert result.value == pytest.approx(c @ result.x, abs=1e-7)
    assert np.all(A @ result.x <= b + 1e-7)
    assert np.all((result.x >= lb - 1e-9) & (result.x <= ub + 1e-9))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("sparse", [False, True])
def test_matches_linprog_over_many_warm_started_objectives(seed, sparse):
    rng, A, b, lb, ub = random_feasible(seed)
    lp = LinearProgram(sp.csr_array(A) if sparse else A, b, lb, ub)
    for c in rng.normal(size=(6, A.shape[1])):
        assert_optimal(lp.minimize(c), c, A, b, lb, ub, reference(c, A, b, lb, ub))
        assert_optimal(lp.maximize(c), c, A, b, lb, ub, -reference(-c, A, b, lb, ub))


@pytest.mark.parametrize("seed", SEEDS)
def test_add_constraints_then_resolve(seed):
    rng, A, b, lb, ub = random_feasible(seed)
    lp = LinearProgram(A, b, lb, ub)
    c = rng.normal(size=A.shape[1])
    first = lp.maximize(c)
    # Cut off the current optimum, plus one random row that the optimum may satisfy.
    extra = np.vstack([c, rng.normal(size=A.shape[1])])
    rhs = np.array([first.value - 0.1, 1.0])
    lp.add_constraints(sp.csr_array(extra), rhs)
    assert lp.num_constraints == A.shape[0] + 2
    A2, b2 = np.vstack([A, extra]), np.concatenate([b, rhs])
    feasible = linprog(np.zeros(A.shape[1]), A_ub=A2, b_ub=b2, bounds=list(zip(lb, ub)), method="highs").status == 0
    assert lp.is_feasible() == feasible
    result = lp.maximize(c)
    if feasible:
        assert_optimal(result, c, A2, b2, lb, ub, -reference(-c, A2, b2, lb, ub))
        assert result.value <= first.value - 0.1 + 1e-7
    else:
        assert result.status is LPStatus.INFEASIBLE and result.value == -np.inf


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_bounds_of_matches_linprog(seed):
    rng, A, b, lb, ub = random_feasible(seed)
    M = np.vstack([rng.normal(size=(3, A.shape[1])), np.zeros(A.shape[1])])
    lo, hi = LinearProgram(A, b, lb, ub).bounds_of(M)
    np.testing.assert_allclose(lo, [reference(m, A, b, lb, ub) for m in M], atol=1e-7)
    np.testing.assert_allclose(hi, [-reference(-m, A, b, lb, ub) for m in M], atol=1e-7)


def test_infeasible():
    # x0 <= 0 and x0 >= 1, with x1 free so the objective alone would be unbounded.
    lp = LinearProgram(np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([0.0, -1.0]))
    assert not lp.is_feasible()
    for result, value in ((lp.minimize(np.array([0.0, 1.0])), np.inf), (lp.maximize(np.array([0.0, 1.0])), -np.inf)):
        assert result.status is LPStatus.INFEASIBLE and result.value == value and result.x is None
    with pytest.raises(ValueError, match="empty set"):
        lp.bounds_of(np.eye(2))
    with pytest.raises(ValueError, match="empty set"):
        lp.bounds_of(np.zeros((1, 2)))


def test_unbounded():
    lp = LinearProgram(np.array([[1.0, 1.0]]), np.array([1.0]), lb=np.array([0.0, -np.inf]))
    assert lp.is_feasible()
    result = lp.minimize(np.array([0.0, 1.0]))
    assert result.status is LPStatus.UNBOUNDED and result.value == -np.inf and result.x is None
    assert lp.maximize(np.array([0.0, -1.0])).value == np.inf
    assert lp.maximize(np.array([1.0, 1.0])).value == pytest.approx(1.0)
    lo, hi = lp.bounds_of(np.array([[0.0, 1.0], [1.0, 0.0]]))
    np.testing.assert_allclose(lo, [-np.inf, 0.0], atol=1e-12)
    np.testing.assert_allclose(hi, [1.0, np.inf], atol=1e-12)


def test_no_constraints_and_no_variables():
    lp = LinearProgram(np.zeros((0, 3)), np.zeros(0), lb=-np.ones(3), ub=[1.0, 2.0, 3.0])
    assert lp.num_constraints == 0
    assert lp.maximize(np.array([1.0, -1.0, 1.0])).value == pytest.approx(5.0)
    assert LinearProgram(np.zeros((1, 0)), np.array([0.5])).is_feasible()
    assert not LinearProgram(np.zeros((1, 0)), np.array([-0.5])).is_feasible()


def test_shape_errors():
    lp = LinearProgram(np.ones((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match=r"c must have shape \(3,\)"):
        lp.minimize(np.ones(2))
    with pytest.raises(ValueError, match=r"A must have shape \(k, 3\)"):
        lp.add_constraints(np.ones((1, 2)), np.ones(1))
    with pytest.raises(ValueError, match=r"b must have shape \(1,\)"):
        lp.add_constraints(np.ones((1, 3)), np.ones(2))
    with pytest.raises(ValueError, match=r"A_ub must have shape"):
        LinearProgram(np.ones(3), np.ones(3))


def test_row_duals_weigh_the_binding_rows():
    """min t subject to x <= t and 1 - x <= t on 0 <= x <= 1: t = 1/2, both rows bind with weight 1/2."""
    lp = LinearProgram(np.array([[1.0, -1.0], [-1.0, -1.0]]), np.array([0.0, -1.0]), lb=[0, -np.inf], ub=[1, np.inf])
    r = lp.minimize(np.array([0.0, 1.0]))
    assert np.isclose(r.value, 0.5)
    np.testing.assert_allclose(np.abs(lp.row_duals()), [0.5, 0.5])


def test_a_feasible_row_that_highs_presolve_calls_infeasible():
    """HiGHS 1.16 with presolve declared this one-row program infeasible; the minimum is about -0.00889."""
    a = np.array([[-2.8313931690808372e-03, -1.9271099567413330e+00, 2.9517200309783220e-03,
                   -2.9027999844402066e-04, 6.9067999720573409e-05]])
    lp = LinearProgram(a, np.array([0.01099464464078657]), -np.ones(5), np.ones(5))
    r = lp.minimize(np.eye(5)[1])
    assert r.status is LPStatus.OPTIMAL
    others = np.abs(a[0, [0, 2, 3, 4]]).sum()
    assert r.value == pytest.approx(-(0.01099464464078657 + others) / 1.9271099567413330, rel=1e-9)


def test_values_are_checked_bounds_on_random_programs():
    """The reported minimum never exceeds the objective at the (feasible) optimal point, the maximum
    is never below it, and both match it to solver accuracy."""
    rng = np.random.default_rng(5)
    for _ in range(50):
        A = rng.normal(size=(12, 4))
        b = rng.uniform(0.1, 1.0, size=12)
        lp = LinearProgram(A, b, -np.ones(4), np.ones(4))
        c = rng.normal(size=4)
        lo, hi = lp.minimize(c), lp.maximize(c)
        for r, sign in ((lo, 1.0), (hi, -1.0)):
            assert r.status is LPStatus.OPTIMAL
            assert np.all(A @ r.x <= b + 1e-7) and np.all(np.abs(r.x) <= 1 + 1e-9)
            attained = float(c @ r.x)
            assert sign * (attained - r.value) >= -1e-12     # the bound is on the safe side
            assert abs(attained - r.value) <= 1e-6 * (1 + abs(attained))


def test_infeasibility_needs_a_certificate():
    """A feasible program never has a checked infeasibility certificate (the check is not a rubber stamp)."""
    lp = LinearProgram(np.array([[1.0, 1.0]]), np.array([1.0]), np.zeros(2), np.ones(2))
    assert lp.minimize(np.array([1.0, 0.0])).status is LPStatus.OPTIMAL
    assert not lp._certified_infeasible()


def test_a_time_limit_stops_a_solve_and_lifting_it_solves_again():
    rng = np.random.default_rng(0)
    lp = LinearProgram(rng.normal(size=(400, 200)), rng.uniform(1, 2, 400), np.full(200, -10.0), np.full(200, 10.0))
    c = rng.normal(size=200)
    lp.limit_time(0.0)
    stopped = lp.minimize(c)
    assert stopped.status is LPStatus.TIME_LIMIT and stopped.x is None
    lp.limit_time(np.inf)
    done = lp.minimize(c)
    assert done.status is LPStatus.OPTIMAL and np.isfinite(done.value)


def test_a_reduced_cost_left_on_a_free_column_is_bounded_by_the_rows():
    """Rows that box the plane, an objective with a 6e-17 component: HiGHS leaves that reduced cost
    on the free column, and the checked value must still be the optimum (not -inf), and stay a bound;
    the program's duals stay those of the solve; a strip unbounded along that column stays unbounded."""
    A = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    b = np.array([-0.3, 0.478, 0.63, 0.79])
    lp = LinearProgram(A, b)
    c = np.array([6e-17, 1.0])
    r = lp.maximize(c)
    assert r.status is LPStatus.OPTIMAL
    assert 0.63 <= r.value <= 0.63 + 1e-9
    duals = lp.row_duals()
    np.testing.assert_allclose(duals, [0.0, 0.0, -1.0, 0.0], atol=1e-12)
    low = lp.minimize(np.array([-1.0, 6e-17]))
    assert -0.478 - 1e-9 <= low.value <= -0.478
    strip = LinearProgram(A[2:], b[2:])
    assert strip.maximize(c).value == np.inf


@pytest.mark.parametrize("seed", SEEDS)
def test_equality_rows_match_linprog_and_their_values_are_checked_bounds(seed):
    """Equality rows give linprog's optimum, the values stay on the safe side of the attained
    objective, and the program agrees with the one that writes each equality as two inequalities."""
    rng, A, b, lb, ub = random_feasible(seed)
    x0 = rng.uniform(lb / 2, ub / 2)
    b = np.maximum(b, A @ x0 + 0.1)          # x0 is feasible: on the equality rows and inside the others
    E = rng.normal(size=(2, A.shape[1]))
    e = E @ x0
    lp = LinearProgram(A, b, lb, ub, A_eq=sp.csr_array(E), b_eq=e)
    pair = LinearProgram(np.vstack([A, E, -E]), np.concatenate([b, e, -e]), lb, ub)
    for _ in range(5):
        c = rng.normal(size=A.shape[1])
        expected = linprog(c, A_ub=A, b_ub=b, A_eq=E, b_eq=e, bounds=list(zip(lb, ub)), method="highs").fun
        for r, sign, value in ((lp.minimize(c), 1.0, expected), (lp.maximize(-c), -1.0, -expected)):
            assert r.status is LPStatus.OPTIMAL
            np.testing.assert_allclose(E @ r.x, e, atol=1e-7)
            attained = float(sign * c @ r.x)
            assert sign * (attained - r.value) >= -1e-12
            assert r.value == pytest.approx(value, abs=1e-7)
        assert lp.minimize(c).value == pytest.approx(pair.minimize(c).value, abs=1e-7)


def test_contradicting_equality_rows_are_certified_infeasible():
    """``x0 + x1 = 1`` and ``x0 + x1 = 3`` in the unit box (the certificate needs a negative multiplier
    on an equality row), and ``x0 + x1 = 3`` alone, out of the box's reach."""
    lp = LinearProgram(np.zeros((0, 2)), np.zeros(0), np.zeros(2), np.ones(2),
                       A_eq=np.array([[1.0, 1.0], [1.0, 1.0]]), b_eq=np.array([1.0, 3.0]))
    r = lp.minimize(np.array([1.0, 0.0]))
    assert r.status is LPStatus.INFEASIBLE and r.value == np.inf
    far = LinearProgram(np.zeros((0, 2)), np.zeros(0), np.zeros(2), np.ones(2), A_eq=np.array([[1.0, 1.0]]), b_eq=np.array([3.0]))
    assert far.minimize(np.array([0.0, 1.0])).status is LPStatus.INFEASIBLE
    near = LinearProgram(np.zeros((0, 2)), np.zeros(0), np.zeros(2), np.ones(2), A_eq=np.array([[1.0, 1.0]]), b_eq=np.array([1.5]))
    r = near.minimize(np.array([1.0, 0.0]))
    assert r.status is LPStatus.OPTIMAL and r.value == pytest.approx(0.5, abs=1e-9) and r.value <= 0.5
