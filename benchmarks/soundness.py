"""The soundness suite: every method on every planted / twin / tie instance, then the reader fuzzers.

    .venv/bin/python benchmarks/soundness.py [--seed 0] [--timeout 30] [--jobs 2] [--fuzz-examples 2000]
                                             [--methods auto,bab,...] [--out out/soundness]

Steps:

1. Generate the suite of :func:`nnreach.soundness.planted.suite` (``--seed``) into ``OUT/suite``:
   ONNX models, VNN-LIB properties, ``instances.csv`` / ``expected.csv`` (``nnreach bench`` reads
   them too) and ``meta.csv``.
2. Run ``nnreach verify --method M --jobs 1 --result-file ...`` for every method and instance, each in
   its own process under ``--timeout`` (``--jobs`` at once).
3. Re-check every ``violated`` verdict independently: the witness of the result file must lie in the
   input box and onnxruntime (float32) must put its output in the unsafe set.
4. Run the reader fuzzers (:data:`FUZZERS`: VNN-LIB, ONNX, ``.nnet``, ``.mat``, the closed-loop TOML
   files and the CLI) with ``--fuzz-examples`` inputs each.

The report (printed and written to ``OUT/report.txt``) lists every instance x method verdict, the
counts per method and kind, and the **unsound** verdicts: ``holds`` on a planted or tie instance,
``violated`` on a twin, or a counterexample that does not check. Completeness misses (a complete
method that did not find a planted counterexample in time) are listed apart: they are not unsound.
The exit code is 1 when any verdict is unsound or a fuzzer failed.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nnreach.io.vnnlib import read_vnnlib  # noqa: E402
from nnreach.soundness import planted  # noqa: E402
from nnreach.verify.api import METHODS  # noqa: E402

GRACE = 10.0
"""Seconds past the timeout before a run's process group is killed (then it counts as ``timeout``)."""
FUZZERS = ("tests/io/test_fuzz_readers.py", "tests/io/test_fuzz_nncs.py")
"""The fuzzing test files that step 4 runs."""
SHORT = {"holds": "H", "violated": "V", "holds-probably": "P", "unknown": "?", "timeout": "T", "n/a": "-",
         "error": "E"}
"""Verdict letters; ``holds-probably`` (``conformal``) is not a proof, so never unsound here: a planted
counterexample has probability about 1e-8 under uniform inputs, far below its 1 - coverage."""


@dataclass(frozen=True)
class Run:
    """One method on one instance: the verdict word, seconds, and a note (errors, failed checks)."""

    verdict: str
    seconds: float
    note: str = ""


def _verify(model: Path, spec: Path, method: str, timeout: float, result: Path) -> Run:
    cmd = [sys.executable, "-m", "nnreach.cli", "verify", str(model), str(spec), "--method", method,
           "--timeout", str(timeout), "--jobs", "1", "--result-file", str(result)]
    start = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=REPO, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout + GRACE)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return Run("timeout", time.perf_counter() - start, "killed")
    seconds = time.perf_counter() - start
    if proc.returncode == 2:  # the generated files are valid: the method does not support the network
        return Run("n/a", seconds, err.strip().splitlines()[-1][:120])
    if proc.returncode:
        return Run("error", seconds, (err.strip().splitlines() or ["no output"])[-1][:200])
    return Run(out.strip().splitlines()[-1], seconds)


def _witness(result: Path, n: int) -> np.ndarray:
    """The ``X_i`` values of a VNN-COMP result file, (n,)."""
    values = dict(re.findall(r"\(X_(\d+)\s+([^\s()]+)\)", result.read_text()))
    return np.array([float(values[str(i)]) for i in range(n)])


def check_counterexample(inst: planted.Instance, model: Path, spec: Path, result: Path) -> str:
    """Empty when the result file's witness lies in the box and onnxruntime (float32) finds its output
    unsafe; else what is wrong."""
    import onnxruntime as ort

    try:
        x = _witness(result, inst.spec.n)
    except (KeyError, ValueError, OSError) as e:
        return f"no readable witness ({e})"
    box = read_vnnlib(spec)[0].input_box
    if np.any(x < box.lo) or np.any(x > box.hi):
        return "witness outside the input box"
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    y = sess.run(None, {"x": x.astype(np.float32).reshape(1, *inst.spec.input_shape)})[0].ravel()
    v = float(y.astype(np.float64) @ inst.row)
    return "" if v >= 0 else f"onnxruntime float32 gives v = {v:.3g} < 0 at the witness"


def complete_on(method: str, inst: planted.Instance) -> bool:
    """Whether ``method`` is complete on the instance: ``bab`` and ``auto`` (through its complete
    rung) on every network, sigmoid and tanh ones up to a tolerance the planted counterexamples
    clear; ``exact-star`` on piecewise-linear (ReLU) networks; ``milp`` on ReLU dense chains."""
    if method in ("bab", "auto"):
        return True
    if inst.spec.activation != "relu":
        return False
    if method == "milp":
        return inst.spec.arch == "dense"
    return method == "exact-star"


def unsound(inst: planted.Instance, run: Run) -> bool:
    return (run.verdict == "holds" and inst.expected == "sat") or \
           (run.verdict == "violated" and (inst.expected == "unsat" or bool(run.note)))


