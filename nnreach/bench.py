"""Run a benchmark: a CSV of VNN-COMP instances, each verified in its own process, then a summary.

``nnreach bench INSTANCES.csv`` reads rows ``onnx,vnnlib,timeout`` (paths relative to the CSV's
folder; a header row, blank lines and ``#`` comments are skipped) and runs, per row::

    <python> -m nnreach.cli verify MODEL SPEC --timeout T --method M --jobs J --result-file TMP

with ``T = timeout * timeout_scale`` and ``J`` the cores left to each row (all of them with
``--jobs 1``, one each when as many rows run at once as there are cores). The time of a row is the wall time of that process, start-up
included. A process still running at ``T + grace`` is killed with its whole process group and the row
counts as ``timeout``. The verdict is the last stdout line; exit code 1 or 2 (or output without a
verdict) makes the row an ``error``, reported with the last stderr line.

Verdicts and expectations (``--expected``, VNN-COMP words ``sat``/``unsat``/``unknown``): a verdict
is *wrong* when it says ``holds`` where ``sat`` is expected or ``violated`` where ``unsat`` is
expected. With ``unknown`` expected, or no expectation, a decided verdict is never wrong. The
probabilistic ``holds-probably`` (method ``conformal``) counts as ``unknown``: it is not a proof.

The summary's last line is exactly::

    solved N/M (holds H, violated V), wrong W, unknown U, timeout T, total S s, median S s

- ``M``: the instances of the CSV (rows taken over from ``--out`` by ``--resume`` included);
- ``N = H + V``: decided verdicts (``holds`` / ``violated``) that are not wrong;
- ``W``: wrong verdicts, ``U``: ``unknown``, ``T``: ``timeout`` (killed rows included);
- errors are in none of these: when there are any, a line ``errors E`` comes just before;
- ``total``: the sum of the per-instance wall times, 1 decimal; ``median``: the median of the wall
  times of all ``M`` instances, 2 decimals.

So ``N + W + U + T + E = M``.

A peer (``--peer-cmd``, a shell command template with ``{onnx} {vnnlib} {timeout} {result}``) runs
right after nnreach on each row under the same limits; its result file (VNN-COMP format: ``sat`` /
``unsat`` / ``unknown`` / ``timeout`` on the first line) is read and its verdict translated to
``violated`` / ``holds`` / ``unknown`` / ``timeout``. Its ratios are ``peer time / our time``: per
instance, of the totals, and the median of the per-instance ratios. A peer's wrong verdicts are shown
but do not change the exit code, which is 1 when any of *our* verdicts is wrong, else 0.

Execution is split so that another executor (e.g. Ray tasks) can be plugged in: :func:`run_row` is a
pure function of a :class:`Row` and :class:`Options` (both picklable frozen dataclasses) returning a
:class:`RowResult`, and an executor only needs ``map_unordered(fn, items)`` yielding
``(index, fn(item))`` pairs as they finish (:class:`SerialExecutor`, :class:`ThreadExecutor`).

Example::

    nnreach bench ../shared/benchmarks/acasxu/acasxu_instances.csv \\
        --expected ../shared/benchmarks/acasxu/expected.csv --out out/acasxu.csv --jobs 2
"""

from __future__ import annotations

import csv
import functools
import math
import os
import posixpath
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO, TypeVar

from . import progress
from .errors import InputError

VERDICTS = ("holds", "violated", "unknown", "timeout")
EXPECTATIONS = ("sat", "unsat", "unknown")
NOT_PROOFS = {"holds-probably": "unknown"}
"""Verdicts that are counted as another: a probabilistic one (``conformal``) is not a proof."""
_FROM_VNNCOMP = {"sat": "violated", "unsat": "holds", "unknown": "unknown", "timeout": "timeout"}
_OUT_COLUMNS = ("onnx", "vnnlib", "verdict", "seconds", "method", "expected", "correct")
_PEER_COLUMNS = ("peer_verdict", "peer_seconds", "peer_correct")


# ----------------------------------------------------------------------------------------- inputs

