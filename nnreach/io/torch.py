"""PyTorch modules as :class:`Network`: any module through an ONNX export, or a ``torch.nn.Sequential``
converted layer by layer.

:func:`export_torch` (what :func:`nnreach.load_model` does with a module) writes the module to an
ONNX file and reads that, so counterexamples are replayed on the exported file by onnxruntime.
:func:`from_torch` converts a sequential model directly, without a file, in float64.

PyTorch is an optional dependency (``pip install nnreach[torch]``): it is imported only when one of
these functions is called, never when this module is imported.

Example::

    import torch
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    net = export_torch(model)            # input shape (2,), from the first Linear layer
    net = from_torch(model, (2,))
    net.forward(np.zeros((1, 2)))
"""

from __future__ import annotations

import atexit
import inspect
import os
import shutil
import tempfile
import warnings
from dataclasses import replace
from math import prod
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from ..errors import InputError, UnsupportedError
from ..network.graph import INPUT, Network
from ..network.ops import (AvgPool2d, Clip, Conv2d, ElementwiseAffine, LeakyRelu, Linear, MaxPool2d, Op,
                           Relu, Reshape, Sigmoid, Tanh)

if TYPE_CHECKING:
    import torch

Shape = tuple[int, ...]
Converter = Callable[[Any, Shape], list[Op]]


def export_torch(module: "torch.nn.Module", input_shape: int | Sequence[int] | None = None) -> Network:
    """A torch module exported to ONNX and read back: the network of any module the exporter traces
    (a custom ``forward``, convolutions and flattening, ...) whose ONNX operators nnreach supports.

    The module is exported by ``torch.onnx.export`` (TorchScript-based exporter) in eval mode (batch
    norm with its running statistics, no dropout), traced on a zero input of shape
    ``(1, *input_shape)`` (a batch of one) in the dtype of its parameters, to a file in a temporary
    directory removed when the process exits. The network's ``source`` is that file, so counterexamples
    are confirmed by onnxruntime running the exported model.

    Args:
        module: a ``torch.nn.Module``; its ``forward`` takes one tensor with a batch axis.
        input_shape: per-sample input shape, e.g. ``(1, 28, 28)`` or ``784``. Default: the
            ``in_features`` of the module's first layer (in registration order) when it is a ``Linear``.
    Raises:
        InputError: PyTorch is missing, ``module`` is not a torch module, ``input_shape`` is malformed
            or cannot be inferred, or the export fails (e.g. the shape does not fit the module).
        UnsupportedError: ``forward`` branches on input values (tracing would fix one branch), or the
            exported model uses operators nnreach does not support.
    """
    torch = _import_torch()
    if not isinstance(module, torch.nn.Module):
        raise InputError(f"export_torch expects a torch.nn.Module, got {type(module).__name__}")
    shape = _infer_input_shape(module, torch.nn) if input_shape is None else _shape(input_shape)
    param = next(module.parameters(), None)
    x = torch.zeros((1, *shape), dtype=torch.float32 if param is None else param.dtype)
    path = _export_file()
    kwargs = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            torch.onnx.export(module, (x,), path, input_names=["input"], output_names=["output"], **kwargs)
        except Exception as e:  # noqa: BLE001  tracing and export raise assorted types
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise InputError(f"exporting the torch module ({type(module).__name__}) to ONNX on an input "
                             f"of shape {tuple(x.shape)} failed: {reason}") from None
    traced = [w for w in caught if issubclass(w.category, torch.jit.TracerWarning)]
    if traced:
        raise UnsupportedError(f"the torch module ({type(module).__name__}) cannot be exported faithfully: "
                               f"{str(traced[0].message).splitlines()[0]}")
    import onnx

    from .onnx import onnx_to_network
    net = onnx_to_network(onnx.load(path), f"torch module {type(module).__name__} (exported to ONNX)")
    return replace(net, source=path)


def _shape(input_shape) -> Shape:
    """``input_shape`` as a tuple of positive ints, or InputError."""
    dims = (input_shape,) if isinstance(input_shape, int) else input_shape
    try:
        shape = tuple(int(d) for d in dims if int(d) == d)
        ok = len(shape) == len(dims) and len(shape) > 0 and min(shape) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InputError(f"input_shape: expected a positive int or a non-empty sequence of them, got "
                         f"{input_shape!r}")
    return shape


def _infer_input_shape(module, nn) -> Shape:
    """``(in_features,)`` of the module's first layer when it is a ``Linear``, else InputError."""
    first = next(m for m in module.modules() if next(m.children(), None) is None)
    if isinstance(first, nn.Linear):
        return (int(first.in_features),)
    hint = f" (channels first, C = {first.in_channels})" if hasattr(first, "in_channels") else ""
    raise InputError(f"the input shape of the torch module ({type(module).__name__}) cannot be inferred: its "
                     f"first layer is {type(first).__name__}, not Linear; give input_shape{hint}")


