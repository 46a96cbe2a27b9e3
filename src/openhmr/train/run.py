"""`train(config)`: assemble data, module, loggers, callbacks and a Lightning Trainer, run, and
export the final weights as an openhmr checkpoint.

Scale: `trainer.devices: N` on a GPU machine trains with DDP (one process per GPU, disjoint
data per rank); `trainer.num_nodes: M` with torchrun or a cluster scheduler (SLURM) spans
machines; the per-device batch is `data.batch_size`, the global batch that × N × M.

Resuming: checkpoints are written every `trainer.checkpoint_every_steps` optimiser steps (an
"epoch"); `resume=True` continues from `<out>/checkpoints/last.ckpt` with the same optimiser and
discriminator state and the same data order and per-step randomness, so the result equals an
uninterrupted run.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import CombinedLoader

from openhmr.errors import OpenHMRError
from openhmr.files import atomic_path
from openhmr.logs import drop_log_messages
from openhmr.model import save_checkpoint
from openhmr.train.config import TrainConfig
from openhmr.train.data import (
    TrainingData,
    build_training_data,
    initial_mean_pose,
    mocap_loader,
    train_loader,
    use_feature_caches,
    val_loader,
)
from openhmr.train.module import HMRTrainingModule
from openhmr.train.validate import check_inputs, check_values
from openhmr.train.visualize import prediction_grid


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoints written to a temporary file and renamed: never half-written."""

    def save_checkpoint(
        self,
        checkpoint: dict[str, Any],
        path: str | os.PathLike,
        storage_options: Any | None = None,
    ) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)


class HMRDataModule(L.LightningDataModule):
    """Batches for the current epoch's steps, recomputed from the step count each epoch (so a
    resumed run continues exactly where the checkpoint left off)."""

    def __init__(self, config: TrainConfig, data: TrainingData) -> None:
        super().__init__()
        self.config, self.data = config, data

    def train_dataloader(self) -> CombinedLoader:
        trainer, every = self.trainer, self.config.trainer.checkpoint_every_steps
        start = trainer.current_epoch * every
        steps = range(start, min(start + every, self.config.trainer.max_steps))
        rank, world = trainer.global_rank, trainer.world_size
        return CombinedLoader(
            {
                "images": train_loader(self.data, self.config, steps, rank, world),
                "mocap": mocap_loader(self.data, self.config, steps, rank, world),
            },
            mode="min_size",
        )

    def val_dataloader(self) -> Any:
        loader = val_loader(self.data, self.config)
        return [] if loader is None else loader


class PredictionGrid(Callback):
    """After each epoch, predicted meshes over the first validation (else training) crops:
    `<out>/images/step_<N>.png` and, with TensorBoard, an image summary."""

    def __init__(self, config: TrainConfig, data: TrainingData) -> None:
        self.config, self.data = config, data

    def on_train_epoch_end(self, trainer: L.Trainer, module: HMRTrainingModule) -> None:
        if not trainer.is_global_zero:
            return
        from openhmr.data.dataset import RecordDataset

        index = self.data.val
        if index is None:
            index = getattr(self.data.train[0], "index", None)
        if index is None:  # training from feature caches and no validation index: no images
            return
        dataset = RecordDataset(index, None, res=self.config.model.image_size)
        samples = [dataset[i] for i in range(min(8, len(dataset)))]
        images = torch.stack([s["image"] for s in samples]).to(module.device)
        was_training = module.training
        module.eval()
        with torch.no_grad():
            final = module(images)[-1]
        module.train(was_training)
        grid = prediction_grid(
            images.cpu().numpy(),
            final.vertices.cpu().numpy(),
            final.camera.cpu().numpy(),
            module.model.body_model.faces.numpy(),
        )
        step = min(
            (trainer.current_epoch + 1) * self.config.trainer.checkpoint_every_steps,
            self.config.trainer.max_steps,
        )
        path = Path(self.config.out) / "images" / f"step_{step:07d}.png"
        from PIL import Image

        with atomic_path(path) as tmp:
            Image.fromarray(grid).save(tmp, format="PNG")
        for logger in trainer.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_image"):
                experiment.add_image("predictions", grid, step, dataformats="HWC")


def _loggers(config: TrainConfig) -> list:
    # a new version folder per invocation: resuming never overwrites earlier logs
    loggers: list = [CSVLogger(config.out, name="logs")]
    try:
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(config.out, name="tensorboard"))
    except ModuleNotFoundError:  # tensorboard is optional (the `train` extra)
        pass
    return loggers


def _strategy(config: TrainConfig) -> Any:
    if config.trainer.strategy != "auto":
        return config.trainer.strategy
    if config.trainer.devices * config.trainer.num_nodes > 1:
        from lightning.pytorch.strategies import DDPStrategy

        # each step has two backward passes (encoder, then discriminator on detached
        # predictions), and neither reaches every parameter: DDP must allow that
        return DDPStrategy(find_unused_parameters=True)
    return "auto"


