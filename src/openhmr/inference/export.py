"""Mesh export, written atomically: Wavefront OBJ (text), PLY (binary little-endian) and glTF 2.0
binary (.glb, one mesh or a scene of several coloured ones), all hand-written (no extra
dependency)."""

from __future__ import annotations

import os
from collections.abc import Sequence

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
    write_glb_meshes(path, [(vertices, faces)])


def write_glb_meshes(
    path: str | os.PathLike,
    meshes: Sequence[tuple[np.ndarray, np.ndarray]],
    colors: Sequence[Sequence[float]] | None = None,
    names: Sequence[str] | None = None,
) -> None:
    """Several meshes in one binary glTF 2.0 scene (one node each, e.g. every person of a
    photo): meshes: (vertices (V_i, 3), faces (F_i, 3)) pairs, y-up (see `write_glb`);
    colors: an optional RGB in [0, 1] per mesh (a matte material, and smooth vertex normals so
    viewers shade it like the overlay); names: optional node names."""

    if colors is not None and len(colors) != len(meshes):
        raise OpenHMRError(f"write_glb: {len(meshes)} meshes but {len(colors)} colours")
    if names is not None and len(names) != len(meshes):
        raise OpenHMRError(f"write_glb: {len(meshes)} meshes but {len(names)} names")
    gltf: dict = {
        "asset": {"version": "2.0", "generator": "openhmr"},
        "scene": 0,
        "scenes": [{"nodes": list(range(len(meshes)))}],
        "nodes": [],
        "meshes": [],
        "buffers": [],
        "bufferViews": [],
        "accessors": [],
    }
    chunks: list[bytes] = []
    for index, (vertices, faces) in enumerate(meshes):
        vertices, faces = _check_mesh("write_glb", vertices, faces)
        attributes = {"POSITION": _add_accessor(gltf, chunks, vertices, 34962, bounds=True)}
        if colors is not None:
            normals = vertex_normals(vertices, faces).astype("<f4")
            attributes["NORMAL"] = _add_accessor(gltf, chunks, normals, 34962)
        indices = _add_accessor(gltf, chunks, faces, 34963)
        primitive = {"attributes": attributes, "indices": indices, "mode": 4}
        if colors is not None:
            primitive["material"] = index
        gltf["meshes"].append({"primitives": [primitive]})
        node = {"mesh": index}
        if names is not None:
            node["name"] = names[index]
        gltf["nodes"].append(node)
    if colors is not None:
        gltf["materials"] = [
            {
                "pbrMetallicRoughness": {
                    "baseColorFactor": [*(float(c) for c in color), 1.0],
                    "metallicFactor": 0.0,
                    "roughnessFactor": 0.8,
                }
            }
            for color in colors
        ]
    write_glb_container(path, gltf, chunks)


def write_glb_container(path: str | os.PathLike, gltf: dict, chunks: list[bytes]) -> None:
    """A binary glTF 2.0 file (atomically): the `gltf` JSON (its one buffer set here) and the
    binary chunk, the concatenated `chunks` (each a multiple of 4 bytes)."""
    import json
    import struct

    binary = b"".join(chunks)
    gltf["buffers"] = [{"byteLength": len(binary)}]
    text = json.dumps(gltf, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 4)
    total = 12 + 8 + len(text) + 8 + len(binary)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(struct.pack("<4sII", b"glTF", 2, total))
        fh.write(struct.pack("<I4s", len(text), b"JSON") + text)
        fh.write(struct.pack("<I4s", len(binary), b"BIN\x00") + binary)


def _add_accessor(
    gltf: dict, chunks: list[bytes], values: np.ndarray, target: int, bounds: bool = False
) -> int:
    """Append values (float32 (N, 3) or uint32 (F, 3) triangles) to the binary chunk list with a
    buffer view and an accessor; returns the accessor's index."""
    offset = sum(len(chunk) for chunk in chunks)
    chunks.append(values.tobytes())
    gltf["bufferViews"].append(
        {"buffer": 0, "byteOffset": offset, "byteLength": len(chunks[-1]), "target": target}
    )
    if target == 34963:  # element indices: one scalar per corner
        accessor = {"componentType": 5125, "count": values.size, "type": "SCALAR"}
    else:
        accessor = {"componentType": 5126, "count": len(values), "type": "VEC3"}
    accessor = {"bufferView": len(gltf["bufferViews"]) - 1, **accessor}
    if bounds:
        accessor["min"] = values.min(axis=0).tolist() if len(values) else [0, 0, 0]
        accessor["max"] = values.max(axis=0).tolist() if len(values) else [0, 0, 0]
    gltf["accessors"].append(accessor)
    return len(gltf["accessors"]) - 1


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit vertex normals (V, 3): the area-weighted sum of the adjacent faces' normals
    (counter-clockwise faces point outwards); (0, 0, 1) for a vertex in no face."""
    vertices = np.asarray(vertices, dtype=np.float64)
    corners = vertices[np.asarray(faces, dtype=np.int64)]  # F x 3 x 3
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(vertices)
    for corner in range(3):
        np.add.at(normals, np.asarray(faces)[:, corner], face_normals)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = normals / np.where(length > 0, length, 1.0)
    normals[length[:, 0] == 0] = (0.0, 0.0, 1.0)
    return normals


def to_y_up(vertices: np.ndarray) -> np.ndarray:
    """Camera-frame points (..., 3) (x right, y down, z forward) -> y up, z towards the viewer
    (a rotation of π about x), the convention of glTF and most viewers."""
    return np.asarray(vertices) * np.array([1.0, -1.0, -1.0])


MESH_WRITERS = {"obj": write_obj, "ply": write_ply, "glb": write_glb}
