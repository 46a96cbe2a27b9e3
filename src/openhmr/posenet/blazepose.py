"""BlazePose GHUM (Google MediaPipe `pose_landmark`, heavy and full) in PyTorch: 39 landmarks
in 2D and metric 3D, a person mask and a pose flag from a 256² crop of one person.

    net = BlazePose.pretrained("heavy")                 # or "full"
    out = net(crops)                                     # (B, 3, 256, 256) RGB in [0, 1]

The network (`blazepose_net.py`) and the published weights (converted by
`tools/convert_blazepose.py`, bundled as float16) match TF.js on the same crops; see
docs/posenet.md. Landmark order: MediaPipe's 33 pose landmarks (`LANDMARK_NAMES`), then 6
auxiliary points (`AUXILIARY_NAMES`; 33, 34: the hips' centre and a point above the head,
the two that place the next frame's crop).
"""

from __future__ import annotations

from pathlib import Path

import torch

from openhmr.errors import OpenHMRError
from openhmr.posenet.blazepose_net import INPUT_SIZE, BlazePoseNet, BlazePoseOutput
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
AUXILIARY_NAMES = ("hips_centre", "above_head", "aux_36", "aux_37", "aux_38", "aux_39")


class BlazePose(BlazePoseNet):
    """BlazePose GHUM `variant` ("heavy" or "full"), untrained until weights are loaded;
    `BlazePose.pretrained(variant)` gives the published network."""

    @classmethod
    def pretrained(cls, variant: str = "heavy", path: str | Path | None = None) -> BlazePose:
        """The published network, from the converted weights bundled with the package (or
        `path`, a file written by `tools/convert_blazepose.py`), float32, in eval mode."""
        net = cls(variant)
        load_weights(net, path or ASSETS / f"blazepose_{variant}.safetensors")
        return net.eval()

    def forward(self, images: torch.Tensor) -> BlazePoseOutput:
        """images: (B, 3, 256, 256) RGB in [0, 1] -> `BlazePoseOutput`."""
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, INPUT_SIZE, INPUT_SIZE):
            raise OpenHMRError(
                f"BlazePose: expected crops (B, 3, {INPUT_SIZE}, {INPUT_SIZE}), "
                f"got {tuple(images.shape)}"
            )
        return super().forward(images)
