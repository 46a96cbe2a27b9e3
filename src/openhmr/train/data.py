"""From a `TrainConfig` to the training data: synthetic splits generated on demand, record
indexes mixed per batch, the mocap stream for the discriminator, the validation index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from openhmr.data.augment import AugmentConfig
from openhmr.data.dataset import RecordDataset
from openhmr.data.mixing import MixedBatchSampler, MixedDataset
from openhmr.data.mocap import PoseSet, load_pose_set
from openhmr.data.prior import MocapDataset, make_loader
from openhmr.data.records import RecordIndex, load_index
from openhmr.errors import OpenHMRError
from openhmr.geometry import axis_angle_to_matrix, matrix_to_axis_angle, mean_rotation
from openhmr.synth import SynthConfig, generate, sample_poses
from openhmr.synth.scene import SceneConfig
from openhmr.train.config import TrainConfig
from openhmr.train.validate import SYNTHETIC_PREFIX


@dataclass(frozen=True)
class TrainingData:
    """train: one dataset per entry of `config.data.train`, ratios aligned; mocap: the
    discriminator's rows; val: the validation index or None."""

    train: list[torch.utils.data.Dataset]
    ratios: list[float]
    mocap: MocapDataset
    val: RecordIndex | None
    identity: dict


def resolve_index(name: str, config: TrainConfig, progress: bool = True) -> Path:
    """A record index path; `synthetic:<split>` is generated first if it does not exist."""
    if not name.startswith(SYNTHETIC_PREFIX):
        return Path(name)
    split = name[len(SYNTHETIC_PREFIX) :]
    spec = config.data.synthetic.get(split)
    if spec is None:
        raise OpenHMRError(
            f"data: {name!r} names no split in data.synthetic ({sorted(config.data.synthetic)})"
        )
    folder = spec.out.replace("{out}", config.out)
    path = Path(folder) / "synth.npz"
    if not path.exists():
        generate(
            SynthConfig(
                out=folder,
                num=spec.num,
                seed=spec.seed,
                mocap=spec.mocap,
                body_model=config.model.body_model,
                scene=SceneConfig.sized(spec.size),
            ),
            progress=progress,
        )
    return path


def initial_mean_pose(config: TrainConfig, data: TrainingData) -> torch.Tensor | None:
    """Θ₀'s pose per `config.model.mean_pose`: (24, 3) axis-angle, or None for the rest pose."""
    choice = config.model.mean_pose
    if choice == "zero":
        return None
    if choice != "mocap":
        raise OpenHMRError(f"model.mean_pose: expected 'mocap' or 'zero', got {choice!r}")
    poses = torch.from_numpy(np.asarray(data.mocap.poses, dtype=np.float64)).reshape(-1, 24, 3)
    return matrix_to_axis_angle(mean_rotation(axis_angle_to_matrix(poses))).float()


def builtin_pose_set(size: int, seed: int) -> PoseSet:
    """Poses from the synthetic sampler (per-joint limits) when no mocap is given."""
    poses = sample_poses(size, np.random.default_rng([seed, 7])).reshape(size, 72)
    return PoseSet(
        poses.astype(np.float32),
        np.zeros(size, int),
        ("builtin sampler",),
        meta={"source": "openhmr.synth.sample_poses"},
    )


def build_training_data(config: TrainConfig, progress: bool = True) -> TrainingData:
    """Load (and generate where needed) everything `config.data` names."""
    if not config.data.train:
        raise OpenHMRError("data.train is empty: name at least one record index")
    augment = AugmentConfig(**config.data.augment)
    datasets, ratios, identity = [], [], {"train": [], "val": None, "mocap": None}
    for i, entry in enumerate(config.data.train):
        path = resolve_index(entry.index, config, progress)
        index = load_index(path)
        datasets.append(
            RecordDataset(index, augment, res=config.model.image_size, seed=config.seed * 1000 + i)
        )
        ratios.append(entry.ratio)
        identity["train"].append(
            {"index": str(path), "rows": len(index), "dataset": index.name, "ratio": entry.ratio}
        )
    if config.data.mocap == "builtin":
        pose_set = builtin_pose_set(config.data.mocap_size, config.seed)
    else:
        pose_set = load_pose_set(config.data.mocap)
    identity["mocap"] = {"source": config.data.mocap, "rows": len(pose_set)}
    val = None
    if config.data.val:
        val_path = resolve_index(config.data.val, config, progress)
        val = load_index(val_path)
        val = val.subset(slice(0, config.data.val_limit))
        identity["val"] = {"index": str(val_path), "rows": len(val), "dataset": val.name}
    return TrainingData(datasets, ratios, MocapDataset(pose_set, seed=config.seed), val, identity)


