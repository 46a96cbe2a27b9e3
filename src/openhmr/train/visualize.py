"""Training previews: predicted meshes rendered over their input crops."""

from __future__ import annotations

import numpy as np
import torch

from openhmr.geometry import crop_to_full_perspective
from openhmr.render import Mesh, composite, render

PREVIEW_FOCAL = 5000.0  # a long lens: nearly orthographic, like the weak-perspective camera


def prediction_grid(
    images: np.ndarray, vertices: np.ndarray, cameras: np.ndarray, faces: np.ndarray
) -> np.ndarray:
    """images (B, 3, S, S) uint8, vertices (B, V, 3), cameras (B, 3) → a (2S, B·S, 3) uint8 grid:
    the inputs on top, the predicted meshes over them below."""
    res = images.shape[-1]
    # the crop is the whole image here: centre (res/2, res/2), side res
    batch = len(cameras)
    translations = crop_to_full_perspective(
        torch.from_numpy(np.asarray(cameras, dtype=np.float64)),
        torch.full((batch, 2), res / 2.0, dtype=torch.float64),
        torch.full((batch,), float(res), dtype=torch.float64),
        torch.full((batch, 2), float(res), dtype=torch.float64),
        PREVIEW_FOCAL,
    ).numpy()
    top, bottom = [], []
    for image, verts, translation in zip(images, vertices, translations, strict=True):
        photo = np.ascontiguousarray(image.transpose(1, 2, 0))
        rendering = render([Mesh(verts + translation, faces)], (res, res), PREVIEW_FOCAL)
        top.append(photo)
        bottom.append(composite(photo, rendering, opacity=0.8))
    return np.concatenate([np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)], axis=0)


def comparison_grid(index, predictions: list, body_model, res: int, count: int = 8) -> np.ndarray:
    """The first `count` crops (side `res`) of a record index with each model's meshes over
    them: a ((1 + M)·res, count·res, 3) uint8 image, the inputs on top, then one row per entry
    of `predictions` (M `openhmr.evaluate.predict.Predictions` for the index, in its order)."""
    from openhmr.data.dataset import RecordDataset

    count = min(count, len(index))
    dataset = RecordDataset(index, res=res)
    images = np.stack([dataset[i]["image"].numpy() for i in range(count)])
    rows = []
    for pred in predictions:
        with torch.no_grad():
            out = body_model(
                pose=torch.from_numpy(pred.pose[:count]).float(),
                betas=torch.from_numpy(pred.betas[:count]).float(),
            )
        grid = prediction_grid(
            images, out.vertices.numpy(), pred.camera[:count], body_model.faces.numpy()
        )
        rows.append(grid if not rows else grid[res:])
    return np.concatenate(rows, axis=0)
