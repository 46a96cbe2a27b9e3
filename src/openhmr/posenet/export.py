"""Export a MoveNet network (image -> head maps) to ONNX; decoding stays in PyTorch/numpy."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from openhmr.errors import OpenHMRError
from openhmr.files import atomic_path
from openhmr.logs import drop_log_messages
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
    try:
        import onnxscript  # noqa: F401  (torch's exporter needs it)
    except ImportError:
        raise OpenHMRError(
            "ONNX export needs onnx and onnxscript: pip install 'openhmr[onnx]'"
        ) from None
    drop_log_messages(
        "torch.onnx._internal.exporter._registration", "torchvision is not installed. Skipping"
    )
    size = size or net.input_size
    example = torch.zeros(2, 3, size, size)
    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            _Maps(net.eval()),
            (example,),
            input_names=["images"],
            output_names=list(output_names(net)),
            opset_version=opset,
            dynamo=True,
            verbose=False,
            dynamic_shapes={"images": {0: torch.export.Dim("batch", min=1)}},
            external_data=False,
        )
        program.save(str(tmp), external_data=False)
    return path
