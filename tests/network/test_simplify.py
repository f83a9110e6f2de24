"""simplify(): fused networks compute the same function, with fewer nodes where chains fuse."""

from __future__ import annotations

import numpy as np

from nnreach.errors import UnsupportedError
from nnreach.io import load_model
from nnreach.network import INPUT, Network, ops
from nnreach.network.simplify import simplify

from .test_graph import conv_dag


def same_function(a: Network, b: Network, seed=0):
    x = np.random.default_rng(seed).normal(size=(16, a.input_size))
    np.testing.assert_allclose(a(x), b(x), rtol=1e-10, atol=1e-10)


def test_benchmark_models_keep_their_function(benchmarks):
    loaded = 0
    for path in sorted(benchmarks.rglob("*.onnx")):
        try:
            net = load_model(path)
        except UnsupportedError:  # operators not supported yet (tests/io/test_onnx.py checks the refusal)
            continue
        same_function(net, simplify(net))
        loaded += 1
    assert loaded >= 70  # ACAS Xu, MNIST-FC, the tests, the closed-loop controllers and more


def test_acasxu_becomes_dense_layers(benchmarks):
    net = simplify(load_model(benchmarks / "acasxu/ACASXU_run2a_1_1_batch_2000.onnx"))
    kinds = [type(n.op).__name__ for n in net.nodes]
    assert kinds == ["Reshape"] + ["Linear", "Relu"] * 6 + ["Linear"]


def test_conv_dag_keeps_its_function_and_large_convolutions():
    net = conv_dag(np.random.default_rng(3))
    same_function(net, simplify(net))
    rng = np.random.default_rng(4)
    big = Network.sequential((3, 16, 16), [ops.Conv2d(rng.normal(size=(8, 3, 3, 3)), np.zeros(8)), ops.Relu(),
                                           ops.ElementwiseAffine(2.0, 1.0), ops.Reshape((8 * 14 * 14,))])
    out = simplify(big)
    same_function(big, out)
    assert any(isinstance(n.op, ops.Conv2d) for n in out.nodes)


def test_shared_values_are_not_fused_away():
    rng = np.random.default_rng(5)
    lin = lambda o, i: ops.Linear(rng.normal(size=(o, i)), rng.normal(size=o))
    net = Network.build((3,), [("a", lin(4, 3), (INPUT,)), ("b", ops.ElementwiseAffine(2.0, 0.5), ("a",)),
                               ("r", ops.Relu(), ("a",)), ("s", ops.Add(), ("b", "r"))])
    out = simplify(net)
    same_function(net, out)
    assert {n.name for n in out.nodes} >= {"a", "r", "s"}


def test_a_monotone_activation_used_only_by_max_pooling_moves_after_it():
    """``max_i f(x_i) = f(max_i x_i)`` for non-decreasing ``f``: the activation follows the pooling (one
    neuron per window), the function is the same; an activation whose value something else uses too
    stays where it is."""
    from math import prod

    from tests.soundness import networks

    rng = np.random.default_rng(3)
    for act in networks.ACTIVATIONS:
        for pool in networks.POOLS:
            net = networks.pooled(rng, act, pool)
            out = simplify(net)
            same_function(net, out)
            kinds = [type(n.op) for n in out.nodes]
            assert kinds.index(ops.MaxPool2d) < kinds.index(type(act)), (act, pool)
            size = {type(n.op): prod(n.shape) for n in out.nodes}
            assert size[type(act)] == size[ops.MaxPool2d]
    conv = ops.Conv2d(rng.normal(size=(2, 1, 3, 3)), rng.normal(size=2), padding=(1, 1, 1, 1))
    shared = Network.build((1, 4, 4), [("c", conv, (INPUT,)), ("r", ops.Relu(), ("c",)),
                                       ("p", ops.MaxPool2d((2, 2), (2, 2)), ("r",)), ("f", ops.Reshape((8,)), ("p",)),
                                       ("g", ops.Reshape((32,)), ("r",)), ("cat", ops.Concat(0, 2), ("f", "g"))])
    kept = simplify(shared)
    same_function(shared, kept)
    kinds = [type(n.op) for n in kept.nodes]
    assert kinds.index(ops.Relu) < kinds.index(ops.MaxPool2d)


def test_a_flattened_value_with_several_shaped_users_reaches_each_reshaped():
    """A fused chain's flat value used by two ops that need its shape, and by a reshape: each gets
    the value in its shape (the second user once got the flat one)."""
    rng = np.random.default_rng(2)
    net = Network.build((2, 3), [
        ("a", ops.ElementwiseAffine(2.0, 1.0), (INPUT,)), ("b", ops.ElementwiseAffine(-1.0, 0.5), ("a",)),
        ("t", ops.Transpose((1, 0)), (INPUT,)), ("u", ops.Transpose((1, 0)), ("t",)),
        ("p", ops.Product(), ("b", "u")), ("q", ops.Add(), ("b", "u")), ("r", ops.Reshape((6,)), ("b",)),
        ("s", ops.Add(), ("p", "q")), ("f", ops.Reshape((6,)), ("s",)), ("out", ops.Add(), ("f", "r")),
    ], "out")
    simple = simplify(net)
    assert simple is not net
    x = rng.normal(size=(4, 6))
    np.testing.assert_allclose(simple.forward(x), net.forward(x), atol=1e-12)
