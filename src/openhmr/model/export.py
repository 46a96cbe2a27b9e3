"""Export the network (image -> Θ for all iterations) to ONNX."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from openhmr.errors import OpenHMRError
from openhmr.model.hmr import HMR, ParameterNetwork
from openhmr.onnx_export import write_onnx

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
    157 for SPIN's).  The body model is not part of the graph, except for a network with
    keypoint feedback (`HMRConfig.feedback`), whose steps pose the attached body model's
    keypoints.  Written atomically.
    An encoder's frozen BlazePose (features "...+blazepose") is in the graph too."""
    network = ParameterNetwork(model)
    if model.config.feedback != "none":
        if model.body_model is None:
            raise OpenHMRError("ONNX export: a network with keypoint feedback needs its body model")
        # registered so the exporter sees the keypoint model's tensors (kept outside the
        # network's state dict, as the body model is)
        network.keypoint_model = model._keypoint_model()
    for variant in getattr(model.encoder, "blazepose_variants", ()):
        # registered here so the exporter sees their weights (the encoder keeps them outside
        # its state dict)
        network.add_module(f"blazepose_{variant}", model.encoder.blazepose(variant))
    example = torch.zeros(2, 3, image_size, image_size)
    return write_onnx(network, example, path, INPUT_NAME, [OUTPUT_NAME], dynamic_batch, opset)
