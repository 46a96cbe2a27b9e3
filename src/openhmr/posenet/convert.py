"""TF.js MoveNet graphs → `MoveNet` state dicts, and the bundled weight files.

One table (`NAME_TABLE`) maps the graph's weight names to the module's parameter names; TF
kernels (kh, kw, in, out) become torch's (out, in, kh, kw), depthwise (kh, kw, C, 1) become
(C, 1, kh, kw). Every graph weight that is a network parameter must map to exactly one
parameter and every parameter must be filled: anything else is an error naming the weight.

Graph name (after "StatefulPartitionedCall/")                      → module parameter
  .../model/Conv1/Conv2D_{weights,bn_offset}                        → backbone.stem
  .../model/expanded_conv_depthwise/depthwise_{weights,bn_offset}   → backbone.blocks.0.depthwise
  .../model/expanded_conv_project/Conv2D_*                          → backbone.blocks.0.project
  .../model/block_<i>_{expand,depthwise,project}/...                → backbone.blocks.<i>.<part>
  .../model/Conv_1/Conv2D_*                                         → backbone.last_conv
  .../model_1/conv2d{,_1,_2,_3}/...                                 → fpn.lateral{32,16,8,4}
  .../model_1/separable_conv2d{,_1,_2}/...                          → fpn.smooth{16,8,4}
  <head>_0/separable_conv2d_<n>/separable_conv2d/ReadVariableOp    → heads.<h>.separable.depthwise
  <head>_0/separable_conv2d_<n>/separable_conv2d/ReadVariableOp_1  → heads.<h>.separable.pointwise
  <head>_0/separable_conv2d_<n>/BiasAdd/ReadVariableOp             → ...pointwise.bias
  <head>_0/conv2d_<n>/{Conv2D,BiasAdd}/ReadVariableOp              → heads.<h>.output
with <head> → <h>: center → centre, kpt_heatmap → keypoint_heatmap, kpt_regress →
keypoint_regression, kpt_offset → keypoint_offset, box_scale, box_offset.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from openhmr.errors import OpenHMRError
from openhmr.posenet.movenet import MoveNet
from openhmr.posenet.tfjs import GraphModel, read_graph_model
from openhmr.posenet.weights import load_weights as load_weights  # its home before weights.py
from openhmr.posenet.weights import save_weights

PREFIX = "StatefulPartitionedCall/"
FEATURES = "center_net_mobile_net_v2fpn_feature_extractor/"
HEAD_NAMES = {"center": "centre", "kpt_heatmap": "keypoint_heatmap",
              "kpt_regress": "keypoint_regression", "kpt_offset": "keypoint_offset",
              "box_scale": "box_scale", "box_offset": "box_offset"}  # fmt: skip
_LATERAL = {"": "32", "_1": "16", "_2": "8", "_3": "4"}
_SMOOTH = {"": "16", "_1": "8", "_2": "4"}
_PART = {"weights": "weight", "bn_offset": "bias"}

NAME_TABLE: tuple[tuple[str, str], ...] = (
    (r"model_1/model/Conv1/Conv2D_(weights|bn_offset)", "backbone.stem.{p}"),
    (r"model_1/model/expanded_conv_depthwise/depthwise_(weights|bn_offset)",
     "backbone.blocks.0.depthwise.{p}"),
    (r"model_1/model/expanded_conv_project/Conv2D_(weights|bn_offset)",
     "backbone.blocks.0.project.{p}"),
    (r"model_1/model/block_(\d+)_(expand|project)/Conv2D_(weights|bn_offset)",
     "backbone.blocks.{0}.{1}.{p}"),
    (r"model_1/model/block_(\d+)_(depthwise)/depthwise_(weights|bn_offset)",
     "backbone.blocks.{0}.{1}.{p}"),
    (r"model_1/model/Conv_1/Conv2D_(weights|bn_offset)", "backbone.last_conv.{p}"),
    (r"model_1/conv2d(|_1|_2|_3)/Conv2D/ReadVariableOp", "fpn.lateral{L}.weight"),
    (r"model_1/conv2d(|_1|_2|_3)/BiasAdd/ReadVariableOp", "fpn.lateral{L}.bias"),
    (r"model_1/separable_conv2d(|_1|_2)/separable_conv2d/ReadVariableOp",
     "fpn.smooth{S}.depthwise.weight"),
    (r"model_1/separable_conv2d(|_1|_2)/separable_conv2d_(weights|bn_offset)",
     "fpn.smooth{S}.pointwise.{p}"),
    (r"(\w+)_0/separable_conv2d_\d+/separable_conv2d/ReadVariableOp",
     "heads.{H}.separable.depthwise.weight"),
    (r"(\w+)_0/separable_conv2d_\d+/separable_conv2d/ReadVariableOp_1",
     "heads.{H}.separable.pointwise.weight"),
    (r"(\w+)_0/separable_conv2d_\d+/BiasAdd/ReadVariableOp", "heads.{H}.separable.pointwise.bias"),
    (r"(\w+)_0/conv2d_\d+/Conv2D/ReadVariableOp", "heads.{H}.output.weight"),
    (r"(\w+)_0/conv2d_\d+/BiasAdd/ReadVariableOp", "heads.{H}.output.bias"),
)  # fmt: skip


def parameter_name(graph_name: str) -> str | None:
    """The module parameter a graph weight fills (None: not a network parameter, e.g. a
    decoding constant)."""
    name = graph_name.removeprefix(PREFIX).replace(FEATURES, "")
    for pattern, template in NAME_TABLE:
        match = re.fullmatch(pattern, name)
        if not match:
            continue
        groups = match.groups()
        fields = {"p": _PART.get(groups[-1], "")}
        if template.startswith("fpn.lateral"):
            fields["L"] = _LATERAL[groups[0]]
        if template.startswith("fpn.smooth"):
            fields["S"] = _SMOOTH[groups[0]]
        if template.startswith("heads."):
            if groups[0] not in HEAD_NAMES:
                return None
            fields["H"] = HEAD_NAMES[groups[0]]
        return template.format(*groups, **fields)
    return None


def _to_torch_layout(value: np.ndarray, target_shape: torch.Size) -> np.ndarray:
    if value.ndim == 4:
        if value.shape[3] == 1 and target_shape[1] == 1 and value.shape[2] == target_shape[0]:
            return value.transpose(2, 3, 0, 1)  # depthwise (kh, kw, C, 1) -> (C, 1, kh, kw)
        return value.transpose(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
    return value


def state_dict_from_graph(graph: GraphModel, net: torch.nn.Module) -> dict[str, np.ndarray]:
    """The graph's network weights as `net`'s state dict (float32 numpy), checked complete."""
    expected = {k: v.shape for k, v in net.state_dict().items()}
    state: dict[str, np.ndarray] = {}
    for graph_name, value in graph.weights.items():
        name = parameter_name(graph_name)
        if name is None or value.dtype.kind != "f" or value.ndim not in (1, 4):
            continue
        if name not in expected:
            raise OpenHMRError(f"{graph.path}: weight {graph_name!r} maps to unknown {name!r}")
        if name in state:
            raise OpenHMRError(f"{graph.path}: two graph weights map to {name!r}")
        array = _to_torch_layout(value, expected[name])
        if tuple(array.shape) != tuple(expected[name]):
            raise OpenHMRError(
                f"{graph.path}: {graph_name!r} has shape {value.shape}, {name} needs "
                f"{tuple(expected[name])} (wrong MoveNet variant?)"
            )
        state[name] = np.ascontiguousarray(array, dtype=np.float32)
    missing = sorted(set(expected) - set(state))
    if missing:
        raise OpenHMRError(
            f"{graph.path}: no graph weight for {missing[:3]} ({len(missing)} missing)"
        )
    return state


def convert_graph(model_json: str | Path, variant: str, out: str | Path) -> dict[str, int]:
    """Convert one TF.js MoveNet graph to a float16 safetensors file (atomically); returns
    {"parameters": count, "bytes": file size}."""
    graph = read_graph_model(model_json)
    net = MoveNet(variant)
    state = state_dict_from_graph(graph, net)
    metadata = {"variant": variant, "source": Path(model_json).name,
                "generatedBy": str(graph.metadata.get("generatedBy", ""))}  # fmt: skip
    return save_weights(state, out, metadata)