@dataclass(frozen=True, slots=True)
class Row:
    """One instance: ``onnx`` and ``vnnlib`` as written in the CSV, resolved against ``folder``."""

    onnx: str
    vnnlib: str
    timeout: float
    folder: str
    line: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return _key(self.onnx, self.vnnlib)

    @property
    def model_path(self) -> str:
        return str(Path(self.folder) / self.onnx)

    @property
    def spec_path(self) -> str:
        return str(Path(self.folder) / self.vnnlib)

    @property
    def name(self) -> str:
        return f"{Path(self.onnx).stem} {Path(self.vnnlib).stem}"


@dataclass(frozen=True, slots=True)
class Options:
    """How each row is run.

    Attributes:
        method: ``--method`` passed to ``nnreach verify``.
        timeout_scale: factor applied to each row's timeout.
        grace: seconds past the (scaled) timeout before a process group is killed.
        peer_cmd: shell command template of another verifier, or None.
        command: the verifier's argv prefix; the default runs this package with this interpreter.
        row_jobs: worker processes each row's verifier may use (``--jobs``).
        env: extra environment variables for every process, as ``(name, value)`` pairs.
    """

    method: str = "auto"
    timeout_scale: float = 1.0
    grace: float = 5.0
    peer_cmd: str | None = None
    command: tuple[str, ...] = (sys.executable, "-m", "nnreach.cli", "verify")
    row_jobs: int = 1
    env: tuple[tuple[str, str], ...] = ()


def _key(onnx: str, vnnlib: str) -> tuple[str, str]:
    return posixpath.normpath(onnx.strip()), posixpath.normpath(vnnlib.strip())


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise InputError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read {what} {path}: {e}") from None


def read_instances(path: str | Path) -> list[Row]:
    """Rows of an instances CSV (``onnx,vnnlib,timeout``); InputError naming the line if malformed."""
    path = Path(path)
    folder = str(path.resolve().parent)
    rows: list[Row] = []
    seen_content = False
    for lineno, line in enumerate(_read_text(path, "instances file").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in next(csv.reader([line]))]
        while len(fields) > 3 and not fields[-1]:
            fields.pop()
        where = f"{path} line {lineno}"
        if len(fields) != 3:
            raise InputError(f"{where}: expected 3 fields onnx,vnnlib,timeout, got {len(fields)}: {line.strip()!r}")
        onnx, vnnlib, timeout_text = fields
        try:
            timeout = float(timeout_text)
        except ValueError:
            if not seen_content:  # a header row
                seen_content = True
                continue
            raise InputError(f"{where}: timeout is not a number: {timeout_text!r}") from None
        seen_content = True
        if not (math.isfinite(timeout) and timeout > 0):
            raise InputError(f"{where}: timeout must be positive, got {timeout_text}")
        row = Row(onnx, vnnlib, timeout, folder, lineno)
        for label, file in (("model", row.model_path), ("spec", row.spec_path)):
            if not Path(file).is_file():
                raise InputError(f"{where}: {label} file not found: {file}")
        rows.append(row)
    if not rows:
        raise InputError(f"{path}: no instances")
    return rows


def _abs_key(folder: str | Path, onnx: str, vnnlib: str) -> tuple[str, str]:
    return (os.path.normpath(Path(folder, onnx.strip()).absolute()),
            os.path.normpath(Path(folder, vnnlib.strip()).absolute()))


def read_expected(path: str | Path) -> dict[tuple[str, str], str]:
    """Expectations (``sat`` / ``unsat`` / ``unknown``) from a CSV with header ``onnx,vnnlib,expected,...``.

    Each entry is keyed by the paths resolved against the CSV's folder, by the paths as written and,
    when no other entry has the same pair of file names, by the file names alone (``name:`` keys);
    :func:`expected_for` tries them in that order.
    """
    path = Path(path)
    folder = path.resolve().parent
    reader = csv.DictReader(_read_text(path, "expected file").splitlines())
    missing = {"onnx", "vnnlib", "expected"} - set(reader.fieldnames or ())
    if missing:
        raise InputError(f"{path} line 1: header lacks column(s) {', '.join(sorted(missing))}")
    table: dict[tuple[str, str], str] = {}
    for rec in reader:
        if not any((v or "").strip() for v in rec.values() if isinstance(v, str)):
            continue
        word = (rec["expected"] or "").strip().lower()
        if word not in EXPECTATIONS or not rec["onnx"] or not rec["vnnlib"]:
            raise InputError(f"{path} line {reader.line_num}: expected sat, unsat or unknown with onnx "
                             f"and vnnlib, got {','.join(str(v) for v in rec.values())!r}")
        table[_key(rec["onnx"], rec["vnnlib"])] = word
        table[_abs_key(folder, rec["onnx"], rec["vnnlib"])] = word
        names = _name_key(rec["onnx"], rec["vnnlib"])
        table[names] = "" if names in table else word  # an ambiguous pair of names matches nothing
    return table


