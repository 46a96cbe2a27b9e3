"""Checks of a whole training config before any work: `check_values` (ranges and choices, pure;
run by `load_config`) and `check_inputs` (the files it names exist, the devices it asks for are
here; run by `train` before it generates data or writes anything)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from openhmr.checks import check_count, check_number
from openhmr.errors import OpenHMRError
from openhmr.files import writable_folder_error
from openhmr.train.sections import DataSection, TrainConfig

MEAN_POSES = ("mocap", "zero")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
PRECISIONS = ("32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true")
PRECISION_ALIASES = ("32", "16", "bf16", "64")
SYNTHETIC_PREFIX = "synthetic:"


def _choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise OpenHMRError(f"config {name}: expected one of {list(choices)}, got {value!r}")


def _count(name: str, value: int, minimum: int = 1) -> None:
    check_count(f"config {name}", value, minimum)


def _number(name: str, value: float, **bounds: float) -> None:
    check_number(f"config {name}", value, **bounds)


def check_values(config: TrainConfig) -> TrainConfig:
    """Every number in range, every name one of its choices; returns the config."""
    from openhmr.losses import ITERATION_LOSSES
    from openhmr.model.hmr import NORMALIZATIONS, encoder_settings_problem, feedback_problem
    from openhmr.model.movenet_encoder import FEATURES, MOVENET_BACKBONES
    from openhmr.model.resnet import BACKBONES

    m, o, t = config.model, config.optim, config.trainer
    _count("seed", config.seed, minimum=0)
    _choice("model.backbone", m.backbone, BACKBONES + tuple(MOVENET_BACKBONES))
    _choice("model.features", m.features, FEATURES)
    problem = encoder_settings_problem(m.backbone, m.features, m.image_size, m.orientations)
    if problem is not None:
        raise OpenHMRError(f"config model.{problem[0]}: {problem[1]}")
    problem = feedback_problem(m.feedback, m.backbone, "hmr", m.features)
    if problem is not None:
        raise OpenHMRError(f"config model.{problem[0]}: {problem[1]}")
    _choice("optim.iteration_losses", o.iteration_losses, ITERATION_LOSSES)
    _count("model.width", m.width)
    _count("model.hidden", m.hidden)
    _count("model.iterations", m.iterations)
    _choice("model.normalization", m.normalization, NORMALIZATIONS)
    _count("model.image_size", m.image_size, minimum=32)
    _choice("model.mean_pose", m.mean_pose, MEAN_POSES)
    if m.encoder_weights and m.backbone != "resnet50":
        raise OpenHMRError("config model.encoder_weights: ImageNet files fit backbone resnet50")
    if m.root_reader_from and not m.root_start:
        raise OpenHMRError("config model.root_reader_from: set model.root_start: true to use it")
    if m.root_start and not (m.root_reader_from or m.init_from):
        raise OpenHMRError(
            "config model.root_start: the root reader is trained beforehand; name its file in "
            "model.root_reader_from (tools/train_root_reader.py) or a checkpoint in model.init_from"
        )
    _check_data(config.data)
    if config.data.cache_laps and o.train_encoder:
        raise OpenHMRError(
            "config data.cache_laps: cached encoder outputs need a frozen encoder "
            "(set optim.train_encoder: false, or data.cache_laps: 0)"
        )
    _number("optim.encoder_lr", o.encoder_lr, above=0)
    _number("optim.discriminator_lr", o.discriminator_lr, above=0)
    _number("optim.weight_decay", o.weight_decay, minimum=0)
    _number("optim.regressor_dropout", o.regressor_dropout, minimum=0, below=1)
    _check_loss_weights(o.weights)
    _count("trainer.max_steps", t.max_steps)
    _count("trainer.checkpoint_every_steps", t.checkpoint_every_steps)
    _count("trainer.log_every_steps", t.log_every_steps)
    _choice("trainer.accelerator", t.accelerator, ACCELERATORS)
    _count("trainer.devices", t.devices)
    _count("trainer.num_nodes", t.num_nodes)
    _choice("trainer.precision", t.precision, PRECISIONS + PRECISION_ALIASES)
    if t.strategy != "auto":
        from lightning.pytorch.strategies import StrategyRegistry

        _choice("trainer.strategy", t.strategy, ("auto", *StrategyRegistry.available_strategies()))
    return config


def _check_data(data: DataSection) -> None:
    _count("data.batch_size", data.batch_size)
    _count("data.workers", data.workers, minimum=0)
    _count("data.val_limit", data.val_limit)
    _count("data.mocap_size", data.mocap_size)
    _count("data.cache_laps", data.cache_laps, minimum=0)
    if not data.train:
        raise OpenHMRError("config data.train is empty: name at least one record index")
    for i, entry in enumerate(data.train):
        _number(f"data.train[{i}].ratio", entry.ratio, above=0)
        if entry.labels not in ("all", "2d"):
            raise OpenHMRError(
                f"config data.train[{i}].labels: expected 'all' or '2d', got {entry.labels!r}"
            )
    names = [entry.index for entry in data.train] + ([data.val] if data.val else [])
    for name in names:
        split = name[len(SYNTHETIC_PREFIX) :] if name.startswith(SYNTHETIC_PREFIX) else None
        if split is not None and split not in data.synthetic:
            raise OpenHMRError(
                f"config data: {name!r} names no split in data.synthetic ({sorted(data.synthetic)})"
            )
    for split, spec in data.synthetic.items():
        _count(f"data.synthetic.{split}.num", spec.num)
        _count(f"data.synthetic.{split}.seed", spec.seed, minimum=0)
        _count(f"data.synthetic.{split}.size", spec.size, minimum=64)
    _check_augment(data.augment)
    _check_feature_augment(data)


def _known_keys(name: str, values: dict, cls: type) -> None:
    """An error naming the keys of `values` that are not fields of dataclass `cls`."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise OpenHMRError(f"config {name}: unknown keys {unknown}; known: {sorted(known)}")