def use_feature_caches(
    data: TrainingData,
    config: TrainConfig,
    model,
    progress: bool = True,
    entries: Sequence[int] | None = None,
) -> TrainingData:
    """With `data.cache_laps`, each training dataset replaced by its encoder-output cache
    (built first when missing or made for other inputs; `openhmr.train.features`).
    entries: build only these datasets' caches (positions in `data.train`) and return `data`
    as it was (to encode caches ahead of training, e.g. in parallel)."""
    laps = config.data.cache_laps
    if not laps:
        return data
    from openhmr.train.feature_augment import FeatureAugmentConfig
    from openhmr.train.features import FeatureDataset, build_feature_cache

    feature_augment = FeatureAugmentConfig(**config.data.feature_augment)
    folder = Path(config.data.cache_dir.replace("{out}", config.out))
    caches = []
    for i, dataset in enumerate(data.train):
        if entries is not None and i not in entries:
            continue
        name = f"train{i}_{Path(data.identity['train'][i]['index']).stem}"
        path = build_feature_cache(
            model,
            dataset,
            laps,
            folder / f"{name}.npz",
            workers=config.data.workers,
            progress=progress,
        )
        if entries is not None:
            continue
        caches.append(
            FeatureDataset(path, config.model.features, feature_augment, seed=dataset.seed)
        )
        data.identity["train"][i]["feature_cache"] = {"file": str(path), "laps": laps}
    return TrainingData(caches, data.ratios, data.mocap, data.val, data.identity)


class Labels2D(torch.utils.data.Dataset):
    """A training dataset read for its 2D keypoints only (`DatasetEntry.labels` "2d"): every
    item's has_smpl and has_3d are False, so no 3D or SMPL loss reads it."""

    takes_lap = True

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def get(self, row: int, lap: int) -> dict[str, torch.Tensor]:
        inner = self.dataset
        item = dict(inner.get(row, lap) if getattr(inner, "takes_lap", False) else inner[row])
        item["has_smpl"] = torch.zeros_like(item["has_smpl"])
        item["has_3d"] = torch.zeros_like(item["has_3d"])
        return item

    def __getitem__(self, row: int) -> dict[str, torch.Tensor]:
        return self.get(row, 0)


def train_loader(
    data: TrainingData, config: TrainConfig, steps: range, rank: int, world_size: int
) -> torch.utils.data.DataLoader:
    """Mixed image batches for the given optimiser steps of this rank."""
    sampler = MixedBatchSampler(
        [len(d) for d in data.train],
        data.ratios,
        config.data.batch_size,
        steps.stop,
        steps.start,
        seed=config.seed,
        rank=rank,
        world_size=world_size,
    )
    datasets = [
        dataset if entry.labels == "all" else Labels2D(dataset)
        for dataset, entry in zip(data.train, config.data.train, strict=True)
    ]
    return make_loader(
        MixedDataset(datasets),
        batch_sampler=sampler,
        workers=config.data.workers,
        seed=config.seed,
        pin_memory=torch.cuda.is_available(),
    )


def mocap_loader(
    data: TrainingData, config: TrainConfig, steps: range, rank: int, world_size: int
) -> torch.utils.data.DataLoader:
    """Mocap batches of T·B rows (D sees as many real as predicted bodies) per step."""
    size = config.data.batch_size * config.model.iterations
    sampler = MixedBatchSampler(
        [len(data.mocap)],
        [1.0],
        size,
        steps.stop,
        steps.start,
        seed=config.seed + 1,
        rank=rank,
        world_size=world_size,
    )
    return make_loader(
        MixedDataset([data.mocap]), batch_sampler=sampler, workers=0, seed=config.seed
    )


def val_loader(data: TrainingData, config: TrainConfig) -> torch.utils.data.DataLoader | None:
    if data.val is None:
        return None
    dataset = RecordDataset(data.val, None, res=config.model.image_size)
    return make_loader(
        dataset,
        batch_size=config.data.batch_size,
        shuffle=False,
        workers=config.data.workers,
        seed=config.seed,
        drop_last=False,
    )