def _name_key(onnx: str, vnnlib: str) -> tuple[str, str]:
    return "name:" + Path(onnx.strip()).name, "name:" + Path(vnnlib.strip()).name


def expected_for(row: Row, table: dict[tuple[str, str], str]) -> str:
    """The expectation of ``row`` (empty when there is none)."""
    return (table.get(_abs_key(row.folder, row.onnx, row.vnnlib)) or table.get(row.key)
            or table.get(_name_key(row.onnx, row.vnnlib), ""))


# ------------------------------------------------------------------------------------- one row

@dataclass(frozen=True, slots=True)
class Run:
    """One verifier's outcome on one row: a verdict word or ``error``, wall seconds, a note."""

    verdict: str
    seconds: float
    message: str = ""


@dataclass(frozen=True, slots=True)
class RowResult:
    """What :func:`run_row` returns; ``peer`` is None when no peer ran."""

    onnx: str
    vnnlib: str
    method: str
    ours: Run
    peer: Run | None = None

    @property
    def key(self) -> tuple[str, str]:
        return _key(self.onnx, self.vnnlib)


@dataclass(frozen=True, slots=True)
class _Exit:
    returncode: int | None  # None when it was killed at the limit or could not start
    stdout: str
    stderr: str
    seconds: float
    killed: bool = False


_LIVE: set[int] = set()            # process groups now running, so that an interrupt can end them
_LIVE_LOCK = threading.Lock()


def stop_running() -> None:
    """Kill the process groups of all rows still running (on an interrupt)."""
    with _LIVE_LOCK:
        groups = list(_LIVE)
    for pid in groups:
        _kill_group(pid)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _run_process(cmd: list[str] | str, limit: float, env: dict[str, str]) -> _Exit:
    """Run ``cmd`` (a string runs through the shell) in its own process group, at most ``limit`` s."""
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(cmd, shell=isinstance(cmd, str), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                errors="replace", start_new_session=True, env=env)
    except OSError as e:
        return _Exit(None, "", f"cannot start {cmd if isinstance(cmd, str) else cmd[0]}: {e.strerror}",
                     time.perf_counter() - start)
    with _LIVE_LOCK:
        _LIVE.add(proc.pid)
    killed = False
    try:
        try:
            out, err = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            killed = True
            _kill_group(proc.pid)
            try:
                out, err = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:  # a descendant left the group and keeps the pipes open
                out, err = "", ""
    finally:
        if proc.poll() is None:
            _kill_group(proc.pid)
            proc.wait()
        with _LIVE_LOCK:
            _LIVE.discard(proc.pid)
    seconds = time.perf_counter() - start
    return _Exit(None if killed else proc.returncode, out or "", err or "", seconds, killed)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _first_word(path: Path) -> str | None:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    lines = text.strip().splitlines()
    return lines[0].strip().lower() if lines else ""


def _failure(ex: _Exit, who: str) -> str:
    if ex.returncode is not None and ex.returncode < 0:
        return f"{who} killed by signal {-ex.returncode}"
    return _last_line(ex.stderr) or f"{who} exit code {ex.returncode}"


def _run_ours(row: Row, options: Options, limit: float, tmp: Path, env: dict[str, str]) -> Run:
    result_file = tmp / "nnreach.txt"
    cmd = [*options.command, row.model_path, row.spec_path, "--timeout", repr(limit),
           "--method", options.method, "--jobs", str(options.row_jobs), "--result-file", str(result_file)]
    ex = _run_process(cmd, limit + options.grace, env)
    if ex.killed:
        return Run("timeout", ex.seconds, f"killed after {ex.seconds:.1f} s")
    if ex.returncode != 0:
        return Run("error", ex.seconds, _failure(ex, "nnreach"))
    verdict = _last_line(ex.stdout)
    verdict = NOT_PROOFS.get(verdict, verdict)
    if verdict not in VERDICTS:
        return Run("error", ex.seconds, f"no verdict on the last stdout line: {verdict[:80]!r}")
    word = _first_word(result_file)
    if word is not None and _FROM_VNNCOMP.get(word) != verdict:
        return Run("error", ex.seconds, f"stdout says {verdict} but the result file says {word!r}")
    return Run(verdict, ex.seconds)


