"""A closed-loop benchmark in immrax, for ``benchmarks/nncs_immrax.py``; runs in immrax's own
virtualenv (``benchmarks/peers/install_immrax.sh``), never imported by nnreach.

    python immrax_nncs.py PROBLEM.npz TIMEOUT

``PROBLEM.npz`` (written by ``benchmarks/nncs_immrax.py``) holds the benchmark's name, X0, period,
steps, sub-steps, the controller's layers and input/output maps, and its safe sets. The dynamics are
written below per benchmark, in jax. Each period: the controller's outputs over the state box by
immrax's CROWN (linear bounds over the box, the affine input map folded into the first layer), the
plant input box through the output map by interval arithmetic, then the open-loop mixed-monotone
embedding (``EMBEDDING``, default immrax's mixed-Jacobian one) integrated over the period with the
input box held (zero-order hold, as the benchmarks define the loop), Euler steps of period /
sub-steps. X0 boxes whose boxes leave a safe set are halved along their widest side (relative to X0),
at most 4096 boxes, until the time limit. Prints one JSON line: verdict (holds, unknown or timeout:
immrax does not falsify), seconds, boxes.

This is immrax used as an interval library for the sampled loop. It is not immrax's interaction-aware
closed-loop embedding (``NNCEmbeddingSystem``), which keeps CROWN's linear dependence of the control
on the state inside the embedding, but models a controller read continuously (``u = N(x(t))``, not
held over a period) and needs its corner and permutation choices tuned per benchmark; immrax's own
scripts for the ARCH-COMP benchmarks are not in its published package. Here the box of the inputs
and the state box are independent within each period, which makes this adapter much looser than
what immrax reports for those benchmarks.
"""

from __future__ import annotations

import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import immrax as irx

jax.config.update("jax_enable_x64", True)
EMBEDDING = sys.argv[3] if len(sys.argv) > 3 else "mjacemb"
"""immrax's embedding transform: ``mjacemb`` (mixed Jacobian), ``jacemb`` or ``natemb`` (natural inclusion)."""


def dynamics(name: str):
    """``f(t, x, u)`` of the benchmark ``name`` (the definitions of examples/nncs/*.toml)."""
    if name == "ACC":
        def f(t, x, u):
            mu = 1e-4
            return jnp.array([x[1], x[2], -2 * x[2] + 2 * (-2.0) - mu * x[1] ** 2,
                              x[4], x[5], -2 * x[5] + 2 * u[0] - mu * x[4] ** 2])
    elif name == "Single pendulum":
        def f(t, x, u):
            return jnp.array([x[1], 2 * jnp.sin(x[0]) + 8 * u[0]])
    elif name == "TORA":
        def f(t, x, u):
            return jnp.array([x[1], -x[0] + 0.1 * jnp.sin(x[2]), x[3], u[0]])
    else:
        raise SystemExit(f"no immrax dynamics written for {name!r}")
    return f


class Plant(irx.System):
    def __init__(self, f, n: int):
        self.evolution = "continuous"
        self.xlen = n
        self._f = f

    def f(self, t, x, u):
        return self._f(t, x, u)


def network(layers, in_W, in_b):
    """The controller as a jax function of the state: the input map folded into the first layer."""
    first = [(layers[0][0] @ in_W, layers[0][0] @ in_b + layers[0][1], layers[0][2])] + list(layers[1:])
    acts = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "linear": lambda v: v}

    def net(x):
        for W, b, act in first:
            x = acts[act](jnp.asarray(W) @ x + jnp.asarray(b))
        return x

    return net


def main() -> None:
    data = np.load(sys.argv[1], allow_pickle=True)
    timeout = float(sys.argv[2])
    start = time.perf_counter()
    name = str(data["name"])
    lo0, hi0 = data["lo"], data["hi"]
    n = lo0.size
    period, steps, sub = float(data["period"]), int(data["steps"]), int(data["substeps"])
    layers = [(W, b, str(a)) for W, b, a in data["layers"]]
    out_W, out_b = data["out_W"], data["out_b"]
    safe = [(H, g, float(t0), float(t1)) for H, g, t0, t1 in data["safe"]]
    bound = irx.crown(network(layers, data["in_W"], data["in_b"]))
    emb = getattr(irx, EMBEDDING)(Plant(dynamics(name), n))
    dt = period / sub

    @jax.jit
    def period_step(lo, hi, t0):
        ix = irx.interval(lo, hi)
        iy = bound(ix)(ix)
        Wp, Wn = jnp.clip(out_W, 0, None), jnp.clip(out_W, None, 0)
        iu = irx.interval(Wp @ iy.lower + Wn @ iy.upper + out_b, Wp @ iy.upper + Wn @ iy.lower + out_b)
        x = irx.i2ut(ix)
        boxes = []
        for k in range(sub):   # Euler steps of the embedding system, the input box held
            x = x + dt * emb.E(irx.interval(t0 + k * dt), x, iu)
            boxes.append(x)
        return jnp.stack(boxes)

    def safe_box(lo, hi, t) -> bool:
        for H, g, t0, t1 in safe:
            if t0 - 1e-9 <= t <= t1 + 1e-9:
                top = np.clip(H, 0, None) @ hi + np.clip(H, None, 0) @ lo
                if np.any(top > g) or not np.all(np.isfinite(top)):
                    return False
        return True

    def proved(lo, hi) -> bool:
        if not safe_box(lo, hi, 0.0):
            return False
        for k in range(steps):
            if time.perf_counter() - start > timeout:
                raise TimeoutError
            ys = np.asarray(period_step(jnp.asarray(lo), jnp.asarray(hi), k * period))
            for j, y in enumerate(ys):
                if not safe_box(y[:n], y[n:], k * period + (j + 1) * dt):
                    return False
            lo, hi = ys[-1][:n], ys[-1][n:]
        return True

    todo, boxes, verdict = [(lo0, hi0)], 0, "holds"
    try:
        while todo:
            lo, hi = todo.pop()
            boxes += 1
            if proved(lo, hi):
                continue
            d = int(np.argmax((hi - lo) / np.where(hi0 > lo0, hi0 - lo0, 1.0)))
            if hi[d] - lo[d] < 1e-6 * (hi0[d] - lo0[d] + 1e-12) or boxes > 4096:
                verdict = "unknown"
                break
            mid = (lo[d] + hi[d]) / 2
            todo += [(lo, np.where(np.arange(n) == d, mid, hi)), (np.where(np.arange(n) == d, mid, lo), hi)]
    except TimeoutError:
        verdict = "timeout"
    print(json.dumps({"verdict": verdict, "seconds": round(time.perf_counter() - start, 3), "boxes": boxes}))


if __name__ == "__main__":
    main()
