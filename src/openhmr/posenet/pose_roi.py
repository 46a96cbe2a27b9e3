"""MediaPipe's pose region of interest (the crop BlazePose expects) and the warps between a
rotated square crop and the image.

MediaPipe places the crop from two alignment points (`AlignmentPointsRectsCalculator`, then
`RectTransformationCalculator` with scale 1.25 and `square_long`): a centre (the hips'
midpoint) and a point whose offset from it gives the size and the direction that becomes
"up" in the crop (the pose detector's second keypoint; landmark 34 of the previous frame's
BlazePose output when tracking). The crop is the square of side 2 × 1.25 × |offset| = 2.5 ×
|offset| about the centre, turned so that the offset points straight up.

Without the detector we build the same two points from 2D keypoints (COCO-17, e.g.
MoveNet's): centre = the hips' midpoint, direction = hips → shoulders midpoint, |offset| =
`reach` × the distance from the centre to the farthest confident keypoint (the detector's
point encloses the whole body; the head's top and the feet lie a little beyond the COCO
points). From a box alone: centre = the box centre, upright, |offset| = half its longer side.

Coordinates are continuous pixels: pixel (row i, column j) covers [j, j + 1) × [i, i + 1).
A crop of `size` pixels maps crop point p (0..size) to the image point
    q = centre + side · ((p_x / size - 0.5) · right + (p_y / size - 0.5) · down),
with `down` = -up and `right` = up turned a quarter clockwise on screen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from openhmr.errors import OpenHMRError

SCALE = 1.25  # MediaPipe's RectTransformationCalculator scale for the pose ROI
REACH = 1.15  # farthest COCO keypoint -> the detector's full-body radius (see the docstring)
MIN_SCORE = 0.2  # keypoints below this score are not used to place the crop
HIPS, SHOULDERS = (11, 12), (5, 6)  # COCO-17 indices


@dataclass(frozen=True)
class PoseROI:
    """N rotated square crops: centre (N, 2) x, y image pixels; side (N,) pixels; up (N, 2)
    unit vector in the image that is "up" in the crop; from_keypoints (N,) bool: placed from
    keypoints (False: from the box alone)."""

    centre: np.ndarray
    side: np.ndarray
    up: np.ndarray
    from_keypoints: np.ndarray

    def __len__(self) -> int:
        return len(self.centre)

    @property
    def axes(self) -> np.ndarray:
        """(N, 2, 2): columns = the crop's right and down directions in the image."""
        ux, uy = self.up[:, 0], self.up[:, 1]
        right = np.stack([-uy, ux], axis=1)  # up (0, -1) -> right (1, 0)
        return np.stack([right, -self.up], axis=2)

    def crop_to_image(self, size: int) -> np.ndarray:
        """(N, 2, 3) affine A | b: image point = A @ crop point + b (continuous pixels)."""
        linear = self.axes * (self.side / size)[:, None, None]  # N x 2 x 2
        offset = self.centre - linear @ np.full(2, size / 2)
        return np.concatenate([linear, offset[:, :, None]], axis=2)


def roi_from_alignment(centre: np.ndarray, scale_point: np.ndarray) -> PoseROI:
    """MediaPipe's rule from two alignment points, each (N, 2) x, y pixels."""
    centre = np.asarray(centre, np.float64).reshape(-1, 2)
    offset = np.asarray(scale_point, np.float64).reshape(-1, 2) - centre
    radius = np.linalg.norm(offset, axis=1)
    up = offset / np.maximum(radius, 1e-9)[:, None]
    up[radius < 1e-9] = (0.0, -1.0)
    return PoseROI(centre, 2 * SCALE * radius, up, np.ones(len(centre), bool))


def roi_from_boxes(boxes: np.ndarray) -> PoseROI:
    """Boxes (N, 4) x, y, w, h -> upright crops about their centres, side 1.25 × the longer
    side (the detector's circle enclosing the box)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    centre = boxes[:, :2] + boxes[:, 2:] / 2
    radius = boxes[:, 2:].max(axis=1) / 2
    up = np.tile([0.0, -1.0], (len(boxes), 1))
    return PoseROI(centre, 2 * SCALE * radius, up, np.zeros(len(boxes), bool))


def roi_from_keypoints(
    keypoints: np.ndarray, boxes: np.ndarray, reach: float = REACH, min_score: float = MIN_SCORE
) -> PoseROI:
    """COCO-17 keypoints (N, 17, 3) x, y pixels, score -> the crops (see the module docstring);
    a person whose hips or shoulders score below `min_score` gets its box's crop."""
    keypoints = np.asarray(keypoints, np.float64)
    if keypoints.ndim != 3 or keypoints.shape[1:] != (17, 3):
        raise OpenHMRError(f"BlazePose keypoints: expected (N, 17, 3), got {keypoints.shape}")
    fallback = roi_from_boxes(boxes)
    if len(keypoints) != len(fallback):
        raise OpenHMRError(
            f"BlazePose keypoints: {len(keypoints)} people for {len(fallback)} boxes"
        )
    xy, score = keypoints[..., :2], keypoints[..., 2]
    hips = xy[:, HIPS].mean(axis=1)  # N x 2
    shoulders = xy[:, SHOULDERS].mean(axis=1)
    torso = shoulders - hips
    length = np.linalg.norm(torso, axis=1)
    usable = (score[:, HIPS + SHOULDERS].min(axis=1) >= min_score) & (length > 1e-6)
    usable &= np.isfinite(keypoints).all(axis=(1, 2))
    confident = score >= min_score
    distance = np.linalg.norm(xy - hips[:, None], axis=2)  # N x 17
    radius = reach * np.where(confident, distance, 0.0).max(axis=1)
    up = torso / np.maximum(length, 1e-9)[:, None]
    keypoint_roi = roi_from_alignment(hips, hips + up * radius[:, None])
    pick = usable[:, None]
    return PoseROI(
        np.where(pick, keypoint_roi.centre, fallback.centre),
        np.where(usable, keypoint_roi.side, fallback.side),
        np.where(pick, keypoint_roi.up, fallback.up),
        usable,
    )


