"""`HMR`: image batch -> per-iteration body parameters (and, with a body model, the body).

encoder (ResNet-50 v1 or v2) -> φ (B, 2048) -> IEF regressor × T -> Θ_1 … Θ_T
Θ_t -> camera, pose, betas -> body model -> vertices, 3D keypoints -> weak-perspective 2D
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import nn

from openhmr.body import BodyModel
from openhmr.body.keypoint_model import KeypointModel
from openhmr.body.keypoints import COCO17_NAMES
from openhmr.errors import OpenHMRError
from openhmr.geometry.camera import weak_perspective_project
from openhmr.model.movenet_encoder import (
    MOVENET_BACKBONES,
    UNSEEN_SCORE,
    MoveNetEncoder,
    keypoint_columns,
)
from openhmr.model.regressor import build_regressor, regress_in_lockstep
from openhmr.model.resnet import BACKBONES, build_backbone
from openhmr.model.root_reader import RootReader
from openhmr.model.views import (
    average_params,
    params_back,
    reads_flipped,
    view_features,
    view_list,
    views_problem,
)
from openhmr.posenet.movenet import ORIENTATIONS, turns_of

NORMALIZATIONS = ("symmetric", "imagenet", "pixels")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_SIZE = 224
POSE_BODY = ("all", "final", "keypoints", "keypoints-all")
FEEDBACKS = ("none", "keypoints")
FEEDBACK_DIMS = {"none": 0, "keypoints": 2 * len(COCO17_NAMES)}


@dataclass(frozen=True)
class HMRConfig:
    """Everything that fixes the network's shapes and input convention.

    backbone: "resnet50" (torchvision v1), "resnet50_v2" (slim's pre-activation v2), or
    "movenet_thunder" / "movenet_lightning" (a pretrained 2D pose network, `MoveNetEncoder`);
    head: "hmr" (85-D Θ, axis-angle) or "spin" (157-D, 6D rotations);
    width: ResNet base width (64 = ResNet-50); hidden: regressor FC width; iterations: T;
    normalization: "symmetric" (pixels in [−1, 1], the released HMR model) or "imagenet"
    (ImageNet mean/std, SPIN and torchvision weights) or "pixels" (RGB 0–255, the MoveNet
    encoders); image_size: the crop side the network was trained on (224 in the paper; data
    pipelines and the predictor crop to it); features: what φ holds — "pooled" (the
    encoder's final map averaged, the paper's) or, for MoveNet encoders, "keypoints" or
    "pooled+keypoints" (`openhmr.model.movenet_encoder`); orientations: how many ways up a
    MoveNet encoder reads the crop (1, 2 or 4; the most confident reading is kept);
    feedback: "none" (the paper's IEF: each step reads [φ, Θ_t]) or "keypoints" (each step
    also reads where the body at Θ_t projects against the pose network's keypoints in φ:
    per COCO-17 keypoint, keypoint − projection in crop coordinates, zero where the keypoint
    scores below `UNSEEN_SCORE`; needs a MoveNet encoder whose φ holds keypoints, the "hmr"
    head and a body model attached, whose keypoints name the COCO-17 points); views: what an
    evaluating network (not in training mode) reads and averages: "one" (φ as trained),
    "mirror", "mirror-turns", "flip", "flip-turns" (`openhmr.model.views`; a test-time choice,
    no weights change); heads: how many regressors an evaluating network runs on each view
    and averages with the views (an ensemble of separately trained "hmr" heads on one
    encoder, assembled by `HMR.with_heads`; training trains one); root_start: Θ₀'s root is
    read from φ by a root reader of the network's own (`openhmr.model.root_reader`; its
    output detached, trained beforehand and frozen), not the mean's, for every head and view
    ("hmr" head only).
    """

    backbone: str = "resnet50"
    head: str = "hmr"
    width: int = 64
    hidden: int = 1024
    iterations: int = 3
    normalization: str = "symmetric"
    image_size: int = CROP_SIZE
    features: str = "pooled"
    orientations: int = 1
    feedback: str = "none"
    views: str = "one"
    heads: int = 1
    root_start: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HMROutput:
    """One IEF iteration's prediction.

    params (B, P): the head's raw vector (85 for "hmr", 157 for "spin");
    camera (B, 3) = s, tx, ty; pose (B, 24, 3) axis-angle; rotations (B, 24, 3, 3);
    betas (B, 10); with a body model (posed for this iteration, see `HMR.forward`): vertices
    (B, V, 3), keypoints3d (B, K, 3), keypoints2d (B, K, 2) in crop coordinates normalised to
    [−1, 1]; else None.
    """

    params: torch.Tensor
    camera: torch.Tensor
    pose: torch.Tensor
    rotations: torch.Tensor
    betas: torch.Tensor
    vertices: torch.Tensor | None = None
    keypoints3d: torch.Tensor | None = None
    keypoints2d: torch.Tensor | None = None


class HMR(nn.Module):
    """The HMR network.  ``HMR(backbone="resnet50")``; see `HMRConfig` for every option.

    forward(images (B, 3, H, W), normalised per ``normalization``, 224 × 224 for the released
    weights) -> list of T `HMROutput`, first iteration first.  body_model: an optional
    `BodyModel` used to pose the mesh (not part of the state dict).
    """

    def __init__(
        self,
        backbone: str = "resnet50",
        head: str = "hmr",
        width: int = 64,
        hidden: int = 1024,
        iterations: int = 3,
        normalization: str = "symmetric",
        image_size: int = CROP_SIZE,
        features: str = "pooled",
        orientations: int = 1,
        feedback: str = "none",
        views: str = "one",
        heads: int = 1,
        root_start: bool = False,
        body_model: BodyModel | None = None,
        pretrained_encoder: bool = True,
    ) -> None:
        """pretrained_encoder: MoveNet encoders start from the bundled pose-network weights
        (False: random, for loading a checkpoint's weights over them)."""
        super().__init__()
        if normalization not in NORMALIZATIONS:
            raise OpenHMRError(
                f"normalization: expected one of {NORMALIZATIONS}, got {normalization!r}"
            )
        if iterations < 1:
            raise OpenHMRError(f"iterations: expected ≥ 1, got {iterations}")
        if image_size < 32:
            raise OpenHMRError(f"image_size: expected ≥ 32, got {image_size}")
        if heads < 1 or (heads > 1 and head != "hmr"):
            raise OpenHMRError(f'heads: expected 1, or more of head "hmr"; got {heads} of {head!r}')
        problem = feedback_problem(feedback, backbone, head, features) or views_problem(
            views, backbone, head, features
        )
        if problem is not None:
            raise OpenHMRError(": ".join(problem))
        if root_start and head != "hmr":
            raise OpenHMRError(f'root_start: needs head "hmr", got {head!r}')
        self.config = HMRConfig(
            backbone, head, width, hidden, iterations, normalization, image_size, features,
            orientations, feedback, views, heads, bool(root_start),
        )  # fmt: skip
        self.encoder = build_encoder(
            backbone, width, features, image_size, pretrained_encoder, orientations
        )
        regressors = [
            build_regressor(
                head, self.encoder.feature_dim, hidden, iterations, FEEDBACK_DIMS[feedback]
            )
            for _ in range(heads)
        ]
        self.regressor = regressors[0]
        # the ensemble's other heads (state-dict keys "extra_heads.<i>."), read when evaluating
        self.extra_heads = nn.ModuleList(regressors[1:])
        # state-dict keys "root_reader." only when root_start (older checkpoints have none)
        self.root_reader = RootReader(self.encoder.feature_dim, dropout=0.0) if root_start else None
        self.body_model = body_model

    @classmethod
    def from_config(
        cls,
        config: HMRConfig | dict[str, Any],
        body_model: BodyModel | None = None,
        pretrained_encoder: bool = True,
    ) -> HMR:
        values = config.to_dict() if isinstance(config, HMRConfig) else dict(config)
        unknown = set(values) - set(HMRConfig.__dataclass_fields__)
        if unknown:
            raise OpenHMRError(f"HMR config: unknown keys {sorted(unknown)}")
        return cls(**values, body_model=body_model, pretrained_encoder=pretrained_encoder)

    def set_orientations(self, orientations: int) -> HMR:
        """Read crops `orientations` ways up from now on (a MoveNet encoder's test-time choice,
        no weights change; `HMRConfig.orientations`). Returns the model."""
        c = self.config
        problem = encoder_settings_problem(c.backbone, c.features, c.image_size, orientations)
        if problem is not None:
            raise OpenHMRError(": ".join(problem))
        if isinstance(self.encoder, MoveNetEncoder):
            self.encoder.turns = turns_of(orientations)
        self.config = replace(c, orientations=orientations)
        return self

    def set_views(self, views: str) -> HMR:
        """Read and average `views` from now on when evaluating (`HMRConfig.views`,
        `openhmr.model.views`; no weights change). Returns the model."""
        c = self.config
        problem = views_problem(views, c.backbone, c.head, c.features)
        if problem is not None:
            raise OpenHMRError(": ".join(problem))
        self.config = replace(c, views=views)
        return self

    def with_heads(self, *others: HMR) -> HMR:
        """This network with the regressors of `others` (networks of the same architecture:
        encoder, features, head, feedback; their encoders' weights are not read) appended as
        further heads, whose outputs evaluating averages with this one's.  A new network;
        views, orientations and the body model are this one's."""
        same = (
            "backbone", "head", "hidden", "iterations", "image_size", "features", "feedback",
            "root_start",
        )  # fmt: skip
        ours = {k: getattr(self.config, k) for k in same}
        for other in others:
            theirs = {k: getattr(other.config, k) for k in same}
            if theirs != ours:
                differ = {k: (theirs[k], ours[k]) for k in same if theirs[k] != ours[k]}
                raise OpenHMRError(
                    f"with_heads: a head of another architecture (theirs, ours): {differ}"
                )
            if other.config.heads != 1:
                raise OpenHMRError("with_heads: each added network must have one head")
        combined = HMR.from_config(
            replace(self.config, heads=self.config.heads + len(others)),
            body_model=self.body_model,
            pretrained_encoder=False,
        )
        combined.encoder.load_state_dict(self.encoder.state_dict())
        combined.regressor.load_state_dict(self.regressor.state_dict())
        if self.root_reader is not None:  # every head starts from this network's reader
            combined.root_reader.load_state_dict(self.root_reader.state_dict())
        regressors = [*self.extra_heads, *(o.regressor for o in others)]
        for target, source in zip(combined.extra_heads, regressors, strict=True):
            target.load_state_dict(source.state_dict())
        return combined.train(self.training)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """RGB images with values in [0, 1] (B, 3, H, W) -> this network's input convention."""
        if self.config.normalization == "symmetric":
            return images * 2 - 1
        if self.config.normalization == "pixels":
            return images * 255.0
        mean = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return (images - mean) / std

    def regress(self, images: torch.Tensor) -> list[torch.Tensor]:
        """images (B, 3, H, W) -> the head's raw parameters for every iteration, each (B, P)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise OpenHMRError(f"images: expected (B, 3, H, W), got {tuple(images.shape)}")
        if reads_flipped(self.config.views) and not self.training:
            # unflatten, not chunk: an exported graph keeps its batch dimension dynamic
            features, flipped = self.encoder(torch.cat([images, images.flip(3)])).unflatten(
                0, (2, -1)
            )
            return self._regress_views(features, flipped)
        return self.regress_features(self.encoder(images))

    def regress_features(self, features: torch.Tensor) -> list[torch.Tensor]:
        """φ (B, D) computed beforehand (a frozen encoder's cache) -> as `regress` (the
        views of φ when evaluating; "flip" views read no mirrored crop here)."""
        if (self.config.views != "one" or self.config.heads > 1) and not self.training:
            return self._regress_views(features)
        return self._regress_once(features)

    def start_root(self, features: torch.Tensor) -> torch.Tensor | None:
        """φ (B, D) -> Θ₀'s root (B, 3) read by the root reader (detached: the heads' losses
        do not train it), or None without `root_start`."""
        if self.root_reader is None:
            return None
        with torch.no_grad():
            return self.root_reader.axis_angle(features)

    def _regress_once(self, features: torch.Tensor) -> list[torch.Tensor]:
        start = {} if self.root_reader is None else {"start_root": self.start_root(features)}
        if self.config.feedback == "none":
            return self.regressor(features, **start)
        return self.regressor(
            features, lambda theta: self.keypoint_feedback(features, theta), **start
        )

    def _regress_heads(self, features: torch.Tensor) -> list[torch.Tensor]:
        """φ (N, D) -> each iteration's Θ of every head, (H, N, 85): the heads step in
        lockstep, so each iteration's keypoint feedback poses every head's body in one call."""
        heads = (self.regressor, *self.extra_heads)
        feedback = None
        if self.config.feedback != "none":
            tiled = features if len(heads) == 1 else features.repeat(len(heads), 1)
            feedback = functools.partial(self.keypoint_feedback, tiled)
        return regress_in_lockstep(heads, features, feedback, self.start_root(features))

    def _regress_views(
        self, features: torch.Tensor, flipped: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        """φ (B, D) (and φ of the mirrored crop) -> each iteration's Θ averaged over the
        views and heads, every head reading every view in one batch."""
        readings = [(features, False)] + ([] if flipped is None else [(flipped, True)])
        inputs, backs = [], []
        for reading, was_flipped in readings:
            for mirror, turn in view_list(self.config.views):
                moved = mirror or turn  # φ as read needs no move (any encoder's φ)
                inputs.append(
                    view_features(reading, self.config.features, mirror, turn) if moved else reading
                )
                backs.append((mirror != was_flipped, turn))
        out = []
        for params in self._regress_heads(torch.cat(inputs)):  # H x (V·B) x 85
            by_view = params.float().unflatten(1, (len(backs), -1))  # H x V x B x 85
            views = [
                params_back(by_view[:, v].flatten(0, 1), mirror, turn).unflatten(
                    0, (params.shape[0], -1)
                )
                for v, (mirror, turn) in enumerate(backs)
            ]  # each H x B x 85, in the crop's own frame
            out.append(average_params(torch.cat(views)).to(params.dtype))
        return out

    def keypoint_feedback(self, features: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """φ (B, D), Θ_t (B, 85) -> (B, 34): per COCO-17 keypoint of φ, its x, y minus where
        the body at Θ_t projects it (crop coordinates in [−1, 1]), zero where it scores below
        `UNSEEN_SCORE` (`HMRConfig.feedback` "keypoints")."""
        if self.body_model is None:
            raise OpenHMRError("keypoint feedback needs a body model attached to the network")
        rows = coco17_rows(self.body_model.keypoint_names)
        theta = self.regressor.decode(params)
        keypoints = self._keypoint_model()(pose=theta.rotations, betas=theta.betas).keypoints
        projected = weak_perspective_project(keypoints[:, rows], theta.camera)
        target = features[:, keypoint_columns(self.config.features)].unflatten(1, (-1, 3))
        seen = (target[..., 2:] >= UNSEEN_SCORE).to(projected.dtype)
        return ((target[..., :2] - projected) * seen).flatten(1)

    def forward(self, images: torch.Tensor, pose_body: str = "all") -> list[HMROutput]:
        """pose_body: "all" poses the body model for every iteration; "final" only for the
        last (what the losses need besides the rotations and β of every iteration: training
        skips T − 1 body evaluations this way); "keypoints" gives the last iteration's
        keypoints (exactly the mesh's, `KeypointModel`) without its vertices — all training
        needs, at a fraction of the cost; "keypoints-all" every iteration's keypoints (training
        that supervises every iteration, `optim.iteration_losses` "all")."""
        _check_pose_body(pose_body)  # before the encoder runs
        return self.decode_all(self.regress(images), pose_body)

    def decode_all(self, params: list[torch.Tensor], pose_body: str = "all") -> list[HMROutput]:
        """Every iteration's raw parameters -> `HMROutput`s (see `forward` for pose_body)."""
        _check_pose_body(pose_body)
        last = len(params) - 1
        if pose_body == "keypoints-all":
            return [self.decode(p, with_body="keypoints") for p in params]
        final = "keypoints" if pose_body == "keypoints" else True
        return [
            self.decode(p, with_body=final if i == last else pose_body == "all")
            for i, p in enumerate(params)
        ]

    def decode(self, params: torch.Tensor, with_body: bool | str = True) -> HMROutput:
        """(B, P) -> `HMROutput`, posing the body model when there is one (and with_body;
        "keypoints": the keypoints only, vertices None)."""
        theta = self.regressor.decode(params)
        fields = {
            "params": params,
            "camera": theta.camera,
            "pose": theta.pose,
            "rotations": theta.rotations,
            "betas": theta.betas,
        }
        if self.body_model is not None and with_body == "keypoints":
            keypoints = self._keypoint_model()(pose=theta.rotations, betas=theta.betas).keypoints
            fields["keypoints3d"] = keypoints
            fields["keypoints2d"] = weak_perspective_project(keypoints, theta.camera)
        elif self.body_model is not None and with_body:
            body = self.body_model(pose=theta.rotations, betas=theta.betas)
            fields["vertices"] = body.vertices
            fields["keypoints3d"] = body.keypoints
            fields["keypoints2d"] = weak_perspective_project(body.keypoints, theta.camera)
        return HMROutput(**fields)

    def _keypoint_model(self) -> KeypointModel:
        """The body model's `KeypointModel`: built once per body model, kept out of the
        module tree and the state dict, and moved with the body model."""
        source, model = self.__dict__.get("_keypoints_of", (None, None))
        if source is not self.body_model:
            model = KeypointModel(self.body_model)
            self.__dict__["_keypoints_of"] = (self.body_model, model)
        return model.to(self.body_model.rest_template.device)


