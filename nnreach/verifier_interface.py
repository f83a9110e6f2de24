"""The standard verifier command line of VNN-LIB 2.0 (chapter 5 of the standard), as ``nnreach-vnnlib``
or ``nnreach vnnlib``::

    nnreach-vnnlib --name | --version
    nnreach-vnnlib supports CAPABILITY          (e.g. --onnx-operators; see CAPABILITIES)
    nnreach-vnnlib verify QUERY --network NAME=PATH [--timeout S] [--serialise-assignments DIR]

``verify`` reads a VNN-LIB 2.0 query (:mod:`nnreach.io.vnnlib2`), loads the model given for its one
network and prints ``sat``, ``unsat``, ``unknown`` or ``timed-out`` on the first line of stdout; after
``sat``, the satisfying assignment in the standard's command-line format: for each declared variable
in declaration order a line ``NAME TYPE [DIMS]`` and its entries row-major, one per line. nnreach does
not serialise assignments (``supports --serialise-assignments`` says ``false``), so with
``--serialise-assignments`` they are printed too, as the standard asks, with a note on stderr.

Messages go to stderr. The standard prescribes no exit codes; these are nnreach's: 0 when an answer
was printed, 2 for bad input or a query or model nnreach cannot handle (one line on stderr), 1 for
an internal error, 130 on Ctrl-C (:func:`nnreach.errors.reported`, shared with ``nnreach``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from .cli import _count, _Parser  # what every nnreach command uses
from .errors import EXIT_OK, InputError, reported

PROG = "nnreach-vnnlib"
NAME = "nnreach"


def _element_types() -> list[str]:
    from .io.vnnlib2 import ELEMENT_TYPE

    return [ELEMENT_TYPE]


def _vnnlib_versions() -> list[str]:
    from .io.vnnlib2 import VERSION

    return [f"{VERSION[0]}.{VERSION[1]}"] * 2


def _operators() -> list[str]:
    from .io.onnx import supported_operators

    return supported_operators()


def _opsets() -> list[str]:
    from .io.onnx import supported_opsets

    return [str(v) for v in supported_opsets()]


CAPABILITIES: dict[str, Callable[[], list[str]]] = {
    "--onnx-opset-versions": _opsets,
    "--onnx-element-types": _element_types,
    "--onnx-operators": _operators,          # all for every element type reported: no types listed
    "--vnnlib-versions": _vnnlib_versions,
    "--hidden-node-theories": lambda: ["NH"],
    "--multiple-input-output-theories": lambda: ["SIO"],
    "--multiple-network-theories": lambda: ["SNET"],
    "--multiple-node-comparison-theories": lambda: ["SNC"],
    # inputs bounded one at a time, outputs in linear combinations: more than COUT, less than LIN
    "--arithmetic-complexity-theories": lambda: ["BND", "COUT"],
    "--optimised-disjunctive-reasoning": lambda: ["false"],  # the asserts are brought to DNF first
    "--serialise-assignments": lambda: ["false"],
}
"""What ``supports CAPABILITY`` prints, one line per list item (the theory names are the standard's)."""


def _network(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, path


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="The VNN-LIB 2.0 standard verifier interface of nnreach.")
    p.add_argument("--name", action="store_true", help="print the verifier's name")
    p.add_argument("--version", action="store_true", help="print the verifier's version")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    v = sub.add_parser("verify", help="decide whether a VNN-LIB 2.0 query is satisfiable")
    v.add_argument("query", help="VNN-LIB 2.0 query file")
    v.add_argument("--network", type=_network, action="append", default=[], metavar="NAME=PATH",
                   help="the model file (ONNX) of the network the query declares as NAME")
    v.add_argument("--timeout", type=_count, default=None, metavar="S", help="time limit, whole seconds")
    v.add_argument("--serialise-assignments", metavar="DIR",
                   help="not supported: the assignment is printed on stdout instead")
    s = sub.add_parser("supports", help="report a capability")
    which = s.add_mutually_exclusive_group(required=True)
    for flag in CAPABILITIES:
        which.add_argument(flag, dest="capability", action="store_const", const=flag)
    return p


def _model_path(query, networks: list[tuple[str, str]]) -> str:
    """The model file given for the query's network; InputError when models are missing, repeated
    or given for networks the query does not declare."""
    paths: dict[str, str] = {}
    for name, path in networks:
        if name in paths:
            raise InputError(f"--network {name} is given twice")
        paths[name] = path
    extra = sorted(set(paths) - {query.network})
    if extra:
        raise InputError(f"--network {extra[0]}: the query declares no network {extra[0]} "
                         f"(it declares {query.network})")
    if query.network not in paths:
        raise InputError(f"no model for network {query.network}: give --network {query.network}=PATH")
    return paths[query.network]


def _check_model(query, net, path: str) -> None:
    """The model's input and output must have as many entries as the declared tensors (the type
    ``real`` matches every element type; nnreach's models have no batch axis to compare shapes by)."""
    for decl, size in ((query.input, net.input_size), (query.output, net.output_size)):
        if decl.size != size:
            role = "input" if decl is query.input else "output"
            raise InputError(f"the query declares {role} {decl.describe()} ({decl.size} entries) but the "
                             f"model {path} has {size} {role} entries")


def assignment_lines(query, x, y) -> list[str]:
    """The standard's command-line assignment format: each declared variable's header, then its
    entries row-major (``x``, ``y``: the flattened input and output)."""
    lines: list[str] = []
    for decl, values in ((query.input, x), (query.output, y)):
        lines.append(decl.describe())
        lines.extend(repr(float(v)) for v in values)
    return lines


def _verify(args) -> int:
    from .io import load_model
    from .io.vnnlib2 import read_vnnlib2
    from .verify.api import verify
    from .verify.problem import Problem
    from .verify.result import Status

    query = read_vnnlib2(args.query)
    path = _model_path(query, args.network)
    net = load_model(path)
    _check_model(query, net, path)
    result = verify(Problem(net, query.properties, path), timeout=args.timeout)
    answer = {Status.HOLDS: "unsat", Status.VIOLATED: "sat", Status.TIMEOUT: "timed-out"}.get(result.status,
                                                                                              "unknown")
    print(answer)
    if result.counterexample is not None:
        if args.serialise_assignments:
            print(f"{PROG}: note: serialised assignments are not supported; the assignment is on stdout",
                  file=sys.stderr)
        print("\n".join(assignment_lines(query, result.counterexample.x, result.counterexample.y)))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run the standard interface; returns the exit code."""
    def run() -> int:
        args = _parser().parse_args(argv)
        if args.name:
            print(NAME)
        elif args.version:
            from . import __version__

            print(__version__)
        elif args.command == "supports":
            print("\n".join(CAPABILITIES[args.capability]()))
        elif args.command == "verify":
            return _verify(args)
        else:
            raise InputError("expected --name, --version, or a command: verify or supports")
        return EXIT_OK

    return reported(PROG, run)

if __name__ == "__main__":
    sys.exit(main())
