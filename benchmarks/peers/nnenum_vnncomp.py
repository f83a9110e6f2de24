#!/usr/bin/env python3
"""Run nnenum on one VNN-COMP instance and write a VNN-COMP result file.

Usage (with the Python of the venv that has nnenum, not nnreach's)::

    python nnenum_vnncomp.py MODEL.onnx PROP.vnnlib TIMEOUT RESULT

nnenum's own entry point (``python -m nnenum.nnenum``, the VNN-COMP calling convention) in a child
process with single-threaded BLAS, which it requires (its worker processes share the cores). nnenum
writes ``holds`` / ``violated`` / ``timeout`` / ``error``; the result file gets the VNN-COMP words
``unsat`` / ``sat`` / ``timeout`` / ``unknown``. This script is a peer for ``nnreach bench
--peer-cmd`` and is never imported by nnreach; see ``benchmarks/README.md``.
"""

import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: nnenum_vnncomp.py MODEL.onnx PROP.vnnlib TIMEOUT RESULT", file=sys.stderr)
        return 2
    model, spec, timeout, result = argv
    raw = result + ".nnenum"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "nnenum.nnenum", model, spec, timeout, raw], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    word = ""
    if os.path.exists(raw):                  # absent when nnenum crashed before writing a result
        with open(raw) as f:
            word = f.read().split("\n", 1)[0].strip()
        os.remove(raw)
    with open(result, "w") as f:
        f.write({"holds": "unsat", "violated": "sat", "timeout": "timeout"}.get(word, "unknown") + "\n")
    return 0 if done.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
