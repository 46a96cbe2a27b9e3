"""Export the network (image -> Θ for all iterations) to ONNX."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from openhmr.errors import OpenHMRError
from openhmr.files import atomic_path
from openhmr.logs import drop_log_messages
from openhmr.model.hmr import HMR, ParameterNetwork

INPUT_NAME = "images"
OUTPUT_NAME = "params"


def export_onnx(
    model: HMR,
    path: str | os.PathLike,
    image_size: int = 224,
    dynamic_batch: bool = True,
    opset: int = 18,
) -> Path:
    """Write ``model`` as ONNX: input ``images`` (B, 3, S, S) normalised as the model expects,
    output ``params`` (B, T, P) — every iteration's parameter vector (P = 85 for the HMR head,
    157 for SPIN's).  The body model is not part of the graph.  Written atomically."""
    try:
        import onnxscript  # noqa: F401  (torch's exporter needs it)
    except ImportError:
        raise OpenHMRError(
            "ONNX export needs onnx and onnxscript: pip install 'openhmr[onnx]'"
        ) from None
    # torch's exporter notes, once per torchvision op it knows, that torchvision (which the
    # network never uses) is missing
    drop_log_messages(
        "torch.onnx._internal.exporter._registration", "torchvision is not installed. Skipping"
    )
    path = Path(path)
    network = ParameterNetwork(model).eval()
    example = torch.zeros(2, 3, image_size, image_size)
    dynamic_shapes = {"images": {0: torch.export.Dim("batch", min=1)}} if dynamic_batch else None
    with atomic_path(path) as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            network,
            (example,),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            dynamo=True,
            verbose=False,
            dynamic_shapes=dynamic_shapes,
            external_data=False,
        )
        program.save(str(tmp), external_data=False)
    return path
