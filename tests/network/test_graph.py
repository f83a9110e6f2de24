"""The network representation: shape inference, batched forward in float64/float32, gradients."""

from __future__ import annotations

import numpy as np
import pytest

from nnreach.network import INPUT, Network, ops

SEED = 7


def conv_dag(rng) -> Network:
    return Network.build((2, 6, 6), [
        ("c1", ops.Conv2d(rng.normal(size=(4, 1, 3, 3)), rng.normal(size=4), stride=(2, 1),
                          padding=(1, 0, 1, 2), groups=2), (INPUT,)),
        ("bn", ops.ElementwiseAffine(rng.normal(size=(4, 1, 1)), rng.normal(size=(4, 1, 1))), ("c1",)),
        ("r", ops.LeakyRelu(0.1), ("bn",)),
        ("mp", ops.MaxPool2d((2, 2), (1, 1), (0, 0, 1, 1)), ("r",)),
        ("ap", ops.AvgPool2d((2, 2), (2, 2), (1, 1, 0, 0)), ("mp",)),
        ("t", ops.Tanh(), ("ap",)),
        ("cat", ops.Concat(0), ("t", "ap")),
        ("tr", ops.Transpose((1, 2, 0)), ("cat",)),
        ("fl", ops.Reshape((48,)), ("tr",)),
        ("l", ops.Linear(rng.normal(size=(3, 48)), rng.normal(size=3)), ("fl",)),
        ("s", ops.Sigmoid(), ("l",)),
        ("cl", ops.Clip(0.2, 0.7), ("l",)),
        ("a", ops.Add(), ("s", "cl")),
    ])


def test_shapes_are_inferred():
    net = conv_dag(np.random.default_rng(SEED))
    assert net.shape_of("c1") == (4, 3, 6)
    assert net.shape_of("ap") == (4, 2, 3)
    assert net.output_shape == (3,) and net.input_size == 72
    assert not net.is_sequential


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(SEED)
    net = conv_dag(rng)
    x = rng.normal(size=(4, 72))
    g = rng.normal(size=(4, 3))
    y, gx = net.gradient(x, g)
    np.testing.assert_allclose(y, net(x))
    eps = 1e-6
    num = np.zeros_like(x)
    for i in range(72):
        e = np.zeros(72)
        e[i] = eps
        num[:, i] = ((net(x + e) - net(x - e)) * g).sum(axis=1) / (2 * eps)
    np.testing.assert_allclose(gx, num, atol=1e-6)


def test_float32_on_request():
    rng = np.random.default_rng(SEED)
    net = conv_dag(rng)
    x = rng.normal(size=(3, 2, 6, 6))
    y32 = net.forward(x.astype(np.float32), dtype=np.float32)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, net.forward(x), rtol=1e-4, atol=1e-5)


def test_shape_mismatch_names_the_node():
    with pytest.raises(ValueError, match="'fc'.*Linear expects last dimension 3"):
        Network.build((4,), [("fc", ops.Linear(np.ones((2, 3)), np.zeros(2)), (INPUT,))])
    with pytest.raises(ValueError, match="unknown input"):
        Network.build((4,), [("r", ops.Relu(), ("nothing",))])


def test_input_shape_is_checked():
    net = Network.sequential((3,), [ops.Relu()])
    with pytest.raises(ValueError, match="does not fit"):
        net.forward(np.zeros((2, 4)))


def test_summary_names_every_node():
    net = conv_dag(np.random.default_rng(SEED))
    text = net.summary()
    assert all(n.name in text for n in net.nodes)
