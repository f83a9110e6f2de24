"""Build the bundled example models (deterministic; rerun to regenerate ``examples/models``).

``tiny_relu.onnx``: a 2 -> 16 -> 16 -> 2 ReLU network with fixed random weights, exported the way
PyTorch exports dense layers (``Gemm`` with ``transB=1``) and with a batch axis on its input.
"""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent


def tiny_relu() -> onnx.ModelProto:
    rng = np.random.default_rng(2026)
    sizes = [2, 16, 16, 2]
    nodes, inits, prev = [], [], "x"
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = (rng.normal(size=(n_out, n_in)) / np.sqrt(n_in)).astype(np.float32)
        b = (rng.normal(size=n_out) * 0.1).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"W{k}"), numpy_helper.from_array(b, f"b{k}")]
        out = f"h{k}" if k < len(sizes) - 2 else "y"
        nodes.append(helper.make_node("Gemm", [prev, f"W{k}", f"b{k}"], [f"z{k}" if out != "y" else "y"],
                                      transB=1, name=f"dense{k}"))
        if out != "y":
            nodes.append(helper.make_node("Relu", [f"z{k}"], [out], name=f"relu{k}"))
        prev = out
    graph = helper.make_graph(nodes, "tiny_relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="nnreach-examples",
                              ir_version=8)  # readable by older onnxruntime releases too
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    (HERE / "models").mkdir(exist_ok=True)
    onnx.save(tiny_relu(), HERE / "models" / "tiny_relu.onnx")
