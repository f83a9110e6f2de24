"""``nnreach nncs``: verify closed loops described by TOML files (see :mod:`.config`).

``nnreach nncs FILE.toml`` prints what it did and, last, one word: holds, violated, unknown or timeout.
With ``--plot`` the picture is drawn after that, in what is left of the time limit (at least
:data:`PLOT_GRACE` seconds), and where it went is said on stderr.
``nnreach nncs --all DIR`` runs every ``*.toml`` of DIR, each in its own process under its time limit,
and prints a table: benchmark, verdict, expected, seconds.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import time
from pathlib import Path

from ..errors import InputError

PLOT_GRACE = 10.0
"""Seconds the plot may take when the time limit is used up (its size is bounded: see
:data:`.plot.MAX_SHAPES`)."""


def add_arguments(p) -> None:
    """The subcommand's arguments on the argparse parser ``p``."""
    from ..cli import _count, _positive, output_options  # what every nnreach command uses

    p.add_argument("file", nargs="?", help="closed-loop TOML file")
    p.add_argument("--all", metavar="DIR", help="run every *.toml in DIR and print a table")
    p.add_argument("--plot", metavar="PNG", help="draw the flowpipe, the spec and simulated trajectories")
    p.add_argument("--timeout", type=_positive, default=None, metavar="S",
                   help="time limit in seconds (default: options.timeout of the file, else none)")
    p.add_argument("--seed", type=int, default=0, help="seed for the simulations")
    p.add_argument("--jobs", type=_count, default=None, metavar="N",
                   help="X0 boxes reached at once in worker processes (default: all cores)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="reach the X0 boxes as Ray tasks: 'local' starts a Ray instance here, 'auto' or "
                        "HOST:PORT joins a running cluster")
    output_options(p)


def run(args) -> int:
    """Run the subcommand; returns the exit code (0 when verdicts were produced)."""
    if (args.file is None) == (args.all is None):
        raise InputError("nncs: give either a TOML file or --all DIR")
    if args.all is not None:
        return run_all(Path(args.all), args.timeout)
    return run_file(args)


def run_file(args) -> int:
    """Verify the closed loop of ``args.file`` under ``args``' options; print what it did, progress
    lines as ``-q``/``-v`` say, and last the verdict word (only that with ``-q``)."""
    from ..cli import progress_printer
    from ..parallel.pools import available_cores
    from ..progress import tracking
    from ..verify.deadline import Timeout, hard_stop
    from .config import load_config
    from .verdict import Outcome, Verdict, verify

    say = (lambda *_: None) if args.quiet else functools.partial(print, flush=True)
    start = time.perf_counter()
    cfg = load_config(Path(args.file))
    pb = cfg.problem
    limit = args.timeout if args.timeout is not None else cfg.timeout
    say(f"{cfg.name}: {pb.loop.plant.n} states, {pb.loop.plant.m} inputs, controller "
        f"{pb.loop.controller.input_size} -> {pb.loop.controller.output_size}, {pb.steps} steps of "
        f"{pb.loop.period} s")
    remaining = None if limit is None else max(limit - (time.perf_counter() - start), 0.0)
    with tracking(remaining) as tracker:
        try:
            with progress_printer(args, tracker), hard_stop(remaining):  # steps check the deadline only between them
                out = verify(pb, remaining, args.seed, args.jobs or available_cores(), args.ray)
        except Timeout:
            out = Outcome(Verdict.TIMEOUT, message=tracker.reason(timed_out=True), seconds=time.perf_counter() - start)
    say(f"{out.message}; {out.seconds:.2f} s")
    print(out.verdict.value, flush=True)
    if args.plot:
        from .plot import plot_outcome

        left = None if limit is None else max(limit - (time.perf_counter() - start), PLOT_GRACE)
        try:
            with hard_stop(left, slack=0.0):
                note = f"plot written to {plot_outcome(cfg, out, args.plot)}"
        except Timeout:
            note = "plot not written: the time limit ran out while drawing it"
        if not args.quiet:
            print(note, file=sys.stderr, flush=True)
    return 0


def run_all(folder: Path, timeout: float | None) -> int:
    """Each ``*.toml`` of ``folder`` in a child ``nnreach nncs`` process; prints the table."""
    from .config import load_config

    files = sorted(folder.glob("*.toml"))
    if not files:
        raise InputError(f"no *.toml files in {folder}")
    rows = []
    print(f"{'benchmark':32s} {'verdict':9s} {'expected':9s} {'seconds':>8s}", flush=True)
    for f in files:
        cfg = load_config(f)
        limit = timeout if timeout is not None else cfg.timeout
        cmd = [sys.executable, "-m", "nnreach.cli", "nncs", str(f)] + ([] if limit is None else ["--timeout", str(limit)])
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=None if limit is None else limit + 30)
            lines = proc.stdout.strip().splitlines()
            verdict = lines[-1] if proc.returncode == 0 and lines else "error"
        except subprocess.TimeoutExpired:
            verdict = "timeout"
        seconds = time.perf_counter() - start
        rows.append((cfg.name, verdict, cfg.expected or "-", seconds))
        print(f"{cfg.name:32s} {verdict:9s} {cfg.expected or '-':9s} {seconds:8.1f}", flush=True)
    wrong = sum(1 for _, v, e, _ in rows if v in ("holds", "violated") and e in ("holds", "violated") and v != e)
    solved = sum(1 for _, v, e, _ in rows if v == e)
    print(f"as expected {solved}/{len(rows)}, wrong {wrong}")
    return 1 if wrong else 0
