"""Tests of the torch.nn.Sequential converter against torch's own forward (float64, eval mode)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from nnreach.errors import InputError, UnsupportedError
from nnreach.io.torch import from_torch

SEED = 7


@pytest.fixture(scope="module")
def nn():
    return pytest.importorskip("torch").nn


def _mlp(nn):
    return nn.Sequential(
        nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5),
        nn.Sequential(nn.Linear(16, 12, bias=False), nn.LeakyReLU(0.2), nn.Identity(),
                      nn.Sequential(nn.Linear(12, 12), nn.Sigmoid())),
        nn.Linear(12, 10), nn.Tanh(), nn.Linear(10, 10), nn.Hardtanh(-0.5, 0.7),
        nn.Linear(10, 8), nn.Hardsigmoid(), nn.Linear(8, 8), nn.ReLU6(), nn.Linear(8, 3)), (6,)


def _cnn(nn):
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 6, (3, 2), padding="same", dilation=(2, 1), groups=2), nn.Tanh(),
        nn.AvgPool2d(3, stride=1, padding=1), nn.MaxPool2d(3, stride=2, padding=1, dilation=1),
        nn.Conv2d(6, 4, 2, bias=False), nn.MaxPool2d(2, ceil_mode=True), nn.LeakyReLU(0.05),
        nn.Dropout(0.1),
        nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False), nn.Flatten(), nn.Linear(16, 5)), (2, 31, 29)


def _pool_padding(nn):
    """Padded pools; the first has a ceil-mode window that torch drops because it starts in the padding."""
    return nn.Sequential(
        nn.MaxPool2d(2, stride=2, padding=1, ceil_mode=True),
        nn.AvgPool2d(2, stride=2, padding=1),
        nn.MaxPool2d((2, 3), stride=(1, 2), padding=(1, 1), dilation=(2, 1)),
        nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
        nn.Flatten(), nn.Linear(3 * 3 * 2, 2)), (3, 17, 19)


def _sequence(nn):
    """BatchNorm1d on (C, L) inputs and a partial Flatten; Linear acts on the last axis."""
    return nn.Sequential(
        nn.BatchNorm1d(4), nn.Linear(6, 5), nn.ReLU(), nn.Flatten(1, 2), nn.Linear(20, 3)), (4, 6)


def _partial_flatten(nn):
    """Flatten of the last two axes only."""
    return nn.Sequential(nn.Flatten(start_dim=2), nn.Linear(12, 5), nn.Sigmoid(),
                         nn.Flatten(), nn.Linear(10, 1)), (2, 3, 4)


def _randomise_batch_norms(torch, module) -> None:
    gen = torch.Generator().manual_seed(SEED)
    for m in module.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen))
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.randn(n, generator=gen))
            m.bias.data.copy_(torch.randn(n, generator=gen))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("build", [_mlp, _cnn, _pool_padding, _sequence, _partial_flatten])
def test_matches_torch_forward(nn, build):
    import torch

    torch.manual_seed(SEED)
    module, shape = build(nn)
    module = module.double()
    _randomise_batch_norms(torch, module)
    module.eval()
    x = np.random.default_rng(SEED).normal(0.0, 2.0, size=(40, *shape))
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy().reshape(len(x), -1)
    net = from_torch(module, shape)
    np.testing.assert_allclose(net.forward(x), expected, rtol=1e-10, atol=1e-10)


def test_names_follow_module_paths(nn):
    net = from_torch(nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Identity(), nn.Hardsigmoid())), 2)
    assert [n.name for n in net.nodes] == ["0", "1.1", "1.1.1"]
    assert net.input_shape == (2,)


def test_unsupported_modules_are_all_listed(nn):
    module = nn.Sequential(nn.Linear(3, 3), nn.GELU(), nn.Sequential(nn.Softmax(dim=1)), nn.Conv1d(1, 1, 1))
    with pytest.raises(UnsupportedError, match=r"unsupported torch module\(s\): 1 \(GELU\), 2.0 \(Softmax\), "
                                               r"3 \(Conv1d\); supported: "):
        from_torch(module, (3,))


@pytest.mark.parametrize("make, shape, error, message", [
    (lambda nn: nn.Sequential(nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect")), (1, 5, 5),
     UnsupportedError, r"module 0 \(Conv2d\): padding_mode='reflect'"),
    (lambda nn: nn.Sequential(nn.Identity(), nn.AvgPool2d(2, ceil_mode=True)), (1, 5, 5),
     UnsupportedError, r"module 1 \(AvgPool2d\): ceil_mode=True with partial windows"),
    (lambda nn: nn.Sequential(nn.MaxPool2d(2, padding=(0, 1), ceil_mode=True)), (1, 7, 5),
     UnsupportedError, r"module 0 \(MaxPool2d\): ceil_mode=True adding a partial window on one spatial axis"),
    (lambda nn: nn.Sequential(nn.BatchNorm1d(3, track_running_stats=False)), (3,),
     UnsupportedError, r"module 0 \(BatchNorm1d\): track_running_stats=False"),
    (lambda nn: nn.Sequential(nn.Flatten(0)), (3,), UnsupportedError, r"start_dim=0"),
    (lambda nn: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(5, 2)), (3,),
     InputError, r"module 2 \(Linear\): Linear expects last dimension 5"),
    (lambda nn: nn.Sequential(nn.BatchNorm2d(3)), (4, 5, 5),
     InputError, r"module 0 \(BatchNorm2d\): expects 3 channels on the first axis of an input of rank 3"),
    (lambda nn: nn.Sequential(nn.Dropout(), nn.Identity()), (3,), InputError, r"computes the identity"),
])
def test_conversion_errors_name_the_module(nn, make, shape, error, message):
    with pytest.raises(error, match=message):
        from_torch(make(nn), shape)


def test_rejects_non_modules(nn):
    with pytest.raises(InputError, match="expects a torch.nn.Module, got list"):
        from_torch([1, 2], (3,))


def test_missing_torch_is_an_input_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(InputError, match=r"pip install nnreach\[torch\]"):
        from_torch(object(), (3,))


def test_importing_the_module_does_not_import_torch():
    code = "import sys, nnreach.io.torch; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


class _Structural:
    """Modules whose ONNX export uses the structural operators (Slice, Split, Pad, Resize, ...)."""

    @staticmethod
    def build(nn):
        import torch
        import torch.nn.functional as F

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1d = nn.Conv1d(2, 3, 3, stride=2, padding=1)
                self.up = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1)
                self.prelu = nn.PReLU()
                self.resize = nn.Upsample(scale_factor=2, mode="nearest")
                self.head = nn.Linear(2 * 8 * 8 + 3 + 3 + 2 + 2, 4)

            def forward(self, x):                    # x: (N, 2, 4, 4)
                seq = self.conv1d(x.flatten(2))      # (N, 3, 8)
                img = self.prelu(self.up(seq[:, :, :4].reshape(-1, 3, 2, 2)))       # (N, 2, 4, 4)
                img = F.pad(self.resize(img)[:, :, 1:-1, 1:-1], (1, 1, 1, 1), mode="reflect")
                a, b = torch.split(seq, [5, 3], dim=2)
                pooled = torch.cat([a.mean(dim=2), b.sum(dim=(1,)), x[:, 1, 0, :2]], dim=1)
                return self.head(torch.cat([img.flatten(1), pooled, seq[:, :2, -1]], dim=1))

        return Net()


def test_exported_structural_layers_load_and_match_torch(nn, tmp_path):
    """torch.onnx.export of 1-D convolution, transposed convolution, PReLU, nearest upsampling,
    slicing, reflect padding, split, mean and sum: nnreach's network computes what torch computes."""
    import torch
    from nnreach.io import load_model
    module = _Structural.build(nn).eval()
    net = load_model(module, (2, 4, 4))
    x = np.random.default_rng(SEED).normal(size=(5, 2, 4, 4))
    with torch.no_grad():
        expected = module(torch.tensor(x, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(net.forward(x.reshape(5, -1)), expected, rtol=1e-4, atol=1e-4)
