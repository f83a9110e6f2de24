"""Build the bundled example models and images (deterministic; rerun to regenerate ``examples/models``
and ``examples/images``).

``tiny_relu.onnx``: a 2 -> 16 -> 16 -> 2 ReLU network with fixed random weights, exported the way
PyTorch exports dense layers (``Gemm`` with ``transB=1``) and with a batch axis on its input.

From the MNIST-FC benchmark of VNN-COMP 2021 (``../shared/benchmarks/mnistfc`` beside the repository,
or the folder given as the first argument; skipped when absent):

- ``mnist_256x2_f16.onnx``: its ``mnist-net_256x2.onnx`` (784 -> 256 -> 256 -> 10 ReLU, inputs in
  [0, 1]) with the weight matrices stored as float16 and cast to float32 in the graph, half the size
  (0.54 MB instead of 1.08 MB); the outputs differ from the published net's by less than 1e-3 on the
  benchmark's images, which it classifies alike, but verdicts near a decision boundary may differ;
- ``images/mnist_6.png``: the MNIST test digit of the benchmark's ``prop_8`` (a 6), 28x28 8-bit
  grayscale: the centre of the property's input box (clipped to [0, 1] at the edges) times 255.
"""

import sys
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


MNISTFC = HERE.parents[1] / "shared" / "benchmarks" / "mnistfc"
MNIST_EPS = 0.03  # the radius of the prop_*_0.03.vnnlib files


def mnist_256x2_f16(mnistfc: Path) -> onnx.ModelProto:
    """The benchmark's 256x2 net with float16 weight matrices (biases stay float32)."""
    model = onnx.load(mnistfc / "mnist-net_256x2.onnx")
    graph, inits, casts = model.graph, [], []
    for init in graph.initializer:
        w = numpy_helper.to_array(init)
        if w.ndim == 2:
            inits.append(numpy_helper.from_array(w.astype(np.float16), init.name + "_f16"))
            casts.append(helper.make_node("Cast", [init.name + "_f16"], [init.name], to=TensorProto.FLOAT))
        else:
            inits.append(init)
    nodes = casts + list(graph.node)
    del graph.initializer[:], graph.node[:]
    graph.initializer.extend(inits)
    graph.node.extend(nodes)
    model.doc_string = "mnist-net_256x2 (VNN-COMP 2021 MNIST-FC) with float16 weight matrices"
    onnx.checker.check_model(model)
    return model


def mnist_image(mnistfc: Path, prop: int) -> np.ndarray:
    """The MNIST image of ``prop_<prop>_0.03.vnnlib``, (28, 28) uint8: its input box is the L-inf ball
    of radius 0.03 around the image clipped to [0, 1], so a coordinate whose box touches 0 or 1 is
    recovered from the other end."""
    from nnreach.io.vnnlib import read_vnnlib

    (p,) = read_vnnlib(mnistfc / f"prop_{prop}_{MNIST_EPS}.vnnlib")
    lo, hi = p.input_box.lo, p.input_box.hi
    center = np.where(lo <= 0, np.maximum(hi - MNIST_EPS, 0),
                      np.where(hi >= 1, np.minimum(lo + MNIST_EPS, 1), (lo + hi) / 2))
    pixels = center * 255
    assert np.abs(pixels - np.rint(pixels)).max() < 1e-3, "MNIST pixels are multiples of 1/255"
    return np.rint(pixels).astype(np.uint8).reshape(28, 28)


if __name__ == "__main__":
    (HERE / "models").mkdir(exist_ok=True)
    onnx.save(tiny_relu(), HERE / "models" / "tiny_relu.onnx")
    mnistfc = Path(sys.argv[1]) if len(sys.argv) > 1 else MNISTFC
    if not mnistfc.is_dir():
        sys.exit(f"{mnistfc} not found: the MNIST model and image were not made")
    import PIL.Image

    onnx.save(mnist_256x2_f16(mnistfc), HERE / "models" / "mnist_256x2_f16.onnx")
    (HERE / "images").mkdir(exist_ok=True)
    PIL.Image.fromarray(mnist_image(mnistfc, 8)).save(HERE / "images" / "mnist_6.png")
