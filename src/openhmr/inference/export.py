"""Mesh export: Wavefront OBJ (written atomically)."""

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
    lines = [np.char.add("v ", _rows(vertices, "%.6f")), np.char.add("f ", _rows(faces + 1, "%d"))]
    with atomic_path(path) as tmp, open(tmp, "w", encoding="ascii") as fh:
        for block in lines:
            fh.write("\n".join(block.tolist()))
            fh.write("\n")


def _rows(array: np.ndarray, fmt: str) -> np.ndarray:
    columns = [np.char.mod(fmt, array[:, i]) for i in range(array.shape[1])]
    out = columns[0]
    for column in columns[1:]:
        out = np.char.add(np.char.add(out, " "), column)
    return out
