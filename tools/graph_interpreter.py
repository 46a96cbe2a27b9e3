"""A generic interpreter of TF.js graph models (numpy, torch for the convolutions): a development
aid for reading what a graph computes node by node, NOT the product's model (that is
`openhmr.posenet`). It covers the ops of the MoveNet graphs in `../shared/models`.

    .venv/bin/python tools/graph_interpreter.py \
        ../shared/models/human-models-3.0.4/movenet-thunder.json [--image photo.jpg] [--node NAME]

prints the output (and the named nodes' shapes and first values) for the photo letter-boxed to
the graph's input size (256 when the graph's input size is dynamic).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from openhmr.posenet.tfjs import GraphModel, read_graph_model


def _same_pad(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int]) -> torch.Tensor:
    pads = []
    for size, k, s in zip(x.shape[2:][::-1], kernel[::-1], stride[::-1], strict=True):
        total = max(k - (s if size % s == 0 else size % s), 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def _conv(x, w, strides, padding, depthwise):
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).double()
    k = torch.from_numpy(np.asarray(w)).double()
    if depthwise:  # (kh, kw, C, 1) -> (C, 1, kh, kw)
        k = k.permute(2, 3, 0, 1).reshape(-1, 1, k.shape[0], k.shape[1])
        groups = t.shape[1]
    else:  # (kh, kw, Cin, Cout) -> (Cout, Cin, kh, kw)
        k = k.permute(3, 2, 0, 1)
        groups = 1
    stride = (int(strides[1]), int(strides[2]))
    if padding == "SAME":
        t = _same_pad(t, (k.shape[2], k.shape[3]), stride)
    y = F.conv2d(t, k, stride=stride, groups=groups)
    return y.permute(0, 2, 3, 1).numpy()


def _activate(y, fused):
    for op in fused[1:]:
        if op == "Relu6":
            y = np.clip(y, 0, 6)
        elif op == "Relu":
            y = np.maximum(y, 0)
        else:
            raise NotImplementedError(op)
    return y


def _strided_slice(x, begin, end, strides, attrs):
    begin_mask, end_mask = attrs.get("begin_mask", 0), attrs.get("end_mask", 0)
    new_axis, shrink = attrs.get("new_axis_mask", 0), attrs.get("shrink_axis_mask", 0)
    if attrs.get("ellipsis_mask", 0):
        raise NotImplementedError("ellipsis_mask")
    index, expand, squeeze, dim = [], [], [], 0
    for i in range(len(begin)):
        if new_axis >> i & 1:
            index.append(np.newaxis)
            continue
        if shrink >> i & 1:
            index.append(int(begin[i]))
            dim += 1
            continue
        b = None if begin_mask >> i & 1 else int(begin[i])
        e = None if end_mask >> i & 1 else int(end[i])
        index.append(slice(b, e, int(strides[i])))
        dim += 1
    del expand, squeeze
    return np.asarray(x)[tuple(index)]


def _resize_bilinear_half_pixel(x, size):
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).double()
    y = F.interpolate(t, size=(int(size[0]), int(size[1])), mode="bilinear", align_corners=False)
    return y.permute(0, 2, 3, 1).numpy()


def _max_pool(x, ksize, strides, padding):
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).double()
    k, s = (int(ksize[1]), int(ksize[2])), (int(strides[1]), int(strides[2]))
    if padding == "SAME":
        pads = []
        for size, kk, ss in zip(t.shape[2:][::-1], k[::-1], s[::-1], strict=True):
            total = max(kk - (ss if size % ss == 0 else size % ss), 0)
            pads += [total // 2, total - total // 2]
        t = F.pad(t, pads, value=-np.inf)
    return F.max_pool2d(t, k, s).permute(0, 2, 3, 1).numpy()


def _gather_nd(params, indices):
    indices = np.asarray(indices).astype(np.int64)
    return np.asarray(params)[tuple(np.moveaxis(indices, -1, 0))]


def run_graph(graph: GraphModel, image: np.ndarray, wanted: list[str]) -> dict[str, np.ndarray]:
    """Evaluate the graph on `image` (1, H, W, 3) and return the `wanted` nodes' values."""
    values: dict[str, object] = {}

    def get(ref: str):
        name, _, port = ref.partition(":")
        value = evaluate(name)
        return value[int(port)] if port else (value[0] if isinstance(value, tuple) else value)

    def evaluate(name: str):
        if name in values:
            return values[name]
        node = graph.nodes[name]
        a = node.attrs
        ins = [get(i) for i in node.inputs if not i.startswith("^")]
        op = node.op
        if op == "Const":
            out = graph.weights[name]
        elif op == "Placeholder":
            out = image
        elif op in ("Identity", "Cast"):
            dst = a.get("DstT", "DT_FLOAT")
            out = np.asarray(ins[0])
            if op == "Cast":
                out = out.astype({"DT_FLOAT": np.float64, "DT_INT32": np.int64}.get(dst, bool))
        elif op == "_FusedConv2D" or op in ("FusedDepthwiseConv2dNative", "DepthwiseConv2dNative"):
            depthwise = op != "_FusedConv2D"
            y = _conv(ins[0], ins[1], a["strides"], a.get("padding", "SAME"), depthwise)
            if len(ins) > 2:
                y = _activate(y + ins[2], a.get("fused_ops", ["BiasAdd"]))
            out = y
        elif op == "Conv2D":
            out = _conv(ins[0], ins[1], a["strides"], a.get("padding", "SAME"), False)
        elif op == "Unpack":
            out = tuple(np.moveaxis(np.asarray(ins[0]), a.get("axis", 0), 0))
        elif op == "Pack":
            out = np.stack([np.asarray(i) for i in ins], axis=a.get("axis", 0))
        elif op == "ExpandDims":
            out = np.expand_dims(ins[0], int(np.asarray(ins[1]).ravel()[0]))
        elif op == "Squeeze":
            dims = a.get("squeeze_dims") or None
            out = np.squeeze(ins[0], axis=tuple(dims) if dims else None)
        elif op == "Reshape":
            out = np.reshape(ins[0], [int(v) for v in np.asarray(ins[1]).ravel()])
        elif op in ("Sub", "Mul", "AddV2", "Add", "RealDiv", "FloorDiv", "SquaredDifference",
                    "Maximum", "Minimum", "Less", "Greater", "GreaterEqual", "Equal",
                    "LogicalAnd"):  # fmt: skip
            x, y = np.asarray(ins[0]), np.asarray(ins[1])
            out = {
                "Sub": np.subtract,
                "Mul": np.multiply,
                "AddV2": np.add,
                "Add": np.add,
                "RealDiv": np.divide,
                "FloorDiv": np.floor_divide,
                "SquaredDifference": lambda p, q: (p - q) ** 2,
                "Maximum": np.maximum,
                "Minimum": np.minimum,
                "Less": np.less,
                "Greater": np.greater,
                "GreaterEqual": np.greater_equal,
                "Equal": np.equal,
                "LogicalAnd": np.logical_and,
            }[op](x, y)
        elif op == "AddN":
            out = sum(np.asarray(i) for i in ins)
        elif op in ("Sigmoid", "Sqrt", "Exp", "Abs", "Reciprocal", "Relu", "Relu6"):
            x = np.asarray(ins[0])
            out = {
                "Sigmoid": lambda v: 1 / (1 + np.exp(-v)),
                "Sqrt": np.sqrt,
                "Exp": np.exp,
                "Abs": np.abs,
                "Reciprocal": lambda v: 1 / v,
                "Relu": lambda v: np.maximum(v, 0),
                "Relu6": lambda v: np.clip(v, 0, 6),
            }[op](x)
        elif op == "ArgMax":
            out = np.argmax(ins[0], axis=int(np.asarray(ins[1]))).astype(np.int64)
        elif op in ("Max", "Sum", "Mean"):
            fn = {"Max": np.max, "Sum": np.sum, "Mean": np.mean}[op]
            axes = tuple(int(v) for v in np.asarray(ins[1]).ravel())
            out = fn(ins[0], axis=axes, keepdims=a.get("keep_dims", False))
        elif op == "ConcatV2":
            out = np.concatenate([np.asarray(i) for i in ins[:-1]], axis=int(ins[-1]))
        elif op == "GatherNd":
            out = _gather_nd(ins[0], ins[1])
        elif op == "ResizeBilinear":
            out = _resize_bilinear_half_pixel(ins[0], np.asarray(ins[1]))
        elif op == "Shape":
            out = np.asarray(np.shape(ins[0]), dtype=np.int64)
        elif op == "Size":
            out = np.asarray(np.size(ins[0]), dtype=np.int64)
        elif op == "StridedSlice":
            out = _strided_slice(ins[0], *[np.asarray(i).ravel() for i in ins[1:4]], a)
        elif op == "Range":
            out = np.arange(ins[0], ins[1], ins[2])
        elif op == "Fill":
            out = np.full([int(v) for v in np.asarray(ins[0]).ravel()], ins[1])
        elif op == "Tile":
            out = np.tile(ins[0], [int(v) for v in np.asarray(ins[1]).ravel()])
        elif op == "MaxPool":
            out = _max_pool(ins[0], a["ksize"], a["strides"], a.get("padding", "VALID"))
        elif op == "TopKV2":
            x, k = np.asarray(ins[0]), int(ins[1])
            order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
            out = (np.take_along_axis(x, order, axis=-1), order.astype(np.int64))
        elif op == "Split":
            axis = int(ins[0])
            out = tuple(np.split(np.asarray(ins[1]), a["num_split"], axis=axis))
        elif op == "Select":
            out = np.where(ins[0], ins[1], ins[2])
        else:
            raise NotImplementedError(f"{op} ({name})")
        values[name] = out
        return out

    return {name: get(name) for name in wanted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="TF.js model.json")
    parser.add_argument("--image", help="photo (default: the bundled astronaut)")
    parser.add_argument("--size", type=int, default=256, help="input size for dynamic graphs")
    parser.add_argument("--node", action="append", default=[], help="also print this node")
    args = parser.parse_args()
    import cv2

    graph = read_graph_model(args.model)
    path = (
        args.image
        or Path(__file__).resolve().parents[1] / "src/openhmr/inference/assets/astronaut.jpg"
    )
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    dims = graph.signature["inputs"]["input:0"]["tensorShape"]["dim"]
    size = int(dims[1]["size"]) if int(dims[1]["size"]) > 0 else args.size
    scale = size / max(rgb.shape[:2])
    small = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)))
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[: small.shape[0], : small.shape[1]] = small
    outputs = run_graph(graph, canvas[None].astype(np.int64), ["Identity", *args.node])
    np.set_printoptions(precision=4, suppress=True, linewidth=140)
    for name, value in outputs.items():
        value = np.asarray(value)
        print(name, value.shape, value.ravel()[:12])


if __name__ == "__main__":
    main()