def _check_feature_augment(data: DataSection) -> None:
    from openhmr.train.feature_augment import FeatureAugmentConfig, check_feature_augment

    _known_keys("data.feature_augment", data.feature_augment, FeatureAugmentConfig)
    augment = check_feature_augment(FeatureAugmentConfig(**data.feature_augment))
    if augment.active and not data.cache_laps:
        raise OpenHMRError(
            "config data.feature_augment: it moves cached encoder outputs; set data.cache_laps"
        )


def _check_augment(values: dict) -> None:
    from openhmr.data.augment import AugmentConfig

    _known_keys("data.augment", values, AugmentConfig)
    augment = AugmentConfig(**values)
    _number("data.augment.jitter", augment.jitter, minimum=0)
    _number("data.augment.flip_prob", augment.flip_prob, minimum=0, maximum=1)
    _number("data.augment.color", augment.color, minimum=0, below=1)
    _number("data.augment.rotation_deg", augment.rotation_deg, minimum=0)
    _number("data.augment.rotation_prob", augment.rotation_prob, minimum=0, maximum=1)
    scale = augment.scale_range
    if not isinstance(scale, (list, tuple)) or len(scale) != 2:
        raise OpenHMRError(f"config data.augment.scale_range: expected [low, high], got {scale!r}")
    _number("data.augment.scale_range low", scale[0], above=0)
    _number("data.augment.scale_range high", scale[1], minimum=scale[0])


def _check_loss_weights(weights: dict) -> None:
    from openhmr.losses import LossWeights

    _known_keys("optim.weights", weights, LossWeights)
    for name, value in weights.items():
        _number(f"optim.weights.{name}", value, minimum=0)


def check_inputs(config: TrainConfig) -> None:
    """The files the config names exist and the accelerator it asks for is on this machine
    (an error here costs nothing: nothing has been generated or written yet)."""
    problem = writable_folder_error(config.out)
    if problem:
        raise OpenHMRError(f"config out: {problem}")
    m, data = config.model, config.data
    files = {
        "model.encoder_weights": m.encoder_weights,
        "model.init_from": m.init_from,
        "model.root_reader_from": m.root_reader_from,
        "data.val": data.val,
        **{f"data.train[{i}].index": e.index for i, e in enumerate(data.train)},
        **{f"data.synthetic.{k}.mocap": s.mocap for k, s in data.synthetic.items()},
    }
    from openhmr.body.io import BUNDLED_MODELS

    if m.body_model not in BUNDLED_MODELS:
        files["model.body_model"] = m.body_model
    if data.mocap != "builtin":
        files["data.mocap"] = data.mocap
    for name, value in files.items():
        if value and not value.startswith(SYNTHETIC_PREFIX) and not Path(value).exists():
            raise OpenHMRError(f"config {name}: no such file {value}")
    check_accelerator(config.trainer.accelerator, config.trainer.devices)


def check_accelerator(accelerator: str, devices: int) -> None:
    """GPUs asked for are present: "gpu"/"cuda" needs `devices` CUDA GPUs, "mps" Apple's."""
    import torch

    if accelerator in ("gpu", "cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count < devices:
            raise OpenHMRError(
                f"trainer.accelerator {accelerator}: {devices} GPU(s) asked for, this machine "
                f"has {count} usable CUDA GPU(s); use --accelerator cpu (or auto)"
            )
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise OpenHMRError("trainer.accelerator mps: Apple's MPS is not available here")
