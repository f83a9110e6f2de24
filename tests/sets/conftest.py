"""Random instances of every set type, from fixed seeds that are printed on failure."""

import numpy as np
import pytest

from nnreach.sets import Box, HPolytope, Star, Zonotope

KINDS = ["box", "zonotope", "star", "hpolytope"]
SEEDS = [11, 12]


def random_set(kind: str, rng: np.random.Generator):
    """A random nonempty bounded set of the given kind in R^n, n in {2, 3, 4}."""
    n = int(rng.integers(2, 5))
    if kind == "box":
        lo = rng.normal(size=n)
        width = rng.uniform(0.2, 2.0, n)
        width[rng.integers(n)] = 0.0  # one flat dimension
        return Box(lo, lo + width)
    if kind == "zonotope":
        return Zonotope(rng.normal(size=n), rng.normal(size=(n, n + 2)))
    if kind == "star":
        m, k = n + 1, 4
        lb, ub = -rng.uniform(0.5, 1.5, m), rng.uniform(0.5, 1.5, m)
        C = rng.normal(size=(k, m))
        a0 = rng.uniform(lb / 2, ub / 2)
        return Star(rng.normal(size=n), rng.normal(size=(n, m)), C, C @ a0 + rng.uniform(0.1, 1.0, k), lb, ub)
    if kind == "hpolytope":
        A = np.vstack([rng.normal(size=(2 * n, n)), np.eye(n), -np.eye(n)])
        slack = np.concatenate([rng.uniform(0.2, 1.5, 2 * n), rng.uniform(1.0, 3.0, 2 * n)])
        return HPolytope(A, A @ rng.normal(size=n) + slack)
    raise ValueError(kind)


@pytest.fixture(params=SEEDS)
def rng(request) -> np.random.Generator:
    print(f"seed = {request.param}")
    return np.random.default_rng(request.param)


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    return request.param


@pytest.fixture
def make_set():
    return random_set
