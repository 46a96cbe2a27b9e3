"""A z-buffer triangle rasterizer compiled with numba: exact triangle ids, depth and
perspective-correct barycentrics on the CPU, with no OpenGL or system libraries.

Camera: pinhole, looking down +z, image x right and y down; a camera-frame point (X, Y, Z)
lands at pixel (fx X / Z + cx, fy Y / Z + cy).  Pixel (row i, column j) covers
[j, j + 1) × [i, i + 1) and is sampled at its centre (j + 0.5, i + 0.5).

Rules (stated, and held by the tests):
- a pixel belongs to a triangle when its centre lies inside or on an edge (top-left ties are
  not split: both neighbours may claim a shared edge; the nearer, then the lower id, wins);
- depth is the camera-frame Z interpolated perspective-correctly; the nearest surface wins,
  ties go to the lower triangle id, so results never depend on the thread count;
- triangles with any vertex closer than `near` are dropped whole (no partial clipping);
- back faces are kept unless `cull_back_faces=True`; a triangle faces the camera when its
  normal (right-hand rule over its vertex order) points towards the camera, i.e. when its
  vertices run clockwise in y-down pixel coordinates (negative signed screen area).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

import openhmr.numba_threads  # noqa: F401  (before any parallel call; see the module)
from openhmr.errors import OpenHMRError

_BAND = 16  # rows per parallel work item


@dataclass(frozen=True)
class Fragments:
    """triangle_id (H, W) int32, −1 where empty; depth (H, W) float32, +inf where empty;
    barycentric (H, W, 3) float32 perspective-correct weights of the triangle's vertices."""

    triangle_id: np.ndarray
    depth: np.ndarray
    barycentric: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """(H, W) bool: pixels covered by any triangle."""
        return self.triangle_id >= 0


@numba.njit(cache=True, fastmath=False)
def _setup(screen, depth, faces, near, cull):
    """Per-triangle bounding boxes and edge data; invalid triangles get an empty box."""
    num = faces.shape[0]
    boxes = np.empty((num, 4), np.int64)  # x0, x1, y0, y1 (inclusive pixel ranges)
    area = np.empty(num, np.float64)
    for t in range(num):
        a, b, c = faces[t, 0], faces[t, 1], faces[t, 2]
        boxes[t, 0], boxes[t, 1], boxes[t, 2], boxes[t, 3] = 1, 0, 1, 0
        if depth[a] < near or depth[b] < near or depth[c] < near:
            area[t] = 0.0
            continue
        ax, ay = screen[a, 0], screen[a, 1]
        bx, by = screen[b, 0], screen[b, 1]
        cx, cy = screen[c, 0], screen[c, 1]
        signed = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        area[t] = signed
        if signed == 0.0 or (cull and signed > 0.0):
            continue
        # pixels whose centre (j + 0.5) lies in [min, max]
        boxes[t, 0] = int(np.ceil(min(ax, bx, cx) - 0.5))
        boxes[t, 1] = int(np.floor(max(ax, bx, cx) - 0.5))
        boxes[t, 2] = int(np.ceil(min(ay, by, cy) - 0.5))
        boxes[t, 3] = int(np.floor(max(ay, by, cy) - 0.5))
    return boxes, area


@numba.njit(cache=True, parallel=True)
def _raster(screen, depth, faces, boxes, area, height, width, tri_out, depth_out, bary_out):
    num_bands = (height + _BAND - 1) // _BAND
    for band in numba.prange(num_bands):
        row0 = band * _BAND
        row1 = min(row0 + _BAND, height) - 1
        for t in range(faces.shape[0]):
            y0, y1 = max(boxes[t, 2], row0), min(boxes[t, 3], row1)
            x0, x1 = max(boxes[t, 0], 0), min(boxes[t, 1], width - 1)
            if y0 > y1 or x0 > x1:
                continue
            a, b, c = faces[t, 0], faces[t, 1], faces[t, 2]
            ax, ay = screen[a, 0], screen[a, 1]
            bx, by = screen[b, 0], screen[b, 1]
            cx, cy = screen[c, 0], screen[c, 1]
            inv_area = 1.0 / area[t]
            iza, izb, izc = 1.0 / depth[a], 1.0 / depth[b], 1.0 / depth[c]
            for i in range(y0, y1 + 1):
                py = i + 0.5
                for j in range(x0, x1 + 1):
                    px = j + 0.5
                    w0 = ((bx - px) * (cy - py) - (by - py) * (cx - px)) * inv_area
                    w1 = ((cx - px) * (ay - py) - (cy - py) * (ax - px)) * inv_area
                    w2 = 1.0 - w0 - w1
                    if w0 < 0.0 or w1 < 0.0 or w2 < 0.0:
                        continue
                    inv_z = w0 * iza + w1 * izb + w2 * izc
                    z = 1.0 / inv_z
                    if z < depth_out[i, j]:  # strict: on ties the earlier (lower) id stays
                        depth_out[i, j] = z
                        tri_out[i, j] = t
                        bary_out[i, j, 0] = w0 * iza * z
                        bary_out[i, j, 1] = w1 * izb * z
                        bary_out[i, j, 2] = w2 * izc * z


def project_points(
    points: np.ndarray, focal: tuple[float, float], principal: tuple[float, float]
) -> np.ndarray:
    """Camera-frame points (N, 3) → pixel coordinates (N, 2) (float64)."""
    z = points[:, 2].astype(np.float64)
    safe = np.where(np.abs(z) < 1e-12, 1e-12, z)
    return np.stack(
        [
            focal[0] * points[:, 0] / safe + principal[0],
            focal[1] * points[:, 1] / safe + principal[1],
        ],
        axis=1,
    )


def rasterize(
    vertices: np.ndarray,
    faces: np.ndarray,
    image_size: tuple[int, int],
    focal: float | tuple[float, float],
    principal: tuple[float, float] | None = None,
    near: float = 1e-3,
    cull_back_faces: bool = False,
) -> Fragments:
    """Rasterize a camera-frame mesh.

    vertices: (V, 3) camera frame, metres; faces: (F, 3) vertex ids; image_size: (H, W);
    focal: f or (fx, fy) pixels; principal: (cx, cy) pixels, default the image centre.
    Returns `Fragments` of shape (H, W).
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise OpenHMRError(
            f"rasterize: expected vertices (V, 3) and faces (F, 3), got "
            f"{vertices.shape} and {faces.shape}"
        )
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise OpenHMRError(f"rasterize: face ids must lie in [0, {len(vertices)})")
    height, width = (int(v) for v in image_size)
    if height <= 0 or width <= 0:
        raise OpenHMRError(f"rasterize: image size must be positive, got {image_size}")
    fx, fy = (focal, focal) if np.isscalar(focal) else focal
    cx, cy = principal if principal is not None else (width / 2, height / 2)
    screen = project_points(vertices, (float(fx), float(fy)), (float(cx), float(cy)))
    depth = np.ascontiguousarray(vertices[:, 2])
    faces64 = np.ascontiguousarray(faces, dtype=np.int64)
    boxes, area = _setup(screen, depth, faces64, float(near), bool(cull_back_faces))
    tri = np.full((height, width), -1, np.int32)
    zbuf = np.full((height, width), np.inf, np.float64)
    bary = np.zeros((height, width, 3), np.float32)
    _raster(screen, depth, faces64, boxes, area, height, width, tri, zbuf, bary)
    return Fragments(tri, zbuf.astype(np.float32), bary)
