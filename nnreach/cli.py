"""The ``nnreach`` command line.

Exit codes: 0 when a verdict was produced (whatever it is), 2 for bad input or usage, 1 for an
internal error, 130 when interrupted (Ctrl-C). Bad input is reported as one line on stderr. Set ``NNREACH_DEBUG=1`` for tracebacks.
``nnreach bench`` (see :mod:`nnreach.bench`) exits 1 when any verdict contradicts the expected one.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from .errors import EXIT_OK, InputError, reported

DEFAULT_TIMEOUT = 300.0
"""Seconds ``verify`` and ``robust`` take at most unless ``--timeout`` says otherwise (``inf``: no limit)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2, prefixed once with "PROG: error:" by main
        command = self.prog.partition(" ")[2].strip()   # the subcommand, after the program's name
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


def _coordinates(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected one or two coordinates I or I,J, got {text!r}") from None
    if len(dims) > 2 or min(dims) < 0 or len(set(dims)) != len(dims):
        raise argparse.ArgumentTypeError(f"expected one or two different non-negative coordinates, got {text!r}")
    return dims


def _interval(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two numbers LO,HI, got {text!r}") from None
    if not lo <= hi:
        raise argparse.ArgumentTypeError(f"expected LO <= HI, got {text!r}")
    return lo, hi


def output_options(p: argparse.ArgumentParser, quiet: str = "print the verdict word only: no header, no progress lines") -> None:
    """``-q`` (whose help is ``quiet``) and ``-v``, shared by every long command."""
    loud = p.add_mutually_exclusive_group()
    loud.add_argument("-q", "--quiet", action="store_true", help=quiet)
    loud.add_argument("-v", "--verbose", action="store_true",
                      help="progress lines on stderr even when it is not a terminal (in a terminal they are on)")


def progress_printer(args, tracker):
    """A :class:`nnreach.progress.Printer` of ``tracker`` on stderr when ``args`` want one (in a
    terminal unless ``-q``; anywhere with ``-v``), else a no-op context."""
    from contextlib import nullcontext

    from .progress import Printer

    if args.quiet or not (args.verbose or sys.stderr.isatty()):
        return nullcontext()
    return Printer(tracker, sys.stderr)


def _npy_path(text: str) -> str:
    if not text.lower().endswith(".npy"):
        raise argparse.ArgumentTypeError(f"expected a path ending in .npy, got {text!r}")
    return text


def _verify_options(p: argparse.ArgumentParser, methods) -> None:
    """The options of a verification run, shared by ``verify`` and ``robust``."""
    p.add_argument("--timeout", type=_positive, default=None, metavar="S",
                   help=f"time limit in seconds (default {DEFAULT_TIMEOUT:g}; inf: none)")
    p.add_argument("--method", default="auto", choices=sorted(methods), help="verification method")
    p.add_argument("--result-file", metavar="PATH", help="write the verdict in VNN-COMP format")
    p.add_argument("--json", metavar="PATH",
                   help="write the result as JSON (verdict, method, times, statistics, counterexample); "
                        "'-' prints it on stdout instead of the text")
    p.add_argument("--counterexample", type=_npy_path, metavar="PATH",
                   help="when a counterexample is found, write its input to PATH (.npy); robust on a picture also "
                        "writes it as a picture beside it (PATH with .png; pixels rounded, the .npy is exact)")
    p.add_argument("--seed", type=int, default=0, help="seed for sampling and attacks")
    p.add_argument("--jobs", type=_count, default=None, metavar="N",
                   help="worker processes for one search (default: all cores)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="share the search among the CPUs of a Ray cluster: 'local' starts one here, "
                        "'auto' or HOST:PORT joins a running one")
    output_options(p)
    _conformal_options(p)


_MODEL_HELP = "network file: .onnx, .nnet or NNV .mat, or any of them gzip-compressed (.onnx.gz)"


def _parser() -> argparse.ArgumentParser:
    from .verify.api import METHODS

    from . import __version__

    p = _Parser(prog="nnreach", description="Formal verification of neural networks.")
    p.add_argument("--version", action="version", version=f"nnreach {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    v = sub.add_parser("verify", help="check a property (VNN-LIB) of a model (ONNX, .nnet, .mat)")
    v.add_argument("model", help=_MODEL_HELP)
    v.add_argument("spec", help="property file in VNN-LIB 1.0, or a VNN-LIB 2.0 query over one network "
                                "(.vnnlib, or gzip-compressed .vnnlib.gz)")
    _verify_options(v, METHODS)

    rb = sub.add_parser("robust", help="check L-inf robustness of a classifier around an image, no VNN-LIB needed")
    rb.add_argument("model", help=_MODEL_HELP)
    rb.add_argument("--image", required=True, metavar="PATH",
                    help="the input point: .npy, .png/.jpg, or numbers in a text file (see nnreach.io.image)")
    rb.add_argument("--eps", type=_seconds, required=True, metavar="E", help="L-inf radius (after --scale)")
    rb.add_argument("--label", type=int, default=None, metavar="K",
                    help="the class that must stay the largest output (default: the model's class of the image)")
    rb.add_argument("--scale", type=_positive, default=1.0, metavar="F",
                    help="divide the image's values by F first; pictures (.png, .jpg) are read as stored: 0..255 "
                         "for 8-bit pixels (0..65535 for 16-bit), so 255 maps 8-bit pixels to [0, 1]; .npy and "
                         "text files as they are. --eps and --clip are in the divided units")
    clip = rb.add_mutually_exclusive_group()
    clip.add_argument("--clip", type=_interval, default=None, metavar="LO,HI",
                      help="intersect the ball with [LO, HI] per input (default for pictures: their pixel range "
                           "divided by --scale, e.g. [0, 1] with --scale 255; .npy and text files have no pixel "
                           "range and are not clipped unless --clip is given)")
    clip.add_argument("--no-clip", action="store_true", help="do not clip the ball to a picture's pixel range")
    _verify_options(rb, METHODS)

    i = sub.add_parser("info", help="print the layers and shapes of a model (and check that a property fits it)")
    i.add_argument("model", help=_MODEL_HELP)
    i.add_argument("spec", nargs="?", help="VNN-LIB file (.vnnlib or .vnnlib.gz) to read and check against the model")

    from .reach.propagate import REACH_METHODS

    r = sub.add_parser("reach", help="compute the output set of a model for a property's input box")
    r.add_argument("model", help=_MODEL_HELP)
    r.add_argument("spec", help="VNN-LIB file (.vnnlib or .vnnlib.gz) whose input box (the first, if several) is used")
    r.add_argument("--method", default="zono", choices=sorted(REACH_METHODS),
                   help="reachability method (conformal: a probabilistic set, not a sound one)")
    r.add_argument("--seed", type=int, default=0, help="conformal: seed of the samples")
    _conformal_options(r)
    r.add_argument("--timeout", type=_positive, default=None, metavar="S",
                   help="time limit in seconds for the output set(s) and the plot (default: none)")
    r.add_argument("--plot", metavar="PNG", help="draw the input box and output set(s) with sampled points")
    r.add_argument("--in-dims", type=_coordinates, default=None, metavar="I[,J]",
                   help="input coordinates to draw (default 0,1, or 0 for one input)")
    r.add_argument("--out-dims", type=_coordinates, default=None, metavar="I[,J]",
                   help="output coordinates to draw (default 0,1, or 0 for one output: drawn against the first "
                        "input coordinate)")
    output_options(r, quiet="no progress lines")

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
    output_options(b)

    from .nncs.cli import add_arguments as _nncs_arguments

    _nncs_arguments(sub.add_parser("nncs", help="verify a closed loop (plant + network controller) from a TOML file"))
    # listed for --help only: main passes `nnreach vnnlib ...` to nnreach.verifier_interface unparsed
    sub.add_parser("vnnlib", add_help=False,
                   help="the VNN-LIB 2.0 standard verifier interface: verify QUERY --network NAME=PATH, "
                        "supports CAPABILITY, --name, --version (see nnreach vnnlib --help)")
    return p


def _write_result(path: str, result, n_in: int) -> None:
    lines = [result.status.vnncomp]
    ce = result.counterexample
    if ce is not None:
        pairs = [f"(X_{k} {float(v)!r})" for k, v in enumerate(ce.x)]
        pairs += [f"(Y_{k} {float(v)!r})" for k, v in enumerate(ce.y)]
        lines.append("(" + "\n".join(pairs) + ")")
    with _output_file(path, "result file") as f:
        f.write("\n".join(lines) + "\n")


@contextmanager
def _output_file(path: str | Path, what: str, mode: str = "w") -> Iterator[IO]:
    """``path`` open for writing, its folder made first; a failure is a one-line InputError naming
    ``what`` (``"cannot write JSON file out/r.json: Permission denied"``)."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, mode) as f:
            yield f
    except OSError as e:
        raise InputError(f"cannot write {what} {p}: {e.strerror}") from None


def _load(args):
    """The model of ``args.model``; for ``--method conformal``, an ONNX model whose operators nnreach
    does not support is run by onnxruntime alone (:class:`nnreach.io.runtime.RuntimeModel`)."""
    from .errors import UnsupportedError
    from .io import load_model, model_format

    try:
        return load_model(args.model)
    except UnsupportedError as e:
        if getattr(args, "method", None) != "conformal" or model_format(args.model) != ".onnx":
            raise
        from .io.runtime import RuntimeModel

        print(f"nnreach: note: {e}; conformal runs the model in onnxruntime alone", file=sys.stderr)
        return RuntimeModel.load(str(args.model))


def _cmd_info(args) -> int:
    from .io import load_model

    net = load_model(args.model)
    print(net.summary())
    print(f"inputs {net.input_size}, outputs {net.output_size}, nodes {len(net.nodes)}")
    if args.spec:
        from .io.vnnlib import read_vnnlib
        from .verify.problem import Problem

        props = read_vnnlib(args.spec)
        Problem(net, tuple(props))  # InputError when the property's sizes do not fit the model
        print(_spec_line(args.spec, props))
    return EXIT_OK


def _spec_line(path: str, props) -> str:
    """What ``verify`` and ``info`` say about the property file ``path`` that holds ``props``."""
    return f"spec {path}: {len(props)} input region(s), {sum(len(p.unsafe) for p in props)} unsafe polytope(s)"


def _cmd_reach(args) -> int:
    """Print the output bounds; with ``--timeout``, ``timeout`` on the last line if the limit passed first."""
    import numpy as np

    from .io.vnnlib import read_vnnlib
    from .network.graph import Network
    from .progress import stage, tracking
    from .reach import ReachTimeout
    from .verify.deadline import Deadline, Timeout, hard_stop

    net = _load(args)
    props = read_vnnlib(args.spec)
    box = props[0].input_box
    if box.dim != net.input_size:
        raise InputError(f"the property declares {box.dim} inputs but the model has {net.input_size} inputs")
    if args.plot:
        from .plot import check_dims, default_dims

        in_dims = args.in_dims or default_dims(net.input_size)
        out_dims = args.out_dims or default_dims(net.output_size)
        check_dims("--in-dims", in_dims, net.input_size)
        check_dims("--out-dims", out_dims, net.output_size)
    deadline, start = Deadline(args.timeout), time.perf_counter()
    try:
        with tracking(args.timeout) as tracker, progress_printer(args, tracker):
            stage(f"reach {args.method}")
            sets, cal = _reach_sets(args, net, box, deadline)
    except Timeout as e:
        done = e.sets if isinstance(e, ReachTimeout) else []
        where = f" at {e.reached}" if isinstance(e, ReachTimeout) else ""
        print(f"method {args.method}: time limit of {args.timeout} s reached{where}")
        if done:
            print(f"{len(done)} output set(s) computed before it: only part of the output set")
        print("timeout")
        return EXIT_OK
    seconds = time.perf_counter() - start
    lo = np.min([s.bounds()[0] for s in sets], axis=0)
    hi = np.max([s.bounds()[1] for s in sets], axis=0)
    print(f"method {args.method}: {len(sets)} output set(s) in {seconds:.2f} s")
    for k, (a, b) in enumerate(zip(lo, hi)):
        print(f"y[{k}] in [{a:.6g}, {b:.6g}]")
    if args.method == "conformal":
        print(f"samples {cal.samples}, calibration n = {cal.calibration}, rank k = {cal.rank}, "
              f"threshold {cal.threshold:.6g}")
        print(f"guarantee: {cal.guarantee()}")
    verdict = None if args.method == "conformal" else _unsafe_verdict(args.method, sets, props[0].unsafe)
    if args.plot:
        from .plot import plot_reach

        try:
            with hard_stop(None if args.timeout is None else deadline.remaining()):
                path = plot_reach(net, box, args.method, args.plot, in_dims=in_dims, out_dims=out_dims,
                                  unsafe=props[0].unsafe, out_sets=sets, seconds=seconds, verdict=verdict,
                                  sound="zono" if args.method == "conformal" and isinstance(net, Network) else None)
        except Timeout:
            print(f"no plot: not drawn within {args.timeout} s")
            print("timeout")
            return EXIT_OK
        print(f"plot written to {path}")
    return EXIT_OK


def _unsafe_verdict(method: str, sets: list, unsafe) -> str:
    """What the (sound) output sets say of the spec's unsafe set, printed and returned for the plot's
    title: ``holds`` when every set misses it; else that they meet it (exact-star's union is exact, yet
    only ``nnreach verify`` confirms a counterexample; other methods over-approximate: undecided)."""
    from .verify.bounds import meets_unsafe

    met = meets_unsafe(sets, unsafe)
    if met is None:
        verdict, why = "not checked", f"{len(sets)} sets x {len(unsafe)} unsafe polytopes is too many to check"
    elif not met:
        verdict, why = "holds", "every output set misses the unsafe set"
    elif method == "exact-star":
        verdict, why = "meets the unsafe set", "the exact output set meets it: nnreach verify finds the counterexample"
    else:
        verdict, why = "undecided", "the output set meets the unsafe set, but it over-approximates the outputs"
    print(f"verdict: {verdict} ({why})")
    return verdict


def _reach_sets(args, net, box, deadline):
    """The output sets of ``box`` by ``args.method`` (a list) and, for ``conformal``, its calibration
    (else None); raises Timeout when ``args.timeout`` passes."""
    from .reach import reach
    from .reach.propagate import SPLITTING
    from .verify.deadline import hard_stop

    if args.method == "conformal":
        from .verify.conformal import calibrate_with, model_evaluator
        from .verify.settings import Settings

        settings = Settings(seed=args.seed, coverage=args.coverage, confidence=args.confidence,
                            conformal_set=args.conformal_set)
        with hard_stop(args.timeout):
            cal = calibrate_with([box], model_evaluator(net, str(args.model)), settings, deadline)
        return [cal.set], cal
    out = reach(net, box, args.method, timeout=args.timeout)
    return (out if args.method in SPLITTING else [out]), None


def _cmd_verify(args) -> int:
    from .io.vnnlib import read_vnnlib
    from .verify.problem import Problem

    start = time.perf_counter()
    net = _load(args)
    props = read_vnnlib(args.spec)
    problem = Problem(net, tuple(props), str(args.model))
    _say(args, f"model {args.model}: {net.input_size} inputs, {net.output_size} outputs, {len(net.nodes)} nodes")
    _say(args, _spec_line(args.spec, props))
    return _decide(problem, args, start, _time_limit(args))


def _cmd_robust(args) -> int:
    import numpy as np

    from .io.image import fit, load_image, write_picture
    from .verify.problem import Problem, linf_ball, predicted_class, robustness_property

    start = time.perf_counter()
    net = _load(args)
    image, note = fit(load_image(args.image), net.input_size)
    if note:
        _say(args, f"note: {note}")
    values = image.values
    # a colour picture is height x width x channel; a model that declares channel x height x width gets that order
    channels_first = values.ndim == 3 and getattr(net, "input_shape", None) == (values.shape[2], *values.shape[:2])
    if channels_first:
        values = values.transpose(2, 0, 1)
        _say(args, f"note: the picture's channels are put first, as the model's input shape {net.input_shape}")
    center = values / args.scale
    _say(args, f"image {args.image}: {image.describe()}; {_pixel_units(image, args.scale)}")
    label = args.label
    if label is None:
        label = predicted_class(net, center)
        _say(args, f"label {label} (the model's class of the image)")
    lo, hi, clipping = _clip_range(args, image)
    if lo is not None and (np.any(center - args.eps > hi) or np.any(center + args.eps < lo)):
        raise InputError(f"the image's values lie in [{center.min():g}, {center.max():g}]: the ball of radius "
                         f"{args.eps:g} around them leaves --clip {lo:g},{hi:g}; check --scale")
    prop = robustness_property(linf_ball(center, args.eps, lo, hi), label, net.output_size)
    problem = Problem(net, (prop,), str(args.model))
    _say(args, f"model {args.model}: {net.input_size} inputs, {net.output_size} outputs, {len(net.nodes)} nodes")
    _say(args, f"robustness of class {label} within L-inf radius {args.eps:g} of {args.image}, {clipping}")

    def picture(path: Path, x) -> Path:  # a counterexample (the model's input) back in the picture's pixels
        v = x.reshape(center.shape) * args.scale
        return write_picture(path, v.transpose(1, 2, 0) if channels_first else v, image)

    return _decide(problem, args, start, _time_limit(args), ce_shape=center.shape,
                   ce_picture=picture if image.is_picture else None)


def _pixel_units(image, scale: float) -> str:
    """How the image's values become the model's input, for the text output."""
    if not image.is_picture:
        return "taken as they are" + (f", divided by --scale {scale:g}" if scale != 1 else "")
    pixels = f"pixel values 0..{image.max_value:g}"
    if scale != 1:
        return f"{pixels} divided by --scale {scale:g}"
    return f"{pixels} as stored (a model that takes [0, 1] needs --scale {image.max_value:g})"


def _clip_range(args, image) -> tuple[float | None, float | None, str]:
    """The bounds that ``robust`` intersects the ball with, and how they were chosen."""
    if args.clip:
        lo, hi = args.clip
        return lo, hi, f"clipped to [{lo:g}, {hi:g}] (--clip)"
    if args.no_clip:
        return None, None, "not clipped (--no-clip)"
    if image.is_picture:
        hi = image.max_value / args.scale
        return 0.0, hi, f"clipped to the pixel range [0, {hi:g}] (--no-clip turns this off)"
    return None, None, "not clipped (a .npy or text file has no pixel range: --clip LO,HI sets one)"


def _say(args, text: str) -> None:
    """A line of the text output: on stdout, or on stderr when ``--json -`` takes stdout; none with ``-q``."""
    if not args.quiet:
        print(text, file=sys.stderr if args.json == "-" else sys.stdout)


def _time_limit(args) -> float | None:
    """The run's time limit in seconds from ``--timeout`` (None: ``inf``, no limit), said in the header."""
    limit = DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    limit = None if limit == float("inf") else limit
    default = " (the default; --timeout S to change)" if args.timeout is None else ""
    _say(args, f"time limit {'none' if limit is None else f'{limit:g} s'}{default}")
    return limit


JSON_KEYS = ("verdict", "decided", "vnncomp", "method", "seconds", "method_seconds", "stats", "counterexample",
             "reason")
"""The keys of ``--json``'s object: the verdict word; whether it is a decision (holds: proved,
violated: a checked counterexample; not holds-probably, unknown or timeout); the VNN-COMP word; the
method that answered (``auto/<method>`` under auto); the command's wall time and the method's; the
method's statistics (per stage under auto, ``<stage>.<counter>``; for conformal its samples and
guarantee); the counterexample ``{"x", "y", "property", "checked_by"}`` or null; for unknown and
timeout, why (the stage that ran and what it reached), else an empty string."""


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
                                 "checked_by": ce.checked_by},
        result.reason)))
    text = json.dumps(record, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))
    if path == "-":
        print(text)
        return
    with _output_file(path, "JSON file") as f:
        f.write(text + "\n")


