"""``nnreach bench``: the summary line, wrong verdicts, time limits, --out/--resume, --jobs, peers, bad input.

Real runs use ``../shared/benchmarks/test`` (skipped when absent); the rest uses a fake verifier whose
behaviour is the first word of its "spec" file (``holds``, ``violated``, ``sleep``, ``crash``, ...).
"""

from __future__ import annotations

import csv
import os
import re
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nnreach.bench import (Options, Run, SerialExecutor, Summary, ThreadExecutor, is_wrong, read_instances,
                           run_benchmark)
from nnreach.cli import main
from nnreach.errors import InputError

SUMMARY = re.compile(r"solved (\d+)/(\d+) \(holds (\d+), violated (\d+)\), wrong (\d+), unknown (\d+), "
                     r"timeout (\d+), total \d+\.\d s, median \d+\.\d\d s")

FAKE_VERIFIER = textwrap.dedent("""\
    import os, shutil, sys, time
    model, spec, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    result = rest[rest.index("--result-file") + 1]
    word = open(spec).read().split()[0]
    if os.environ.get("SNAPSHOT_OF"):  # what the out file held when this row started
        shutil.copy(os.environ["SNAPSHOT_OF"], spec + ".seen")
    if word == "sleep":
        with open(spec + ".pid", "w") as f:
            f.write(str(os.getpid()))
        time.sleep(60)
    if word == "crash":
        print("nnreach: error: cannot read model", file=sys.stderr)
        sys.exit(2)
    if word == "garbage":
        print("no verdict here")
        sys.exit(0)
    with open(result, "w") as f:
        f.write({"holds": "unsat", "violated": "sat"}.get(word, word) + "\\n")
    print(word)
""")

FAKE_PEER = textwrap.dedent("""\
    import sys, time
    onnx, vnnlib, timeout, result = sys.argv[1:]
    time.sleep(0.05)
    with open(result, "w") as f:
        f.write(("sat" if "test_sat" in onnx else "unsat") + "\\n")
""")


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def counts(line: str) -> dict[str, int]:
    m = SUMMARY.fullmatch(line)
    assert m, f"summary line not in the documented format: {line!r}"
    keys = ("solved", "total", "holds", "violated", "wrong", "unknown", "timeout")
    return dict(zip(keys, map(int, m.groups())))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


# ----------------------------------------------------------------------- synthetic (fake verifier)

@pytest.fixture
def fake(tmp_path):
    """Make an instances CSV of fake rows: ``make(["holds", "sleep"]) -> (csv path, Options)``."""
    script = tmp_path / "fake_verifier.py"
    script.write_text(FAKE_VERIFIER)

    def make(words, *, timeout=10, name="instances.csv", **options):
        lines = []
        for i, word in enumerate(words):
            (tmp_path / f"net{i}.onnx").write_text("")
            (tmp_path / f"spec{i}.vnnlib").write_text(word)
            lines.append(f"net{i}.onnx,spec{i}.vnnlib,{timeout}")
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n")
        return path, Options(command=(sys.executable, str(script)), **options)

    return make


def test_summary_counts_errors_and_median(fake, tmp_path, capsys):
    path, opts = fake(["holds", "violated", "unknown", "timeout", "crash", "garbage"])
    code = run_benchmark(path, options=opts)
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert code == 0
    assert counts(lines[-1]) == dict(solved=2, total=6, holds=1, violated=1, wrong=0, unknown=1, timeout=1)
    assert lines[-2] == "errors 2"
    assert "cannot read model" in out and "no verdict" in out
    assert "ERROR" in out


def test_summary_line_numbers():
    runs = [(Run("holds", 1.0), "unsat"), (Run("violated", 2.0), "sat"), (Run("holds", 3.0), "sat"),
            (Run("violated", 10.0), "unknown"), (Run("timeout", 4.0), "")]
    line = Summary.of(runs).line()
    assert line == ("solved 3/5 (holds 1, violated 2), wrong 1, unknown 0, timeout 1, "
                    "total 20.0 s, median 3.00 s")
    assert not is_wrong("violated", "unknown") and not is_wrong("holds", "")
    assert is_wrong("holds", "sat") and is_wrong("violated", "unsat") and not is_wrong("unknown", "sat")


def test_wrong_verdicts_are_loud_and_exit_1(fake, tmp_path, capsys):
    path, opts = fake(["holds", "violated", "holds"])
    expected = tmp_path / "expected.csv"
    expected.write_text("onnx,vnnlib,expected\nnet0.onnx,spec0.vnnlib,sat\n"
                        "net1.onnx,spec1.vnnlib,unknown\nnet2.onnx,spec2.vnnlib,unsat\n")
    code = run_benchmark(path, options=opts, expected=expected)
    out = capsys.readouterr().out
    assert code == 1
    assert counts(last_line(out))["wrong"] == 1
    assert counts(last_line(out))["solved"] == 2
    assert re.search(r"net0 spec0: holds .*\(expected sat\) WRONG", out)
    assert "WRONG net0.onnx spec0.vnnlib: holds, expected sat" in out
    assert re.search(r"net2 spec2: holds .*\(expected unsat\) ok", out)


