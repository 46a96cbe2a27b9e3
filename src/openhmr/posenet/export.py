"""Export a MoveNet network (image -> head maps) to ONNX; decoding stays in PyTorch/numpy."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from openhmr.onnx_export import write_onnx
from openhmr.posenet.movenet import MoveNet

HEAD_OUTPUTS = ("centre", "keypoint_heatmap", "keypoint_regression", "keypoint_offset",
                "box_scale", "box_offset")  # fmt: skip


class _Maps(nn.Module):
    def __init__(self, net: MoveNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        output = self.net(images)
        return tuple(getattr(output, name) for name in output_names(self.net))


def output_names(net: MoveNet) -> tuple[str, ...]:
    """The exported graph's outputs, in order: the head maps (B, C, H/4, W/4)."""
    return HEAD_OUTPUTS if net.spec.multi_person else HEAD_OUTPUTS[:4]


def export_movenet_onnx(
    net: MoveNet, path: str | os.PathLike, size: int | None = None, opset: int = 18
) -> Path:
    """Write `net` as ONNX: input `images` (B, 3, size, size) RGB 0–255 float, outputs the
    head logits named as `MoveNetOutput`'s fields; dynamic batch. Written atomically."""
    size = size or net.input_size
    example = torch.zeros(2, 3, size, size)
    return write_onnx(_Maps(net), example, path, "images", output_names(net), opset=opset)
