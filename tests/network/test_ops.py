"""Convolutions: the sparse-matrix path that large batches take agrees with sliding windows."""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.network import ops


@pytest.mark.parametrize("seed", range(12))
def test_large_batches_of_a_convolution_match_small_ones(seed):
    rng = np.random.default_rng(seed)
    groups = int(rng.choice([1, 2]))
    cin, cout = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    op = ops.Conv2d(rng.normal(size=(cout, cin // groups, kh, kw)), rng.normal(size=cout),
                    stride=tuple(int(v) for v in rng.integers(1, 3, 2)),
                    padding=tuple(int(v) for v in rng.integers(0, 3, 4)),
                    dilation=tuple(int(v) for v in rng.integers(1, 3, 2)), groups=groups)
    x = rng.normal(size=(ops.SPARSE_BATCH + 3, cin, *(int(v) for v in rng.integers(6, 10, 2))))
    y = op.forward(x)                                        # sparse path
    one_by_one = np.concatenate([op.forward(x[i:i + 1]) for i in range(len(x))])   # sliding windows
    np.testing.assert_allclose(y, one_by_one, atol=1e-12)
    gy = rng.normal(size=y.shape)
    g = op.backward((x,), gy)[0]
    g_one = np.concatenate([op.backward((x[i:i + 1],), gy[i:i + 1])[0] for i in range(len(x))])
    np.testing.assert_allclose(g, g_one, atol=1e-12)
    assert y.dtype == g.dtype == x.dtype
    assert op.forward(x.astype(np.float32)).dtype == np.float32


def test_the_matrix_is_built_once_per_input_shape():
    op = ops.Conv2d(np.ones((2, 1, 2, 2)), np.zeros(2))
    assert op.matrices((1, 4, 4)) is op.matrices((1, 4, 4))
    M, MT = op.matrices((1, 5, 5))
    assert M.shape == (2 * 4 * 4, 25) and MT.shape == (25, 32) and M.nnz == 2 * 16 * 4


def test_a_convolution_builds_its_magnitude_once():
    rng = np.random.default_rng(3)
    conv = ops.Conv2d(rng.normal(size=(2, 1, 3, 3)), rng.normal(size=2), (1, 1), (1, 1, 1, 1), (1, 1), 1)
    mag = conv.magnitude()
    assert mag is conv.magnitude()
    np.testing.assert_array_equal(mag.weight, np.abs(conv.weight))
    np.testing.assert_array_equal(mag.bias, 0.0)
