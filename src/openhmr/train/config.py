"""Training configuration: YAML files (configs/*.yaml) with `--set key.sub=value` overrides,
read into frozen dataclasses that name every option; unknown keys, values of the wrong type and
out-of-range values (`openhmr.train.validate`) are errors."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from openhmr.errors import OpenHMRError
from openhmr.files import describe_file
from openhmr.train.validate import check_values


@dataclass(frozen=True)
class ModelSection:
    """The network (see `openhmr.model.HMRConfig`) and its input: image_size is the crop side
    the data pipeline produces (224 in the paper; smaller for quick CPU runs); encoder_weights:
    an ImageNet ResNet-50 file (torchvision/timm `.pth`) to start the encoder from (use with
    normalization "imagenet"), or null to train it from scratch; mean_pose: the pose of the
    regressor's starting point Θ₀ — "mocap" (per joint, the mean rotation of the prior's pose
    set data.mocap, as the released HMR's mean parameters came from its mocap) or "zero"
    (SMPL's rest pose, a T-pose); init_from: a checkpoint (`.safetensors` or a run's `.ckpt`)
    of the same architecture whose network (Θ₀ included, so mean_pose is then moot) and, when
    it has one, discriminator start this run with fresh optimisers and step count — a second
    stage, e.g. at a lower learning rate (to continue a run as it was, use --resume).
    backbone "movenet_thunder" / "movenet_lightning" starts the encoder from the bundled
    pretrained pose network (use normalization "pixels" and image_size 256 / 192); features:
    what φ holds, orientations: how many ways up it reads a crop (`openhmr.model.HMRConfig`)."""

    backbone: str = "resnet50"
    width: int = 64
    hidden: int = 1024
    iterations: int = 3
    normalization: str = "symmetric"
    image_size: int = 224
    features: str = "pooled"
    orientations: int = 1
    body_model: str = "open"
    encoder_weights: str | None = None
    mean_pose: str = "mocap"
    init_from: str | None = None


@dataclass(frozen=True)
class DatasetEntry:
    """One training dataset: a record index and its share of every batch."""

    index: str
    ratio: float = 1.0


@dataclass(frozen=True)
class SyntheticSplit:
    """A synthetic split generated before training when `<out>/synth.npz` is missing; "{out}"
    in `out` stands for the run's output folder; size: the image side (`openhmr synth
    --size`; the person scales with it)."""

    out: str
    num: int
    seed: int = 0
    mocap: str | None = None
    size: int = 224


@dataclass(frozen=True)
class DataSection:
    """batch_size is per device (global batch = batch_size × devices × num_nodes); train: the
    datasets mixed in every batch; val: a record index or null; mocap: a pose set `.npz` for the
    discriminator or "builtin" (the synthetic pose sampler); synthetic: splits to generate
    (named "train"/"val"; refer to them as `synthetic:train` in train/val); cache_laps: with a
    frozen encoder (optim.train_encoder false), encode this many augmented passes over each
    training dataset once, before training, into cache_dir ("{out}" stands for the run's
    folder; runs may share one), and train on them (`openhmr.train.features`); 0: encode
    every batch's images."""

    batch_size: int = 64
    workers: int = 2
    train: tuple[DatasetEntry, ...] = ()
    val: str | None = None
    val_limit: int = 512
    mocap: str = "builtin"
    mocap_size: int = 20000
    synthetic: dict[str, SyntheticSplit] = field(default_factory=dict)
    augment: dict[str, Any] = field(default_factory=dict)
    cache_laps: int = 0
    cache_dir: str = "{out}/features"


@dataclass(frozen=True)
class OptimSection:
    """Adam learning rates (the paper's 1e-5 / 1e-4), loss weights (`openhmr.losses.
    LossWeights` fields), whether the adversarial prior is trained and used, and whether the
    encoder trains (false: only the regressor learns; the encoder stays as initialised);
    regressor_dropout: the IEF regressor's dropout rate while training (the paper's 0.5)."""

    encoder_lr: float = 1e-5
    discriminator_lr: float = 1e-4
    weight_decay: float = 0.0
    adversarial: bool = True
    train_encoder: bool = True
    regressor_dropout: float = 0.5
    weights: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainerSection:
    """Lightning's side: devices (N GPUs → DDP), nodes, precision. The run is cut into
    "epochs" of checkpoint_every_steps optimiser steps; after each, a checkpoint is written
    (resume points), validation runs and an image grid of predictions is saved."""

    max_steps: int = 1000
    checkpoint_every_steps: int = 500
    accelerator: str = "auto"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    log_every_steps: int = 10
    image_grid: bool = True
    progress_bar: bool = True


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; `out` receives checkpoints, logs and images."""

    out: str = "runs/hmr"
    seed: int = 0
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    trainer: TrainerSection = field(default_factory=TrainerSection)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def global_batch(self) -> int:
        return self.data.batch_size * self.trainer.devices * self.trainer.num_nodes


def _build(cls: type, values: Any, where: str) -> Any:
    """Construct dataclass `cls` from a dict, recursively, rejecting unknown keys."""
    if not isinstance(values, dict):
        raise OpenHMRError(f"config {where or 'root'}: expected a mapping, got {values!r}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise OpenHMRError(
            f"config {where or 'root'}: unknown keys {unknown}; known: {sorted(known)}"
        )
    kwargs = {}
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        path = f"{where}.{name}" if where else name
        default = (
            known[name].default_factory()
            if known[name].default_factory is not dataclasses.MISSING
            else known[name].default
        )  # type: ignore[misc]
        if dataclasses.is_dataclass(default):
            value = _build(type(default), value or {}, path)
        elif cls is DataSection and name == "train":
            if not isinstance(value or [], list):
                raise OpenHMRError(f"config {path}: expected a list of datasets, got {value!r}")
            value = tuple(
                _build(DatasetEntry, v, f"{path}[{i}]") for i, v in enumerate(value or [])
            )
        elif cls is DataSection and name == "synthetic":
            if not isinstance(value or {}, dict):
                raise OpenHMRError(f"config {path}: expected a mapping of splits, got {value!r}")
            value = {k: _build(SyntheticSplit, v, f"{path}.{k}") for k, v in (value or {}).items()}
        elif name in ("augment", "weights") and not isinstance(value or {}, dict):
            raise OpenHMRError(f"config {path}: expected a mapping, got {value!r}")
        kwargs[name] = _coerce(value, hints[name], path)
    return cls(**kwargs)


_SCALAR_TYPES: dict[Any, tuple[str, tuple[type, ...]]] = {
    int: ("an integer", (int,)),
    float: ("a number", (float,)),
    bool: ("true or false", (bool,)),
    str: ("a string", (str,)),
    str | None: ("a string or null", (str, type(None))),
}


def _coerce(value: Any, hint: Any, path: str) -> Any:
    """The value as the field's type: numbers written like 3e-4 are strings to YAML 1.1, a
    whole float is an integer, a number names a string field (precision: 32); anything else
    that is not of the field's type is an error."""
    if hint in (float, int) and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise OpenHMRError(f"config {path}: expected a number, got {value!r}") from None
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is float and is_number:
        return float(value)
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if hint in (str, str | None) and is_number:
        return str(value)
    if hint in _SCALAR_TYPES:
        name, types = _SCALAR_TYPES[hint]
        if not isinstance(value, types) or (hint is int and isinstance(value, bool)):
            raise OpenHMRError(f"config {path}: expected {name}, got {value!r}")
    return value


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`["optim.encoder_lr=3e-5", "trainer.max_steps=10"]` applied to a nested dict; each value
    is parsed as YAML (numbers, booleans, lists, null)."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise OpenHMRError(f"--set: expected key=value, got {item!r}")
        node = values
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise OpenHMRError(f"--set {key}: {part!r} is not a section")
        try:
            node[leaf] = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise OpenHMRError(f"--set {key}: not a YAML value ({_yaml_problem(err)})") from None
    return values


def _yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's several-line message in one line: the problem and where."""
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{getattr(err, 'problem', None) or type(err).__name__}{where}"


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """A `TrainConfig` from a YAML file (None: all defaults) plus overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise OpenHMRError(f"config file not found: {path}")
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError:
            raise OpenHMRError(
                f"{path}: expected a YAML config (text), found {describe_file(path)}"
            ) from None
        except yaml.YAMLError as err:
            raise OpenHMRError(f"{path}: not valid YAML ({_yaml_problem(err)})") from None
        if not isinstance(values, dict):
            raise OpenHMRError(f"{path}: expected a YAML mapping of sections, got {values!r:.60}")
    values = apply_overrides(values, overrides or [])
    return check_values(_build(TrainConfig, values, ""))
