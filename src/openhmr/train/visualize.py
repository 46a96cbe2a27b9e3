"""Training previews: predicted meshes rendered over their input crops."""

from __future__ import annotations

import numpy as np

from openhmr.render import Mesh, composite, render

PREVIEW_FOCAL = 5000.0  # a long lens: nearly orthographic, like the weak-perspective camera


def crop_camera_translation(
    camera: np.ndarray, res: int, focal: float = PREVIEW_FOCAL
) -> np.ndarray:
    """Weak-perspective (s, tx, ty) in normalised crop coordinates → a pinhole translation for
    a res × res image with the given focal and the principal point at the centre:
    T = (tx, ty, 2f / (s·res)). camera (B, 3) → (B, 3)."""
    s = np.maximum(camera[:, 0], 1e-6)
    return np.stack([camera[:, 1], camera[:, 2], 2 * focal / (s * res)], axis=1)


def prediction_grid(
    images: np.ndarray, vertices: np.ndarray, cameras: np.ndarray, faces: np.ndarray
) -> np.ndarray:
    """images (B, 3, S, S) uint8, vertices (B, V, 3), cameras (B, 3) → a (2S, B·S, 3) uint8 grid:
    the inputs on top, the predicted meshes over them below."""
    res = images.shape[-1]
    translations = crop_camera_translation(cameras, res)
    top, bottom = [], []
    for image, verts, translation in zip(images, vertices, translations, strict=True):
        photo = np.ascontiguousarray(image.transpose(1, 2, 0))
        rendering = render([Mesh(verts + translation, faces)], (res, res), PREVIEW_FOCAL)
        top.append(photo)
        bottom.append(composite(photo, rendering, opacity=0.8))
    return np.concatenate([np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)], axis=0)
