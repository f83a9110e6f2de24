"""``zono`` and ``deeppoly`` prove every property that ``interval`` proves, on random small networks of
every kind (dense with each activation, convolutional, residual, with max pooling): both meet their bounds with the
interval output box."""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.reach.propagate import reach
from nnreach.sets import Box, HPolytope
from nnreach.verify.api import verify
from nnreach.verify.bounds import excludes
from nnreach.verify.problem import Problem, Property
from nnreach.verify.result import Status
from nnreach.verify.settings import Settings

from . import networks

SEED = 2718
CASES = 24


def _network(rng, kind: str, activation):
    if kind == "dense":
        return networks.dense(rng, activation, depth=int(rng.integers(1, 4)), width=int(rng.integers(2, 6)),
                              n_in=int(rng.integers(1, 5)), positive_head=True)
    if kind == "maxpool":
        return networks.pooled(rng, activation, networks.POOLS[int(rng.integers(len(networks.POOLS)))], side=5)
    return networks.convolutional(rng, activation) if kind == "conv" else networks.residual(rng, activation)


def _polytope(rng, out: Box) -> HPolytope:
    """One to three random rows ``a . y <= b`` (most with nonnegative ``a``: unsafe when the outputs are small),
    each ``b`` near the smallest value of its row over the interval output box ``out``: a mix of
    polytopes that interval arithmetic excludes and does not."""
    A = rng.normal(size=(int(rng.integers(1, 4)), out.dim)) + 1.0
    lo, hi = out.affine_map(A).bounds()
    return HPolytope(A, lo + rng.uniform(-0.1, 0.4, size=lo.size) * (hi - lo))


def _problems(kind: str, activation):
    rng = np.random.default_rng(SEED)
    for _ in range(CASES):
        net = _network(rng, kind, activation)
        c = rng.normal(size=net.input_size)
        box = Box(c - rng.uniform(0.05, 1.0, net.input_size), c + rng.uniform(0.05, 1.0, net.input_size))
        out = reach(net, box, "interval")
        yield net, Property(box, tuple(_polytope(rng, out) for _ in range(int(rng.integers(1, 3)))))


@pytest.mark.parametrize("kind, activation", [("dense", a) for a in networks.ACTIVATIONS]
                         + [("conv", networks.ACTIVATIONS[0]), ("residual", networks.ACTIVATIONS[1]),
                            ("maxpool", networks.ACTIVATIONS[0])],
                         ids=lambda v: v if isinstance(v, str) else v.describe())
def test_zono_and_deeppoly_prove_what_interval_proves(kind, activation):
    proved, zonotope_alone_fails = 0, 0
    margin = Settings().proof_margin
    for net, prop in _problems(kind, activation):
        if verify(Problem(net, (prop,)), "interval").status is not Status.HOLDS:
            continue
        proved += 1
        for method in ("zono", "deeppoly"):
            assert verify(Problem(net, (prop,)), method).status is Status.HOLDS, method
        zonotope = reach(net, prop.input_box, "zono")
        zonotope_alone_fails += not all(excludes(zonotope, p, margin) for p in prop.unsafe)
    assert proved >= 3, "too few properties that interval proves: the test checks little"
    if kind == "dense" and activation is networks.ACTIVATIONS[0]:
        assert zonotope_alone_fails, "no case where the zonotope alone is looser than interval"
