"""The training config's schema: frozen dataclasses that name every option, one per section of
the YAML file (configs/*.yaml), with their defaults. Reading YAML into them is
`openhmr.train.config`; checking their values is `openhmr.train.validate`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
    what φ holds, orientations: how many ways up it reads a crop, feedback: "keypoints" lets
    each IEF step read where the body projects against the pose network's keypoints
    (`openhmr.model.HMRConfig`); root_start: Θ₀'s root read from φ by a root reader, whose
    weights come from root_reader_from (a `tools/train_root_reader.py` file) or init_from's
    checkpoint, frozen while the heads train (`openhmr.model.root_reader`)."""

    backbone: str = "resnet50"
    width: int = 64
    hidden: int = 1024
    iterations: int = 3
    normalization: str = "symmetric"
    image_size: int = 224
    features: str = "pooled"
    orientations: int = 1
    feedback: str = "none"
    body_model: str = "open"
    encoder_weights: str | None = None
    mean_pose: str = "mocap"
    init_from: str | None = None
    root_start: bool = False
    root_reader_from: str | None = None


@dataclass(frozen=True)
class DatasetEntry:
    """One training dataset: a record index and its share of every batch; labels: "all"
    (every label the index has) or "2d" (its 2D keypoints only: 3D joints and SMPL
    parameters are not used, e.g. to measure what pseudo-labels add)."""

    index: str
    ratio: float = 1.0
    labels: str = "all"


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
    every batch's images; feature_augment: with caches, a rotation / scale / shift of the
    crop applied to the cached keypoints and the labels, drawn afresh every lap
    (`openhmr.train.feature_augment.FeatureAugmentConfig`: rotation_deg, rotation_prob,
    scale, shift)."""

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
    feature_augment: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OptimSection:
    """Adam learning rates (the paper's 1e-5 / 1e-4), loss weights (`openhmr.losses.
    LossWeights` fields), whether the adversarial prior is trained and used, and whether the
    encoder trains (false: only the regressor learns; the encoder stays as initialised);
    regressor_dropout: the IEF regressor's dropout rate while training (the paper's 0.5);
    iteration_losses: "final" (the paper's: reprojection and 3D on the last IEF iteration) or
    "all" (their mean over every iteration, as SPIN and PyMAF train)."""

    encoder_lr: float = 1e-5
    discriminator_lr: float = 1e-4
    weight_decay: float = 0.0
    adversarial: bool = True
    train_encoder: bool = True
    regressor_dropout: float = 0.5
    iteration_losses: str = "final"
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
