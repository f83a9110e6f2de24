"""Small example instances of every op type, for tests parametrised over the reach-rule registry."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from nnreach.network import ops

Example = tuple[ops.Op, tuple[tuple[int, ...], ...]]  # an op and its per-sample input shapes


def _r(seed: int):
    return np.random.default_rng(seed)


EXAMPLES: dict[type, list[Example]] = {
    ops.Linear: [(ops.Linear(_r(1).normal(size=(4, 3)), _r(2).normal(size=4)), ((3,),)),
                 (ops.Linear(_r(3).normal(size=(2, 3)), _r(4).normal(size=2)), ((2, 3),))],
    ops.ElementwiseAffine: [(ops.ElementwiseAffine(_r(5).normal(size=(2, 1, 1)), _r(6).normal(size=(2, 1, 1))),
                             ((2, 3, 3),))],
    ops.Add: [(ops.Add(), ((2, 3), (2, 3)))],
    ops.Concat: [(ops.Concat(1, 2), ((2, 3), (2, 2))), (ops.Concat(0, 3), ((2,), (1,), (3,)))],
    ops.Reshape: [(ops.Reshape((6,)), ((2, 3),))],
    ops.Transpose: [(ops.Transpose((2, 0, 1)), ((2, 3, 4),))],
    ops.SparseAffine: [(ops.SparseAffine(sp.random(6, 4, density=0.5, random_state=11, data_rvs=_r(11).standard_normal),
                                         _r(12).normal(size=6), (2, 3)), ((2, 2),))],
    ops.Conv2d: [(ops.Conv2d(_r(7).normal(size=(3, 2, 2, 2)), _r(8).normal(size=3), stride=(1, 2),
                             padding=(1, 0, 0, 1)), ((2, 4, 4),)),
                 (ops.Conv2d(_r(9).normal(size=(4, 1, 3, 3)), _r(10).normal(size=4), dilation=(2, 1),
                             groups=2), ((2, 6, 5),))],
    ops.AvgPool2d: [(ops.AvgPool2d((2, 2), (2, 2)), ((2, 4, 4),)),
                    (ops.AvgPool2d((3, 2), (1, 2), (1, 0, 1, 1), count_include_pad=False), ((1, 4, 5),))],
    ops.MaxPool2d: [(ops.MaxPool2d((2, 2), (2, 2)), ((2, 4, 4),)),
                    (ops.MaxPool2d((3, 3), (1, 1), (1, 1, 1, 1)), ((1, 3, 4),))],
    ops.Relu: [(ops.Relu(), ((5,),))],
    ops.LeakyRelu: [(ops.LeakyRelu(0.1), ((5,),))],
    ops.Clip: [(ops.Clip(0.0, 1.0), ((5,),)), (ops.Clip(-1.0, 1.0), ((5,),))],
    ops.Sigmoid: [(ops.Sigmoid(), ((5,),))],
    ops.Tanh: [(ops.Tanh(), ((5,),))],
    ops.Unary: [(ops.Unary(name), ((5,),)) for name in ("Sin", "Cos", "Exp", "Abs", "Floor", "Ceil")]
               + [(ops.Unary("Pow", p), ((5,),)) for p in (2.0, 3.0, 0.0)],
    ops.Product: [(ops.Product(), ((2, 3), (2, 3)))],
}


def examples_for(op_type: type) -> list[Example]:
    """Examples of ``op_type`` and of all its subclasses."""
    return [ex for t, exs in EXAMPLES.items() if issubclass(t, op_type) for ex in exs]
