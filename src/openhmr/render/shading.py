"""Shading and compositing on top of `rasterize`: Lambertian colour, labels, several meshes,
supersampling, alpha compositing over an image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

import openhmr.numba_threads  # noqa: F401  (before any parallel call; see the module)
from openhmr.errors import OpenHMRError
from openhmr.render.raster import rasterize

# directions *towards* the lights in the camera frame (x right, y down, z forward), intensities
DEFAULT_LIGHTS: tuple[tuple[tuple[float, float, float], float], ...] = (
    ((0.3, -0.6, -1.0), 0.7),  # key light: above, slightly right, from the camera side
    ((-0.8, -0.2, -0.4), 0.25),  # fill light from the left
    ((0.0, 0.5, 0.8), 0.15),  # rim light from behind, below
)
AMBIENT = 0.2


@dataclass(frozen=True)
class Mesh:
    """A camera-frame mesh: vertices (V, 3), faces (F, 3), colours (V, 3) or (3,) in [0, 1]."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray | tuple[float, float, float] = (0.65, 0.74, 0.86)


@dataclass(frozen=True)
class Rendering:
    """rgb (H, W, 3) float32 in [0, 1]; alpha (H, W) float32 coverage in [0, 1];
    depth (H, W) float32 (+inf empty); mesh_id (H, W) int32 (−1 empty); triangle_id (H, W)
    int32 (−1 empty) into the merged faces (with supersampling: the centre sample's)."""

    rgb: np.ndarray
    alpha: np.ndarray
    depth: np.ndarray
    mesh_id: np.ndarray
    triangle_id: np.ndarray


