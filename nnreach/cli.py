"""The ``nnreach`` command line.

Exit codes: 0 when a verdict was produced (whatever it is), 2 for bad input or usage, 1 for an
internal error. Bad input is reported as one line on stderr. Set ``NNREACH_DEBUG=1`` for tracebacks.
``nnreach bench`` (see :mod:`nnreach.bench`) exits 1 when any verdict contradicts the expected one.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from .errors import InputError

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2, prefixed once with "nnreach: error:" by main
        command = self.prog.removeprefix("nnreach").strip()
        raise InputError(f"{command}: {message}" if command else message)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be zero or more, got {text}")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text}")
    return value


def _conformal_options(p: argparse.ArgumentParser) -> None:
    """The options of the probabilistic method ``conformal``."""
    from .reach.conformal import KINDS

    p.add_argument("--coverage", type=_probability, default=0.99, metavar="P",
                   help="conformal: probability, at least, that a random input's output is in the set")
    p.add_argument("--confidence", type=_probability, default=0.999, metavar="P",
                   help="conformal: probability, at least, that the calibration reaches the coverage")
    p.add_argument("--conformal-set", default="pca", choices=KINDS,
                   help="conformal: the kind of calibrated set (see nnreach.reach.conformal)")


def _pair(text: str) -> tuple[int, int]:
    try:
        i, j = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two coordinates I,J, got {text!r}") from None
    if i < 0 or j < 0 or i == j:
        raise argparse.ArgumentTypeError(f"expected two different non-negative coordinates, got {text!r}")
    return i, j


def _interval(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two numbers LO,HI, got {text!r}") from None
    if not lo <= hi:
        raise argparse.ArgumentTypeError(f"expected LO <= HI, got {text!r}")
    return lo, hi


def _verify_options(p: argparse.ArgumentParser, methods) -> None:
    """The options of a verification run, shared by ``verify`` and ``robust``."""
    p.add_argument("--timeout", type=_positive, default=None, metavar="S", help="time limit in seconds")
    p.add_argument("--method", default="auto", choices=sorted(methods), help="verification method")
    p.add_argument("--result-file", metavar="PATH", help="write the verdict in VNN-COMP format")
    p.add_argument("--json", metavar="PATH",
                   help="write the result as JSON (verdict, method, times, statistics, counterexample); "
                        "'-' prints it on stdout instead of the text")
    p.add_argument("--seed", type=int, default=0, help="seed for sampling and attacks")
    p.add_argument("--jobs", type=_count, default=None, metavar="N",
                   help="worker processes for one search (default: all cores)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="share the search among the CPUs of a Ray cluster: 'local' starts one here, "
                        "'auto' or HOST:PORT joins a running one")
    _conformal_options(p)


def _parser() -> argparse.ArgumentParser:
    from .verify.api import METHODS

    from . import __version__

    p = _Parser(prog="nnreach", description="Formal verification of neural networks.")
    p.add_argument("--version", action="version", version=f"nnreach {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    v = sub.add_parser("verify", help="check a property (VNN-LIB) of a model (ONNX, .nnet, .mat)")
    v.add_argument("model", help="network file: .onnx, .nnet or NNV .mat")
    v.add_argument("spec", help="property file in VNN-LIB 1.0")
    _verify_options(v, METHODS)

    rb = sub.add_parser("robust", help="check L-inf robustness of a classifier around an image, no VNN-LIB needed")
    rb.add_argument("model", help="network file: .onnx, .nnet or NNV .mat")
    rb.add_argument("--image", required=True, metavar="PATH",
                    help="the input point: .npy, .png/.jpg, or numbers in a text file (see nnreach.io.image)")
    rb.add_argument("--eps", type=_seconds, required=True, metavar="E", help="L-inf radius (after --scale)")
    rb.add_argument("--label", type=int, default=None, metavar="K",
                    help="the class that must stay the largest output (default: the model's class of the image)")
    rb.add_argument("--scale", type=_positive, default=1.0, metavar="F",
                    help="divide the image's values by F first (255 for 8-bit pixels to [0, 1])")
    rb.add_argument("--clip", type=_interval, default=None, metavar="LO,HI",
                    help="intersect the ball with [LO, HI] per input (the valid pixel range)")
    _verify_options(rb, METHODS)

    i = sub.add_parser("info", help="print the layers and shapes of a model")
    i.add_argument("model")

    from .reach.propagate import REACH_METHODS

    r = sub.add_parser("reach", help="compute the output set of a model for a property's input box")
    r.add_argument("model", help="network file: .onnx, .nnet or NNV .mat")
    r.add_argument("spec", help="VNN-LIB file whose input box (the first, if several) is used")
    r.add_argument("--method", default="zono", choices=sorted(REACH_METHODS),
                   help="reachability method (conformal: a probabilistic set, not a sound one)")
    r.add_argument("--seed", type=int, default=0, help="conformal: seed of the samples")
    _conformal_options(r)
    r.add_argument("--plot", metavar="PNG", help="draw the input box and output set(s) with sampled points")
    r.add_argument("--in-dims", type=_pair, default=(0, 1), metavar="I,J", help="input coordinates to draw")
    r.add_argument("--out-dims", type=_pair, default=(0, 1), metavar="I,J", help="output coordinates to draw")

    b = sub.add_parser("bench", help="verify every row of a VNN-COMP instances CSV, each in its own process")
    b.add_argument("instances", help="CSV of onnx,vnnlib,timeout rows (paths relative to its folder)")
    b.add_argument("--expected", metavar="CSV", help="CSV with header onnx,vnnlib,expected (sat/unsat/unknown)")
    b.add_argument("--out", metavar="CSV", help="write one row per instance as it finishes")
    b.add_argument("--timeout-scale", type=_positive, default=1.0, metavar="F", help="multiply every timeout")
    b.add_argument("--method", default="auto", choices=sorted(METHODS), help="verification method")
    b.add_argument("--jobs", type=_count, default=None, metavar="N", help="rows run at once (default: all cores)")
    b.add_argument("--ray", metavar="ADDRESS",
                   help="run the rows as Ray tasks: 'local' starts a Ray instance here, 'auto' or "
                        "HOST:PORT joins a running cluster (files must be at the same paths on every node)")
    b.add_argument("--peer-cmd", metavar="TEMPLATE",
                   help="another verifier, run after nnreach on each row: a shell command with "
                        "{onnx} {vnnlib} {timeout} {result} (VNN-COMP result file)")
    b.add_argument("--resume", action="store_true", help="skip the rows already in --out")
    b.add_argument("--grace", type=_seconds, default=5.0, metavar="S",
                   help="seconds past the timeout before a row's processes are killed")

    from .nncs.cli import add_arguments as _nncs_arguments

    _nncs_arguments(sub.add_parser("nncs", help="verify a closed loop (plant + network controller) from a TOML file"))
    return p


def _write_result(path: str, result, n_in: int) -> None:
    lines = [result.status.vnncomp]
    ce = result.counterexample
    if ce is not None:
        pairs = [f"(X_{k} {float(v)!r})" for k, v in enumerate(ce.x)]
        pairs += [f"(Y_{k} {float(v)!r})" for k, v in enumerate(ce.y)]
        lines.append("(" + "\n".join(pairs) + ")")
    try:
        Path(path).write_text("\n".join(lines) + "\n")
    except OSError as e:
        raise InputError(f"cannot write result file {path}: {e.strerror}") from None


def _load(args):
    """The model of ``args.model``; for ``--method conformal``, an ONNX model whose operators nnreach
    does not support is run by onnxruntime alone (:class:`nnreach.io.runtime.RuntimeModel`)."""
    from .errors import UnsupportedError
    from .io import load_model

    try:
        return load_model(args.model)
    except UnsupportedError as e:
        if getattr(args, "method", None) != "conformal" or not str(args.model).lower().endswith(".onnx"):
            raise
        from .io.runtime import RuntimeModel

        print(f"nnreach: note: {e}; conformal runs the model in onnxruntime alone", file=sys.stderr)
        return RuntimeModel.load(str(args.model))


def _cmd_info(args) -> int:
    from .io import load_model

    net = load_model(args.model)
    print(net.summary())
    print(f"inputs {net.input_size}, outputs {net.output_size}, nodes {len(net.nodes)}")
    return EXIT_OK


def _cmd_reach(args) -> int:
    import numpy as np

    from .io.vnnlib import read_vnnlib
    from .network.graph import Network
    from .reach import reach
    from .reach.propagate import SPLITTING

    net = _load(args)
    props = read_vnnlib(args.spec)
    box = props[0].input_box
    if box.dim != net.input_size:
        raise InputError(f"the property declares {box.dim} inputs but the model has {net.input_size} inputs")
    for name, dims, size in (("--in-dims", args.in_dims, net.input_size), ("--out-dims", args.out_dims, net.output_size)):
        if max(dims) >= size:
            raise InputError(f"{name} {dims[0]},{dims[1]}: the model has only {size} coordinates there")
    if args.method == "conformal":
        from .verify.conformal import calibrate_with, model_evaluator
        from .verify.settings import Settings

        settings = Settings(seed=args.seed, coverage=args.coverage, confidence=args.confidence,
                            conformal_set=args.conformal_set)
        cal = calibrate_with([box], model_evaluator(net, str(args.model)), settings)
        sets = [cal.set]
    else:
        out = reach(net, box, args.method)
        sets = out if args.method in SPLITTING else [out]
    lo = np.min([s.bounds()[0] for s in sets], axis=0)
    hi = np.max([s.bounds()[1] for s in sets], axis=0)
    print(f"method {args.method}: {len(sets)} output set(s)")
    for k, (a, b) in enumerate(zip(lo, hi)):
        print(f"y[{k}] in [{a:.6g}, {b:.6g}]")
    if args.method == "conformal":
        print(f"samples {cal.samples}, calibration n = {cal.calibration}, rank k = {cal.rank}, "
              f"threshold {cal.threshold:.6g}")
        print(f"guarantee: {cal.guarantee()}")
    if args.plot:
        from .plot import plot_reach

        path = plot_reach(net, box, args.method, args.plot, in_dims=args.in_dims, out_dims=args.out_dims,
                          unsafe=props[0].unsafe, out_sets=sets,
                          sound="zono" if args.method == "conformal" and isinstance(net, Network) else None)
        print(f"plot written to {path}")
    return EXIT_OK


def _cmd_verify(args) -> int:
    from .io.vnnlib import read_vnnlib
    from .verify.problem import Problem

    start = time.perf_counter()
    net = _load(args)
    props = read_vnnlib(args.spec)
    problem = Problem(net, tuple(props), str(args.model))
    _say(args, f"model {args.model}: {net.input_size} inputs, {net.output_size} outputs, {len(net.nodes)} nodes")
    _say(args, f"spec {args.spec}: {len(props)} input region(s), {sum(len(p.unsafe) for p in props)} unsafe polytope(s)")
    return _decide(problem, args, start)


def _cmd_robust(args) -> int:
    import numpy as np

    from .io.image import read_image
    from .verify.problem import Problem, linf_ball, robustness_property

    start = time.perf_counter()
    net = _load(args)
    image = read_image(args.image) / args.scale
    if image.size != net.input_size:
        raise InputError(f"the image has {image.size} values but the model has {net.input_size} inputs")
    label = args.label
    if label is None:
        label = int(np.argmax(net.forward(image.reshape(1, -1))[0]))
        _say(args, f"label {label} (the model's class of the image)")
    lo, hi = args.clip if args.clip else (None, None)
    prop = robustness_property(linf_ball(image, args.eps, lo, hi), label, net.output_size)
    problem = Problem(net, (prop,), str(args.model))
    _say(args, f"model {args.model}: {net.input_size} inputs, {net.output_size} outputs, {len(net.nodes)} nodes")
    _say(args, f"robustness of class {label} within L-inf radius {args.eps:g} of {args.image}")
    return _decide(problem, args, start)


def _say(args, text: str) -> None:
    """A line of the text output: on stdout, or on stderr when ``--json -`` takes stdout."""
    print(text, file=sys.stderr if args.json == "-" else sys.stdout)


JSON_KEYS = ("verdict", "decided", "vnncomp", "method", "seconds", "method_seconds", "stats", "counterexample")
"""The keys of ``--json``'s object: the verdict word; whether it is a decision (holds: proved,
violated: a checked counterexample; not holds-probably, unknown or timeout); the VNN-COMP word; the
method that answered (``auto/<method>`` under auto); the command's wall time and the method's; the
method's statistics (per stage under auto, ``<stage>.<counter>``; for conformal its samples and
guarantee); the counterexample ``{"x", "y", "property", "checked_by"}`` or null."""


def _write_json(path: str, result, seconds: float) -> None:
    """The result as one JSON object with :data:`JSON_KEYS` to ``path`` (``-``: stdout)."""
    import json

    from .verify.result import Status

    ce = result.counterexample
    record = dict(zip(JSON_KEYS, (
        result.status.value, result.status in (Status.HOLDS, Status.VIOLATED), result.status.vnncomp,
        result.method, round(seconds, 6), round(result.seconds, 6),
        result.stats,
        None if ce is None else {"x": ce.x.tolist(), "y": ce.y.tolist(), "property": ce.property_index,
                                 "checked_by": ce.checked_by})))
    text = json.dumps(record, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))
    if path == "-":
        print(text)
        return
    try:
        Path(path).write_text(text + "\n")
    except OSError as e:
        raise InputError(f"cannot write JSON file {path}: {e.strerror}") from None


def _decide(problem, args, start: float) -> int:
    """Verify ``problem`` under the ``--timeout``/``--method``/``--jobs``/``--ray``/``--seed`` options
    (and ``--coverage``/``--confidence``/``--conformal-set`` for ``conformal``); print the outcome (the
    verdict word last; for ``conformal`` its guarantee before it), or with ``--json -`` the JSON
    object only; write ``--result-file`` (``holds-probably`` is written as ``unknown``) and ``--json``."""
    from .verify.api import verify
    from .verify.deadline import Timeout, hard_stop
    from .verify.result import Result, Status
    from .verify.settings import Settings

    remaining = None if args.timeout is None else args.timeout - (time.perf_counter() - start)
    if remaining is not None and remaining <= 0:
        result = Result(Status.TIMEOUT, args.method)
    else:
        from .parallel.pools import available_cores

        settings = Settings(seed=args.seed, jobs=args.jobs or available_cores(), ray=args.ray,
                            coverage=args.coverage, confidence=args.confidence, conformal_set=args.conformal_set)
        try:
            with hard_stop(remaining):  # for work that does not check its deadline often
                result = verify(problem, args.method, timeout=remaining, settings=settings)
        except Timeout:
            result = Result(Status.TIMEOUT, args.method, time.perf_counter() - start)
    seconds = time.perf_counter() - start
    if args.result_file:
        _write_result(args.result_file, result, problem.network.input_size)
    if args.json:
        _write_json(args.json, result, seconds)
    if args.json == "-":
        return EXIT_OK
    print(f"method {result.method}, {seconds:.3f} s")
    if result.counterexample is not None:
        ce = result.counterexample
        print(f"counterexample (checked by {ce.checked_by}): x = {ce.x.tolist()}")
        print(f"output: y = {ce.y.tolist()}")
    if "guarantee" in result.stats:
        print(f"samples {result.stats['samples']}, calibration n = {result.stats['calibration']}, "
              f"rank k = {result.stats['rank']}")
        print(f"guarantee ({result.status.value}): {result.stats['guarantee']}")
    if "hint" in result.stats:
        print(f"hint: {result.stats['hint']}")
    print(result.status.value)
    return EXIT_OK


def _cmd_bench(args) -> int:
    from .bench import Options, executor_for, run_benchmark
    from .parallel.pools import available_cores

    if args.ray is not None:
        from .parallel.ray_tasks import RayExecutor, connect

        if args.jobs is not None:
            raise InputError("--jobs and --ray exclude each other: with --ray every CPU of the cluster runs rows")
        print(f"ray: {connect(args.ray)} CPUs", flush=True)
        executor, row_jobs = RayExecutor(), 1  # one CPU per row task
    else:
        rows_at_once = args.jobs or available_cores()
        executor, row_jobs = executor_for(rows_at_once), max(1, available_cores() // rows_at_once)
    env: tuple[tuple[str, str], ...] = ()
    if row_jobs < available_cores():  # rows share the cores: one BLAS thread each, unless the caller chose otherwise
        env = tuple((k, "1") for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
                    if k not in os.environ)
    options = Options(method=args.method, timeout_scale=args.timeout_scale, grace=args.grace,
                      peer_cmd=args.peer_cmd, env=env, row_jobs=row_jobs)

    def _terminate(_signum, _frame):  # end the rows' process groups too (see bench.stop_running)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return run_benchmark(args.instances, options=options, expected=args.expected, out=args.out,
                             resume=args.resume, executor=executor)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _cmd_nncs(args) -> int:
    from .nncs.cli import run

    return run(args)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
        commands = {"verify": _cmd_verify, "robust": _cmd_robust, "info": _cmd_info, "reach": _cmd_reach,
                    "bench": _cmd_bench, "nncs": _cmd_nncs}
        return commands[args.command](args)
    except InputError as e:
        print(f"nnreach: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("nnreach: interrupted", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as e:  # an internal error: report it on one line, traceback on request
        if os.environ.get("NNREACH_DEBUG"):
            raise
        print(f"nnreach: internal error: {type(e).__name__}: {e} (set NNREACH_DEBUG=1 for a traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
