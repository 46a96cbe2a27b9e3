"""Layers of the imported TF networks, channels-first.

TensorFlow's SAME padding differs from a symmetric `padding=k // 2` at stride 2: it pads
`max(k - s, 0)` pixels in total (for sizes divisible by the stride) and puts the odd one after
(bottom/right). Symmetric padding shifts every feature by half a pixel per strided layer,
which moves MoveNet's keypoints by ~130 px of 256 — so strided convolutions here pad
explicitly. Batch norm was folded into the convolution biases before export: no norm layers.

A convolution followed by ReLU / ReLU6 (`conv_act`) runs as one oneDNN convolution with the
activation as its post-op on CPU when no gradient is wanted: the same values (tested against
the separate ops), one pass over the output fewer. In bfloat16 the separate clamp is slow (about
twice float32's time per element), so the fused block is ~30% faster there.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF SAME padding (before, after) of one spatial dimension."""
    total = max(kernel - (stride if size % stride == 0 else size % stride), 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """`nn.Conv2d` with TensorFlow's SAME padding (asymmetric at stride 2); VALID when
    `same=False`. Weight (out, in / groups, k, k) as in torch."""

    def __init__(self, *args, same: bool = True, **kwargs) -> None:
        super().__init__(*args, padding=0, **kwargs)
        # At stride 1 SAME is symmetric: the convolution pads by itself (no copy).
        self.explicit_pad = same and self.stride != (1, 1) and self.kernel_size != (1, 1)
        if same and self.stride == (1, 1):
            self.padding = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """x with TF SAME's asymmetric padding where this layer needs it explicitly."""
        if self.explicit_pad:
            top, bottom = same_padding(x.shape[2], self.kernel_size[0], self.stride[0])
            left, right = same_padding(x.shape[3], self.kernel_size[1], self.stride[1])
            x = F.pad(x, (left, right, top, bottom))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> (B, C', H', W')."""
        return super().forward(self.pad(x))


FUSE_ACTIVATIONS = True  # False: conv_act runs the convolution and the activation apart
_ACTIVATIONS = {"relu": ([], F.relu), "relu6": ([0.0, 6.0], F.relu6)}


def _tracing() -> bool:
    """Whether torch is tracing, compiling or exporting the call (ONNX, torch.export): the
    fused op is eager-only (it has no ONNX translation), so the standard ops are traced."""
    compiler = torch.compiler
    return bool(
        torch.jit.is_tracing()
        or compiler.is_compiling()
        or (hasattr(compiler, "is_exporting") and compiler.is_exporting())
    )


@functools.cache
def _fused_op_available() -> bool:
    """Whether this torch has oneDNN and its fused convolution op (the same for the process)."""
    return torch.backends.mkldnn.is_available() and hasattr(
        torch.ops.mkldnn, "_convolution_pointwise"
    )


def _fusable(layer: nn.Conv2d, x: torch.Tensor) -> bool:
    if not FUSE_ACTIVATIONS or x.device.type != "cpu" or x.dtype != layer.weight.dtype:
        return False
    if x.dtype not in (torch.float32, torch.bfloat16) or not _fused_op_available():
        return False
    if _tracing():
        return False
    if torch.is_grad_enabled() and (x.requires_grad or layer.weight.requires_grad):
        return False
    return layer.padding_mode == "zeros" and not isinstance(layer.padding, str)


def conv_act(layer: nn.Conv2d, x: torch.Tensor, activation: str = "relu6") -> torch.Tensor:
    """activation(layer(x)), "relu" or "relu6": fused into one oneDNN convolution where
    `_fusable` (CPU, float32 or bfloat16, no gradient), else the two ops (the activation in
    place on the convolution's fresh output).  x: (B, C, H, W) -> (B, C', H', W')."""
    scalars, function = _ACTIVATIONS[activation]
    if not _fusable(layer, x):
        return function(layer(x), inplace=True)
    attr = "hardtanh" if activation == "relu6" else "relu"
    if isinstance(layer, Conv2dSame):
        x = layer.pad(x)
    return torch.ops.mkldnn._convolution_pointwise(
        x, layer.weight, layer.bias, list(layer.padding), list(layer.stride),
        list(layer.dilation), layer.groups, attr, scalars, "",
    )  # fmt: skip


def conv(in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1, bias: bool = True):
    """A dense convolution with SAME padding."""
    return Conv2dSame(in_ch, out_ch, kernel, stride=stride, bias=bias)


def depthwise(channels: int, stride: int = 1, bias: bool = True) -> Conv2dSame:
    """A 3 × 3 depthwise convolution with SAME padding."""
    return Conv2dSame(channels, channels, 3, stride=stride, groups=channels, bias=bias)


class SeparableConv(nn.Module):
    """Keras `SeparableConv2D` + ReLU: depthwise 3 × 3 (no bias), pointwise 1 × 1 with bias."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.depthwise = depthwise(in_ch, bias=False)
        self.pointwise = conv(in_ch, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in, H, W) -> (B, out, H, W)."""
        return conv_act(self.pointwise, self.depthwise(x), "relu")