def run_suite(args) -> tuple[list[str], int]:
    """Steps 1-3; returns the report lines and the number of unsound verdicts."""
    out = Path(args.out)
    instances = [planted.build(s) for s in planted.suite(args.seed)]
    root = planted.write(instances, out / "suite", args.timeout)
    methods = args.methods.split(",")
    jobs = [(inst, m) for m in methods for inst in instances]
    paths = {i.spec.name: (root / "onnx" / f"{i.spec.name}.onnx", root / "vnnlib" / f"{i.spec.name}.vnnlib")
             for i in instances}

    def one(item):
        inst, method = item
        model, spec = paths[inst.spec.name]
        result = out / "results" / method / f"{inst.spec.name}.txt"
        result.parent.mkdir(parents=True, exist_ok=True)
        result.unlink(missing_ok=True)
        run = _verify(model, spec, method, args.timeout, result)
        if run.verdict == "violated":
            run = Run(run.verdict, run.seconds, check_counterexample(inst, model, spec, result))
        return item, run

    runs: dict[tuple[str, str], Run] = {}
    with ThreadPoolExecutor(args.jobs) as pool:
        for k, ((inst, method), run) in enumerate(pool.map(one, jobs), start=1):
            runs[inst.spec.name, method] = run
            flag = "  UNSOUND" if unsound(inst, run) else ""
            print(f"[{k}/{len(jobs)}] {method:11s} {inst.spec.name:42s} {run.verdict:8s} {run.seconds:6.1f} s"
                  f"{flag} {run.note}", flush=True)
    return _report(instances, methods, runs)


def _report(instances, methods, runs) -> tuple[list[str], int]:
    lines = ["instance x method verdicts (H holds, V violated, P holds-probably, ? unknown, T timeout, - not supported, E error)",
             f"{'instance':44s} {'exp':5s} {'log10 hit':>9s}  " + " ".join(f"{m[:11]:>11s}" for m in methods)]
    for inst in instances:
        cells = []
        for m in methods:
            r = runs[inst.spec.name, m]
            cells.append(f"{SHORT.get(r.verdict, r.verdict) + ('!' if unsound(inst, r) else ''):>11s}")
        lines.append(f"{inst.spec.name:44s} {inst.expected:5s} {inst.log10_hit:9.1f}  " + " ".join(cells))
    lines += ["", "counts per method and kind (holds/violated/holds-probably/unknown/timeout/n-a/error):"]
    bad, missed = [], []
    for m in methods:
        for kind in planted.EXPECTED:
            c = Counter(runs[i.spec.name, m].verdict for i in instances if i.spec.kind == kind)
            lines.append(f"  {m:11s} {kind:8s} " + " ".join(f"{v} {c[v]}" for v in SHORT))
        for inst in instances:
            r = runs[inst.spec.name, m]
            if unsound(inst, r):
                bad.append(f"  {m} on {inst.spec.name}: {r.verdict} (expected {inst.expected}) {r.note}")
            elif inst.spec.kind == "planted" and r.verdict != "violated" and complete_on(m, inst):
                missed.append(f"  {m} on {inst.spec.name}: {r.verdict} in {r.seconds:.1f} s")
    found = sum(runs[i.spec.name, "falsify"].verdict == "violated" for i in instances
                if i.spec.kind == "planted") if "falsify" in methods else None
    planted_count = sum(i.spec.kind == "planted" for i in instances)
    lines += ["", f"runs {len(runs)}, unsound verdicts {len(bad)}", *bad,
              f"complete methods that missed a planted counterexample: {len(missed)}", *missed]
    if found is not None:
        lines.append(f"planted counterexamples found by the attack (falsify): {found}/{planted_count}")
    return lines, len(bad)


def run_fuzzers(examples: int) -> tuple[list[str], bool]:
    """Step 4: the reader fuzzers under pytest; returns report lines and whether they all passed."""
    env = {**os.environ, "NNREACH_FUZZ_EXAMPLES": str(examples)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--hypothesis-show-statistics", *FUZZERS],
                          cwd=REPO, env=env, capture_output=True, text=True)
    # Per test, the statistics of its generate phase (a failing test also has shrink and explain phases).
    blocks = re.split(r"^\S+::(test_\w+(?:\[[^\]]*\])?):$", proc.stdout, flags=re.M)[1:]
    lines = ["", f"reader fuzzers ({examples} examples each, {time.perf_counter() - start:.0f} s):"]
    for test, stats in zip(blocks[::2], blocks[1::2]):
        m = re.search(r"- (\d+) passing, (\d+) failing", stats)
        if m:
            lines.append(f"  {test}: {int(m[1]) + int(m[2])} inputs, {m[2]} failing")
    lines.append(f"  {proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else 'no output'}")
    if proc.returncode:
        lines.append(proc.stdout[-3000:])
    return lines, proc.returncode == 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per method and instance")
    p.add_argument("--jobs", type=int, default=2, help="runs at once")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--fuzz-examples", type=int, default=2000, help="inputs per fuzzer (0: no fuzzing)")
    p.add_argument("--out", default=str(REPO / "out" / "soundness"))
    args = p.parse_args()
    lines, bad = run_suite(args)
    fuzz_ok = True
    if args.fuzz_examples:
        more, fuzz_ok = run_fuzzers(args.fuzz_examples)
        lines += more
    text = "\n".join(lines)
    print("\n" + text)
    (Path(args.out) / "report.txt").write_text(text + "\n")
    return 1 if bad or not fuzz_ok else 0


if __name__ == "__main__":
    sys.exit(main())
