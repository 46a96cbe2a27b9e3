"""MobileNetV2 (Sandler et al. 2018) as Keras builds it, batch norm folded into biases: the
backbone of MoveNet. Channel widths follow Keras' `alpha` rule (`make_divisible(c · alpha, 8)`)
except the final 1 × 1 convolution, which MoveNet keeps at 1280 for every width."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from openhmr.posenet.layers import conv, conv_act, depthwise

# (expansion t, output channels c at alpha 1, repeats n, first stride s): the paper's Table 2.
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
          (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip
LAST_CHANNELS = 1280
# Block indices (Keras names block_<i>, 0 = "expanded_conv") whose output the FPN reads, by
# stride: the last block at strides 4, 8 and 16.
TAPS = {4: 2, 8: 5, 16: 9}


def make_divisible(value: float, divisor: int = 8) -> int:
    """Keras' rounding of channel counts to a multiple of `divisor` (never below 90%)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class InvertedResidual(nn.Module):
    """expand 1 × 1 + ReLU6 (absent when t = 1), depthwise 3 × 3 + ReLU6, project 1 × 1
    (linear), plus the input when the shape is kept."""

    def __init__(self, in_ch: int, out_ch: int, expansion: int, stride: int) -> None:
        super().__init__()
        hidden = in_ch * expansion
        self.expand = conv(in_ch, hidden) if expansion != 1 else None
        self.depthwise = depthwise(hidden, stride)
        self.project = conv(hidden, out_ch)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in, H, W) -> (B, out, H / stride, W / stride)."""
        y = conv_act(self.expand, x) if self.expand is not None else x
        y = self.project(conv_act(self.depthwise, y))
        return x + y if self.residual else y


@dataclass(frozen=True)
class BackboneFeatures:
    """Feature maps by stride: stride4 (B, C4, H/4, W/4), stride8, stride16, and stride32 =
    the final 1 × 1 convolution's output (B, 1280, H/32, W/32), after ReLU6."""

    stride4: torch.Tensor
    stride8: torch.Tensor
    stride16: torch.Tensor
    stride32: torch.Tensor


class MobileNetV2(nn.Module):
    """MobileNetV2 at width `alpha` (Thunder 1.75, MultiPose 1.5, Lightning 1.0)."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha
        stem = make_divisible(32 * alpha)
        self.stem = conv(3, stem, 3, stride=2)
        blocks, in_ch = [], stem
        for expansion, channels, repeats, stride in STAGES:
            out_ch = make_divisible(channels * alpha)
            for i in range(repeats):
                blocks.append(InvertedResidual(in_ch, out_ch, expansion, stride if i == 0 else 1))
                in_ch = out_ch
        self.blocks = nn.ModuleList(blocks)
        self.last_conv = conv(in_ch, LAST_CHANNELS)

    def tap_channels(self) -> dict[int, int]:
        """Channels of the stride-4/8/16/32 features."""
        out = {s: self.blocks[i].project.out_channels for s, i in TAPS.items()}
        return {**out, 32: LAST_CHANNELS}

    def forward(self, x: torch.Tensor) -> BackboneFeatures:
        """x: (B, 3, H, W) normalised to [-1, 1] -> `BackboneFeatures`."""
        x = conv_act(self.stem, x)
        taps = {}
        for index, block in enumerate(self.blocks):
            x = block(x)
            taps[index] = x
        top = conv_act(self.last_conv, x)
        return BackboneFeatures(taps[TAPS[4]], taps[TAPS[8]], taps[TAPS[16]], top)
