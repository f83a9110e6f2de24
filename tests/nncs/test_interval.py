"""Interval arithmetic encloses sampled values."""

import numpy as np
import pytest

from nnreach.nncs import interval as iv
from nnreach.nncs.interval import Interval

FUNCS = [
    ("sin", iv.sin, np.sin), ("cos", iv.cos, np.cos), ("exp", iv.exp, np.exp), ("tanh", iv.tanh, np.tanh),
    ("sq", lambda x: x ** 2, lambda x: x ** 2), ("cube", lambda x: x ** 3, lambda x: x ** 3),
    ("abs", iv.Abs, np.abs), ("recip", lambda x: 1 / (x + 5.0), lambda x: 1 / (x + 5.0)),
]


@pytest.mark.parametrize("name,f_iv,f", FUNCS, ids=[f[0] for f in FUNCS])
def test_unary_encloses_samples(name, f_iv, f):
    rng = np.random.default_rng(0)
    lo = rng.uniform(-4, 4, 300)
    hi = lo + rng.exponential(1.0, 300)
    out = f_iv(Interval(lo, hi))
    t = rng.uniform(size=(50, 1))
    xs = np.vstack([lo, hi, lo + t * (hi - lo)])
    ys = f(xs)
    assert np.all(ys >= out.lo) and np.all(ys <= out.hi)


def test_binary_ops_enclose_samples():
    rng = np.random.default_rng(1)
    a_lo, b_lo = rng.uniform(-3, 3, (2, 200))
    a, b = Interval(a_lo, a_lo + rng.uniform(0, 2, 200)), Interval(b_lo, b_lo + rng.uniform(0, 2, 200))
    s, t = rng.uniform(size=(2, 40, 1))
    x, y = a.lo + s * (a.hi - a.lo), b.lo + t * (b.hi - b.lo)
    for got, want in ((a + b, x + y), (a - b, x - y), (a * b, x * y), (a * 2.5 - 1, x * 2.5 - 1)):
        assert np.all(want >= got.lo) and np.all(want <= got.hi)


def test_division_by_an_interval_with_zero_is_unbounded():
    out = Interval(1.0, 2.0) / Interval(-1.0, 1.0)
    assert out.lo == -np.inf and out.hi == np.inf


def test_sin_of_a_period_is_minus_one_to_one():
    out = iv.sin(Interval(0.0, 7.0))
    assert out.lo == -1.0 and out.hi == 1.0
