"""What a pose network can tell the fit beyond 2D keypoints, per person.

    PoseEvidence   image frame, as a keypoint source returns it: keypoints (N, K, 3) pixels,
                   3D world landmarks, a person mask in the image
    FitGuides      the same in each person's crop frame, as `fit_keypoints` takes it

`evidence_in_crops` maps the first to the second; `silhouette_targets` turns a crop-frame mask
into what the silhouette term reads (a distance field and a sample of the mask's points).
World landmarks are COCO-17 keypoints in metres with the camera's axes (x right, y down, z away
from the camera; BlazePose's world landmarks turned back from its crop), each with a weight
(BlazePose's visibility).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from openhmr.errors import OpenHMRError

MASK_SIZE = 64  # crop-frame mask side (pixels over the crop's square)
MASK_POINTS = 96  # mask points the silhouette term samples per person
MIN_WORLD_POINTS = 4  # fewer usable world landmarks: the 3D term is off for that person


@dataclass(frozen=True)
class PoseEvidence:
    """A keypoint source's reading of N people in one image: keypoints (N, K, 3) x, y pixels
    and a confidence (any layout of `openhmr.fit.keypoints`); world (N, 17, 3) metres, COCO-17
    order, camera axes, or None; world_weights (N, 17) in [0, 1]; masks (N, H, W) float person
    probability in the image frame (or a list of N (H, W) arrays), or None."""

    keypoints: np.ndarray
    world: np.ndarray | None = None
    world_weights: np.ndarray | None = None
    masks: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.keypoints)


@dataclass(frozen=True)
class FitGuides:
    """Per person, crop frame: world (B, 17, 3) metres and world_weights (B, 17) (None: no 3D
    term); mask (B, S, S) person probability over the crop's square [−1, 1]² (row = y; None:
    no silhouette term)."""

    world: np.ndarray | None = None
    world_weights: np.ndarray | None = None
    mask: np.ndarray | None = None

    def check(self, batch: int) -> None:
        """One `OpenHMRError` naming what is malformed."""
        if (self.world is None) != (self.world_weights is None):
            raise OpenHMRError("fit guides: world and world_weights come together")
        if self.world is not None:
            world = np.asarray(self.world)
            weights = np.asarray(self.world_weights)
            if world.shape != (batch, 17, 3) or weights.shape != (batch, 17):
                raise OpenHMRError(
                    f"fit guides: expected world ({batch}, 17, 3) and world_weights ({batch}, 17),"
                    f" got {world.shape} and {weights.shape}"
                )
        if self.mask is not None:
            mask = np.asarray(self.mask)
            if mask.ndim != 3 or mask.shape[0] != batch or mask.shape[1] != mask.shape[2]:
                raise OpenHMRError(f"fit guides: expected a mask ({batch}, S, S), got {mask.shape}")


def world_tensors(
    guides: FitGuides, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """World landmarks (B, 17, 3) and weights (B, 17): non-finite landmarks weigh 0, and a
    person with fewer than `MIN_WORLD_POINTS` weighted landmarks gets all weights 0."""
    world = torch.as_tensor(np.asarray(guides.world), dtype=dtype, device=device)
    weights = torch.as_tensor(np.asarray(guides.world_weights), dtype=dtype, device=device)
    good = torch.isfinite(world).all(-1) & torch.isfinite(weights) & (weights > 0)
    weights = torch.where(good, weights, 0.0)
    weights = torch.where((good.sum(-1) >= MIN_WORLD_POINTS)[:, None], weights, 0.0)
    return torch.where(good[..., None], world, 0.0), weights


def silhouette_targets(
    mask: np.ndarray, dtype: torch.dtype, device: torch.device, threshold: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Crop-frame masks (B, S, S) -> the distance (crop units) from each pixel to the mask
    (B, 1, S, S), up to `MASK_POINTS` points of each mask (B, M, 2) in crop coordinates (a
    fixed, evenly spread subset) and their weights (B, M) (0: padding; an empty mask has none)."""
    mask = np.nan_to_num(np.asarray(mask, np.float64)) >= threshold
    batch, side = mask.shape[:2]
    pixel = 2.0 / side  # crop units per mask pixel
    outside = np.stack([ndimage.distance_transform_edt(~m) * pixel for m in mask])
    centres = (np.arange(side) + 0.5) * pixel - 1.0
    points = np.zeros((batch, MASK_POINTS, 2))
    weights = np.zeros((batch, MASK_POINTS))
    for row, m in enumerate(mask):
        ys, xs = np.nonzero(m)
        if not len(xs):
            continue
        pick = np.linspace(0, len(xs) - 1, min(MASK_POINTS, len(xs))).round().astype(int)
        points[row, : len(pick)] = np.stack([centres[xs[pick]], centres[ys[pick]]], -1)
        weights[row, : len(pick)] = 1.0
    as_tensor = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    return as_tensor(outside[:, None]), as_tensor(points), as_tensor(weights)


def evidence_in_crops(
    evidence: PoseEvidence, centers: np.ndarray, sides: np.ndarray, size: int = MASK_SIZE
) -> FitGuides:
    """The crop-frame guides of N people: world landmarks as they are (metres), each image-frame
    mask resampled over the person's square crop (centre (N, 2) pixels, side (N,)) at size²
    (nearest pixel; outside the image counts as background)."""
    mask = None
    if evidence.masks is not None:
        masks = evidence.masks
        offsets = (np.arange(size) + 0.5) / size - 0.5  # S, in units of the side
        mask = np.zeros((len(masks), size, size), np.float32)
        for row, (centre, side) in enumerate(zip(centers, sides, strict=True)):
            height, width = np.shape(masks[row])
            xs = np.floor(centre[0] + offsets * side).astype(int)
            ys = np.floor(centre[1] + offsets * side).astype(int)
            inside_x, inside_y = (xs >= 0) & (xs < width), (ys >= 0) & (ys < height)
            block = np.asarray(masks[row])[np.clip(ys, 0, height - 1)][:, np.clip(xs, 0, width - 1)]
            mask[row] = block * inside_y[:, None] * inside_x[None, :]
    return FitGuides(evidence.world, evidence.world_weights, mask)


def merge_evidence(
    keypoints: np.ndarray, readings: list[PoseEvidence | None]
) -> PoseEvidence | None:
    """One `PoseEvidence` for the people of several images (`keypoints` all of them, in order;
    one reading per image, None where it had none), when every image's reading has world
    landmarks; masks (a list, one per person, each its own image's size) are kept when every
    reading has them."""
    if not readings or any(e is None or e.world is None for e in readings):
        return None
    world = np.concatenate([e.world for e in readings])
    weights = np.concatenate([e.world_weights for e in readings])
    masks = None
    if all(e.masks is not None for e in readings):
        masks = [mask for e in readings for mask in e.masks]
    return PoseEvidence(keypoints, world, weights, masks)