_PLACEHOLDER = re.compile(r"\{(onnx|vnnlib|timeout|result)\}")


def fill_template(template: str, values: dict[str, str]) -> str:
    """Replace ``{onnx} {vnnlib} {timeout} {result}`` by shell-quoted values; other braces stay."""
    import shlex
    return _PLACEHOLDER.sub(lambda m: shlex.quote(values[m.group(1)]), template)


def _run_peer(row: Row, options: Options, limit: float, tmp: Path, env: dict[str, str]) -> Run:
    result_file = tmp / "peer.txt"
    cmd = fill_template(options.peer_cmd or "", {"onnx": row.model_path, "vnnlib": row.spec_path,
                                                 "timeout": repr(limit), "result": str(result_file)})
    ex = _run_process(cmd, limit + options.grace, env)
    if ex.killed:
        return Run("timeout", ex.seconds, f"killed after {ex.seconds:.1f} s")
    word = _first_word(result_file)
    if word in _FROM_VNNCOMP:
        return Run(_FROM_VNNCOMP[word], ex.seconds)
    if word is None:
        note = _failure(ex, "peer") if ex.returncode else "peer wrote no result file"
    else:
        note = f"peer result file starts with {word[:40]!r}"
    return Run("error", ex.seconds, note)


def run_row(row: Row, options: Options) -> RowResult:
    """Run nnreach (then the peer, if any) on one row. Pure apart from the processes it starts."""
    limit = row.timeout * options.timeout_scale
    env = {**os.environ, **dict(options.env)}
    with tempfile.TemporaryDirectory(prefix="nnreach-bench-") as tmp:
        ours = _run_ours(row, options, limit, Path(tmp), env)
        peer = _run_peer(row, options, limit, Path(tmp), env) if options.peer_cmd else None
    return RowResult(row.onnx, row.vnnlib, options.method, ours, peer)


# ------------------------------------------------------------------------------------ executors

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Maps a function over items, yielding ``(index, result)`` pairs as each finishes."""

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]: ...


class SerialExecutor:
    """One item after the other, in order."""

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        for i, item in enumerate(items):
            yield i, fn(item)


@dataclass(frozen=True)
class ThreadExecutor:
    """``jobs`` items at once on threads (each item's work is a subprocess, so threads suffice)."""

    jobs: int

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="nnreach-bench")
        try:
            index = {pool.submit(fn, item): i for i, item in enumerate(items)}
            pending = set(index)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=index.__getitem__):
                    yield index[fut], fut.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def executor_for(jobs: int) -> Executor:
    return SerialExecutor() if jobs <= 1 else ThreadExecutor(jobs)


# -------------------------------------------------------------------------------------- summary

def is_wrong(verdict: str, expected: str) -> bool:
    """True when ``verdict`` contradicts the expectation (holds for sat, violated for unsat)."""
    return (verdict, expected) in {("holds", "sat"), ("violated", "unsat")}


