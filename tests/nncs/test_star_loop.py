"""Star-set closed loops (:mod:`nnreach.nncs.star_loop`): the stars contain simulated trajectories at every
sample time, the zero-order-hold discretisation is exact, the cap on stars stops with a message, and
exact-star agrees with the zonotope method on ACC linear."""

from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from nnreach.errors import InputError
from nnreach.lp import LinearProgram
from nnreach.network.graph import Network
from nnreach.network.ops import Linear, Relu
from nnreach.nncs.loop import ClosedLoop
from nnreach.nncs.plant import Plant
from nnreach.nncs.simulation import draw_disturbances, initial_points, simulate
from nnreach.nncs.spec import Polytope, Spec, Window
from nnreach.nncs.config import load_config
from nnreach.nncs.star_loop import METHODS, discretise, star_reach
from nnreach.nncs.verdict import Verdict, verify
from nnreach.sets.box import Box

from ..conftest import REPO

STEPS = 6
NOTHING = Spec((Window(Polytope(np.array([[1.0, 0.0]]), np.array([1e6]))),))
"""A spec every set meets: the stars of every step are computed."""


def _loop(discrete: bool, seed: int = 4, hidden: int = 6) -> ClosedLoop:
    """A 2-state linear plant with a disturbance under a random ReLU controller 2 -> hidden -> 1."""
    rng = np.random.default_rng(seed)
    net = Network.sequential((2,), [Linear(rng.normal(size=(hidden, 2)), 0.3 * rng.normal(size=hidden)), Relu(),
                                    Linear(0.3 * rng.normal(size=(1, hidden)), np.zeros(1))])
    A = np.array([[1.0, 0.1], [0.0, 1.0]]) if discrete else np.array([[0.0, 1.0], [-1.0, -0.2]])
    B = np.array([[0.0], [0.1]]) if discrete else np.array([[0.0], [1.0]])
    plant = Plant.linear(A, B, [0.01, 0.0], E=np.array([[0.0], [0.05]]), w_lo=[-1.0], w_hi=[1.0],
                         discrete=discrete)
    return ClosedLoop(plant, net, 0.2, np.eye(2), np.zeros(2), np.eye(1), np.zeros(1))


X0 = Box(np.array([0.5, -0.2]), np.array([0.7, 0.0]))


def _in_union(stars, x: np.ndarray, tol: float) -> bool:
    for S in stars:
        lo, hi = S.estimate_bounds()
        if np.all(x >= lo - tol) and np.all(x <= hi + tol) and S.contains(x, tol):
            return True
    return False


@pytest.mark.parametrize("method", ["exact-star", "approx-star"])
@pytest.mark.parametrize("discrete", [True, False], ids=["discrete", "continuous"])
def test_stars_contain_1000_trajectories_at_every_sample_time(discrete, method):
    loop = _loop(discrete)
    pipe = star_reach(loop, X0, STEPS, NOTHING, method)
    assert pipe.failure is None
    by_time = {}
    for fs in pipe.sets:
        by_time.setdefault(round(fs.t0 / loop.period), []).append(fs.set)
    assert sorted(by_time) == list(range(STEPS + 1))
    if method == "approx-star":
        assert all(len(s) == 1 for s in by_time.values())
    else:
        assert len(by_time[STEPS]) > 1   # the controller's ReLUs did split the set
    rng = np.random.default_rng(0)
    x0 = initial_points(X0.lo, X0.hi, 1000, rng)
    tr = simulate(loop, x0, STEPS, disturbances=draw_disturbances(loop, 1000, STEPS, rng))
    for k in range(STEPS + 1):
        j = int(np.argmin(np.abs(tr.times - k * loop.period)))
        outside = [i for i in range(1000) if not _in_union(by_time[k], tr.states[i, j], 1e-7)]
        assert not outside, f"step {k}: {len(outside)} trajectories outside, e.g. {tr.states[outside[0], j]}"


def test_exact_star_is_not_much_larger_than_the_trajectories():
    """The union of exact stars is no larger than the reachable set: the highest point of the last stars is reached."""
    loop = _loop(True)
    pipe = star_reach(loop, X0, STEPS, NOTHING, "exact-star")
    last = [fs.set for fs in pipe.sets if fs.t0 == pytest.approx(STEPS * loop.period)]
    hi, S = max(((S.support(np.array([1.0, 0.0])), S) for S in last), key=lambda p: p[0])
    # the maximiser's predicate point names an initial state and disturbances whose trajectory gets there
    r = LinearProgram(S.C, S.d, S.pred_lb, S.pred_ub).maximize(S.basis[0])
    x0, w = pipe.origin(r.x, loop.plant, STEPS)
    tr = simulate(loop, x0[None], STEPS, disturbances=w[None])
    assert tr.states[0, -1, 0] == pytest.approx(hi, abs=1e-7)


