"""Training previews: predicted meshes rendered over their input crops."""

from __future__ import annotations

import numpy as np
import torch

from openhmr.geometry import crop_to_full_perspective
from openhmr.render import Mesh, composite, render

PREVIEW_FOCAL = 5000.0  # a long lens: nearly orthographic, like the weak-perspective camera


PLAIN_BACKGROUND = 235  # the grey behind meshes drawn without their photos


def prediction_grid(
    images: np.ndarray,
    vertices: np.ndarray,
    cameras: np.ndarray,
    faces: np.ndarray,
    photos: bool = True,
) -> np.ndarray:
    """images (B, 3, S, S) uint8, vertices (B, V, 3), cameras (B, 3) → a (2S, B·S, 3) uint8 grid:
    the inputs on top, the predicted meshes over them below.  photos=False: only the meshes, each
    on plain grey and framed to fill its tile (`framing_cameras`), (S, B·S, 3): pictures of the
    bodies themselves, for a dataset whose images may not be redistributed."""
    res = images.shape[-1]
    # the crop is the whole image here: centre (res/2, res/2), side res
    batch = len(cameras)
    if not photos:
        cameras = framing_cameras(vertices)
    translations = crop_to_full_perspective(
        torch.from_numpy(np.asarray(cameras, dtype=np.float64)),
        torch.full((batch, 2), res / 2.0, dtype=torch.float64),
        torch.full((batch,), float(res), dtype=torch.float64),
        torch.full((batch, 2), float(res), dtype=torch.float64),
        PREVIEW_FOCAL,
    ).numpy()
    top, bottom = [], []
    plain = np.full((res, res, 3), PLAIN_BACKGROUND, np.uint8)
    for image, verts, translation in zip(images, vertices, translations, strict=True):
        rendering = render([Mesh(verts + translation, faces)], (res, res), PREVIEW_FOCAL)
        if photos:
            photo = np.ascontiguousarray(image.transpose(1, 2, 0))
            top.append(photo)
            bottom.append(composite(photo, rendering, opacity=0.8))
        else:
            bottom.append(composite(plain, rendering, opacity=1.0))
    meshes = np.concatenate(bottom, axis=1)
    return np.concatenate([np.concatenate(top, axis=1), meshes], axis=0) if photos else meshes


def framing_cameras(vertices: np.ndarray, fill: float = 0.9) -> np.ndarray:
    """Weak-perspective cameras (B, 3) = s, tx, ty that centre each mesh's x-y bounding box in
    the crop and make its longer side `fill` of the crop.  vertices (B, V, 3)."""
    low, high = vertices[..., :2].min(axis=1), vertices[..., :2].max(axis=1)  # B x 2
    extent = np.maximum((high - low).max(axis=1), 1e-9)
    scale = 2.0 * fill / extent  # the crop spans [-1, 1]
    return np.concatenate([scale[:, None], -(low + high) / 2], axis=1)


def comparison_grid(
    index, predictions: list, body_model, res: int, count: int = 8, photos: bool = True
) -> np.ndarray:
    """The first `count` crops (side `res`) of a record index with each model's meshes over
    them: a ((1 + M)·res, count·res, 3) uint8 image, the inputs on top, then one row per entry
    of `predictions` (M `openhmr.evaluate.predict.Predictions` for the index, in its order).
    photos=False: the M rows of meshes alone, on grey, each framed to fill its tile
    (M·res, count·res, 3)."""
    from openhmr.data.dataset import RecordDataset

    count = min(count, len(index))
    if photos:
        dataset = RecordDataset(index, res=res)
        images = np.stack([dataset[i]["image"].numpy() for i in range(count)])
    else:  # the meshes alone: no need to read the dataset's images
        images = np.zeros((count, 3, res, res), np.uint8)
    rows = []
    for pred in predictions:
        with torch.no_grad():
            out = body_model(
                pose=torch.from_numpy(pred.pose[:count]).float(),
                betas=torch.from_numpy(pred.betas[:count]).float(),
            )
        grid = prediction_grid(
            images, out.vertices.numpy(), pred.camera[:count], body_model.faces.numpy(), photos
        )
        rows.append(grid if not rows or not photos else grid[res:])
    return np.concatenate(rows, axis=0)
