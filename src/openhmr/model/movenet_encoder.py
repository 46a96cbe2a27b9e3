"""HMR's encoder started from a pretrained 2D pose network: MoveNet Thunder or Lightning
(`openhmr.posenet`), whose weights ship with the package.

φ is built from the pose network's own outputs on the crop (choose with `features`):
  "pooled"            the backbone's final map (1280 channels, stride 32), averaged: (B, 1280);
  "keypoints"         its 17 decoded keypoints (COCO order) as x, y in [−1, 1] of the crop and
                      the heatmap score: (B, 51);
  "pooled+keypoints"  both, concatenated: (B, 1331);
  "keypoints+blazepose", "keypoints+blazepose-full"
                      the keypoints, then BlazePose GHUM's reading (heavy / full,
                      `openhmr.posenet.BlazePose`) of the crop MediaPipe's rule places from
                      them: its 33 landmarks as x, y in [−1, 1] of the crop, metric 3D world
                      coordinates about the hips (the crop's axes) and visibility, then its
                      pose flag: (B, 51 + 199) (all but the flag zero when it is below 0.5);
  "keypoints+blazepose+blazepose-full"
                      both readings, heavy's then full's: (B, 51 + 2 · 199).
The keypoints are where the network finds each named joint, left from right; the pooled map
adds what a point cannot say (depth order, limb orientation, clothing); BlazePose, trained on
real photos with 3D body fits, adds depth.  "seen-keypoints" in place of "keypoints": the
keypoints scoring below `UNSEEN_SCORE` count as unseen, their x, y zeroed (the score stays),
so a joint the network cannot see (a leg cut off by the crop) carries no made-up position for
the regressor to read.
BlazePose is frozen and loaded from the package's own weights: it is not part of the
encoder's state dict (checkpoints do not carry it).

orientations: how many ways up the crop is read. MoveNet was trained on people the right way
up and misses most upside-down ones (a quarter of LSP-extended's); with 2 the crop is also read
turned by 180°, with 4 by each quarter turn, and the reading whose keypoints have the highest
mean score is kept, its keypoints turned back into the crop's frame (pooled comes from the
same reading). One network call on the stacked turns: the cost is `orientations` × one read.
The encoder reads RGB
in 0–255 (`HMR` normalisation "pixels"); the crop side must be a multiple of 32 (the networks
were trained at 256 for Thunder, 192 for Lightning).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from openhmr.errors import OpenHMRError
from openhmr.posenet.mobilenet import LAST_CHANNELS
from openhmr.posenet.movenet import MoveNet, most_confident_turn, turns_of

if TYPE_CHECKING:
    from openhmr.posenet.blazepose import BlazePose

MOVENET_BACKBONES = {"movenet_thunder": "thunder", "movenet_lightning": "lightning"}
FEATURES = (
    "pooled",
    "keypoints",
    "pooled+keypoints",
    "keypoints+blazepose",
    "keypoints+blazepose-full",
    "seen-keypoints",
    "seen-keypoints+blazepose",
    "seen-keypoints+blazepose-full",
    "keypoints+blazepose+blazepose-full",
    "seen-keypoints+blazepose+blazepose-full",
)
KEYPOINT_DIM = 17 * 3
BLAZEPOSE_LANDMARKS = 33
BLAZEPOSE_DIM = BLAZEPOSE_LANDMARKS * 6 + 1
MIN_POSE_FLAG = 0.5  # BlazePose's pose flag below this: its reading is zeroed
UNSEEN_SCORE = 0.2  # keypoints below this score count as unseen in φ


def blazepose_variants(features: str) -> tuple[str, ...]:
    """The BlazePose variants a features choice reads, in φ's order ("heavy", "full"; none
    for features without BlazePose)."""
    names = {"blazepose": "heavy", "blazepose-full": "full"}
    return tuple(names[part] for part in features.split("+") if part in names)


def feature_dim(features: str) -> int:
    """The length of φ for a `features` choice."""
    check_features(features)
    return (
        (LAST_CHANNELS if "pooled" in features else 0)
        + (KEYPOINT_DIM if "keypoints" in features else 0)
        + BLAZEPOSE_DIM * len(blazepose_variants(features))
    )


def keypoint_columns(features: str) -> slice:
    """Where MoveNet's 17 keypoints (x, y, score each, COCO order) sit in φ for a `features`
    choice that holds them."""
    check_features(features)
    if "keypoints" not in features:
        raise OpenHMRError(f"encoder features {features!r} hold no keypoints")
    start = LAST_CHANNELS if "pooled" in features else 0
    return slice(start, start + KEYPOINT_DIM)


def check_features(features: str) -> str:
    if features not in FEATURES:
        raise OpenHMRError(f"encoder features: expected one of {FEATURES}, got {features!r}")
    return features


def hide_unseen(keypoints: torch.Tensor, threshold: float = UNSEEN_SCORE) -> torch.Tensor:
    """keypoints (..., 3) x, y, score -> the same with x, y zeroed where the score is below
    `threshold`."""
    seen = (keypoints[..., 2:] >= threshold).to(keypoints.dtype)
    return torch.cat([keypoints[..., :2] * seen, keypoints[..., 2:]], dim=-1)


def combine_parts(
    pooled: torch.Tensor | None,
    keypoints: torch.Tensor,
    features: str,
    blazepose: torch.Tensor | None = None,
) -> torch.Tensor:
    """pooled (B, 1280), keypoints (B, 17, 3) normalised x, y and score, blazepose
    (B, n · `BLAZEPOSE_DIM`): the n variants' readings (`blazepose_reading`) side by side in
    `blazepose_variants` order -> φ (B, D)."""
    parts = []
    if "pooled" in features:
        parts.append(pooled)
    if "seen-keypoints" in features:
        parts.append(hide_unseen(keypoints).flatten(1))
    elif "keypoints" in features:
        parts.append(keypoints.flatten(1))
    count = len(blazepose_variants(features))
    if count:
        if blazepose is None or blazepose.shape[-1] != count * BLAZEPOSE_DIM:
            raise OpenHMRError(
                f"encoder features {features!r} need {count} BlazePose reading(s) "
                f"({count * BLAZEPOSE_DIM} numbers a crop)"
            )
        parts.append(blazepose)
    return torch.cat(parts, dim=1)


@torch.no_grad()
def blazepose_reading(net, images: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
    """BlazePose `net` on the crop MediaPipe's rule places inside each HMR crop.

    images (B, 3, S, S) RGB 0–255; keypoints (B, 17, 3) COCO x, y in [−1, 1] of the crop and
    score (MoveNet's) -> (B, `BLAZEPOSE_DIM`): per landmark x, y in [−1, 1] of the HMR crop,
    world x, y, z metres (the crop's axes: x right, y down, z away), visibility; then the pose
    flag.  All but the flag are zero where the flag is below `MIN_POSE_FLAG`."""
    from openhmr.posenet.blazepose_net import INPUT_SIZE
    from openhmr.posenet.pose_roi import (
        crop_to_image_torch,
        roi_from_keypoints_torch,
        sample_crops_torch,
    )

    size = images.shape[-1]
    like = next(net.parameters())
    points = keypoints.to(like.device, torch.float32)
    points = torch.cat([(points[..., :2] + 1.0) * (size / 2.0), points[..., 2:]], dim=-1)
    boxes = torch.tensor([[0.0, 0.0, size, size]], device=like.device).expand(points.shape[0], 4)
    centre, side, up = roi_from_keypoints_torch(points, boxes)
    affine = crop_to_image_torch(centre, side, up, INPUT_SIZE)
    crops = sample_crops_torch(images.to(like.device, torch.float32) / 255.0, affine, INPUT_SIZE)
    out = net(crops.to(like.dtype), dense=False)  # no heatmaps or mask: not read here
    count = BLAZEPOSE_LANDMARKS
    ld = out.ld_3d[:, :count].float()
    xy = torch.einsum("nij,nkj->nki", affine[:, :, :2], ld[..., :2]) + affine[:, None, :, 2]
    xy = xy * (2.0 / size) - 1.0
    world = out.world_3d[:, :count].float()
    axes = affine[:, :, :2] / (side / INPUT_SIZE)[:, None, None]  # columns: right, down
    world = torch.cat([torch.einsum("nij,nkj->nki", axes, world[..., :2]), world[..., 2:]], -1)
    visibility = torch.sigmoid(ld[..., 3:4])
    flag = out.pose_flag.float().reshape(-1, 1)
    reading = torch.cat([xy, world, visibility], dim=2).flatten(1)
    reading = reading * (flag >= MIN_POSE_FLAG).to(reading.dtype)
    return torch.cat([reading, flag], dim=1).to(images.device)


class MoveNetEncoder(nn.Module):
    """images (B, 3, S, S) RGB 0–255, S a multiple of 32 -> φ (B, feature_dim).

    pretrained: load the bundled MoveNet weights (a checkpoint's weights replace them anyway);
    orientations: 1, 2 or 4 ways up the crop is read (module docstring).
    """

    def __init__(
        self,
        variant: str = "thunder",
        features: str = "pooled+keypoints",
        pretrained: bool = True,
        orientations: int = 1,
    ) -> None:
        super().__init__()
        self.features = check_features(features)
        self.turns = turns_of(orientations)
        self.net = MoveNet.pretrained(variant) if pretrained else MoveNet(variant)
        self.feature_dim = feature_dim(features)
        self.blazepose_variants = blazepose_variants(features)

    def blazepose(self, variant: str) -> BlazePose:
        """The frozen BlazePose `variant` ("heavy" or "full"; the features read
        `blazepose_variants`, the feature cache both), loaded from the package's weights once
        and kept out of the state dict, on the encoder's device."""
        from openhmr.posenet.blazepose import BlazePose

        nets = self.__dict__.setdefault("_blazepose", {})
        if variant not in nets:
            nets[variant] = BlazePose.pretrained(variant).requires_grad_(False)
        device = next(self.net.parameters()).device
        if next(nets[variant].parameters()).device != device:
            nets[variant].to(device)
        return nets[variant]

    @property
    def input_size(self) -> int:
        return self.net.input_size

    def parts(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images (B, 3, S, S) -> pooled (B, 1280), keypoints (B, 17, 3): x, y in [−1, 1] of
        the crop, heatmap score in [0, 1]."""
        if images.shape[-1] != images.shape[-2]:
            raise OpenHMRError(
                f"MoveNet encoder: expected square crops, got {tuple(images.shape[-2:])}"
            )
        if len(self.turns) > 1:
            images = torch.cat([torch.rot90(images, t, dims=(2, 3)) for t in self.turns])
        output = self.net(images)
        pooled = output.features.stride32.mean(dim=(2, 3)).float()
        points = self.net.decode_single(output)
        xy = points[..., :2] * (2.0 / images.shape[-1]) - 1.0
        keypoints = torch.cat([xy, points[..., 2:]], dim=-1)
        if len(self.turns) == 1:
            return pooled, keypoints
        keypoints = keypoints.unflatten(0, (len(self.turns), -1))  # (T, B, 17, 3)
        keypoints, best = most_confident_turn(keypoints, self.turns)
        rows = torch.arange(best.shape[0], device=best.device)
        return pooled.unflatten(0, (len(self.turns), -1))[best, rows], keypoints

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled, keypoints = self.parts(images)
        blazepose = None
        if self.blazepose_variants:
            readings = [
                blazepose_reading(self.blazepose(variant), images, keypoints)
                for variant in self.blazepose_variants
            ]
            blazepose = torch.cat(readings, dim=1)
        return combine_parts(pooled, keypoints, self.features, blazepose)
