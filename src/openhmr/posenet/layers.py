"""Layers of the imported TF networks, channels-first.

TensorFlow's SAME padding differs from a symmetric `padding=k // 2` at stride 2: it pads
`max(k - s, 0)` pixels in total (for sizes divisible by the stride) and puts the odd one after
(bottom/right). Symmetric padding shifts every feature by half a pixel per strided layer,
which moves MoveNet's keypoints by ~130 px of 256 — so strided convolutions here pad
explicitly. Batch norm was folded into the convolution biases before export: no norm layers.
"""

from __future__ import annotations

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> (B, C', H', W')."""
        if self.explicit_pad:
            top, bottom = same_padding(x.shape[2], self.kernel_size[0], self.stride[0])
            left, right = same_padding(x.shape[3], self.kernel_size[1], self.stride[1])
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


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
        return F.relu(self.pointwise(self.depthwise(x)))
