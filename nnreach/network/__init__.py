"""Network representation: a DAG of frozen operations with numeric forward and backward passes."""

from .graph import INPUT, Network, Node
from .ops import (ACTIVATIONS, Activation, Add, AvgPool2d, Clip, Concat, Conv2d, ElementwiseAffine,
                  LeakyRelu, Linear, MaxPool2d, Op, Product, Relu, Reshape, Sigmoid, SparseAffine, Tanh,
                  Transpose, Unary)

__all__ = ["INPUT", "Network", "Node", "ACTIVATIONS", "Activation", "Add", "AvgPool2d", "Clip", "Concat",
           "Conv2d", "ElementwiseAffine", "LeakyRelu", "Linear", "MaxPool2d", "Op", "Relu", "Reshape",
           "Product", "Sigmoid", "SparseAffine", "Tanh", "Transpose", "Unary"]