def _decide(problem, args, start: float, limit: float | None, ce_shape: tuple[int, ...] | None = None,
            ce_picture=None) -> int:
    """Verify ``problem`` within ``limit`` seconds of ``start`` (None: no limit) under the
    ``--method``/``--jobs``/``--ray``/``--seed`` options (and ``--coverage``/``--confidence``/
    ``--conformal-set`` for ``conformal``), with progress lines as ``-q``/``-v`` say; print the
    outcome (the verdict word last; before it, for ``conformal`` its guarantee, for unknown and timeout
    why), or with ``--json -`` the JSON object only; write ``--result-file`` (``holds-probably`` is
    written as ``unknown``) and ``--json``, and ``--counterexample`` (see :func:`_save_counterexample`,
    which ``ce_shape`` and ``ce_picture`` are for)."""
    from .progress import tracking
    from .verify.api import verify
    from .verify.deadline import Timeout, hard_stop
    from .verify.result import Result, Status
    from .verify.settings import Settings

    remaining = None if limit is None else limit - (time.perf_counter() - start)
    with tracking(remaining) as tracker:
        if remaining is not None and remaining <= 0:
            result = Result(Status.TIMEOUT, args.method, reason="the time limit ran out while loading the model")
        else:
            from .parallel.pools import available_cores

            settings = Settings(seed=args.seed, jobs=args.jobs or available_cores(), ray=args.ray,
                                coverage=args.coverage, confidence=args.confidence, conformal_set=args.conformal_set)
            try:
                with progress_printer(args, tracker), hard_stop(remaining):  # for work that seldom checks its deadline
                    result = verify(problem, args.method, timeout=remaining, settings=settings)
            except Timeout:
                result = Result(Status.TIMEOUT, args.method, time.perf_counter() - start,
                                reason=tracker.reason(timed_out=True))
    seconds = time.perf_counter() - start
    if args.result_file:
        _write_result(args.result_file, result, problem.network.input_size)
    if args.json:
        _write_json(args.json, result, seconds)
    saved = _save_counterexample(args.counterexample, result.counterexample, ce_shape, ce_picture)
    if args.json == "-":
        return EXIT_OK
    if args.quiet:
        print(result.status.value)
        return EXIT_OK
    print(f"method {result.method}, {seconds:.3f} s")
    if result.counterexample is not None:
        ce = result.counterexample
        where = str(saved[0]) if saved else "--counterexample PATH, --json PATH or --result-file PATH"
        print(f"counterexample (checked by {ce.checked_by}): x = {_brief(ce.x, where)}")
        print(f"output: y = {_brief(ce.y, '--json PATH or --result-file PATH')}")
        if saved:
            print(f"counterexample written to {' and '.join(map(str, saved))}")
    elif args.counterexample:
        print(f"no counterexample: {args.counterexample} not written")
    if "guarantee" in result.stats:
        print(f"samples {result.stats['samples']}, calibration n = {result.stats['calibration']}, "
              f"rank k = {result.stats['rank']}")
        print(f"guarantee ({result.status.value}): {result.stats['guarantee']}")
    if result.reason:
        print(f"why: {result.reason}")
    if "hint" in result.stats:
        print(f"hint: {result.stats['hint']}")
    print(result.status.value)
    return EXIT_OK


