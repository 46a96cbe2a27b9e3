"""Writing a network to ONNX with torch's exporter: one image input with a dynamic batch, no
external data, written atomically (used by the HMR and MoveNet exports)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from openhmr.errors import OpenHMRError
from openhmr.files import atomic_path
from openhmr.logs import drop_log_messages


def write_onnx(
    module: nn.Module,
    example: torch.Tensor,
    path: str | os.PathLike,
    input_name: str,
    output_names: Sequence[str],
    dynamic_batch: bool = True,
    opset: int = 18,
) -> Path:
    """Export `module` (in eval mode) traced on `example` (B, ...) to `path`: input
    `input_name`, outputs `output_names`; the batch dimension dynamic unless told otherwise."""
    try:
        import onnxscript  # noqa: F401  (torch's exporter needs it)
    except ImportError:
        raise OpenHMRError(
            "ONNX export needs onnx and onnxscript: pip install 'openhmr[onnx]'"
        ) from None
    # torch's exporter notes, once per torchvision op it knows, that torchvision (which the
    # networks never use) is missing
    drop_log_messages(
        "torch.onnx._internal.exporter._registration", "torchvision is not installed. Skipping"
    )
    path = Path(path)
    batch = {input_name: {0: torch.export.Dim("batch", min=1)}} if dynamic_batch else None
    with atomic_path(path) as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module.eval(),
            (example,),
            input_names=[input_name],
            output_names=list(output_names),
            opset_version=opset,
            dynamo=True,
            verbose=False,
            dynamic_shapes=batch,
            external_data=False,
        )
        program.save(str(tmp), external_data=False)
    return path
