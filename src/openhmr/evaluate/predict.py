"""Batched inference over a record index: every protocol's predictions come from here.

Crops are the dataset's own (`RecordDataset` without augmentation: the index's ground-truth
box, `crop_matrix(center, scale, 224)`), so evaluation sees exactly the pixels training sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from openhmr.body.keypoints import COCOPLUS_NAMES, H36M17_NAMES, H36M17_TO_LSP14
from openhmr.data.dataset import RecordDataset
from openhmr.data.records import RecordIndex
from openhmr.errors import OpenHMRError
from openhmr.model import HMR


@dataclass(frozen=True)
class Predictions:
    """The final IEF iteration's outputs for every row of an index, in index order (numpy).

    camera (N, 3) = s, tx, ty; pose (N, 24, 3) axis-angle; betas (N, 10);
    keypoints3d (N, K, 3) metres, camera axes (the body model's keypoints);
    keypoints2d (N, K, 2) crop coordinates normalised to [−1, 1];
    keypoint_names: the K names (COCOPLUS_NAMES or H36M17_NAMES for an H36M regressor).
    """

    camera: np.ndarray
    pose: np.ndarray
    betas: np.ndarray
    keypoints3d: np.ndarray
    keypoints2d: np.ndarray
    keypoint_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.camera)

    @property
    def joints3d(self) -> np.ndarray:
        """The 14 LSP-order evaluation joints (N, 14, 3) (see `lsp14_indices`)."""
        return self.keypoints3d[:, lsp14_indices(self.keypoint_names)]

    @property
    def joints2d_normalized(self) -> np.ndarray:
        """The 14 LSP-order keypoints in normalised crop coordinates (N, 14, 2)."""
        return self.keypoints2d[:, lsp14_indices(self.keypoint_names)]


def lsp14_indices(names: tuple[str, ...]) -> list[int]:
    """Which keypoint rows are the 14 LSP evaluation joints, in LSP order: the first 14 of a
    cocoplus set, or H36M-17 rows mapped by `H36M17_TO_LSP14` (SPIN's J_regressor_h36m)."""
    names = tuple(names)
    if names == H36M17_NAMES:
        return list(H36M17_TO_LSP14)
    if names[:14] == COCOPLUS_NAMES[:14]:
        return list(range(14))
    raise OpenHMRError(
        f"cannot find the 14 LSP joints among the body model's {len(names)} keypoints "
        f"({', '.join(names[:5])}, ...): expected the cocoplus order or H36M-17"
    )


def crop_to_image(points: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Normalised crop coordinates back to full-image pixels through the inverse of the
    dataset's crop (`crop_matrix(center, scale, 224)`, no rotation):  x = c + n · 100 · scale.

    points: (N, K, 2) in [−1, 1]; center: (N, 2) pixels; scale: (N,).  Returns (N, K, 2).
    """
    half_side = 100.0 * np.asarray(scale, dtype=np.float64)  # 200 · scale / 2
    return np.asarray(center, np.float64)[:, None, :] + points * half_side[:, None, None]


def image_to_crop(points: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Full-image pixels (N, K, 2) to normalised crop coordinates, (x − c) / (100 · scale):
    the dataset's `crop_matrix(center, scale, 224)` followed by 2u/224 − 1 (the inverse of
    `crop_to_image`)."""
    half_side = 100.0 * np.asarray(scale, dtype=np.float64)
    return (np.asarray(points, np.float64) - np.asarray(center, np.float64)[:, None, :]) / (
        half_side[:, None, None]
    )


def predict_index(
    model: HMR,
    index: RecordIndex,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    workers: int = 0,
    progress: bool = True,
) -> Predictions:
    """Run `model` (with a body model attached) on every row of `index`, in order.

    Crops: the network's input size (`model.config.image_size`, 224 for the paper's) with the
    index's boxes and no augmentation; pixels in [0, 1] through
    `model.normalize`; the last IEF iteration is kept. Returns `Predictions`.
    """
    if model.body_model is None:
        raise OpenHMRError("evaluation needs a body model attached to the network")
    if batch_size <= 0:
        raise OpenHMRError(f"--batch-size must be positive, got {batch_size}")
    if len(index) == 0:
        raise OpenHMRError("the record index has no rows to evaluate")
    model = model.to(device).eval()
    loader = torch.utils.data.DataLoader(
        RecordDataset(index, res=model.config.image_size),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=torch.device(device).type == "cuda",
    )
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("camera", "pose", "betas", "keypoints3d", "keypoints2d")
    }
    with torch.inference_mode():
        for batch in tqdm(loader, desc="eval", unit="batch", disable=not progress):
            images = batch["image"].to(device, non_blocking=True).float() / 255.0
            final = model(model.normalize(images))[-1]
            for name in parts:
                parts[name].append(getattr(final, name).float().cpu().numpy())
    return Predictions(
        **{name: np.concatenate(values) for name, values in parts.items()},
        keypoint_names=tuple(model.body_model.keypoint_names),
    )
