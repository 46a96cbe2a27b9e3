"""How to fit (`FitConfig`) and reading one from "KEY=VALUE" options."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from openhmr.errors import OpenHMRError
from openhmr.fit.keypoints import COCO17_MAPPINGS

OPTIMIZERS = ("adam", "lbfgs")


@dataclass(frozen=True)
class FitConfig:
    """How to fit.  Weights are in units of one confident keypoint's largest robust cost (1).

    iterations: cap of the main stage; optimizer: "adam" or "lbfgs"; learning_rate: Adam's
    step (radians, β units, log-scale and metres alike); tolerance / patience: a person stops
    when its objective's relative change stays below tolerance for patience iterations;
    robust_scale: σ of Geman–McClure in crop units (0.2 = 22 px of a 224 crop), annealed from
    robust_scale_start over anneal_iterations; min_confidence: keypoints below weigh 0;
    min_keypoints: fewer usable keypoints -> no fit; angle_prior_weight: squared excess beyond
    the joint limits (`openhmr.body.limits`, rad²); adversarial_weight: the discriminator's
    least-squares score (used when a discriminator is given); shape_prior_weight: ‖β‖²;
    pose_pull_weight, betas_pull_weight: ‖θ − θ̂‖² (rad²), ‖β − β̂‖² towards the estimate;
    depth_pull_weight: Σ_k (z_k − ẑ_k)² (m²), the depth of each body keypoint relative to
    their mean, towards the estimate's (turned as the facing step chose): it holds what 2D
    keypoints cannot see and leaves the image plane free;
    agreement_pull_weight, agreement_scale: a further pull of θ towards the estimate, per
    person weighted by how well the estimate already lands on the targets after the facing
    step: agreement_pull_weight · exp(−(e / agreement_scale)²), e the confidence-weighted mean
    keypoint distance (crop units). An estimate that agrees with the 2D evidence is kept
    where 2D cannot judge (depth, twist); one that disagrees is left to the evidence;
    fit_shape: optimise β; facing_candidates: turns of the root tried in step 1 (1 = keep the
    estimate's); facing_iterations: their iterations; coco17_mapping: where COCO-17 keypoints
    sit on the body: "namesake" (the cocoplus keypoints of the same name, as LSP's annotations
    are compared with them in training and evaluation) or "calibrated" (hips and shoulders
    where MoveNet puts them relative to the open body model's joint centres; docs/fitting.md
    says why namesake is the default); world_weight: the 3D term (the body's COCO-17 keypoints
    against given world landmarks, e.g. BlazePose's, after a similarity alignment; used when
    guides carry them), world_scale: its robust σ in metres, world_rotate: the alignment may
    rotate (False: scale and translation only, so the landmarks' camera axes also fix the
    body's orientation); silhouette_weight: the projected body against a person mask (used
    when guides carry one), silhouette_scale: its σ in crop units, silhouette_vertices: how
    many mesh vertices it projects (evenly spaced indices); threads: torch's intra-op
    threads while fitting (a process-wide setting, restored afterwards; None leaves it alone).
    The fit's tensors are tiny, so more threads only add synchronisation: on a busy 2-core
    machine 2 threads made it 10-15x slower than 1 (docs/fitting.md).
    """

    iterations: int = 45
    optimizer: str = "adam"
    learning_rate: float = 0.08
    tolerance: float = 1e-3
    patience: int = 3
    robust_scale: float = 0.2
    robust_scale_start: float = 1.0
    anneal_iterations: int = 15
    min_confidence: float = 0.2
    min_keypoints: int = 4
    angle_prior_weight: float = 10.0
    angle_prior_margin: float = 0.0
    adversarial_weight: float = 0.1
    shape_prior_weight: float = 0.01
    pose_pull_weight: float = 0.1
    betas_pull_weight: float = 0.1
    depth_pull_weight: float = 0.0
    agreement_pull_weight: float = 3.0
    agreement_scale: float = 0.05
    fit_shape: bool = True
    facing_candidates: int = 4
    facing_iterations: int = 10
    coco17_mapping: str = "namesake"
    world_weight: float = 0.5
    world_scale: float = 0.3
    world_rotate: bool = False
    silhouette_weight: float = 0.0
    silhouette_scale: float = 0.1
    silhouette_vertices: int = 256
    threads: int | None = 1

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise OpenHMRError(
                f"fit optimizer: expected one of {OPTIMIZERS}, got {self.optimizer!r}"
            )
        positive = (
            "iterations",
            "learning_rate",
            "robust_scale",
            "robust_scale_start",
            "agreement_scale",
            "world_scale",
            "silhouette_scale",
            "silhouette_vertices",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise OpenHMRError(f"fit {name}: expected > 0, got {getattr(self, name)}")
        weights = (
            "angle_prior_weight",
            "adversarial_weight",
            "shape_prior_weight",
            "pose_pull_weight",
            "betas_pull_weight",
            "depth_pull_weight",
            "agreement_pull_weight",
            "tolerance",
            "min_confidence",
            "angle_prior_margin",
            "world_weight",
            "silhouette_weight",
        )
        for name in weights:
            if not getattr(self, name) >= 0:
                raise OpenHMRError(f"fit {name}: expected ≥ 0, got {getattr(self, name)}")
        if self.coco17_mapping not in COCO17_MAPPINGS:
            raise OpenHMRError(
                f"fit coco17_mapping: expected one of {COCO17_MAPPINGS}, "
                f"got {self.coco17_mapping!r}"
            )
        if self.threads is not None and self.threads < 1:
            raise OpenHMRError(f"fit threads: expected ≥ 1 or None, got {self.threads}")
        if self.facing_candidates < 1 or self.min_keypoints < 1:
            raise OpenHMRError("fit facing_candidates and min_keypoints: expected ≥ 1")


def config_from_options(options: Sequence[str], what: str = "fit") -> FitConfig:
    """`FitConfig` with "KEY=VALUE" overrides (values read as YAML scalars)."""
    import yaml

    fields = {f.name for f in dataclasses.fields(FitConfig)}
    values = {}
    for option in options:
        key, sep, text = option.partition("=")
        if not sep or key not in fields:
            raise OpenHMRError(f"{what}: expected KEY=VALUE with KEY one of {sorted(fields)}")
        values[key] = yaml.safe_load(text)
    try:
        return FitConfig(**values)
    except TypeError as err:
        raise OpenHMRError(f"{what}: {err}") from None
