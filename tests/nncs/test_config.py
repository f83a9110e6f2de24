"""TOML files and the ``nnreach nncs`` command: one-line errors with exit code 2, last line a verdict."""

import shutil

import numpy as np
import pytest

from nnreach.cli import main
from nnreach.errors import InputError
from nnreach.nncs.config import load_config

from ..conftest import EXAMPLES

ACC = EXAMPLES / "nncs" / "acc.toml"


def test_acc_file_parses_into_the_expected_maps():
    cfg = load_config(ACC)
    loop = cfg.problem.loop
    x = np.array([[100.0, 32.0, 0.0, 10.5, 30.1, 0.0]])
    np.testing.assert_allclose(x @ loop.in_W.T + loop.in_b, [[30, 1.4, 30.1, 89.5, 1.9]])
    H, g = cfg.problem.spec.safe[0].poly.H, cfg.problem.spec.safe[0].poly.g
    assert (x @ H.T - g)[0, 0] == pytest.approx(10 + 1.4 * 30.1 - 89.5)
    assert cfg.expected == "holds" and cfg.problem.steps == 50


def _variant(tmp_path, old: str, new: str, source=ACC):
    shutil.copytree(EXAMPLES / "nncs" / "controllers", tmp_path / "controllers")
    text = source.read_text()
    assert old in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize("old,new,message", [
    ('steps = 50', 'steps = ', "invalid TOML"),
    ('steps = 50', '', "missing key 'steps'"),
    ('g_ego = 0\n', '', "missing state(s) g_ego"),
    ('"v_ego", "g_ego", "-2*g_ego', '"v_ego", "g_ego", "-2*h_ego', "unknown name(s) h_ego"),
    ('"x_lead - x_ego", "v_lead', '"x_lead*x_ego", "v_lead', "must be affine"),
    ('>= 10 + 1.4*v_ego', '> 10 + 1.4*v_ego', "expected 'lhs <= rhs'"),
    ('period = 0.1', 'period = "fast"', "expected a number"),
    ('controller_5_20.mat', 'nothing.mat', "nothing.mat"),
    # found by fuzzing (tests/io/test_fuzz_nncs.py)
    ('steps = 50', 'steps = true', "expected int"),
    ('steps = 50', 'steps = 50\nstepz = 3', "unknown key(s) 'stepz'"),
    ('substeps = 4', 'substep = 4', "unknown key(s) 'substep'"),
    ('substeps = 4', 'substeps = 0', "between 1 and"),
    ('period = 0.1', 'period = nan', "finite"),
    ('period = 0.1', 'period = -0.1', "must be positive"),
    ('x_ego = [10, 11]', 'x_ego = [10, inf]', "finite"),
    ('mu = 1e-4', 'mu = nan', "finite"),
    ('"v_lead", "g_lead", "-2*g_lead', '"v_lead**999999999", "g_lead", "-2*g_lead', "exponent"),
    ('"v_lead", "g_lead", "-2*g_lead', '"v_lead/0", "g_lead", "-2*g_lead', "infinite"),
    ('"v_lead", "g_lead", "-2*g_lead', '"asin(v_lead)", "g_lead", "-2*g_lead', "unknown name(s) asin"),
    ('"v_lead", "g_lead", "-2*g_lead', '"v_lead**x_ego", "g_lead", "-2*g_lead', "exponents must be numbers"),
    ('"x_lead", "v_lead"', '"x lead", "v_lead"', "not a valid name"),
    ('"x_lead - x_ego >= 10 + 1.4*v_ego"', '"0 >= 10"', "does not depend on the states"),
    ('controllers/controller_5_20.mat', 'controllers/a\\nb.mat', "expected a file name"),
    # sizes that do not fit, in the file's terms
    ('inputs = ["30", "1.4", "v_ego", "x_lead - x_ego", "v_lead - v_ego"]', 'inputs = ["30", "v_ego"]',
     "controller.inputs: 2 expression(s) but the network controllers/controller_5_20.mat has 5 input(s)"),
    ('inputs = ["30", "1.4", "v_ego", "x_lead - x_ego", "v_lead - v_ego"]\n', '',
     "controller.inputs: 6 expression(s) (not given: one per state) but the network "
     "controllers/controller_5_20.mat has 5 input(s)"),
    ('outputs = ["y0"]', 'outputs = ["y0", "-y0"]', "controller.outputs: 2 expression(s) but plant.inputs has 1 input(s)"),
    ('expected = "holds"', 'expected = "yes"', "must be one of"),
    # nonlinear constraints: the names and functions of dynamics, nothing else
    ('"x_lead - x_ego >= 10 + 1.4*v_ego"', '"asin(x_lead) >= 10"', "unknown name(s) asin"),
    ('"x_lead - x_ego >= 10 + 1.4*v_ego"', '"x_lead**y >= 10"', "unknown name(s) y"),
    ('"x_lead - x_ego >= 10 + 1.4*v_ego"', '"sqrt(x_lead) >= [1]"', "spec.safe[0].constraints[0]"),
    # mode-switching controllers
    ('outputs = ["y0"]', 'modes = [[1, 2]]', "controller.modes: expected 1 row(s), one per network output (mode), "
                                             "and 1 column(s), one per plant input (plant.inputs); got 1 x 2"),
    ('outputs = ["y0"]', 'modes = [["fast"]]', "controller.modes: expected a matrix of numbers"),
    ('outputs = ["y0"]', 'outputs = ["y0"]\nmodes = [[1]]', "give outputs"),
    ('model = "controllers/controller_5_20.mat"', 'models = ["controllers/controller_5_20.mat"]',
     "controller.models: a network per mode goes with controller.modes"),
    ('period = 0.1', 'period = 0.1\ninitial_mode = 1', "controller.initial_mode: goes with controller.models"),
    ('model = "controllers/controller_5_20.mat"\n', 'models = ["controllers/controller_5_20.mat"]\ninitial_mode = 1\n'
     'modes = [[-1]]\n', "controller.initial_mode: expected one of 0..0"),
    ('model = "controllers/controller_5_20.mat"\n', 'models = ["controllers/nothing.mat"]\nmodes = [[-1]]\n',
     "nothing.mat"),
])
def test_bad_files_give_one_line_errors_and_exit_code_2(tmp_path, capsys, old, new, message):
    path = _variant(tmp_path, old, new)
    with pytest.raises(InputError, match=None):
        load_config(path)
    assert main(["nncs", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


@pytest.mark.parametrize("old, new, message", [
    ('[0, 0], [0, 2]]', '[0, 0]]', "plant.B: expected 6 row(s), one per state (plant.states), and 2 column(s), one per "
                                   "input (plant.inputs); got 5 x 2"),
    ('[0, 0], [0, 2]]', '[0, 0], [0, 2, 1]]', "plant.B: expected a matrix of numbers"),
    ('[0, 0], [0, 2]]', '[0, 0], [0, 2]]\nc = [0, 0]', "plant.c: expected 6 entries, one per state (plant.states); got 2"),
])
def test_linear_plant_sizes_are_reported_in_the_file_terms(tmp_path, old, new, message):
    with pytest.raises(InputError) as e:
        load_config(_variant(tmp_path, old, new, EXAMPLES / "nncs" / "acc_linear.toml"))
    assert str(e.value) == message


def test_expected_may_be_unknown(tmp_path):
    assert load_config(_variant(tmp_path, 'expected = "holds"', 'expected = "unknown"')).expected == "unknown"


def test_cli_prints_the_verdict_last_and_writes_a_plot(tmp_path, capsys):
    png = tmp_path / "acc.png"
    assert main(["nncs", str(ACC), "--plot", str(png), "--timeout", "60"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == "holds"
    assert png.stat().st_size > 10_000


def test_cli_timeout_verdict(capsys):
    assert main(["nncs", str(EXAMPLES / "nncs" / "tora.toml"), "--timeout", "0.5"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "timeout"


@pytest.mark.parametrize("option, value, message", [("--timeout", "-1", "must be positive"),
                                                    ("--jobs", "0", "must be at least 1")])
def test_cli_bad_options_are_one_line_and_exit_2(capsys, option, value, message):
    assert main(["nncs", str(ACC), option, value]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_expressions_are_parsed_without_running_code(tmp_path):
    marker = tmp_path / "ran"
    path = _variant(tmp_path, '"v_lead", "g_lead", "-2*g_lead',
                    f'"__import__(\'os\').system(\'touch {marker}\')", "g_lead", "-2*g_lead')
    with pytest.raises(InputError, match="unknown name"):
        load_config(path)
    assert not marker.exists()


def test_cli_prints_the_verdict_before_plotting(tmp_path, capsys, monkeypatch):
    import nnreach.nncs.plot as plot

    def plot_outcome(cfg, out, path):
        assert capsys.readouterr().out.strip().splitlines()[-1] == "holds"
        return path

    monkeypatch.setattr(plot, "plot_outcome", plot_outcome)
    assert main(["nncs", str(ACC), "--plot", str(tmp_path / "acc.png"), "--timeout", "60"]) == 0
    assert "plot written to" in capsys.readouterr().err


def test_cli_plot_stops_at_the_time_limit(tmp_path, capsys, monkeypatch):
    import time

    import nnreach.nncs.cli as cli
    import nnreach.nncs.plot as plot

    monkeypatch.setattr(cli, "PLOT_GRACE", 0.5)
    monkeypatch.setattr(plot, "plot_outcome", lambda cfg, out, path: time.sleep(60))
    start = time.perf_counter()
    assert main(["nncs", str(EXAMPLES / "nncs" / "tora.toml"), "--timeout", "0.5", "--plot", str(tmp_path / "t.png")]) == 0
    assert time.perf_counter() - start < 10
    out = capsys.readouterr()
    assert out.out.strip().splitlines()[-1] == "timeout"
    assert "plot not written: the time limit ran out" in out.err


def test_nonlinear_constraints_become_a_nonlinear_set_and_affine_ones_a_polytope(tmp_path):
    from nnreach.nncs.spec import Nonlinear, Polytope

    assert isinstance(load_config(ACC).problem.spec.safe[0].poly, Polytope)
    cfg = load_config(_variant(tmp_path, '"x_lead - x_ego >= 10 + 1.4*v_ego"',
                               '"x_lead - x_ego >= 10 + 1.4*v_ego + 0.001*v_ego**2"'))
    poly = cfg.problem.spec.safe[0].poly
    assert isinstance(poly, Nonlinear) and not cfg.problem.spec.affine
    x = np.array([[100.0, 32.0, 0.0, 10.5, 30.1, 0.0]])
    assert poly.excess(x)[0] == pytest.approx(10 + 1.4 * 30.1 + 0.001 * 30.1 ** 2 - 89.5)


def test_star_methods_refuse_nonlinear_constraints_by_name(tmp_path, capsys):
    text = (EXAMPLES / "nncs" / "acc_linear.toml").read_text()
    text = text.replace('"x_lead - x_ego >= 10 + 1.4*v_ego"', '"x_lead - x_ego >= 10 + 1.4*v_ego + 0.001*v_ego**2"')
    text = text.replace("[options]\n", '[options]\nmethod = "approx-star"\n')
    shutil.copytree(EXAMPLES / "nncs" / "controllers", tmp_path / "controllers")
    path = tmp_path / "star.toml"
    path.write_text(text)
    assert main(["nncs", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "approx-star checks affine specifications only" in err


def test_a_nonlinear_spec_is_decided_and_plotted(tmp_path, capsys):
    """The single pendulum with an elliptic safe set and a disc to avoid in its phase plane: holds,
    and the plot has the disc (drawn on a grid)."""
    extra = ('[[spec.safe]]\nconstraints = ["th**2 + 0.1*dth**2 <= 1.5"]\n\n'
             '[[spec.avoid]]\nconstraints = ["(th - 0.4)**2 + (dth + 0.6)**2 <= 0.04"]\n\n[options]')
    path = _variant(tmp_path, "[options]", extra, EXAMPLES / "nncs" / "single_pendulum.toml")
    png = tmp_path / "p.png"
    assert main(["nncs", str(path), "--plot", str(png), "--timeout", "60"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "holds"
    assert png.stat().st_size > 10_000
    path.write_text(path.read_text().replace("<= 1.5", "<= 1.2"))
    assert main(["nncs", str(path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == "violated" and "leaves the safe set at t = 0" in out[-2]


def test_models_give_a_network_per_mode(tmp_path):
    path = _variant(tmp_path, 'model = "controllers/controller_5_20.mat"\n',
                    'models = ["controllers/controller_5_20.mat"]\nmodes = [[-1]]\n')
    path.write_text(path.read_text().replace('outputs = ["y0"]\n', ''))
    loop = load_config(path).problem.loop
    assert len(loop.modes.networks) == 1 and loop.modes.initial == 0
    assert loop.decide(np.zeros((1, 6)))[0].tolist() == [[-1.0]]


def test_modes_make_a_mode_switching_loop_that_star_methods_refuse(tmp_path, capsys):
    loop = load_config(_variant(tmp_path, 'outputs = ["y0"]', 'modes = [[-1.5]]')).problem.loop
    assert loop.modes is not None and loop.control(np.zeros((2, 6))).tolist() == [[-1.5], [-1.5]]
    text = (EXAMPLES / "nncs" / "acc_linear.toml").read_text().replace('outputs = ["-2", "y0"]', 'modes = [[-2, 1]]')
    path = tmp_path / "star_modes.toml"
    path.write_text(text.replace("[options]\n", '[options]\nmethod = "exact-star"\n'))
    assert main(["nncs", str(path)]) == 2
    assert "exact-star does not follow mode-switching controllers" in capsys.readouterr().err

