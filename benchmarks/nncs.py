"""Run every bundled closed-loop benchmark (examples/nncs/*.toml) and print the table
benchmark, verdict, expected, seconds.

    .venv/bin/python benchmarks/nncs.py [--timeout S] [DIR]

Each benchmark runs as ``nnreach nncs FILE --timeout S`` in its own process (default limit: 300 s,
the issue's target); a benchmark that is not decided in time is reported as timeout or unknown.
"""

import argparse
import sys
from pathlib import Path

from nnreach.nncs.cli import run_all

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", nargs="?", default=str(Path(__file__).resolve().parents[1] / "examples" / "nncs"))
    p.add_argument("--timeout", type=float, default=300.0, metavar="S")
    args = p.parse_args()
    sys.exit(run_all(Path(args.folder), args.timeout))