def _hide_lightning_advertisement() -> None:
    """Lightning logs a tip to install its cloud logger (litlogger) whenever a run uses none."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        drop_log_messages(name, "💡 Tip: For seamless cloud logging")


def build_trainer(
    config: TrainConfig, data: TrainingData, extra_callbacks: list[Callback] | None = None
) -> L.Trainer:
    _hide_lightning_advertisement()
    check_values(config)
    checkpoints = ModelCheckpoint(
        dirpath=Path(config.out) / "checkpoints",
        filename="epoch_{epoch:04d}",
        auto_insert_metric_name=False,
        every_n_epochs=1,
        save_last=True,
        save_top_k=-1,
    )
    callbacks: list[Callback] = [checkpoints, *(extra_callbacks or [])]
    if config.trainer.image_grid:
        callbacks.append(PredictionGrid(config, data))
    if config.trainer.progress_bar:
        callbacks.append(TQDMProgressBar(refresh_rate=1))
    try:
        return _lightning_trainer(config, callbacks)
    except (MisconfigurationException, ValueError) as err:  # what our checks did not foresee
        lines = str(err).strip().splitlines() or [type(err).__name__]
        raise OpenHMRError(f"trainer: {lines[0]}") from None


def _lightning_trainer(config: TrainConfig, callbacks: list[Callback]) -> L.Trainer:
    every = config.trainer.checkpoint_every_steps
    return L.Trainer(
        accelerator=config.trainer.accelerator,
        devices=config.trainer.devices,
        num_nodes=config.trainer.num_nodes,
        strategy=_strategy(config),
        # MixedBatchSampler splits the steps' batches between the ranks itself
        use_distributed_sampler=False,
        precision=config.trainer.precision,
        max_epochs=math.ceil(config.trainer.max_steps / every),
        reload_dataloaders_every_n_epochs=1,
        check_val_every_n_epoch=1,
        num_sanity_val_steps=0,
        log_every_n_steps=config.trainer.log_every_steps,
        logger=_loggers(config),
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        enable_progress_bar=config.trainer.progress_bar,
        enable_model_summary=False,
        deterministic=False,
        default_root_dir=config.out,
    )


def build_caches(
    config: TrainConfig, entries: Sequence[int] | None = None, progress: bool = True
) -> None:
    """Encode the feature caches of `data.train` (only those at the positions `entries`, if
    given) as training would, without training: several processes can encode different
    entries at once, and a later `train` reuses the caches."""
    check_values(config)
    check_inputs(config)
    if not config.data.cache_laps:
        raise OpenHMRError("--caches-only: the config caches nothing (data.cache_laps is 0)")
    count = len(config.data.train)
    wanted = list(range(count)) if entries is None else list(entries)
    bad = [i for i in wanted if not 0 <= i < count]
    if bad:
        raise OpenHMRError(f"--entries: data.train has entries 0..{count - 1}, got {bad}")
    data = build_training_data(config, progress=progress)
    module = HMRTrainingModule(config, mean_pose=initial_mean_pose(config, data))
    use_feature_caches(data, config, module.model, progress=progress, entries=wanted)


def train(
    config: TrainConfig,
    resume: bool = False,
    progress: bool = True,
    extra_callbacks: list[Callback] | None = None,
) -> Path | None:
    """Run training; returns the final openhmr checkpoint `<out>/model.safetensors` (on the
    global rank 0; None on the other ranks of a DDP run, which write nothing)."""
    check_values(config)  # a config built in code has not been through load_config
    check_inputs(config)
    L.seed_everything(config.seed, workers=True, verbose=False)
    out = Path(config.out)
    last = out / "checkpoints" / "last.ckpt"
    if resume and not last.exists():
        raise OpenHMRError(f"--resume: no checkpoint to resume from at {last}")
    if not resume and last.exists():
        raise OpenHMRError(
            f"{out} already holds a run (checkpoints/last.ckpt): pass --resume "
            f"to continue it, or choose another out"
        )
    data = build_training_data(config, progress=progress)
    module = HMRTrainingModule(config, mean_pose=initial_mean_pose(config, data))
    data = use_feature_caches(data, config, module.model, progress=progress)
    trainer = build_trainer(config, data, extra_callbacks)
    if trainer.is_global_zero:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "config.json") as tmp:
            tmp.write_text(
                json.dumps(
                    {
                        "config": config.to_dict(),
                        "data": data.identity,
                        "global_batch": config.global_batch,
                    },
                    indent=2,
                )
            )
    trainer.fit(
        module, datamodule=HMRDataModule(config, data), ckpt_path=str(last) if resume else None
    )
    final = out / "model.safetensors"
    if trainer.is_global_zero:
        metrics = {
            k: float(v)
            for k, v in trainer.callback_metrics.items()
            if torch.is_tensor(v) and v.numel() == 1 and np.isfinite(float(v))
        }
        save_checkpoint(
            final,
            module.model,
            module.discriminator,
            config=config.to_dict(),
            training_data=data.identity,
            metrics={**metrics, "steps": config.trainer.max_steps},
        )
        return final
    return None
