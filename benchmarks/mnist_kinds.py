"""MNIST-style robustness benchmarks of four network kinds, generated from a seed into out/mnist_kinds/.

    .venv/bin/pip install scikit-learn      # the digits data set (needed only by this generator)
    .venv/bin/python benchmarks/mnist_kinds.py [--out DIR] [--seed N]

The images are scikit-learn's bundled handwritten digits (8x8, 1797 of them), upsampled to 20x20 and
centred in a 28x28 frame with values in [0, 1], as MNIST digits are. Four networks are trained with
torch on a fixed split (about a minute of CPU for all four) and exported to ONNX (opset 13) as
``mnist_{kind}.onnx``:

- ``conv_avgpool``: input 1x1x28x28, conv 8 (3x3, with batch norm, which the exporter folds into it)
  + ReLU + 2x2 average pool, conv 16 + ReLU + average pool, dense 64 + ReLU, dense 10;
- ``conv_maxpool``: the same layout with max pooling and unpadded convolutions;
- ``fc_sigmoid_6x200``: input 1x784, normalisation (Sub, Div), 6 dense layers of 200 sigmoids, dense 10;
- ``fc_relu_9x200``: input 1x1x28x28, normalisation, Flatten, 9 dense layers of 200 ReLUs, dense 10.

Each model is loaded back with nnreach and must agree with onnxruntime on the test images. The
properties are L-inf balls (clipped to [0, 1]) of radius ``EPSILONS`` around the first ``N_IMAGES``
test images that every network classifies correctly; a property is violated when some other class
scores at least as much as the label (VNN-LIB 1.0, ``prop_{image}_{eps}.vnnlib``, shared by all
networks). ``instances.csv`` has one ``onnx,vnnlib,timeout`` row per network and property. The same
seed gives the same files; they are not kept in the repository.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn
from torch.nn import functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import nnreach  # noqa: E402

SEED = 20260
N_TEST = 500
N_IMAGES = 10
EPSILONS = (0.01, 0.03)
TIMEOUT = 300
EPOCHS = 60
BATCH = 64
MEAN, STD = 0.1307, 0.3081  # the usual MNIST normalisation constants
AGREEMENT_TOL = 1e-4        # nnreach's forward pass against onnxruntime, float32 logits


# ----------------------------------------------------------------------------------------- data


def load_digits_28() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as MNIST-like images: float32 (n, 1, 28, 28) in [0, 1] and int labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("mnist_kinds.py needs scikit-learn: .venv/bin/pip install scikit-learn")
    digits = load_digits()
    small = torch.tensor(digits.images / 16.0, dtype=torch.float32)[:, None]
    big = F.interpolate(small, size=(20, 20), mode="bilinear", align_corners=False)
    framed = F.pad(big, (4, 4, 4, 4)).clamp(0.0, 1.0)
    return framed.numpy(), digits.target.astype(np.int64)


def split(x: np.ndarray, y: np.ndarray, rng: np.random.Generator):
    """A seeded train/test split with ``N_TEST`` test images."""
    order = rng.permutation(len(y))
    test, train = order[:N_TEST], order[N_TEST:]
    return (x[train], y[train]), (x[test], y[test])


def shifted(x: torch.Tensor, gen: torch.Generator, max_shift: int) -> torch.Tensor:
    """The batch translated by one random offset of up to ``max_shift`` pixels (training augmentation)."""
    dy, dx = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=gen))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


# ----------------------------------------------------------------------------------------- networks


class Normalize(nn.Module):
    """``(x - MEAN) / STD``, exported as ONNX Sub and Div by constants."""

    def forward(self, x):
        return (x - MEAN) / STD


def conv_avgpool() -> nn.Sequential:
    """Two padded convolutions (the first with batch norm), each followed by ReLU and 2x2 average pooling."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))


def conv_maxpool() -> nn.Sequential:
    """Two unpadded convolutions, each followed by ReLU and 2x2 max pooling."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 64), nn.ReLU(), nn.Linear(64, 10))


def dense_chain(depth: int, width: int, activation: type[nn.Module], flatten: bool) -> nn.Sequential:
    """Normalisation, optionally Flatten, ``depth`` dense layers of ``width`` units, a dense output layer."""
    layers: list[nn.Module] = [Normalize()] + ([nn.Flatten()] if flatten else [])
    size = 28 * 28
    for _ in range(depth):
        layers += [nn.Linear(size, width), activation()]
        size = width
    return nn.Sequential(*layers, nn.Linear(size, 10))


@dataclass(frozen=True)
class Kind:
    """A network kind: its name, constructor, ONNX input shape, learning rate and training shifts."""

    name: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    lr: float = 1e-3
    max_shift: int = 1


KINDS = (
    Kind("conv_avgpool", conv_avgpool, (1, 1, 28, 28), max_shift=2),
    Kind("conv_maxpool", conv_maxpool, (1, 1, 28, 28), max_shift=2),
    Kind("fc_sigmoid_6x200", lambda: dense_chain(6, 200, nn.Sigmoid, flatten=False), (1, 784), lr=2e-3),
    Kind("fc_relu_9x200", lambda: dense_chain(9, 200, nn.ReLU, flatten=True), (1, 1, 28, 28)),
)


# ----------------------------------------------------------------------------------------- training


def train(kind: Kind, x: np.ndarray, y: np.ndarray, seed: int) -> nn.Module:
    """Adam on cross-entropy for ``EPOCHS`` epochs of randomly shifted mini-batches; returns the net in
    eval mode."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = kind.build()
    opt = torch.optim.Adam(net.parameters(), lr=kind.lr)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    net.train()
    for _ in range(EPOCHS):
        for idx in torch.randperm(len(ys), generator=gen).split(BATCH):
            batch = shifted(xs[idx], gen, kind.max_shift).reshape(len(idx), *kind.input_shape[1:])
            opt.zero_grad()
            F.cross_entropy(net(batch), ys[idx]).backward()
            opt.step()
    return net.eval()


