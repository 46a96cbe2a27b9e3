"""TF.js BlazePose graphs → `BlazePoseNet` state dicts, and the bundled weight files.

The graphs name their weights after Keras layers numbered in creation order (`conv2d_35`,
`depthwise_conv2d_20`), which says nothing about where a layer sits. So the converter walks
the graph's data flow the way `BlazePoseNet.forward` runs, from the input placeholder: each
step finds the one consumer of the current tensor with the expected op (and stride, kernel
or output width where a tensor feeds several), checks the kernel against the module's
parameter and records it. Every float weight of the graph must be used exactly once and
every parameter filled; anything else is an `OpenHMRError` naming the file.
TF kernels (kh, kw, in, out) become torch's (out, in, kh, kw), depthwise (kh, kw, C, 1) become
(C, 1, kh, kw).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from openhmr.errors import OpenHMRError
from openhmr.posenet.blazepose_net import LANDMARKS, BlazePoseNet
from openhmr.posenet.tfjs import GraphModel, GraphNode, read_graph_model
from openhmr.posenet.weights import save_weights

CONV, DEPTHWISE = "_FusedConv2D", "FusedDepthwiseConv2dNative"


def _base(name: str) -> str:
    return name.lstrip("^").split(":")[0]


class _Walk:
    """The graph's consumers by tensor, and the state dict being filled."""

    def __init__(self, graph: GraphModel, net: BlazePoseNet) -> None:
        self.graph, self.net = graph, net
        self.expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        self.consumers: dict[str, list[GraphNode]] = defaultdict(list)
        for node in graph.nodes.values():
            for name in node.inputs:
                self.consumers[_base(name)].append(node)
        self.state: dict[str, np.ndarray] = {}
        self.used: set[str] = set()

    def fail(self, message: str) -> OpenHMRError:
        return OpenHMRError(f"{self.graph.path}: not the BlazePose {self.net.variant} graph: "
                            f"{message}")  # fmt: skip

    def kernel(self, node: GraphNode) -> np.ndarray:
        return self.graph.weights[_base(node.inputs[1])]

    def next(self, tensor: str, op: str, where=lambda node: True) -> GraphNode:
        """The one consumer of `tensor` with `op` satisfying `where`."""
        found = [n for n in self.consumers[tensor] if n.op == op and where(n)]
        if len(found) != 1:
            raise self.fail(f"{len(found)} {op} nodes read {tensor!r}, expected 1")
        return found[0]

    def conv(self, tensor: str, out_ch: int | None = None) -> GraphNode:
        return self.next(tensor, CONV, lambda n: out_ch in (None, self.kernel(n).shape[3]))

    def depthwise(self, tensor: str, stride: int = 1, then: int | None = None) -> GraphNode:
        """A depthwise consumer of `tensor` at `stride` (read through a Pad), whose own
        convolution consumer has `then` output channels (when given)."""
        sources = [tensor] + [n.name for n in self.consumers[tensor] if n.op == "Pad"]

        def fits(node: GraphNode) -> bool:
            if node.attrs.get("strides", [1, 1, 1, 1])[1] != stride:
                return False
            outs = [self.kernel(n).shape[3] for n in self.consumers[node.name] if n.op == CONV]
            return then is None or then in outs

        found = [n for s in sources for n in self.consumers[s] if n.op == DEPTHWISE and fits(n)]
        if len(found) != 1:
            raise self.fail(f"{len(found)} depthwise nodes at stride {stride} read {tensor!r}")
        return found[0]

    def assign(self, path: str, node: GraphNode) -> str:
        """Fill `path`.weight/.bias from a convolution node; returns the node's tensor name."""
        kernel_name, bias_name = _base(node.inputs[1]), _base(node.inputs[2])
        kernel = self.graph.weights[kernel_name]
        if node.op == DEPTHWISE:
            kernel = kernel.transpose(2, 3, 0, 1)  # kh x kw x C x 1 -> C x 1 x kh x kw
        else:
            kernel = kernel.transpose(3, 2, 0, 1)  # kh x kw x in x out -> out x in x kh x kw
        for name, value, source in (
            (f"{path}.weight", kernel, kernel_name),
            (f"{path}.bias", self.graph.weights[bias_name], bias_name),
        ):
            if self.expected.get(name) != tuple(value.shape):
                raise self.fail(f"{source!r} has shape {value.shape}, {name} needs "
                                f"{self.expected.get(name)}")  # fmt: skip
            if source in self.used:
                raise self.fail(f"weight {source!r} would fill two parameters")
            self.state[name] = np.ascontiguousarray(value, dtype=np.float32)
            self.used.add(source)
        module = self.net.get_submodule(path)
        if node.attrs.get("strides", [1, 1, 1, 1])[1] != module.stride[0]:
            raise self.fail(f"{node.name!r} has strides {node.attrs.get('strides')}, "
                            f"{path} has {module.stride}")  # fmt: skip
        return node.name

    def add_with(self, tensor: str, other: str) -> str:
        """The AddV2 of `tensor` and `other` (checked)."""
        add = self.next(tensor, "AddV2")
        if {_base(i) for i in add.inputs} != {tensor, other}:
            raise self.fail(f"{add.name!r} adds {add.inputs}, expected {tensor!r} + {other!r}")
        return add.name

    def upsample(self, tensor: str) -> str:
        node = self.next(tensor, "ResizeBilinear")
        if not node.attrs.get("half_pixel_centers") or node.attrs.get("align_corners"):
            raise self.fail(f"{node.name!r} is not a half-pixel-centre bilinear resize")
        return node.name


