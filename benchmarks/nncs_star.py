"""ACC linear (examples/nncs/acc_linear.toml) with each closed-loop method, beside NNV's published figure.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/nncs_star.py [--timeout S] [--jobs N]

Prints one row per method (zono, approx-star, exact-star): verdict, seconds (falsification included),
and the message. NNV's figure is from its tool paper (Tran et al., NNV, CAV 2020): approx-star SAFE in
about 12 s over 6 initial ranges of the lead car's position, measured on other hardware, and exact-star
far slower; the problem here is the file's single X0 box, so the figures are beside each other, not equal
problems.
"""

import argparse
import tempfile
from pathlib import Path

from nnreach.nncs.config import load_config
from nnreach.nncs.star_loop import METHODS
from nnreach.nncs.verdict import verify

ACC = Path(__file__).resolve().parents[1] / "examples" / "nncs" / "acc_linear.toml"
NNV = {"approx-star": "SAFE, 12 s over 6 initial ranges (NNV CAV'20, other hardware)",
       "exact-star": "far slower than approx-star (NNV CAV'20)", "zono": "-"}

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--timeout", type=float, default=600.0, metavar="S")
    p.add_argument("--jobs", type=int, default=1, metavar="N")
    args = p.parse_args()
    text = ACC.read_text().replace('model = "controllers/', f'model = "{ACC.parent}/controllers/')
    print(f"{'method':12s} {'verdict':8s} {'seconds':>8s}  NNV  |  message", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for method in METHODS:
            path = Path(tmp) / f"acc_linear_{method}.toml"
            path.write_text(text.replace("[options]\n", f'[options]\nmethod = "{method}"\n'))
            out = verify(load_config(path).problem, timeout=args.timeout, jobs=args.jobs)
            print(f"{method:12s} {out.verdict.value:8s} {out.seconds:8.1f}  {NNV[method]}  |  {out.message}",
                  flush=True)