_export_dir: str | None = None


def _export_file() -> str:
    """A new file name in this process's export directory (made on first use, removed at exit)."""
    global _export_dir
    if _export_dir is None:
        _export_dir = tempfile.mkdtemp(prefix="nnreach-torch-")
        atexit.register(shutil.rmtree, _export_dir, True)
    fd, path = tempfile.mkstemp(suffix=".onnx", dir=_export_dir)
    os.close(fd)
    return path


def from_torch(module: "torch.nn.Module", input_shape: int | Sequence[int]) -> Network:
    """Convert a PyTorch sequential model into a :class:`Network` (float64 parameters).

    Nested ``nn.Sequential`` containers are flattened. Supported modules: ``Linear``, ``Conv2d``,
    ``ReLU``, ``LeakyReLU``, ``Sigmoid``, ``Tanh``, ``Hardtanh`` and ``ReLU6`` (:class:`Clip`),
    ``Hardsigmoid`` (``x / 6 + 1/2`` then ``Clip(0, 1)``), ``Flatten``, ``BatchNorm1d`` / ``BatchNorm2d``
    (folded into an :class:`ElementwiseAffine`), ``AvgPool2d``, ``MaxPool2d``, ``Identity`` and
    ``Dropout`` (dropped). Subclasses of these are not accepted, as they may change ``forward``.

    The network has eval-mode semantics whatever ``module.training`` says: batch norm uses its running
    statistics and dropout is the identity. Nodes are named after the module paths (``"0"``, ``"3.1"``;
    a module that becomes two ops adds ``".1"`` to the second).

    Args:
        module: an ``nn.Sequential`` (or a single supported module).
        input_shape: per-sample input shape without the batch axis, e.g. ``(3, 32, 32)`` or ``(784,)``.
    Raises:
        InputError: PyTorch is not installed, ``module`` is not a torch module, or the shapes do not fit
            (naming the module).
        UnsupportedError: listing every unsupported module, or naming a module whose configuration is
            not supported (padding modes, ``divisor_override``, ...).
    """
    torch = _import_torch()
    if not isinstance(module, torch.nn.Module):
        raise InputError(f"from_torch expects a torch.nn.Module, got {type(module).__name__}")
    converters = _converters(torch.nn)
    leaves = list(_leaves(module, "", torch.nn.Sequential))
    unsupported = [f"{name} ({type(m).__name__})" for name, m in leaves if type(m) not in converters]
    if unsupported:
        raise UnsupportedError(f"unsupported torch module(s): {', '.join(unsupported)}; supported: "
                               f"{', '.join(sorted(c.__name__ for c in converters))}")
    in_shape: Shape = (input_shape,) if isinstance(input_shape, int) else tuple(int(d) for d in input_shape)
    shape, layers, prev = in_shape, [], INPUT
    for name, m in leaves:
        try:
            ops = converters[type(m)](m, shape)
            for k, op in enumerate(ops):
                shape = tuple(op.output_shape(shape))
                node = name if k == 0 else f"{name}.{k}"
                layers.append((node, op, (prev,)))
                prev = node
        except (InputError, ValueError) as e:
            kind = UnsupportedError if isinstance(e, UnsupportedError) else InputError
            raise kind(f"torch module {name} ({type(m).__name__}): {e}") from None
    if not layers:
        raise InputError("the torch module computes the identity: it has no layer to convert")
    return Network.build(in_shape, layers)


def _import_torch():
    try:
        import torch
    except ImportError:
        raise InputError("converting a torch model needs PyTorch, which is not installed: "
                         "pip install nnreach[torch]") from None
    return torch


def _leaves(module, name: str, sequential: type) -> Iterator[tuple[str, Any]]:
    """``(path, module)`` of the modules of ``module``, with plain ``nn.Sequential`` containers opened."""
    if type(module) is sequential:
        for child_name, child in module.named_children():
            yield from _leaves(child, f"{name}.{child_name}" if name else child_name, sequential)
    else:
        yield name or type(module).__name__.lower(), module


def _converters(nn) -> dict[type, Converter]:
    return {
        nn.Linear: _linear, nn.Conv2d: _conv2d,
        nn.ReLU: lambda m, s: [Relu()], nn.Sigmoid: lambda m, s: [Sigmoid()], nn.Tanh: lambda m, s: [Tanh()],
        nn.LeakyReLU: lambda m, s: [LeakyRelu(float(m.negative_slope))],
        nn.Hardtanh: _hardtanh, nn.ReLU6: _hardtanh,
        nn.Hardsigmoid: lambda m, s: [ElementwiseAffine(1.0 / 6.0, 0.5), Clip(0.0, 1.0)],
        nn.Flatten: _flatten, nn.BatchNorm1d: lambda m, s: _batch_norm(m, s, (1, 2)),
        nn.BatchNorm2d: lambda m, s: _batch_norm(m, s, (3,)),
        nn.AvgPool2d: _avg_pool, nn.MaxPool2d: _max_pool,
        nn.Identity: lambda m, s: [], nn.Dropout: lambda m, s: [],
    }