def test_a_row_past_its_limit_is_killed_with_its_group(fake, tmp_path, capsys):
    path, opts = fake(["sleep", "holds"], timeout=1, grace=0.5)
    start = time.perf_counter()
    code = run_benchmark(path, options=opts)
    elapsed = time.perf_counter() - start
    out = capsys.readouterr().out
    assert code == 0
    assert elapsed < 10, f"the sleeping row was not killed ({elapsed:.1f} s)"
    assert counts(last_line(out))["timeout"] == 1
    assert re.search(r"net0 spec0: timeout 1\.\d\d s", out)
    pid = int((tmp_path / "spec0.vnnlib.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_out_is_written_row_by_row_and_resume_skips_done_rows(fake, tmp_path, capsys):
    out_csv = tmp_path / "out.csv"
    path, opts = fake(["holds", "violated", "holds"], env=(("SNAPSHOT_OF", str(tmp_path / "out.csv")),))
    # first two rows only
    two = tmp_path / "two.csv"
    two.write_text("\n".join(path.read_text().splitlines()[:2]) + "\n")
    assert run_benchmark(two, options=opts, out=out_csv) == 0
    seen = (tmp_path / "spec1.vnnlib.seen").read_text().splitlines()
    assert len(seen) == 2 and seen[1].startswith("net0.onnx,spec0.vnnlib,holds,")  # flushed before row 2
    first = read_csv(out_csv)
    assert [r["verdict"] for r in first] == ["holds", "violated"]
    assert list(first[0]) == ["onnx", "vnnlib", "verdict", "seconds", "method", "expected", "correct"]
    capsys.readouterr()

    (tmp_path / "spec0.vnnlib").write_text("crash")  # would be an error if it ran again
    assert run_benchmark(path, options=opts, out=out_csv, resume=True) == 0
    out = capsys.readouterr().out
    assert "resume: 2 of 3" in out
    assert "[3/3] net2 spec2: holds" in out and "[1/3]" not in out and "[2/3]" not in out
    assert counts(last_line(out)) == dict(solved=3, total=3, holds=2, violated=1, wrong=0, unknown=0, timeout=0)
    assert [(r["onnx"], r["verdict"]) for r in read_csv(out_csv)] == [
        ("net0.onnx", "holds"), ("net1.onnx", "violated"), ("net2.onnx", "holds")]


def test_thread_executor_gives_the_serial_results(fake, tmp_path, capsys):
    words = ["holds", "violated", "unknown", "crash", "holds", "violated"]
    path, opts = fake(words)
    serial = tmp_path / "serial.csv"
    threaded = tmp_path / "threaded.csv"
    run_benchmark(path, options=opts, out=serial, executor=SerialExecutor())
    run_benchmark(path, options=opts, out=threaded, executor=ThreadExecutor(3))
    a = capsys.readouterr().out.strip().splitlines()
    by_key = lambda p: sorted((r["onnx"], r["vnnlib"], r["verdict"]) for r in read_csv(p))  # noqa: E731
    assert by_key(serial) == by_key(threaded)
    assert [r[2] for r in by_key(serial)] == [w.replace("crash", "error") for w in words]
    summaries = [ln for ln in a if ln.startswith("solved ")]
    assert len(summaries) == 2 and summaries[0].split(", total")[0] == summaries[1].split(", total")[0]


# ------------------------------------------------------------------------------ bad input, CLI

def run_cli(capsys, *argv):
    code = main(["bench", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("text, where", [
    ("a.onnx,b.vnnlib,60\na.onnx,b.vnnlib\n", "line 2"),
    ("a.onnx,b.vnnlib,60\n\na.onnx,b.vnnlib,soon\n", "line 3"),
    ("a.onnx,b.vnnlib,-1\n", "line 1"),
    ("a.onnx,missing.vnnlib,60\n", "line 1"),
    ("onnx,vnnlib,timeout\n", "no instances"),
])
def test_malformed_instances_exit_2_with_one_line(capsys, tmp_path, text, where):
    (tmp_path / "a.onnx").write_text("")
    (tmp_path / "b.vnnlib").write_text("")
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    code, out, err = run_cli(capsys, bad)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and where in err, err
    assert "Traceback" not in err


def test_header_blank_lines_and_comments_are_skipped(tmp_path):
    (tmp_path / "a.onnx").write_text("")
    (tmp_path / "b.vnnlib").write_text("")
    path = tmp_path / "ok.csv"
    path.write_text("onnx,vnnlib,timeout\n\n# a comment\na.onnx,b.vnnlib,60\n\n")
    rows = read_instances(path)
    assert [(r.onnx, r.vnnlib, r.timeout, r.line) for r in rows] == [("a.onnx", "b.vnnlib", 60.0, 4)]


def test_bad_expected_resume_without_out_and_peer_without_result(capsys, fake, tmp_path):
    path, _ = fake(["holds"])
    expected = tmp_path / "expected.csv"
    expected.write_text("onnx,vnnlib,expected\nnet0.onnx,spec0.vnnlib,maybe\n")
    for argv, where in [((path, "--expected", expected), "line 2"), ((path, "--resume"), "--out"),
                        ((path, "--peer-cmd", "echo {onnx}"), "{result}"), ((path, "--jobs", "0"), "jobs")]:
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and len(err.strip().splitlines()) == 1 and where in err, err
    with pytest.raises(InputError, match="line 1"):
        (tmp_path / "e2.csv").write_text("model,prop,verdict\n")
        run_benchmark(path, expected=tmp_path / "e2.csv")


# ---------------------------------------------------------------- real runs on ../shared/benchmarks/test

@pytest.fixture
def test_csv(benchmarks, tmp_path):
    instances = benchmarks / "test" / "test_instances.csv"
    if not instances.is_file():
        pytest.skip(f"{instances} not found")
    expected = tmp_path / "expected.csv"
    expected.write_text("onnx,vnnlib,expected\n" + "".join(
        f"{row.onnx},{row.vnnlib},{'sat' if row.onnx == 'test_sat.onnx' else 'unsat'}\n"
        for row in read_instances(instances)))
    return instances, expected


def test_real_run_summary_and_jobs_2_match_jobs_1(capsys, test_csv, tmp_path):
    instances, expected = test_csv
    outs = []
    for jobs in (1, 2):
        out_csv = tmp_path / f"out{jobs}.csv"
        code, out, err = run_cli(capsys, instances, "--expected", expected, "--out", out_csv, "--jobs", jobs)
        assert code == 0, out + err
        c = counts(last_line(out))
        assert c["total"] == 5 and c["wrong"] == 0 and c["violated"] == 1
        assert c["solved"] + c["unknown"] + c["timeout"] == 5
        assert re.search(r"\[\d/5\] test_sat test_prop: violated \d+\.\d\d s \(expected sat\) ok", out)
        outs.append(sorted((r["onnx"], r["vnnlib"], r["verdict"], r["correct"]) for r in read_csv(out_csv)))
    assert outs[0] == outs[1]


def test_real_wrong_expectation_exits_1(capsys, test_csv, tmp_path):
    instances, _ = test_csv
    one = tmp_path / "one.csv"
    one.write_text(f"{instances.parent / 'test_sat.onnx'},{instances.parent / 'test_prop.vnnlib'},60\n")
    lying = tmp_path / "lying.csv"
    lying.write_text("onnx,vnnlib,expected\ntest_sat.onnx,test_prop.vnnlib,unsat\n")
    code, out, _ = run_cli(capsys, one, "--expected", lying)
    assert code == 1
    assert counts(last_line(out))["wrong"] == 1 and "WRONG" in out


def test_real_peer_gives_ratios(capsys, test_csv, tmp_path):
    instances, expected = test_csv
    peer = tmp_path / "peer.py"
    peer.write_text(FAKE_PEER)
    out_csv = tmp_path / "out.csv"
    code, out, err = run_cli(capsys, instances, "--expected", expected, "--out", out_csv,
                             "--peer-cmd", f"{sys.executable} {peer} {{onnx}} {{vnnlib}} {{timeout}} {{result}}")
    assert code == 0, out + err
    lines = out.strip().splitlines()
    assert len([ln for ln in lines if re.search(r"\| peer (holds|violated) \d+\.\d\d s, ratio \d+\.\d\d ok$", ln)]) == 5
    assert counts(lines[-3].removeprefix("peer: ")) == dict(solved=5, total=5, holds=4, violated=1, wrong=0,
                                                            unknown=0, timeout=0)
    assert re.fullmatch(r"ratio peer/nnreach over 5 instances: total \d+\.\d\d, median \d+\.\d\d", lines[-2])
    assert counts(lines[-1])["total"] == 5
    rows = read_csv(out_csv)
    assert list(rows[0])[-3:] == ["peer_verdict", "peer_seconds", "peer_correct"]
    assert {r["peer_verdict"] for r in rows} == {"holds", "violated"}


def test_real_peer_past_its_limit_is_killed(capsys, test_csv, tmp_path):
    instances, _ = test_csv
    one = tmp_path / "one.csv"
    one.write_text(f"{instances.parent / 'test_nano.onnx'},{instances.parent / 'test_nano.vnnlib'},60\n")
    start = time.perf_counter()
    code, out, _ = run_cli(capsys, one, "--timeout-scale", "0.02", "--grace", "0.5",
                           "--peer-cmd", "sleep 30; echo unsat > {result}")
    assert time.perf_counter() - start < 10
    assert code == 0
    assert re.search(r"\| peer timeout 1\.\d\d s", out), out
