"""Cameras: HMR's weak-perspective crop camera and its full-image perspective equivalent.

Crop coordinates are normalised to [−1, 1] over the square crop (x right, y down); the camera
looks down +z. The weak-perspective camera is (s, tx, ty) as in the released HMR code:
``x̂ = s · (X_xy + t)``.
"""

from __future__ import annotations

import torch

from openhmr.errors import OpenHMRError


def weak_perspective_project(points: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """Project 3D points with HMR's weak-perspective camera.

    points: (B, N, 3); camera: (B, 3) = s, tx, ty.  Returns (B, N, 2) = s · (X_xy + t).
    """
    if points.shape[-1] != 3 or camera.shape[-1] != 3:
        raise OpenHMRError(
            f"weak_perspective_project: expected points (B, N, 3) and camera "
            f"(B, 3), got {tuple(points.shape)} and {tuple(camera.shape)}"
        )
    scale = camera[..., None, :1]  # B x 1 x 1
    translation = camera[..., None, 1:]  # B x 1 x 2
    return scale * (points[..., :2] + translation)


def perspective_project(
    points: torch.Tensor, focal_length: torch.Tensor | float, principal_point: torch.Tensor
) -> torch.Tensor:
    """Pinhole projection of camera-frame points to pixels.

    points: (B, N, 3) with z > 0; focal_length: scalar or (B,); principal_point: (B, 2).
    Returns (B, N, 2) pixel coordinates.
    """
    focal = torch.as_tensor(focal_length, dtype=points.dtype, device=points.device)
    focal = focal.reshape(-1, 1, 1) if focal.ndim else focal
    return focal * points[..., :2] / points[..., 2:3] + principal_point[..., None, :]


def crop_to_full_perspective(
    camera: torch.Tensor,
    box_center: torch.Tensor,
    box_size: torch.Tensor,
    image_size: torch.Tensor,
    focal_length: torch.Tensor | float,
) -> torch.Tensor:
    """Turn a crop's weak-perspective camera into a translation for a full-image pinhole camera.

    camera: (B, 3) = s, tx, ty in crop coordinates; box_center: (B, 2) crop centre in image
    pixels; box_size: (B,) crop side in pixels; image_size: (B, 2) = width, height;
    focal_length: scalar or (B,) pixels.  Returns (B, 3) translation T such that projecting
    X + T with focal f and the principal point at the image centre reproduces the crop camera
    for points near the body's depth:

        T_z = 2 f / (s · b),   T_xy = t + 2 (c − (W, H)/2) / (s · b)

    (derivation: the crop maps normalised u to pixels c + u · b/2, and u = s (X + t); equate with
    f (X + T)/T_z + (W, H)/2).
    """
    focal = torch.as_tensor(focal_length, dtype=camera.dtype, device=camera.device)
    focal = focal.reshape(-1) if focal.ndim else focal
    s, t = camera[:, 0], camera[:, 1:]
    denom = (s * box_size).clamp_min(1e-9)  # B
    tz = 2 * focal / denom
    txy = t + 2 * (box_center - image_size / 2) / denom[:, None]
    return torch.cat([txy, tz.expand_as(s)[:, None]], dim=1)