def _check_pose_body(pose_body: str) -> None:
    if pose_body not in POSE_BODY:
        raise OpenHMRError(f"pose_body: expected one of {POSE_BODY}, got {pose_body!r}")


def encoder_settings_problem(
    backbone: str, features: str, image_size: int, orientations: int = 1
) -> tuple[str, str] | None:
    """(setting, problem) when no encoder takes this combination, else None."""
    if orientations not in ORIENTATIONS:
        return "orientations", f"expected one of {ORIENTATIONS}, got {orientations!r}"
    if backbone in BACKBONES and orientations != 1:
        return "orientations", f"the ResNet encoders read the crop one way up, got {orientations}"
    if backbone in MOVENET_BACKBONES and image_size % 32:
        return "image_size", f"the MoveNet encoders need a multiple of 32, got {image_size}"
    if backbone in BACKBONES and features != "pooled":
        return "features", f'the ResNet encoders give "pooled", got {features!r}'
    return None


def coco17_rows(names: tuple[str, ...] | list[str]) -> list[int]:
    """Which of a body model's keypoints (by name) are COCO's 17, in COCO order."""
    missing = [n for n in COCO17_NAMES if n not in names]
    if missing:
        raise OpenHMRError(
            f"keypoint feedback: the body model's keypoints lack COCO's {', '.join(missing)}"
        )
    return [list(names).index(n) for n in COCO17_NAMES]


