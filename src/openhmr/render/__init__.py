"""CPU mesh rendering: numba z-buffer rasterizer, shading, labels, compositing."""

from openhmr.render.raster import Fragments, project_points, rasterize
from openhmr.render.shading import (
    Mesh,
    Rendering,
    composite,
    merge_meshes,
    render,
    render_labels,
    vertex_normals,
)

__all__ = [
    "Fragments",
    "Mesh",
    "Rendering",
    "composite",
    "merge_meshes",
    "project_points",
    "rasterize",
    "render",
    "render_labels",
    "vertex_normals",
]
