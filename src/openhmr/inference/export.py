"""Mesh export, written atomically: Wavefront OBJ (text), PLY (binary little-endian) and glTF 2.0
binary (.glb), all hand-written (no extra dependency)."""

from __future__ import annotations

import os

import numpy as np

from openhmr.errors import OpenHMRError
from openhmr.files import atomic_path


def write_obj(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray) -> None:
    """vertices: (V, 3) float; faces: (F, 3) 0-based int.  Writes `v`/`f` lines (1-based)."""
    vertices, faces = np.asarray(vertices), np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise OpenHMRError(
            f"write_obj: expected vertices (V, 3) and faces (F, 3), got "
            f"{vertices.shape} and {faces.shape}"
        )
    # one %-format over all values: the same text as per-value "%.6f" / "%d", much faster
    text = ("v %.6f %.6f %.6f\n" * len(vertices)) % tuple(
        vertices.astype(np.float64).ravel().tolist()
    )
    text += ("f %d %d %d\n" * len(faces)) % tuple((faces.astype(np.int64) + 1).ravel().tolist())
    with atomic_path(path) as tmp, open(tmp, "w", encoding="ascii") as fh:
        fh.write(text)


def _check_mesh(name: str, vertices: np.ndarray, faces: np.ndarray) -> tuple:
    vertices, faces = np.asarray(vertices), np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise OpenHMRError(
            f"{name}: expected vertices (V, 3) and faces (F, 3), got "
            f"{vertices.shape} and {faces.shape}"
        )
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise OpenHMRError(f"{name}: face ids must lie in [0, {len(vertices)})")
    return vertices.astype("<f4"), faces.astype("<u4")


def write_ply(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Binary little-endian PLY: vertices (V, 3) float32 x, y, z; faces (F, 3) as uchar-counted
    uint32 lists."""
    vertices, faces = _check_mesh("write_ply", vertices, faces)
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment openhmr\n"
        f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {len(faces)}\nproperty list uchar uint vertex_indices\nend_header\n"
    )
    records = np.empty(len(faces), dtype=[("count", "u1"), ("ids", "<u4", (3,))])
    records["count"], records["ids"] = 3, faces
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(header.encode("ascii"))
        fh.write(vertices.tobytes())
        fh.write(records.tobytes())


def write_glb(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Binary glTF 2.0 (.glb): one mesh, one triangle primitive with POSITION (float32, with the
    min/max bounds the format requires) and uint32 indices; units metres.  glTF is y-up: pass
    vertices in the body model's frame, or flip y and z of camera-frame ones (`to_y_up`)."""
    import json
    import struct

    vertices, faces = _check_mesh("write_glb", vertices, faces)
    positions, indices = vertices.tobytes(), faces.tobytes()  # both multiples of 4 bytes
    gltf = {
        "asset": {"version": "2.0", "generator": "openhmr"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1, "mode": 4}]}],
        "buffers": [{"byteLength": len(positions) + len(indices)}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": len(positions), "target": 34962},
            {
                "buffer": 0,
                "byteOffset": len(positions),
                "byteLength": len(indices),
                "target": 34963,
            },
        ],
        "accessors": [
            {
                "bufferView": 0,
                "componentType": 5126,
                "count": len(vertices),
                "type": "VEC3",
                "min": vertices.min(axis=0).tolist() if len(vertices) else [0, 0, 0],
                "max": vertices.max(axis=0).tolist() if len(vertices) else [0, 0, 0],
            },
            {"bufferView": 1, "componentType": 5125, "count": faces.size, "type": "SCALAR"},
        ],
    }
    text = json.dumps(gltf, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 4)
    binary = positions + indices
    total = 12 + 8 + len(text) + 8 + len(binary)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(struct.pack("<4sII", b"glTF", 2, total))
        fh.write(struct.pack("<I4s", len(text), b"JSON") + text)
        fh.write(struct.pack("<I4s", len(binary), b"BIN\x00") + binary)


def to_y_up(vertices: np.ndarray) -> np.ndarray:
    """Camera-frame points (..., 3) (x right, y down, z forward) -> y up, z towards the viewer
    (a rotation of π about x), the convention of glTF and most viewers."""
    return np.asarray(vertices) * np.array([1.0, -1.0, -1.0])


MESH_WRITERS = {"obj": write_obj, "ply": write_ply, "glb": write_glb}
