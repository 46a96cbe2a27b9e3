"""HMR's encoder started from a pretrained 2D pose network: MoveNet Thunder or Lightning
(`openhmr.posenet`), whose weights ship with the package.

φ is built from the pose network's own outputs on the crop (choose with `features`):
  "pooled"            the backbone's final map (1280 channels, stride 32), averaged: (B, 1280);
  "keypoints"         its 17 decoded keypoints (COCO order) as x, y in [−1, 1] of the crop and
                      the heatmap score: (B, 51);
  "pooled+keypoints"  both, concatenated: (B, 1331).
The keypoints are where the network finds each named joint, left from right; the pooled map
adds what a point cannot say (depth order, limb orientation, clothing).

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

import torch
from torch import nn

from openhmr.errors import OpenHMRError
from openhmr.posenet.mobilenet import LAST_CHANNELS
from openhmr.posenet.movenet import MoveNet

MOVENET_BACKBONES = {"movenet_thunder": "thunder", "movenet_lightning": "lightning"}
FEATURES = ("pooled", "keypoints", "pooled+keypoints")
ORIENTATIONS = (1, 2, 4)
KEYPOINT_DIM = 17 * 3


def feature_dim(features: str) -> int:
    """The length of φ for a `features` choice."""
    check_features(features)
    return (LAST_CHANNELS if "pooled" in features else 0) + (
        KEYPOINT_DIM if "keypoints" in features else 0
    )


def check_features(features: str) -> str:
    if features not in FEATURES:
        raise OpenHMRError(f"encoder features: expected one of {FEATURES}, got {features!r}")
    return features


def check_orientations(orientations: int) -> int:
    if orientations not in ORIENTATIONS:
        raise OpenHMRError(
            f"encoder orientations: expected one of {ORIENTATIONS}, got {orientations!r}"
        )
    return orientations


def turns_of(orientations: int) -> tuple[int, ...]:
    """Quarter turns (counter-clockwise, `torch.rot90` on (H, W)) read for `orientations`."""
    return {1: (0,), 2: (0, 2), 4: (0, 1, 2, 3)}[check_orientations(orientations)]


def turn_back(xy: torch.Tensor, turns: int) -> torch.Tensor:
    """xy (..., 2) in [−1, 1] of a crop turned by `turns` quarter turns (`torch.rot90`,
    dims (H, W)) -> the same points in the unturned crop's frame."""
    x, y = xy.unbind(-1)
    turned = {0: (x, y), 1: (-y, x), 2: (-x, -y), 3: (y, -x)}[turns % 4]
    return torch.stack(turned, dim=-1)


def combine_parts(pooled: torch.Tensor, keypoints: torch.Tensor, features: str) -> torch.Tensor:
    """pooled (B, 1280), keypoints (B, 17, 3) normalised x, y and score -> φ (B, D)."""
    parts = []
    if "pooled" in features:
        parts.append(pooled)
    if "keypoints" in features:
        parts.append(keypoints.flatten(1))
    return torch.cat(parts, dim=1)


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
        pooled = output.features.stride32.mean(dim=(2, 3))
        points = self.net.decode_single(output)
        xy = points[..., :2] * (2.0 / images.shape[-1]) - 1.0
        keypoints = torch.cat([xy, points[..., 2:]], dim=-1)
        if len(self.turns) == 1:
            return pooled, keypoints
        keypoints = keypoints.unflatten(0, (len(self.turns), -1))  # (T, B, 17, 3)
        keypoints = torch.stack(
            [
                torch.cat([turn_back(keypoints[i, ..., :2], t), keypoints[i, ..., 2:]], dim=-1)
                for i, t in enumerate(self.turns)
            ]
        )
        best = keypoints[..., 2].mean(dim=-1).argmax(dim=0)  # (B,)
        rows = torch.arange(best.shape[0], device=best.device)
        pooled = pooled.unflatten(0, (len(self.turns), -1))
        return pooled[best, rows], keypoints[best, rows]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return combine_parts(*self.parts(images), self.features)
