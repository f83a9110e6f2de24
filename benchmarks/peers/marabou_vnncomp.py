#!/usr/bin/env python3
"""Run Marabou (the ``maraboupy`` package) on one VNN-COMP instance and write a VNN-COMP result file.

Usage (with the Python of the venv that has maraboupy, not nnreach's)::

    python marabou_vnncomp.py MODEL.onnx PROP.vnnlib TIMEOUT RESULT

The result file's first line is ``sat`` / ``unsat`` / ``unknown`` / ``timeout``; for ``sat`` the
witness ``((X_0 v) ... (Y_0 v))`` follows. This script is a peer for ``nnreach bench --peer-cmd``
and is never imported by nnreach; see ``benchmarks/README.md``.
"""

import math
import sys
import time
import warnings


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: marabou_vnncomp.py MODEL.onnx PROP.vnnlib TIMEOUT RESULT", file=sys.stderr)
        return 2
    model, spec, timeout, result = argv[0], argv[1], float(argv[2]), argv[3]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Tensorflow parser is unavailable"
        from maraboupy import Marabou, MarabouCore

    net = Marabou.read_onnx(model)
    query = net.getInputQuery()
    MarabouCore.loadProperty(query, spec)   # Marabou's own VNN-LIB reader
    left = max(1, math.ceil(timeout - (time.perf_counter() - start)))
    options = Marabou.createOptions(timeoutInSeconds=left, verbosity=0, numWorkers=1)
    code, values, stats = MarabouCore.solve(query, options, "")

    lines = [{"sat": "sat", "unsat": "unsat", "TIMEOUT": "timeout"}.get(code, "unknown")]
    if lines[0] == "sat":
        xs = [values[query.inputVariableByIndex(i)] for i in range(query.getNumInputVariables())]
        ys = [values[query.outputVariableByIndex(i)] for i in range(query.getNumOutputVariables())]
        pairs = [f"(X_{i} {v!r})" for i, v in enumerate(xs)] + [f"(Y_{i} {v!r})" for i, v in enumerate(ys)]
        lines.append("(" + "\n".join(pairs) + ")")
    with open(result, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"marabou: {code} in {time.perf_counter() - start:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
