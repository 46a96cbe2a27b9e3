"""Reader for TF.js "graph-model" files: `model.json` plus its weight shards → named arrays and
the graph's nodes.

Format (TF.js `io` module): `model.json` holds `modelTopology` (a TensorFlow GraphDef as JSON:
`node` = [{name, op, input, attr}], attribute strings and string lists base64-encoded) and
`weightsManifest` = [{paths: [shard, ...], weights: [{name, shape, dtype, quantization?}]}].
A group's shards are one byte stream cut into files; its weights are stored back to back in
manifest order. Quantised weights store, instead of `dtype`, the `quantization.dtype`:

- `float16`: IEEE half floats, read as float32;
- `uint8` / `uint16`: affine, value = q · scale + min (`quantization.scale`, `.min`).

Every malformed input (unreadable JSON, missing shard, a shard shorter or longer than its
manifest, unknown dtype) raises `OpenHMRError` naming the file and what is wrong.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from openhmr.errors import OpenHMRError

_STORED_DTYPES = {
    "float32": np.dtype("<f4"),
    "int32": np.dtype("<i4"),
    "bool": np.dtype("u1"),
    "float16": np.dtype("<f2"),
    "uint8": np.dtype("u1"),
    "uint16": np.dtype("<u2"),
}


@dataclass(frozen=True)
class GraphNode:
    """One GraphDef node: `inputs` as written (`name`, `name:1`, `^control`); `attrs` decoded
    (strings as str, lists as Python lists, shapes as lists of ints, dtypes as 'DT_*')."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attrs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GraphModel:
    """A TF.js graph model: `nodes` in file order (name → node) and `weights` (name → array
    with its manifest shape; float weights as float32)."""

    path: Path
    nodes: dict[str, GraphNode]
    weights: dict[str, np.ndarray]
    signature: dict
    metadata: dict


def _decode_attr(value: dict):
    if "list" in value:
        items = value["list"]
        if "s" in items:
            return [base64.b64decode(s).decode("utf-8", "replace") for s in items["s"]]
        for key in ("i", "f", "b", "type"):
            if key in items:
                return [int(x) if key == "i" else x for x in items[key]]
        return []
    if "s" in value:
        return base64.b64decode(value["s"]).decode("utf-8", "replace")
    if "i" in value:
        return int(value["i"])
    if "f" in value:
        return float(value["f"])
    if "b" in value:
        return bool(value["b"])
    if "type" in value:
        return value["type"]
    if "shape" in value:
        return [int(d.get("size", -1)) for d in value["shape"].get("dim", [])]
    return value


def _parse_nodes(path: Path, topology: dict) -> dict[str, GraphNode]:
    nodes: dict[str, GraphNode] = {}
    raw = topology.get("node")
    if not isinstance(raw, list):
        raise OpenHMRError(f"{path}: modelTopology has no 'node' list (not a TF.js graph model)")
    for entry in raw:
        try:
            name, op = entry["name"], entry["op"]
        except (KeyError, TypeError):
            raise OpenHMRError(f"{path}: a graph node lacks 'name' or 'op'") from None
        attrs = {k: _decode_attr(v) for k, v in entry.get("attr", {}).items()}
        nodes[name] = GraphNode(name, op, tuple(entry.get("input", [])), attrs)
    return nodes


def _read_group(path: Path, group: dict) -> bytes:
    try:
        shards = [path.parent / p for p in group["paths"]]
    except (KeyError, TypeError):
        raise OpenHMRError(f"{path}: a weightsManifest group lacks 'paths'") from None
    chunks = []
    for shard in shards:
        if not shard.is_file():
            raise OpenHMRError(f"{shard}: weight shard named in {path.name} is missing")
        chunks.append(shard.read_bytes())
    return b"".join(chunks)


def _decode_weight(path: Path, spec: dict, buffer: bytes, offset: int) -> tuple[np.ndarray, int]:
    name = spec.get("name", "?")
    shape = [int(d) for d in spec.get("shape", [])]
    quant = spec.get("quantization")
    stored = quant["dtype"] if quant else spec.get("dtype")
    if stored not in _STORED_DTYPES or (stored == "float16" and not quant):
        raise OpenHMRError(f"{path}: weight {name!r} has unsupported dtype {stored!r}")
    dtype = _STORED_DTYPES[stored]
    count = int(np.prod(shape, dtype=np.int64))
    end = offset + count * dtype.itemsize
    if end > len(buffer):
        raise OpenHMRError(
            f"{path}: weight data is truncated: {name!r} needs bytes {offset}-{end}, "
            f"the shards hold {len(buffer)}"
        )
    values = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset)
    if stored == "float16":
        values = values.astype(np.float32)
    elif stored in ("uint8", "uint16"):
        scale, minimum = float(quant["scale"]), float(quant["min"])
        values = (values.astype(np.float32) * scale + minimum).astype(np.float32)
        if spec.get("dtype") == "int32":
            values = np.round(values).astype(np.int32)
    elif stored == "bool":
        values = values.astype(bool)
    return values.reshape(shape).copy(), end


def read_graph_model(path: str | Path) -> GraphModel:
    """Read a TF.js graph model (`model.json` path; shards beside it) into a `GraphModel`."""
    path = Path(path)
    if not path.is_file():
        raise OpenHMRError(f"{path}: TF.js model.json not found")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise OpenHMRError(f"{path}: not a TF.js model.json (invalid JSON: {err})") from None
    if not isinstance(document, dict) or "modelTopology" not in document:
        raise OpenHMRError(f"{path}: not a TF.js graph model (no 'modelTopology')")
    manifest = document.get("weightsManifest")
    if not isinstance(manifest, list):
        raise OpenHMRError(f"{path}: no 'weightsManifest' list")
    nodes = _parse_nodes(path, document["modelTopology"])
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        buffer = _read_group(path, group)
        offset = 0
        for spec in group.get("weights", []):
            weights[spec.get("name", "?")], offset = _decode_weight(path, spec, buffer, offset)
        if offset != len(buffer):
            raise OpenHMRError(
                f"{path}: weight shards {group['paths']} hold {len(buffer)} bytes, the "
                f"manifest describes {offset}: the files do not belong together"
            )
    metadata = {k: document[k] for k in ("format", "generatedBy", "convertedBy") if k in document}
    return GraphModel(path, nodes, weights, document.get("signature", {}), metadata)