SHOWN = 10
"""Vectors up to this length are printed whole in the text output; longer ones in brief."""


def _brief(v, where: str) -> str:
    """``v`` (1-D) whole if short, else its first values, its length, its range and ``where`` it all is."""
    if v.size <= SHOWN:
        return str(v.tolist())
    head = ", ".join(f"{a:.6g}" for a in v[:5])
    return f"[{head}, ...] ({v.size} values in [{v.min():.6g}, {v.max():.6g}]; all of them: {where})"


def _save_counterexample(path: str | None, ce, shape: tuple[int, ...] | None, picture) -> list[Path]:
    """Write ``ce.x`` to ``path`` (.npy) in ``shape`` (the model's input as ``robust`` built it; default
    flat) and, with ``picture(png_path, x)``, as a picture beside it. Returns the paths written (none
    without a path or a counterexample)."""
    import numpy as np

    if path is None or ce is None:
        return []
    p = Path(path)
    with _output_file(p, "counterexample", "wb") as f:  # exactly at p (np.save(p) appends .npy to a name ending in .NPY)
        np.save(f, ce.x.reshape(shape or -1))
    return [p] if picture is None else [p, picture(p.with_suffix(".png"), ce.x)]


def _cmd_bench(args) -> int:
    from .bench import Options, executor_for, run_benchmark
    from .parallel.pools import available_cores
    from .progress import stage, tracking

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
        with tracking(None) as tracker, progress_printer(args, tracker):
            stage("bench")
            return run_benchmark(args.instances, options=options, expected=args.expected, out=args.out,
                                 resume=args.resume, executor=executor, quiet=args.quiet)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _cmd_nncs(args) -> int:
    from .nncs.cli import run

    return run(args)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["vnnlib"]:  # the standard interface parses its own arguments and reports its own errors
        from .verifier_interface import main as standard_main

        return standard_main(argv[1:])
    def run() -> int:
        args = _parser().parse_args(argv)
        commands = {"verify": _cmd_verify, "robust": _cmd_robust, "info": _cmd_info, "reach": _cmd_reach,
                    "bench": _cmd_bench, "nncs": _cmd_nncs}
        return commands[args.command](args)

    return reported("nnreach", run)


if __name__ == "__main__":
    sys.exit(main())