def predict(net: nn.Module, kind: Kind, x: np.ndarray) -> np.ndarray:
    """Predicted classes of the images ``x`` (n, 1, 28, 28)."""
    with torch.no_grad():
        return net(torch.from_numpy(x).reshape(len(x), *kind.input_shape[1:])).argmax(dim=1).numpy()


# ----------------------------------------------------------------------------------------- export


def export_onnx(net: nn.Module, kind: Kind, path: Path) -> None:
    """Export with the TorchScript exporter (opset 13, constants folded, batch norm kept in eval mode)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, (torch.zeros(kind.input_shape),), str(path), dynamo=False, opset_version=13,
                          input_names=["input"], output_names=["output"])


def check_agreement(path: Path, kind: Kind, x: np.ndarray) -> float:
    """Largest difference between nnreach's forward pass and onnxruntime on ``x``; raises above tolerance."""
    model = nnreach.load_model(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ours = model.forward(x.reshape(len(x), -1).astype(np.float32))
    theirs = np.vstack([session.run(None, {"input": image.reshape(kind.input_shape)})[0] for image in x])
    diff = float(np.abs(ours - theirs).max())
    if diff > AGREEMENT_TOL:
        raise SystemExit(f"{path}: nnreach and onnxruntime differ by {diff:.3g}")
    return diff


# ----------------------------------------------------------------------------------------- properties


def vnnlib_text(image: np.ndarray, label: int, eps: float) -> str:
    """A VNN-LIB 1.0 L-inf robustness property around ``image`` (784 inputs in [0, 1], 10 outputs)."""
    x = image.ravel().astype(np.float64)
    lo, hi = np.clip(x - eps, 0.0, 1.0).tolist(), np.clip(x + eps, 0.0, 1.0).tolist()
    lines = [f"; MNIST-style property with label: {label}.", ""]
    lines += [f"(declare-const X_{i} Real)" for i in range(len(x))] + [""]
    lines += [f"(declare-const Y_{j} Real)" for j in range(10)] + ["", "; Input constraints:"]
    for i in range(len(x)):
        lines += [f"(assert (<= X_{i} {hi[i]!r}))", f"(assert (>= X_{i} {lo[i]!r}))", ""]
    lines += ["", "; Output constraints:", "(assert (or"]
    lines += [f"    (and (>= Y_{j} Y_{label}))" for j in range(10) if j != label]
    return "\n".join(lines + ["))", ""])


def common_correct(predictions: list[np.ndarray], labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of the first ``count`` images that every network classifies correctly."""
    ok = np.all([p == labels for p in predictions], axis=0)
    chosen = np.flatnonzero(ok)[:count]
    if len(chosen) < count:
        raise SystemExit(f"only {len(chosen)} test images are classified correctly by every network")
    return chosen


def write_properties(out: Path, images: np.ndarray, labels: np.ndarray) -> list[str]:
    """Write ``prop_{k}_{eps}.vnnlib`` for every image and radius; returns the file names."""
    names = []
    for eps in EPSILONS:
        for k, (image, label) in enumerate(zip(images, labels)):
            name = f"prop_{k}_{eps}.vnnlib"
            (out / name).write_text(vnnlib_text(image, int(label), eps))
            names.append(name)
    return names


def write_instances(out: Path, models: list[str], props: list[str]) -> Path:
    """``instances.csv``: one ``onnx,vnnlib,timeout`` row per model and property, no header."""
    path = out / "instances.csv"
    path.write_text("".join(f"{m},{p},{TIMEOUT}\n" for m in models for p in props))
    return path


# ----------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "out" / "mnist_kinds")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = split(*load_digits_28(), np.random.default_rng(args.seed))
    models, predictions = [], []
    for k, kind in enumerate(KINDS):
        net = train(kind, x_train, y_train, args.seed + k)
        pred = predict(net, kind, x_test)
        path = args.out / f"mnist_{kind.name}.onnx"
        export_onnx(net, kind, path)
        diff = check_agreement(path, kind, x_test[:50])
        print(f"wrote {path}: test accuracy {np.mean(pred == y_test):.3f} ({N_TEST} images), "
              f"nnreach vs onnxruntime {diff:.1e}")
        models.append(path.name)
        predictions.append(pred)
    chosen = common_correct(predictions, y_test, N_IMAGES)
    props = write_properties(args.out, x_test[chosen], y_test[chosen])
    print(f"wrote {len(props)} properties {args.out}/prop_*.vnnlib (test images {chosen.tolist()}, "
          f"labels {y_test[chosen].tolist()}, eps {', '.join(map(str, EPSILONS))})")
    print(f"wrote {write_instances(args.out, models, props)} ({len(models) * len(props)} rows, "
          f"timeout {TIMEOUT} s)")


if __name__ == "__main__":
    main()
