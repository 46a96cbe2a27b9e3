"""The predictor's output side: `Person` (one person's body in the original image's camera),
`PersonFit` (how its refinement went), and the pure step from the network's Θ and the crops to
those bodies in the full image's pinhole camera (see `openhmr.inference.predictor`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from openhmr.body import BodyModel
from openhmr.fit import FitResult
from openhmr.geometry.camera import crop_to_full_perspective, perspective_project
from openhmr.model.hmr import CROP_SIZE

BASE_FOCAL = 5000.0  # px for a 224 crop (SPIN, HMR 2.0); scaled with the image


@dataclass(frozen=True)
class PersonFit:
    """How one person's refinement went (`Predictor(refine=True)`).

    keypoints (K, 3): the 2D keypoints fitted, image pixels and confidence, in `layout`
    ("coco17", "cocoplus19" or "lsp14"); error_px, initial_error_px: their confidence-weighted
    mean distance to the body's matching keypoints after / before fitting; iterations;
    converged: stopped on the tolerance (not the cap); refined: False when the regressor's
    estimate was kept (too few confident keypoints, or the fit did not improve it);
    keypoints_used: keypoints confident enough to count."""

    keypoints: np.ndarray
    layout: str
    error_px: float
    initial_error_px: float
    iterations: int
    converged: bool
    refined: bool
    keypoints_used: int

    def to_dict(self) -> dict[str, object]:
        return {
            "keypoints": np.asarray(self.keypoints).tolist(),
            "layout": self.layout,
            "error_px": _json_float(self.error_px),
            "initial_error_px": _json_float(self.initial_error_px),
            "iterations": self.iterations,
            "converged": self.converged,
            "refined": self.refined,
            "keypoints_used": self.keypoints_used,
        }


def _json_float(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


@dataclass(frozen=True)
class Person:
    """One person's prediction, in the original image.

    bbox (4,) x, y, w, h pixels (the box the crop came from); crop_center (2,), crop_size: the
    square crop (pixels); camera (3,) = s, tx, ty, the weak-perspective crop camera (crop
    coordinates in [−1, 1]); translation (3,): the body's translation T in the full-image
    pinhole camera (focal_length, principal_point); pose (24, 3) axis-angle (root in camera
    axes); betas (10,); vertices (V, 3) and keypoints3d (19, 3): camera frame, metres;
    keypoints2d (19, 3): cocoplus x, y in image pixels and a confidence (1: predicted);
    detection_score and detected_keypoints (17, 3) COCO x, y pixels, score: what the person
    detector reported (None when the box was given).
    fit: a `PersonFit` when the prediction was refined, else None.
    """

    bbox: np.ndarray
    crop_center: np.ndarray
    crop_size: float
    camera: np.ndarray
    translation: np.ndarray
    focal_length: float
    principal_point: np.ndarray
    pose: np.ndarray
    betas: np.ndarray
    vertices: np.ndarray
    keypoints3d: np.ndarray
    keypoints2d: np.ndarray
    detection_score: float | None = None
    detected_keypoints: np.ndarray | None = None
    fit: PersonFit | None = None

    def to_dict(self) -> dict[str, object]:
        """Everything but the vertices, as JSON-ready lists (the detector's fields only when
        present, and the fit when refined)."""
        fields = (
            "bbox",
            "crop_center",
            "crop_size",
            "camera",
            "translation",
            "focal_length",
            "principal_point",
            "pose",
            "betas",
            "keypoints2d",
            "keypoints3d",
            "detection_score",
            "detected_keypoints",
        )
        record = {
            name: np.asarray(getattr(self, name)).tolist()
            for name in fields
            if getattr(self, name) is not None
        }
        if self.fit is not None:
            record["fit"] = self.fit.to_dict()
        return record


def default_focal_length(width: int, height: int) -> float:
    """The default full-image focal length in pixels: 5000 · max(W, H) / 224."""
    return BASE_FOCAL * max(width, height) / CROP_SIZE


def person_fits(
    result: FitResult, keypoints: np.ndarray, layout: str, sides: np.ndarray
) -> list[PersonFit]:
    """Each person's `PersonFit` from a batched fit (errors from crop units to image pixels);
    keypoints (N, K, 3) image pixels, the ones fitted; sides (N,): crop sides in pixels."""
    to_px = sides / 2
    return [
        PersonFit(
            keypoints=keypoints[i],
            layout=layout,
            error_px=float(result.error[i]) * to_px[i],
            initial_error_px=float(result.initial_error[i]) * to_px[i],
            iterations=int(result.iterations[i]),
            converged=bool(result.converged[i]),
            refined=bool(result.refined[i]),
            keypoints_used=int(result.keypoints_used[i]),
        )
        for i in range(len(keypoints))
    ]


@torch.no_grad()
def place_people(
    body_model: BodyModel,
    estimate: dict[str, torch.Tensor],
    centers: np.ndarray,
    sides: np.ndarray,
    sizes: np.ndarray,
    focal_length: float | None = None,
    batch_size: int = 8,
) -> list[dict[str, object]]:
    """Θ -> each person's body in the full image's pinhole camera: the `Person` fields the
    network and camera decide (all but the box, the detector's and the fit's).

    estimate: camera (N, 3), pose (N, 24, 3), rotations (N, 24, 3, 3), betas (N, 10); centers
    (N, 2), sides (N,): the crops in image pixels; sizes (N, 2): each image's W, H;
    focal_length: pixels (default `default_focal_length` of each image); batch_size: bodies
    per body-model call."""
    vertices, keypoints3d = [], []
    for start in range(0, len(centers), batch_size):
        part = slice(start, start + batch_size)
        body = body_model(pose=estimate["rotations"][part], betas=estimate["betas"][part])
        vertices.append(body.vertices.float().cpu())
        keypoints3d.append(body.keypoints.float().cpu())
    out = {k: estimate[k].cpu().double() for k in ("camera", "pose", "betas")}
    out["vertices"] = torch.cat(vertices).double()
    out["keypoints3d"] = torch.cat(keypoints3d).double()
    focal = torch.tensor(
        [focal_length or default_focal_length(*size) for size in sizes.astype(int)],
        dtype=torch.float64,
    )
    sizes_t = torch.from_numpy(sizes)
    translation = crop_to_full_perspective(
        out["camera"], torch.from_numpy(centers), torch.from_numpy(sides), sizes_t, focal
    )  # N x 3
    vertices = out["vertices"] + translation[:, None]
    keypoints3d = out["keypoints3d"] + translation[:, None]
    keypoints2d = perspective_project(keypoints3d, focal, sizes_t / 2)
    confidence = torch.ones_like(keypoints2d[..., :1])
    keypoints2d = torch.cat([keypoints2d, confidence], dim=-1)
    return [
        {
            "crop_center": centers[i],
            "camera": out["camera"][i].numpy(),
            "translation": translation[i].numpy(),
            "focal_length": float(focal[i]),
            "principal_point": sizes[i] / 2,
            "pose": out["pose"][i].numpy(),
            "betas": out["betas"][i].numpy(),
            "vertices": vertices[i].float().numpy(),
            "keypoints3d": keypoints3d[i].numpy(),
            "keypoints2d": keypoints2d[i].numpy(),
        }
        for i in range(len(centers))
    ]