def merge_meshes(meshes: Sequence[Mesh]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate meshes: vertices (ΣV, 3), faces (ΣF, 3), per-vertex colours (ΣV, 3),
    mesh index of each face (ΣF,)."""
    if not meshes:
        raise OpenHMRError("render: expected at least one mesh")
    vertices, faces, colors, owner = [], [], [], []
    offset = 0
    for index, mesh in enumerate(meshes):
        v = np.asarray(mesh.vertices, dtype=np.float64)
        c = np.broadcast_to(np.asarray(mesh.colors, dtype=np.float64), v.shape)
        vertices.append(v)
        faces.append(np.asarray(mesh.faces, dtype=np.int64) + offset)
        colors.append(c)
        owner.append(np.full(len(mesh.faces), index, np.int32))
        offset += len(v)
    return (
        np.concatenate(vertices),
        np.concatenate(faces),
        np.concatenate(colors),
        np.concatenate(owner),
    )


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (right-hand rule over face order). (V, 3)."""
    return _vertex_normals(
        np.ascontiguousarray(vertices, dtype=np.float64),
        np.ascontiguousarray(faces, dtype=np.int64),
    )


@numba.njit(cache=True)
def _vertex_normals(vertices, faces):
    normals = np.zeros_like(vertices)
    for t in range(faces.shape[0]):
        a, b, c = faces[t, 0], faces[t, 1], faces[t, 2]
        ux, uy, uz = (
            vertices[b, 0] - vertices[a, 0],
            vertices[b, 1] - vertices[a, 1],
            vertices[b, 2] - vertices[a, 2],
        )
        wx, wy, wz = (
            vertices[c, 0] - vertices[a, 0],
            vertices[c, 1] - vertices[a, 1],
            vertices[c, 2] - vertices[a, 2],
        )
        # u × w: its length is twice the area, so larger faces weigh more
        nx, ny, nz = uy * wz - uz * wy, uz * wx - ux * wz, ux * wy - uy * wx
        for v in (a, b, c):
            normals[v, 0] += nx
            normals[v, 1] += ny
            normals[v, 2] += nz
    for v in range(normals.shape[0]):
        length = max(np.sqrt(normals[v, 0] ** 2 + normals[v, 1] ** 2 + normals[v, 2] ** 2), 1e-12)
        normals[v, 0] /= length
        normals[v, 1] /= length
        normals[v, 2] /= length
    return normals


@numba.njit(cache=True, parallel=True)
def _shade(
    triangle_id, barycentric, faces, normals, colors, light_dirs, light_strengths, ambient, out
):
    """Per covered pixel: interpolate normal and colour, two-sided Lambert (fused, no
    temporaries)."""
    height, width = triangle_id.shape
    for i in numba.prange(height):
        for j in range(width):
            t = triangle_id[i, j]
            if t < 0:
                continue
            nx = ny = nz = r = g = b = 0.0
            for k in range(3):
                w = barycentric[i, j, k]
                v = faces[t, k]
                nx += w * normals[v, 0]
                ny += w * normals[v, 1]
                nz += w * normals[v, 2]
                r += w * colors[v, 0]
                g += w * colors[v, 1]
                b += w * colors[v, 2]
            norm = max((nx * nx + ny * ny + nz * nz) ** 0.5, 1e-12)
            intensity = ambient
            for m in range(light_dirs.shape[0]):
                dot = nx * light_dirs[m, 0] + ny * light_dirs[m, 1] + nz * light_dirs[m, 2]
                intensity += light_strengths[m] * abs(dot) / norm
            out[i, j, 0] = min(max(r * intensity, 0.0), 1.0)
            out[i, j, 1] = min(max(g * intensity, 0.0), 1.0)
            out[i, j, 2] = min(max(b * intensity, 0.0), 1.0)


def _downsample(image: np.ndarray, factor: int) -> np.ndarray:
    h, w = image.shape[0] // factor, image.shape[1] // factor
    return image.reshape(h, factor, w, factor, *image.shape[2:]).mean(axis=(1, 3))


def render(
    meshes: Sequence[Mesh],
    image_size: tuple[int, int],
    focal: float | tuple[float, float],
    principal: tuple[float, float] | None = None,
    supersample: int = 1,
    cull_back_faces: bool = False,
    lights: Sequence[tuple[tuple[float, float, float], float]] = DEFAULT_LIGHTS,
    ambient: float = AMBIENT,
) -> Rendering:
    """Shaded rendering of one or more camera-frame meshes.

    image_size: (H, W); focal, principal: pinhole intrinsics in output pixels; supersample: k
    renders at k× resolution and box-filters down (smooth edges, fractional alpha); lights:
    (direction towards the light in camera axes, intensity) pairs; two-sided Lambert + ambient.
    """
    if supersample < 1:
        raise OpenHMRError(f"supersample must be ≥ 1, got {supersample}")
    vertices, faces, colors, owner = merge_meshes(meshes)
    height, width = image_size
    k = supersample
    fx, fy = (focal, focal) if np.isscalar(focal) else focal
    cx, cy = principal if principal is not None else (width / 2, height / 2)
    fragments = rasterize(
        vertices,
        faces,
        (height * k, width * k),
        (fx * k, fy * k),
        (cx * k, cy * k),
        cull_back_faces=cull_back_faces,
    )
    mask = fragments.mask
    directions = np.array([d for d, _ in lights], dtype=np.float64).reshape(-1, 3)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    strengths = np.array([w for _, w in lights], dtype=np.float64)
    rgb = np.zeros((*mask.shape, 3))
    _shade(
        fragments.triangle_id,
        fragments.barycentric,
        faces,
        vertex_normals(vertices, faces),
        colors,
        directions,
        strengths,
        float(ambient),
        rgb,
    )
    alpha = mask.astype(np.float64)
    mesh_id = np.where(mask, owner[np.maximum(fragments.triangle_id, 0)], -1).astype(np.int32)
    depth, triangle_id = fragments.depth, fragments.triangle_id
    if k > 1:
        rgb = _downsample(rgb * alpha[..., None], k)
        alpha = _downsample(alpha, k)
        rgb = rgb / np.maximum(alpha, 1e-12)[..., None]
        centre = (slice(k // 2, None, k), slice(k // 2, None, k))
        depth, mesh_id, triangle_id = depth[centre], mesh_id[centre], triangle_id[centre]
    return Rendering(rgb.astype(np.float32), alpha.astype(np.float32), depth, mesh_id, triangle_id)


def render_labels(
    vertices: np.ndarray,
    faces: np.ndarray,
    labels: np.ndarray,
    image_size: tuple[int, int],
    focal: float | tuple[float, float],
    principal: tuple[float, float] | None = None,
) -> np.ndarray:
    """Per-vertex integer labels (V,) → label image (H, W) int32, −1 on background; each
    pixel takes the label of its triangle's vertex with the largest barycentric weight."""
    fragments = rasterize(vertices, faces, image_size, focal, principal)
    out = np.full(fragments.triangle_id.shape, -1, np.int32)
    mask = fragments.mask
    tri = np.asarray(faces)[fragments.triangle_id[mask]]
    nearest = tri[np.arange(len(tri)), fragments.barycentric[mask].argmax(axis=1)]
    out[mask] = np.asarray(labels)[nearest]
    return out


def composite(image: np.ndarray, rendering: Rendering, opacity: float = 1.0) -> np.ndarray:
    """Alpha-composite a rendering over an RGB uint8 image (H, W, 3); returns uint8."""
    if image.shape[:2] != rendering.alpha.shape:
        raise OpenHMRError(
            f"composite: image {image.shape[:2]} and rendering {rendering.alpha.shape} sizes differ"
        )
    alpha = (opacity * rendering.alpha)[..., None]
    out = alpha * rendering.rgb * 255.0 + (1 - alpha) * image.astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
