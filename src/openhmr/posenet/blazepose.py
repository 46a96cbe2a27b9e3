"""BlazePose GHUM (Google MediaPipe `pose_landmark`, heavy and full) in PyTorch: 39 landmarks
in 2D and metric 3D, a person mask and a pose flag from a 256² crop of one person.

    net = BlazePose.pretrained("heavy")                 # or "full"
    people = net.landmarks(image, boxes)                 # per box, in image coordinates
    out = net(crops)                                     # (B, 3, 256, 256) RGB in [0, 1]

`landmarks` places each crop as MediaPipe does (`pose_roi.py`: centred on the hips, turned
upright, side 2.5 × the hips' reach) from 2D keypoints: given ones, or MoveNet Thunder's in
each box.

The network (`blazepose_net.py`) and the published weights (converted by
`tools/convert_posenet.py blazepose`, bundled as float16) match TF.js on the same crops; see
docs/posenet.md. Landmark order: MediaPipe's 33 pose landmarks (`LANDMARK_NAMES`), then 6
auxiliary points (`AUXILIARY_NAMES`; 33, 34: the hips' centre and a point above the head,
the two that place the next frame's crop).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.special import expit

from openhmr.errors import OpenHMRError
from openhmr.images import check_boxes, check_image
from openhmr.posenet.blazepose_net import INPUT_SIZE, BlazePoseNet, BlazePoseOutput
from openhmr.posenet.movenet import MoveNet
from openhmr.posenet.pose_roi import (
    PoseROI,
    crop_points_to_image,
    paste_masks,
    roi_from_keypoints,
    warp_crops,
)
from openhmr.posenet.weights import load_weights

ASSETS = Path(__file__).resolve().parent / "assets"
VARIANTS = ("heavy", "full")
LANDMARK_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
# 33, 34: the alignment points of the next crop (the hips' centre, and the point whose offset
# sets the crop's size and up direction: above the head); 35-38 unnamed.
AUXILIARY_NAMES = ("hips_centre", "above_head", "auxiliary_35", "auxiliary_36", "auxiliary_37",
                   "auxiliary_38")  # fmt: skip
# BlazePose landmark of each COCO-17 keypoint (nose, eyes, ears, shoulders, elbows, wrists,
# hips, knees, ankles; left and right are the person's own in both).
COCO_FROM_BLAZEPOSE = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)


@dataclass(frozen=True)
class BlazePoseLandmarks:
    """BlazePose's reading of N people in one image (float64 unless stated):
    landmarks (N, 39, 3) = x, y image pixels, z depth about the hips in the same pixel scale
    (smaller = nearer the camera); visibility, presence (N, 39) probabilities (the logits'
    sigmoid); world (N, 39, 3) metres about the hips' midpoint, axes turned back to the
    image's (x right, y down, z away from the camera); mask (N, H, W) float32 person
    probability pasted into the image frame (0 outside each crop); pose_flag (N,) the
    probability that the crop holds a person; roi, the crops; keypoints (N, 17, 3) the COCO
    keypoints that placed them (x, y, score)."""

    landmarks: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray
    world: np.ndarray
    mask: np.ndarray | None
    pose_flag: np.ndarray
    roi: PoseROI
    keypoints: np.ndarray

    def __len__(self) -> int:
        return len(self.landmarks)

    def coco17(self) -> np.ndarray:
        """(N, 17, 3) COCO keypoints x, y image pixels, visibility."""
        index = list(COCO_FROM_BLAZEPOSE)
        return np.concatenate([self.landmarks[:, index, :2], self.visibility[:, index, None]], 2)


class BlazePose(BlazePoseNet):
    """BlazePose GHUM `variant` ("heavy" or "full"), untrained until weights are loaded;
    `BlazePose.pretrained(variant)` gives the published network."""

    @classmethod
    def pretrained(cls, variant: str = "heavy", path: str | Path | None = None) -> BlazePose:
        """The published network, from the converted weights bundled with the package (or
        `path`, a file written by `tools/convert_posenet.py`), float32, in eval mode."""
        net = cls(variant)
        load_weights(net, path or ASSETS / f"blazepose_{variant}.safetensors")
        return net.eval()

    def forward(self, images: torch.Tensor, dense: bool = True) -> BlazePoseOutput:
        """images: (B, 3, 256, 256) RGB in [0, 1] -> `BlazePoseOutput` (dense=False: without
        heatmaps and segmentation, which then cost nothing)."""
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, INPUT_SIZE, INPUT_SIZE):
            raise OpenHMRError(
                f"BlazePose: expected crops (B, 3, {INPUT_SIZE}, {INPUT_SIZE}), "
                f"got {tuple(images.shape)}"
            )
        return super().forward(images, dense)

    def _keypoint_net(self) -> MoveNet:
        """MoveNet Thunder on this network's device (float32), loaded once; kept out of the
        module's state dict."""
        device = next(self.parameters()).device
        net = self.__dict__.get("_movenet")
        if net is None:
            net = MoveNet.pretrained("thunder")
            self.__dict__["_movenet"] = net
        return net.to(device)

    @torch.no_grad()
    def landmarks(
        self,
        image: np.ndarray,
        boxes: np.ndarray,
        keypoints: np.ndarray | None = None,
        batch_size: int = 8,
        masks: bool = True,
    ) -> BlazePoseLandmarks:
        """One person per box: image (H, W, 3) uint8 RGB, boxes (N, 4) x, y, w, h pixels,
        keypoints (N, 17, 3) COCO x, y pixels, score (None: MoveNet Thunder's in each box)
        -> `BlazePoseLandmarks` in image coordinates (`mask` None unless `masks`)."""
        image = check_image(image)
        height, width = image.shape[:2]
        boxes = check_boxes(boxes, width, height)
        if keypoints is None:
            keypoints = self._keypoint_net().keypoints(image, boxes)
        roi = roi_from_keypoints(keypoints, boxes)
        affine = roi.crop_to_image(INPUT_SIZE)
        like = next(self.parameters())
        writable = np.require(image, requirements=["W"])  # torch wants a writable array
        pixels = torch.from_numpy(writable).to(like.device).permute(2, 0, 1).to(like.dtype) / 255
        parts: dict[str, list] = {"ld": [], "world": [], "mask": [], "flag": []}
        for start in range(0, len(boxes), batch_size):
            chunk = affine[start : start + batch_size]
            out = self(warp_crops(pixels, chunk, INPUT_SIZE), dense=masks)
            parts["ld"].append(out.ld_3d.double().cpu().numpy())
            parts["world"].append(out.world_3d.double().cpu().numpy())
            parts["flag"].append(out.pose_flag.double().cpu().numpy())
            if masks:
                mask = paste_masks(out.segmentation.float(), chunk, height, width)
                parts["mask"].append(mask.cpu().numpy())
        count = len(boxes)
        ld = np.concatenate(parts["ld"]) if count else np.zeros((0, 39, 5))
        world = np.concatenate(parts["world"]) if count else np.zeros((0, 39, 3))
        landmarks = np.concatenate(
            [
                crop_points_to_image(ld[..., :2], affine),
                ld[..., 2:3] * (roi.side / INPUT_SIZE)[:, None, None],
            ],
            axis=2,
        )
        # world x, y are in the crop's axes: turn them back to the image's
        world = np.concatenate(
            [np.einsum("nij,nkj->nki", roi.axes, world[..., :2]), world[..., 2:]], axis=2
        )
        return BlazePoseLandmarks(
            landmarks=landmarks,
            visibility=expit(ld[..., 3]),
            presence=expit(ld[..., 4]),
            world=world,
            mask=_stack_masks(parts["mask"], masks, height, width),
            pose_flag=np.concatenate(parts["flag"]) if count else np.zeros(0),
            roi=roi,
            keypoints=np.asarray(keypoints, np.float64),
        )


def _stack_masks(parts: list, wanted: bool, height: int, width: int) -> np.ndarray | None:
    if not wanted:
        return None
    return np.concatenate(parts) if parts else np.zeros((0, height, width), np.float32)