def test_zero_order_hold_discretisation_is_the_flow():
    loop = _loop(False)
    d = discretise(loop.plant, loop.period)
    x, u, w = np.array([0.3, -1.2]), np.array([0.7]), np.array([0.4])
    f = loop.plant.field
    sol = solve_ivp(lambda _t, y: f(np.concatenate([y, u, w])[None])[0], (0, loop.period), x, rtol=1e-12, atol=1e-13)
    assert d.Ad @ x + d.Bd @ u + d.Ed @ w + d.cd == pytest.approx(sol.y[:, -1], abs=1e-10)


def test_the_cap_stops_with_a_message():
    loop = _loop(True)
    pipe = star_reach(loop, X0, STEPS, NOTHING, "exact-star", max_stars=3)
    assert pipe.capped
    assert pipe.failure.startswith("exact-star: more than 3 stars at t = ") and "options.max_stars" in pipe.failure


def test_nonlinear_plants_are_refused():
    plant = Plant.from_strings(["x"], ["u"], ["-x**3 + u"])
    net = Network.sequential((1,), [Linear(np.ones((1, 1)), np.zeros(1))])
    loop = ClosedLoop(plant, net, 0.1, np.eye(1), np.zeros(1), np.eye(1), np.zeros(1))
    with pytest.raises(InputError, match="linear plant"):
        star_reach(loop, Box(np.zeros(1), np.ones(1)), 2, NOTHING, "approx-star")


# -- verdicts and TOML files ------------------------------------------------------------------------------

ACC = REPO / "examples" / "nncs" / "acc_linear.toml"


def _acc(tmp_path, options: str, steps: int = 10) -> Path:
    """acc_linear.toml with ``steps`` periods and ``options`` added to its [options] table."""
    text = ACC.read_text().replace("steps = 50", f"steps = {steps}")
    text = text.replace('model = "controllers/', f'model = "{ACC.parent}/controllers/')
    path = tmp_path / "acc.toml"
    path.write_text(text.replace("[options]\n", f"[options]\n{options}\n"))
    return path


def test_exact_star_agrees_with_zono_on_acc_linear(tmp_path):
    verdicts = {}
    for method in METHODS:
        pb = load_config(_acc(tmp_path, f'method = "{method}"')).problem
        assert pb.method == method
        verdicts[method] = verify(pb, timeout=120).verdict
    assert verdicts == dict.fromkeys(METHODS, Verdict.HOLDS)


def test_a_violation_is_confirmed_by_simulating_the_stars_point(tmp_path):
    """A safe set the loop leaves at t = 1 (the ego car's speed drops below 29.9): simulation is switched
    off, so the counterexample must come from a star's predicate point."""
    path = _acc(tmp_path, 'method = "exact-star"\nsamples = 0')
    path.write_text(path.read_text().replace('constraints = ["x_lead - x_ego >= 10 + 1.4*v_ego"]',
                                             'constraints = ["v_ego >= 29.9"]'))
    out = verify(load_config(path).problem, timeout=120)
    assert out.verdict is Verdict.VIOLATED
    assert "a star leaves a safe set" in out.message and out.counterexample.violation > 0


def test_star_methods_refuse_nonlinear_plants_and_unknown_methods(tmp_path):
    acc = (REPO / "examples" / "nncs" / "acc.toml").read_text()
    path = tmp_path / "nonlinear.toml"
    path.write_text(acc.replace('model = "controllers/', f'model = "{ACC.parent}/controllers/')
                    .replace("[options]\n", '[options]\nmethod = "approx-star"\n'))
    with pytest.raises(InputError, match=r"^options.method: approx-star needs a linear plant"):
        load_config(path)
    with pytest.raises(InputError, match=r"^options.method: expected one of zono, approx-star, exact-star"):
        load_config(_acc(tmp_path, 'method = "star"'))


def test_the_cap_makes_the_verdict_unknown_with_its_reason(tmp_path):
    out = verify(load_config(_acc(tmp_path, 'method = "exact-star"\nmax_stars = 5')).problem, timeout=120)
    assert out.verdict is Verdict.UNKNOWN
    assert "more than 5 stars" in out.message and "options.max_stars" in out.message