def _sample(
    source: torch.Tensor, affine: np.ndarray | torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """source (N, C, h, w) sampled bilinearly (zeros outside) at each output pixel's centre
    mapped by affine (N, 2, 3) from the output frame (height × width) into the source's
    (continuous pixels) -> (N, C, height, width).  The mapping is computed in the affine's
    dtype and device (a numpy affine: float64 on the CPU); only torch ops, so it traces."""
    affine = torch.as_tensor(affine)
    ys = torch.arange(height, dtype=affine.dtype, device=affine.device) + 0.5
    xs = torch.arange(width, dtype=affine.dtype, device=affine.device) + 0.5
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([grid_x, grid_y, torch.ones_like(grid_x)], dim=-1)  # H x W x 3
    mapped = torch.einsum("nij,hwj->nhwi", affine, points)  # N x H x W x 2
    scale = torch.tensor(
        [2.0 / source.shape[3], 2.0 / source.shape[2]], dtype=mapped.dtype, device=mapped.device
    )
    grid = (mapped * scale - 1.0).to(source.device, source.dtype)
    return F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def warp_crops(image: torch.Tensor, affine: np.ndarray, size: int) -> torch.Tensor:
    """Bilinear crops (zeros outside the image): image (3, H, W), affine (N, 2, 3) crop ->
    image (continuous pixels) -> (N, 3, size, size) in the image's dtype and device."""
    batch = image.unsqueeze(0).expand(len(affine), -1, -1, -1)
    return _sample(batch, affine, size, size)


def image_to_crop(affine: np.ndarray) -> np.ndarray:
    """The inverse of crop -> image affines (N, 2, 3)."""
    inverse = np.linalg.inv(affine[:, :, :2])  # N x 2 x 2
    return np.concatenate([inverse, -(inverse @ affine[:, :, 2:])], axis=2)


def paste_masks(masks: torch.Tensor, affine: np.ndarray, height: int, width: int) -> torch.Tensor:
    """Crop maps (N, S, S) -> the image frame (N, height, width), bilinear, 0 outside the
    crop, for the crops' affine (N, 2, 3) crop -> image."""
    return _sample(masks[:, None], image_to_crop(affine), height, width)[:, 0]


def crop_points_to_image(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """points (N, K, 2) crop pixels -> (N, K, 2) image pixels through affine (N, 2, 3)."""
    return np.einsum("nij,nkj->nki", affine[:, :, :2], points) + affine[:, None, :, 2]


def roi_from_keypoints_torch(
    keypoints: torch.Tensor,
    boxes: torch.Tensor,
    reach: float = REACH,
    min_score: float = MIN_SCORE,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`roi_from_keypoints` in torch ops (traceable, batched on any device): keypoints
    (N, 17, 3) x, y pixels, score; boxes (N, 4) x, y, w, h -> centre (N, 2), side (N,), up
    (N, 2) unit vectors."""
    xy, score = keypoints[..., :2], keypoints[..., 2]
    hips = xy[:, list(HIPS)].mean(dim=1)
    shoulders = xy[:, list(SHOULDERS)].mean(dim=1)
    torso = shoulders - hips
    length = torch.linalg.vector_norm(torso, dim=1)
    usable = (score[:, list(HIPS + SHOULDERS)].amin(dim=1) >= min_score) & (length > 1e-6)
    usable = usable & torch.isfinite(keypoints).all(dim=2).all(dim=1)
    distance = torch.linalg.vector_norm(xy - hips[:, None], dim=2)
    confident = score >= min_score
    radius = reach * torch.where(confident, distance, torch.zeros_like(distance)).amax(dim=1)
    up = torso / length.clamp_min(1e-9)[:, None]
    upright = torch.tensor([0.0, -1.0], dtype=keypoints.dtype, device=keypoints.device)
    up = torch.where((radius >= 1e-9)[:, None], up, upright)
    box_centre = boxes[:, :2] + boxes[:, 2:] / 2
    box_side = 2 * SCALE * boxes[:, 2:].amax(dim=1) / 2
    pick = usable[:, None]
    centre = torch.where(pick, hips, box_centre)
    side = torch.where(usable, 2 * SCALE * radius, box_side)
    return centre, side, torch.where(pick, up, upright.expand_as(up))


def crop_to_image_torch(
    centre: torch.Tensor, side: torch.Tensor, up: torch.Tensor, size: int
) -> torch.Tensor:
    """`PoseROI.crop_to_image` in torch: (N, 2, 3) affine, image point = A @ crop point + b."""
    right = torch.stack([-up[:, 1], up[:, 0]], dim=1)
    axes = torch.stack([right, -up], dim=2)  # columns: right, down
    linear = axes * (side / size)[:, None, None]
    offset = centre - linear @ torch.full((2,), size / 2, dtype=up.dtype, device=up.device)
    return torch.cat([linear, offset[:, :, None]], dim=2)


def sample_crops_torch(images: torch.Tensor, affine: torch.Tensor, size: int) -> torch.Tensor:
    """One bilinear crop from each image, zeros outside: images (N, C, H, W), affine (N, 2, 3)
    crop -> image (continuous pixels, a tensor) -> (N, C, size, size)."""
    return _sample(images, affine, size, size)
