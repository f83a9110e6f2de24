"""Ray execution: pooled calls, benchmark rows, region-search chunks and closed-loop boxes as tasks on a
local 2-CPU Ray cluster give the results of local runs, and a worker that dies mid-task loses no result
and duplicates none."""

from __future__ import annotations

import csv
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ..test_bench import counts, last_line, run_cli, test_csv  # noqa: F401 (test_csv is a fixture)
from . import test_pools
from .test_pools import (assert_pool_runs_calls_on_its_state, assert_shared_search_agrees_with_brute_force, scaled,
                         waits_to_be_hurried)

ray = pytest.importorskip("ray")

from nnreach.verify.search.workers import search_chunk  # noqa: E402
from nnreach.parallel.pools import RayPool  # noqa: E402
from nnreach.parallel.ray_tasks import RayExecutor, connect  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def cluster():
    for module in (sys.modules[__name__], test_pools):
        ray.cloudpickle.register_pickle_by_value(module)  # workers need not import tests/
    assert connect("local", cpus=2) == 2
    yield
    ray.shutdown()


def _double(x: int) -> int:
    return 2 * x


def _die_once(item: tuple[int, str]) -> tuple[int, int]:
    """The first attempt at item 3 kills its worker process; a retry returns normally."""
    k, marker = item
    if k == 3 and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os._exit(1)
    return k, os.getpid()


def test_a_ray_pool_runs_calls_in_tasks_on_one_blas_thread():
    assert os.getpid() not in assert_pool_runs_calls_on_its_state(RayPool(scaled, 3, 2))


def test_hurrying_a_ray_pool_reaches_its_running_tasks_until_it_is_called_off():
    with RayPool(waits_to_be_hurried, None, 2) as pool, RayPool(waits_to_be_hurried, None, 1) as other:
        calls = [pool.submit(60.0) for _ in range(2)]
        time.sleep(1.0)
        pool.hurry()
        assert all(c.result(timeout=30) is not None for c in calls)
        assert other.submit(1.0).result(timeout=30) is None     # another pool's tasks are not hurried
        pool.hurry(False)
        assert pool.submit(0.5).result(timeout=30) is None
        left = pool.submit(60.0)
        time.sleep(1.0)
        start = time.monotonic()
    assert time.monotonic() - start < 30         # leaving the pool ended the task left running:
    try:                                         # hurried or interrupted, whichever reached it first
        assert left.result(timeout=1) is not None
    except ray.exceptions.TaskCancelledError:
        pass


def test_executor_returns_every_result_once():
    got = sorted(RayExecutor().map_unordered(_double, list(range(7))))
    assert got == [(i, 2 * i) for i in range(7)]


def test_a_killed_worker_is_retried_and_nothing_is_lost_or_doubled(tmp_path):
    marker = str(tmp_path / "died")
    items = [(k, marker) for k in range(6)]
    got = list(RayExecutor().map_unordered(_die_once, items))
    assert Path(marker).exists()  # the worker really died once
    assert sorted(i for i, _ in got) == list(range(6))  # each index exactly once
    assert all(res[0] == items[i][0] for i, res in got)
    dead = int(Path(marker).read_text())
    assert dict(got)[3][1] != dead  # item 3's result came from another worker process


def test_region_search_chunks_as_ray_tasks_agree_with_brute_force():
    assert_shared_search_agrees_with_brute_force(lambda job, n: RayPool(search_chunk, job, n), 6)


def _verdicts(path: Path) -> list[tuple[str, str, str]]:
    with path.open() as f:
        return sorted((r["onnx"], r["vnnlib"], r["verdict"]) for r in csv.DictReader(f))


def test_bench_rows_on_ray_match_the_local_run(capsys, test_csv, tmp_path):  # noqa: F811
    instances, expected = test_csv
    results = {}
    for mode, extra in (("local", ("--jobs", "2")), ("ray", ("--ray", "local"))):
        out_csv = tmp_path / f"{mode}.csv"
        code, out, err = run_cli(capsys, instances, "--expected", expected, "--out", out_csv, *extra)
        assert code == 0, out + err
        c = counts(last_line(out))
        assert c["total"] == 5 and c["wrong"] == 0
        results[mode] = _verdicts(out_csv)
    assert "ray: 2 CPUs" in out
    assert results["ray"] == results["local"]


def test_closed_loop_x0_boxes_as_ray_tasks_are_the_serial_ones():
    from nnreach.nncs.config import load_config
    from nnreach.nncs.verdict import Verdict
    from nnreach.nncs.verdict import verify as verify_loop

    from ..conftest import EXAMPLES

    pb = load_config(EXAMPLES / "nncs/tora.toml").problem
    serial, on_ray = verify_loop(pb, timeout=120), verify_loop(pb, timeout=120, ray="local")
    assert serial.verdict is on_ray.verdict is Verdict.HOLDS and serial.pieces == on_ray.pieces > 1
    boxes = [sorted(tuple(np.round(np.concatenate(p.samples[0].bounds()), 12)) for p in o.flowpipes)
             for o in (serial, on_ray)]
    assert boxes[0] == boxes[1]
