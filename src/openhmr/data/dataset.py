"""`RecordDataset`: a record index as a torch Dataset of 224² crops with the paper's augmentation,
deterministic per (seed, epoch, row), whatever the worker count."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from openhmr.data.augment import (
    NO_AUGMENTATION,
    AugmentConfig,
    flip_joints3d,
    flip_keypoints,
    flip_pose,
    rotate_joints3d,
    rotate_pose_root,
    sample_augmentation,
    truncated_box,
)
from openhmr.data.crop import crop_matrix, normalize_keypoints, transform_points, warp_image
from openhmr.data.records import RecordIndex
from openhmr.errors import OpenHMRError
from openhmr.model.hmr import CROP_SIZE  # the paper's crop: the unit of AugmentConfig.jitter


def read_image(path) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3); one clear error if unreadable."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as err:
        raise OpenHMRError(f"cannot read image {path}: {err}") from None


class RecordDataset(torch.utils.data.Dataset):
    """Samples of one record index. Each item is a dict of tensors:

    image (3, res, res) uint8 RGB; keypoints2d (19, 3) normalised x, y in [−1, 1] and
    visibility (0 outside the crop); joints3d (14, 4) camera frame, pelvis-centred, validity
    (zeros if absent); pose (72); betas (10); has_smpl (); has_3d (); index ().
    `get(row, lap)` draws the augmentation from (seed, lap, row), so each pass over the data
    (lap) sees fresh draws; `dataset[row]` uses the lap set by `set_epoch` (default 0).
    """

    takes_lap = True

    def __init__(
        self,
        index: RecordIndex,
        augment: AugmentConfig | None = None,
        res: int = 224,
        seed: int = 0,
    ) -> None:
        self.index = index
        self.augment = augment or NO_AUGMENTATION
        self.res = res
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.index)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, row: int) -> dict[str, torch.Tensor]:
        return self.get(row, self.epoch)

    def get(self, row: int, lap: int) -> dict[str, torch.Tensor]:
        """Sample `row` with the augmentation of pass `lap`."""
        matrix, params = self._crop(row, lap)
        image = warp_image(
            read_image(self.index.image_root / str(self.index.imgname[row])), matrix, self.res
        )
        if params.flip:
            image = image[:, ::-1]
        if self.augment.color:
            image = np.clip(image * params.color, 0, 255).astype(np.uint8)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
            **self._labels(row, matrix, params),
        }

    def labels(self, row: int, lap: int) -> dict[str, torch.Tensor]:
        """`get(row, lap)` without the image (no file is read): the labels as that crop holds
        them."""
        return self._labels(row, *self._crop(row, lap))

    def _crop(self, row: int, lap: int):
        """The crop's 2×3 image-to-crop matrix and the augmentation drawn for (row, lap)."""
        index = self.index
        rng = np.random.default_rng([self.seed, int(lap), int(row)])
        params = sample_augmentation(self.augment, rng)
        center, scale = index.center[row], float(index.scale[row])
        if params.truncation is not None:
            box = truncated_box(index.keypoints2d[row].astype(np.float64), params.truncation)
            if box is not None:
                center, scale = box
        scale = scale * params.scale
        # the jitter is in pixels of the paper's 224 crop whatever `res` is (a fixed fraction
        # of the box); move the centre by the same amount in image pixels
        center = center + params.shift * (200.0 * scale / CROP_SIZE)
        return crop_matrix(center, scale, self.res, params.rotation_deg), params

    def _labels(self, row: int, matrix: np.ndarray, params) -> dict[str, torch.Tensor]:
        index, res = self.index, self.res
        keypoints = index.keypoints2d[row].astype(np.float64).copy()
        keypoints[:, :2] = normalize_keypoints(transform_points(keypoints[:, :2], matrix), res)
        keypoints[np.abs(keypoints[:, :2]).max(axis=1) > 1.0, 2] = 0.0
        joints3d = (
            np.zeros((14, 4))
            if index.joints3d is None
            else rotate_joints3d(index.joints3d[row].astype(np.float64), params.rotation_deg)
        )
        pose = np.zeros(72) if index.pose is None else index.pose[row].astype(np.float64)
        pose = rotate_pose_root(pose, params.rotation_deg)
        if params.flip:
            keypoints = flip_keypoints(keypoints)
            joints3d = flip_joints3d(joints3d)
            pose = flip_pose(pose)
        has_smpl = bool(index.has_smpl[row]) if index.has_smpl is not None else False
        betas = np.zeros(10) if index.betas is None else index.betas[row]
        return {
            "keypoints2d": torch.tensor(keypoints, dtype=torch.float32),
            "joints3d": torch.tensor(joints3d, dtype=torch.float32),
            "pose": torch.tensor(pose, dtype=torch.float32),
            "betas": torch.tensor(betas, dtype=torch.float32),
            "has_smpl": torch.tensor(has_smpl),
            # per row: a labelled index may hold rows without 3D (validity all zero)
            "has_3d": torch.tensor(
                index.joints3d is not None and bool(index.joints3d[row, :, 3].any())
            ),
            "index": torch.tensor(row),
        }