def _encoder(walk: _Walk, tensor: str) -> tuple[dict[int, str], str]:
    net = walk.net.encoder
    stem = walk.next(walk.next(tensor, "Pad").name, CONV)
    tensor = walk.assign("encoder.stem", stem)
    features = {}
    for side, stage in net.stages.items():
        for index, block in enumerate(stage):
            path, source = f"encoder.stages.{side}.{index}", tensor
            if block.expand is not None:
                tensor = walk.assign(f"{path}.expand", walk.conv(tensor))
            dw = walk.depthwise(tensor, block.depthwise.stride[0])
            tensor = walk.assign(f"{path}.depthwise", dw)
            tensor = walk.assign(f"{path}.project", walk.conv(tensor))
            if block.residual:
                tensor = walk.add_with(tensor, source)
        features[int(side)] = tensor
    tensor = walk.assign("encoder.expand", walk.conv(tensor))
    dw = walk.depthwise(tensor)
    return features, walk.assign("encoder.depthwise", dw)


def _lateral(walk: _Walk, path: str, tensor: str) -> str:
    out_ch = walk.net.get_submodule(path).pointwise.out_channels
    tensor = walk.assign(f"{path}.depthwise", walk.depthwise(tensor, then=out_ch))
    return walk.assign(f"{path}.pointwise", walk.conv(tensor, out_ch))


def _blaze(walk: _Walk, path: str, tensor: str) -> str:
    """One BlazeBlock; its shortcut is `tensor` or, at stride 2, its (padded) max pool."""
    block = walk.net.get_submodule(path)
    source = tensor
    if block.stride == 2:
        source = walk.next(tensor, "MaxPool").name
        if block.extra_channels:
            source = walk.next(source, "Pad").name
    out = walk.assign(f"{path}.depthwise", walk.depthwise(tensor, block.stride))
    out = walk.assign(f"{path}.pointwise", walk.conv(out))
    return walk.next(walk.add_with(out, source), "Relu6").name


def state_dict_from_graph(graph: GraphModel, net: BlazePoseNet) -> dict[str, np.ndarray]:
    """The graph's weights as `net`'s state dict (float32 numpy), checked complete."""
    walk = _Walk(graph, net)
    inputs = [n.name for n in graph.nodes.values() if n.op == "Placeholder"]
    if len(inputs) != 1:
        raise walk.fail(f"{len(inputs)} input placeholders, expected 1")
    features, top = _encoder(walk, inputs[0])
    laterals = {s: _lateral(walk, f"lateral_heatmap.{s}", features[s]) for s in (64, 32, 16)}
    x = _lateral(walk, "top_heatmap", top)
    for side in (16, 32, 64):
        x = walk.add_with(walk.upsample(x), laterals[side])
    walk.assign("heatmap", walk.conv(x, LANDMARKS))
    # Segmentation: 64² -> 128² (+ the 128² lateral) -> 256².
    skip = _lateral(walk, "lateral_segmentation", features[128])
    s = walk.add_with(walk.upsample(_lateral(walk, "segmentation_in", x)), skip)
    s = _blaze(walk, "segmentation_blocks.1", _blaze(walk, "segmentation_blocks.0", s))
    s = walk.upsample(s)
    s = _blaze(walk, "segmentation_blocks.3", _blaze(walk, "segmentation_blocks.2", s))
    walk.assign("segmentation", walk.conv(s, 1))
    # Regression.
    top_regression = _lateral(walk, "top_regression", top)
    r = x if net.heavy_regression else top_regression
    side = 64 if net.heavy_regression else 8
    for index, stage in enumerate(net.regression):
        for j in range(len(stage)):
            r = _blaze(walk, f"regression.{index}.{j}", r)
        side //= 2
        if str(side) in net.lateral_regression:
            r = walk.add_with(r, _lateral(walk, f"lateral_regression.{side}", features[side]))
        elif net.heavy_regression and side == 8:
            r = walk.add_with(r, top_regression)
    for name, width in (("ld_3d", LANDMARKS * 5), ("world_3d", LANDMARKS * 3), ("pose_flag", 1)):
        walk.assign(name, walk.conv(r, width))
    missing = sorted(set(walk.expected) - set(walk.state))
    unused = sorted(
        k for k, v in graph.weights.items() if v.dtype.kind == "f" and k not in walk.used
    )
    if missing or unused:
        raise walk.fail(f"parameters without a weight {missing[:3]}, weights unused {unused[:3]}")
    return walk.state


def convert_graph(model_json: str | Path, variant: str, out: str | Path) -> dict[str, int]:
    """Convert one TF.js BlazePose graph to a float16 safetensors file (atomically); returns
    {"parameters": count, "bytes": file size}."""
    graph = read_graph_model(model_json)
    net = BlazePoseNet(variant)
    state = state_dict_from_graph(graph, net)
    metadata = {"variant": variant, "source": Path(model_json).name,
                "generatedBy": str(graph.metadata.get("generatedBy", ""))}  # fmt: skip
    return save_weights(state, out, metadata)


def load_graph(model_json: str | Path, variant: str) -> BlazePoseNet:
    """A `BlazePoseNet` straight from a TF.js graph (float32, eval mode)."""
    net = BlazePoseNet(variant)
    state = state_dict_from_graph(read_graph_model(model_json), net)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    return net.eval()
