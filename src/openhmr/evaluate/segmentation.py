"""Foreground and 6-part segmentation: render the predicted mesh's part labels into the full
image and compare with ground-truth label images.

Label encoding used inside openhmr (and by `openhmr synth --parts`): 0 background, 1 head,
2 torso, 3 left arm, 4 right arm, 5 left leg, 6 right leg ("left" = the subject's left).

Rendering: the crop's weak-perspective camera (s, tx, ty) is turned into a full-image pinhole
camera with `crop_to_full_perspective`, with a focal length of `ORTHOGRAPHIC_FOCAL_CROP_PX`
crop pixels (5000, SPIN's PartRenderer value) scaled to the image: the body then sits ~45 m
away, so the projection equals the weak-perspective one to < 0.1 %. The rasterizer draws the
label of each visible triangle's nearest vertex at every pixel centre of the full image.

LSP ground truth (UP-3D's "UPi-S1h" release, used by SMPLify, HMR and SPIN):
`<root>/data/lsp/im%04d_segmentation.png` (foreground = value > 0, 0/255) and
`<root>/data/lsp/im%04d_part_segmentation.png` (0 background, 1–6 the six parts, 255 not
annotated); both full LSP image size, read as single-channel (the first channel if RGB).
`<root>` may also be the `lsp` folder itself. The part order of those files is
`UPI_S1H_PART_ORDER` by default (see docs/evaluation.md for the caveat).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from openhmr.body.model import BodyModel
from openhmr.body.parts import PART_NAMES, vertex_part_labels
from openhmr.errors import OpenHMRError
from openhmr.geometry import crop_to_full_perspective
from openhmr.render import render_labels

ORTHOGRAPHIC_FOCAL_CROP_PX = 5000.0
NUM_PART_CLASSES = 7  # background + 6 parts
IGNORE_LABEL = 255
# UP-3D's six-region grouping (up_tools.model.six_region_groups): label k = entry k − 1
UPI_S1H_PART_ORDER: tuple[str, ...] = (
    "head",
    "torso",
    "right_arm",
    "left_arm",
    "right_leg",
    "left_leg",
)


def part_lookup(order: tuple[str, ...]) -> np.ndarray:
    """A (256,) uint8 table mapping a file's labels (0 background, k = order[k − 1], 255
    ignore) to openhmr's encoding (1 + PART_NAMES index); other values map to 255."""
    if sorted(order) != sorted(PART_NAMES):
        raise OpenHMRError(f"part order must name each of {PART_NAMES} once, got {order}")
    table = np.full(256, IGNORE_LABEL, np.uint8)
    table[0] = 0
    for k, name in enumerate(order, start=1):
        table[k] = 1 + PART_NAMES.index(name)
    return table


def read_label_image(path: str | os.PathLike) -> np.ndarray:
    """A label PNG as (H, W) uint8 (first channel of an RGB/palette-free colour file)."""
    try:
        with Image.open(path) as image:
            labels = np.asarray(image)
    except (OSError, ValueError) as err:
        raise OpenHMRError(f"cannot read label image {path}: {err}") from None
    if labels.ndim == 3:
        labels = labels[..., 0]
    if labels.ndim != 2:
        raise OpenHMRError(f"{path}: expected a 2D label image, got shape {labels.shape}")
    return labels.astype(np.uint8)


def lsp_annotation_paths(root: str | os.PathLike, imgname: str) -> tuple[Path, Path]:
    """The UPi-S1h foreground and part files for an LSP image name (e.g. `im1001.jpg`)."""
    root = Path(root)
    stem = Path(str(imgname)).stem
    for folder in (root / "data" / "lsp", root / "lsp", root):
        mask = folder / f"{stem}_segmentation.png"
        if mask.is_file():
            return mask, folder / f"{stem}_part_segmentation.png"
    raise OpenHMRError(
        f"no segmentation for {imgname} under {root}: expected "
        f"{root / 'data' / 'lsp' / (stem + '_segmentation.png')} (UPi-S1h layout)"
    )


def read_lsp_segmentation(
    root: str | os.PathLike, imgname: str, part_order: tuple[str, ...] = UPI_S1H_PART_ORDER
) -> tuple[np.ndarray, np.ndarray]:
    """Foreground (H, W) uint8 {0, 1} and parts (H, W) uint8 in openhmr's encoding (255 =
    not annotated) for one LSP image."""
    mask_path, part_path = lsp_annotation_paths(root, imgname)
    foreground = (read_label_image(mask_path) > 0).astype(np.uint8)
    if not part_path.is_file():
        raise OpenHMRError(f"missing part segmentation {part_path}")
    parts = part_lookup(part_order)[read_label_image(part_path)]
    if parts.shape != foreground.shape:
        raise OpenHMRError(
            f"{part_path}: size {parts.shape} differs from {mask_path} {foreground.shape}"
        )
    return foreground, parts


class PartRenderer:
    """Renders a body model's 6-part labels (openhmr encoding, 0 = background)."""

    def __init__(self, body_model: BodyModel) -> None:
        self.body_model = body_model
        self.faces = body_model.faces.cpu().numpy()
        self.vertex_labels = vertex_part_labels(body_model.data.weights) + 1  # 1..6

    def vertices(self, pose: np.ndarray, betas: np.ndarray) -> np.ndarray:
        """Posed vertices (B, V, 3) from pose (B, 24, 3) axis-angle and betas (B, 10)."""
        model = self.body_model
        like = {"dtype": model.v_template.dtype, "device": model.v_template.device}
        with torch.inference_mode():
            out = model(pose=torch.as_tensor(pose, **like), betas=torch.as_tensor(betas, **like))
        return out.vertices.double().cpu().numpy()

    def render_perspective(
        self,
        vertices: np.ndarray,
        image_size: tuple[int, int],
        focal: float,
        translation: np.ndarray,
    ) -> np.ndarray:
        """Label image (H, W) uint8 of vertices (V, 3) + translation (3,) seen by a pinhole
        camera of focal `focal` px with the principal point at the image centre."""
        labels = render_labels(
            np.asarray(vertices, np.float64) + np.asarray(translation, np.float64),
            self.faces,
            self.vertex_labels,
            image_size,
            focal,
        )
        return np.maximum(labels, 0).astype(np.uint8)

    def render_weak_perspective(
        self,
        vertices: np.ndarray,
        camera: np.ndarray,
        center: np.ndarray,
        scale: float,
        image_size: tuple[int, int],
    ) -> np.ndarray:
        """Label image (H, W) of the full image for a crop prediction: vertices (V, 3),
        camera (3,) = s, tx, ty of the crop around center (2,) pixels with side 200 · scale."""
        height, width = image_size
        box = 200.0 * float(scale)
        focal = ORTHOGRAPHIC_FOCAL_CROP_PX * box / 224.0
        translation = crop_to_full_perspective(
            torch.as_tensor(np.asarray(camera, np.float64))[None],
            torch.as_tensor(np.asarray(center, np.float64))[None],
            torch.tensor([box], dtype=torch.float64),
            torch.tensor([[float(width), float(height)]], dtype=torch.float64),
            focal,
        )[0].numpy()
        return self.render_perspective(vertices, (height, width), focal, translation)