def _array(tensor) -> np.ndarray:
    return np.array(tensor.detach().cpu().double().numpy())


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _linear(m, shape: Shape) -> list[Op]:
    w = _array(m.weight)
    b = _array(m.bias) if m.bias is not None else np.zeros(w.shape[0])
    return [Linear(w, b)]


def _conv2d(m, shape: Shape) -> list[Op]:
    if m.padding_mode != "zeros":
        raise UnsupportedError(f"padding_mode={m.padding_mode!r} (only 'zeros' is supported)")
    w = _array(m.weight)
    b = _array(m.bias) if m.bias is not None else np.zeros(w.shape[0])
    dilation = _pair(m.dilation)
    if m.padding == "valid":
        padding = (0, 0, 0, 0)
    elif m.padding == "same":  # torch puts the odd extra row/column at the bottom/right
        total = [d * (k - 1) for d, k in zip(dilation, w.shape[2:])]
        padding = (total[0] // 2, total[1] // 2, total[0] - total[0] // 2, total[1] - total[1] // 2)
    else:
        ph, pw = _pair(m.padding)
        padding = (ph, pw, ph, pw)
    return [Conv2d(w, b, stride=_pair(m.stride), padding=padding, dilation=dilation, groups=int(m.groups))]


def _hardtanh(m, shape: Shape) -> list[Op]:
    return [Clip(float(m.min_val), float(m.max_val))]


def _flatten(m, shape: Shape) -> list[Op]:
    rank = len(shape) + 1  # with the batch axis, as torch counts start_dim and end_dim
    start, end = m.start_dim % rank, m.end_dim % rank
    if start == 0:
        raise UnsupportedError("flattening the batch axis (start_dim=0) is not supported")
    new = (*shape[:start - 1], prod(shape[start - 1:end]), *shape[end:])
    return [] if new == shape else [Reshape(new)]


def _batch_norm(m, shape: Shape, ranks: tuple[int, ...]) -> list[Op]:
    """Eval-mode batch norm on inputs whose rank is one of ``ranks`` (channels first)."""
    if m.running_mean is None or m.running_var is None:
        raise UnsupportedError("track_running_stats=False (batch statistics even in eval mode)")
    if len(shape) not in ranks or shape[0] != m.num_features:
        raise InputError(f"expects {m.num_features} channels on the first axis of an input of rank "
                         f"{' or '.join(map(str, ranks))}, "
                         f"got shape {shape}")
    scale = 1.0 / np.sqrt(_array(m.running_var) + m.eps)
    if m.weight is not None:
        scale = scale * _array(m.weight)
    offset = -_array(m.running_mean) * scale
    if m.bias is not None:
        offset = offset + _array(m.bias)
    channel_shape = (-1, *(1,) * (len(shape) - 1))
    return [ElementwiseAffine(scale.reshape(channel_shape), offset.reshape(channel_shape))]


def _torch_pooled_size(size: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    """Pooling output size by torch's rule (in ceil mode a window may not start in the right padding)."""
    span = d * (k - 1) + 1
    out = (size + 2 * p - span + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool_geometry(m, shape: Shape, dilation: tuple[int, int]):
    kernel = _pair(m.kernel_size)
    stride = _pair(m.stride) if m.stride else kernel
    ph, pw = _pair(m.padding)
    if len(shape) != 3:
        raise InputError(f"expects a (C, H, W) input, got shape {shape}")
    sizes = tuple(_torch_pooled_size(shape[i + 1], kernel[i], stride[i], (ph, pw)[i], dilation[i],
                                     bool(m.ceil_mode)) for i in range(2))
    return kernel, stride, (ph, pw, ph, pw), sizes


def _avg_pool(m, shape: Shape) -> list[Op]:
    if m.divisor_override:
        raise UnsupportedError("divisor_override is not supported")
    kernel, stride, padding, sizes = _pool_geometry(m, shape, (1, 1))
    op = AvgPool2d(kernel, stride, padding, count_include_pad=bool(m.count_include_pad))
    if op.output_shape(shape)[1:] != sizes:
        raise UnsupportedError("ceil_mode=True with partial windows at the border is not supported")
    return [op]


def _max_pool(m, shape: Shape) -> list[Op]:
    if m.return_indices:
        raise UnsupportedError("return_indices=True is not supported")
    dilation = _pair(m.dilation)
    kernel, stride, padding, sizes = _pool_geometry(m, shape, dilation)
    # torch's ceil mode falls back to the floor size when the last window would start in the padding
    for ceil_mode in (False, True):
        op = MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
        if op.output_shape(shape)[1:] == sizes:
            return [op]
    raise UnsupportedError("ceil_mode=True adding a partial window on one spatial axis only")