def feedback_problem(
    feedback: str, backbone: str, head: str, features: str
) -> tuple[str, str] | None:
    """(setting, problem) when this network cannot take `feedback`, else None."""
    if feedback not in FEEDBACKS:
        return "feedback", f"expected one of {FEEDBACKS}, got {feedback!r}"
    if feedback == "none":
        return None
    if backbone not in MOVENET_BACKBONES or "keypoints" not in features:
        return "feedback", "keypoint feedback needs a MoveNet encoder whose features hold keypoints"
    if head != "hmr":
        return "feedback", f'keypoint feedback needs the "hmr" head, got {head!r}'
    return None


def build_encoder(
    backbone: str,
    width: int,
    features: str,
    image_size: int,
    pretrained: bool = True,
    orientations: int = 1,
) -> nn.Module:
    """The encoder a config names; it has `feature_dim` (the length of φ)."""
    problem = encoder_settings_problem(backbone, features, image_size, orientations)
    if problem is not None:
        raise OpenHMRError(": ".join(problem))
    if backbone in MOVENET_BACKBONES:
        return MoveNetEncoder(MOVENET_BACKBONES[backbone], features, pretrained, orientations)
    return build_backbone(backbone, width)


class ParameterNetwork(nn.Module):
    """image -> Θ for all iterations as one tensor (B, T, P): the graph exported to ONNX."""

    def __init__(self, model: HMR) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack(self.model.regress(images), dim=1)