def correctness(verdict: str, expected: str) -> str:
    """The ``correct`` column: ``no`` if wrong, ``yes`` if decided with an expectation, else empty."""
    if is_wrong(verdict, expected):
        return "no"
    return "yes" if verdict in ("holds", "violated") and expected in EXPECTATIONS else ""


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts over a list of runs; :meth:`line` is the summary line described in the module doc."""

    total: int
    holds: int
    violated: int
    wrong: int
    unknown: int
    timeout: int
    errors: int
    seconds: tuple[float, ...] = field(default=())

    @classmethod
    def of(cls, runs: Sequence[tuple[Run, str]]) -> Summary:
        """From ``(run, expected)`` pairs (expected may be empty)."""
        wrong = sum(is_wrong(r.verdict, e) for r, e in runs)
        return cls(total=len(runs),
                   holds=sum(r.verdict == "holds" and not is_wrong(r.verdict, e) for r, e in runs),
                   violated=sum(r.verdict == "violated" and not is_wrong(r.verdict, e) for r, e in runs),
                   wrong=wrong,
                   unknown=sum(r.verdict == "unknown" for r, _ in runs),
                   timeout=sum(r.verdict == "timeout" for r, _ in runs),
                   errors=sum(r.verdict == "error" for r, _ in runs),
                   seconds=tuple(r.seconds for r, _ in runs))

    @property
    def solved(self) -> int:
        return self.holds + self.violated

    def line(self) -> str:
        median = statistics.median(self.seconds) if self.seconds else 0.0
        return (f"solved {self.solved}/{self.total} (holds {self.holds}, violated {self.violated}), "
                f"wrong {self.wrong}, unknown {self.unknown}, timeout {self.timeout}, "
                f"total {sum(self.seconds):.1f} s, median {median:.2f} s")


def _ratio(peer: float, ours: float) -> float:
    return peer / ours if ours > 0 else math.inf


# --------------------------------------------------------------------------------- the out file

def read_out(path: Path) -> list[RowResult]:
    """Rows of a previous ``--out`` file (for ``--resume``)."""
    reader = csv.DictReader(_read_text(path, "out file").splitlines())
    missing = {"onnx", "vnnlib", "verdict", "seconds"} - set(reader.fieldnames or ())
    if missing:
        raise InputError(f"{path} line 1: not a bench out file (no column {', '.join(sorted(missing))})")
    results = []
    for rec in reader:
        try:
            ours = Run(rec["verdict"], float(rec["seconds"]))
            peer = None
            if rec.get("peer_verdict"):
                peer = Run(rec["peer_verdict"], float(rec.get("peer_seconds") or "nan"))
        except (TypeError, ValueError):
            raise InputError(f"{path} line {reader.line_num}: malformed row") from None
        results.append(RowResult(rec["onnx"], rec["vnnlib"], rec.get("method") or "", ours, peer))
    return results


class _OutWriter:
    """Writes one CSV row per finished instance and flushes it at once."""

    def __init__(self, path: Path, with_peer: bool):
        self.columns = _OUT_COLUMNS + (_PEER_COLUMNS if with_peer else ())
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("w", newline="")
        except OSError as e:
            raise InputError(f"cannot write out file {path}: {e.strerror}") from None
        self._csv = csv.writer(self._file)
        self._csv.writerow(self.columns)
        self._file.flush()

    def write(self, res: RowResult, expected: str) -> None:
        values = [res.onnx, res.vnnlib, res.ours.verdict, f"{res.ours.seconds:.3f}", res.method,
                  expected, correctness(res.ours.verdict, expected)]
        if len(self.columns) > len(_OUT_COLUMNS):
            p = res.peer
            values += ["", "", ""] if p is None else [p.verdict, f"{p.seconds:.3f}",
                                                      correctness(p.verdict, expected)]
        self._csv.writerow(values)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


# -------------------------------------------------------------------------------------- driver

def _mark(run: Run, expected: str) -> str:
    if run.verdict == "error":
        return f"ERROR: {run.message}"
    return {"no": "WRONG", "yes": "ok"}.get(correctness(run.verdict, expected), "")


def _progress(k: int, m: int, res: RowResult, expected: str) -> str:
    o = res.ours
    text = f"[{k}/{m}] {Path(res.onnx).stem} {Path(res.vnnlib).stem}: {o.verdict} {o.seconds:.2f} s"
    if expected:
        text += f" (expected {expected})"
    mark = _mark(o, expected)
    text += f" {mark}" if mark else ""
    if res.peer is not None:
        p = res.peer
        pmark = _mark(p, expected)
        text += (f" | peer {p.verdict} {p.seconds:.2f} s, ratio {_ratio(p.seconds, o.seconds):.2f}"
                 + (f" {pmark}" if pmark else ""))
    return text


def run_benchmark(instances: str | Path, *, options: Options = Options(), expected: str | Path | None = None,
                  out: str | Path | None = None, resume: bool = False, executor: Executor | None = None,
                  stream: TextIO | None = None, quiet: bool = False) -> int:
    """Run every row of ``instances``, print a line per row (none if ``quiet``) and the summary, note
    the rows done for :mod:`nnreach.progress`; return the exit code (0 or 1).

    Raises:
        InputError: malformed instances/expected/out files, or ``resume`` without ``out``.
    """
    stream = stream or sys.stdout
    say = functools.partial(print, file=stream, flush=True)
    rows = read_instances(instances)
    table = read_expected(expected) if expected else {}
    expect = {row.key: expected_for(row, table) for row in rows}
    if options.peer_cmd is not None and "{result}" not in options.peer_cmd:
        raise InputError("--peer-cmd needs a {result} placeholder for the peer's result file")
    if resume and out is None:
        raise InputError("--resume needs --out")

    wanted = {row.key for row in rows}
    done: dict[tuple[str, str], RowResult] = {}
    kept: list[RowResult] = []  # everything already in the out file, rewritten first
    if resume and out is not None and Path(out).is_file():
        kept = read_out(Path(out))
        done = {r.key: r for r in kept if r.key in wanted}
        say(f"resume: {len(done)} of {len(rows)} instances already in {out}")
    writer = _OutWriter(Path(out), options.peer_cmd is not None) if out is not None else None
    if expected:
        unmatched = sum(not expect[row.key] for row in rows)
        if unmatched:
            say(f"note: {unmatched} instance(s) have no expected verdict in {expected}")

    results: dict[tuple[str, str], RowResult] = dict(done)
    todo = [row for row in rows if row.key not in done]
    k = len(results)
    try:
        for res in kept:
            if writer:
                writer.write(res, expect.get(res.key, ""))
        for _, res in (executor or SerialExecutor()).map_unordered(
                functools.partial(run_row, options=options), todo):
            k += 1
            results[res.key] = res
            exp = expect[res.key]
            if writer:
                writer.write(res, exp)
            progress.note(step=f"{k}/{len(rows)} rows done")
            if not quiet:
                say(_progress(k, len(rows), res, exp))
    except BaseException:
        stop_running()
        if out is not None:
            say(f"stopped after {k}/{len(rows)} instances; `--resume` continues from {out}")
        raise
    finally:
        if writer:
            writer.close()

    ordered = [results[row.key] for row in rows]
    return _report(ordered, expect, say)


def _report(results: list[RowResult], expect: dict[tuple[str, str], str], say: Callable[[str], None]) -> int:
    pairs = [(r.ours, expect[r.key]) for r in results]
    ours = Summary.of(pairs)
    wrong = [(r, e) for (o, e), r in zip(pairs, results) if is_wrong(o.verdict, e)]
    if wrong:
        say(f"WRONG verdicts ({len(wrong)}):")
        for r, e in wrong:
            say(f"  WRONG {r.onnx} {r.vnnlib}: {r.ours.verdict}, expected {e}")
    errors = [r for r in results if r.ours.verdict == "error"]
    if errors:
        say(f"errors ({len(errors)}):")
        for r in errors:
            say(f"  {r.onnx} {r.vnnlib}: {r.ours.message or 'error'}")
    with_peer = [r for r in results if r.peer is not None]
    if with_peer:
        peer_pairs = [(r.peer, expect[r.key]) for r in with_peer]
        peer = Summary.of(peer_pairs)
        peer_wrong = [r for r, (p, e) in zip(with_peer, peer_pairs) if is_wrong(p.verdict, e)]
        for r in peer_wrong:
            say(f"  peer WRONG {r.onnx} {r.vnnlib}: {r.peer.verdict}, expected {expect[r.key]}")
        say(f"peer: {peer.line()}" + (f", errors {peer.errors}" if peer.errors else ""))
        ratios = [_ratio(r.peer.seconds, r.ours.seconds) for r in with_peer]
        ours_total = sum(r.ours.seconds for r in with_peer)
        say(f"ratio peer/nnreach over {len(with_peer)} instances: total "
            f"{_ratio(sum(r.peer.seconds for r in with_peer), ours_total):.2f}, "
            f"median {statistics.median(ratios):.2f}")
    if errors:
        say(f"errors {len(errors)}")
    say(ours.line())
    return 1 if wrong else 0
