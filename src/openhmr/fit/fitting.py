"""Test-time fitting: refine people's HMR estimates Θ = (camera, θ, β) so the body's keypoints
land on given 2D keypoints, under priors (see `openhmr.fit.objective` for the terms).

Coordinates are the crop's, normalised to [−1, 1], with HMR's weak-perspective camera
x̂ = s · (X_xy + t): the network's own frame (`keypoints_to_crop` maps image pixels in).
Variables per person: the root rotation as R̂_root · exp(δ) (free of the axis-angle
singularity at π, where HMR's mean root sits), the 23 body joints' axis-angle θ (the joint-angle
prior bounds its components), β, log s and t.

Steps: (1) facing: the camera and root alone, from `facing_candidates` turns of the estimate
about the body's own vertical axis, a few iterations each; each person keeps the turn that fits
best (regressors often misjudge which way a body faces, and 2D fitting does not recover from a
half turn); (2) everything, with the robust scale σ annealed from `robust_scale_start` to
`robust_scale` over `anneal_iterations` (wide basin first, outliers down-weighted last).
Adam (default) updates each person on its own gradients, and a person stops once its
objective changes by less than `tolerance` (relative) for `patience` iterations, so a batch
gives the same result as fitting each person alone.  "lbfgs" runs torch's L-BFGS on the
batch's summed objective: fewer iterations, but the line search is shared, so people are not
independent.

Fallbacks (`FitResult.refined` False, the input estimate returned unchanged): fewer than
`min_keypoints` keypoints with confidence ≥ `min_confidence`; a non-finite result; a final
objective no lower than the estimate's own.  A NaN keypoint counts as missing (confidence 0).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from openhmr.body.keypoint_model import KeypointModel
from openhmr.body.keypoints import COCOPLUS_NAMES
from openhmr.body.limits import JOINT_LIMITS
from openhmr.body.model import BodyModel
from openhmr.errors import OpenHMRError
from openhmr.fit import objective
from openhmr.fit.keypoints import COCO17_MAPPINGS, body_matrix, read_keypoints
from openhmr.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from openhmr.model.discriminator import Discriminator

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
    fit_shape: optimise β; facing_candidates: turns of the root tried in step 1 (1 = keep the
    estimate's); facing_iterations: their iterations; coco17_mapping: where COCO-17 keypoints
    sit on the body: "namesake" (the cocoplus keypoints of the same name, as LSP's annotations
    are compared with them in training and evaluation) or "calibrated" (hips and shoulders
    where MoveNet puts them relative to the open body model's joint centres; docs/fitting.md
    says why namesake is the default); threads: torch's intra-op
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
    fit_shape: bool = True
    facing_candidates: int = 4
    facing_iterations: int = 10
    coco17_mapping: str = "namesake"
    threads: int | None = 1

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise OpenHMRError(
                f"fit optimizer: expected one of {OPTIMIZERS}, got {self.optimizer!r}"
            )
        positive = ("iterations", "learning_rate", "robust_scale", "robust_scale_start")
        for name in positive:
            if not getattr(self, name) > 0:
                raise OpenHMRError(f"fit {name}: expected > 0, got {getattr(self, name)}")
        weights = (
            "angle_prior_weight",
            "adversarial_weight",
            "shape_prior_weight",
            "pose_pull_weight",
            "betas_pull_weight",
            "tolerance",
            "min_confidence",
            "angle_prior_margin",
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


@dataclass(frozen=True)
class FitResult:
    """Per person (batch first): camera (B, 3) s, tx, ty; pose (B, 24, 3) axis-angle;
    betas (B, NB); rotations (B, 24, 3, 3); keypoints2d (B, K, 2) the fitted layout's body
    keypoints projected (crop coordinates); error, initial_error (B,): confidence-weighted mean
    distance of those keypoints to the targets after / before fitting (crop units: × crop
    side / 2 for pixels; NaN without usable keypoints); objective (B,) final objective;
    iterations (B,) main-stage iterations run; converged (B,) stopped on the tolerance;
    refined (B,) False where the input estimate was kept (see the module doc); keypoints_used
    (B,) keypoints with confidence ≥ min_confidence; layout: the targets' layout."""

    camera: torch.Tensor
    pose: torch.Tensor
    betas: torch.Tensor
    rotations: torch.Tensor
    keypoints2d: torch.Tensor
    error: torch.Tensor
    initial_error: torch.Tensor
    objective: torch.Tensor
    iterations: torch.Tensor
    converged: torch.Tensor
    refined: torch.Tensor
    keypoints_used: torch.Tensor
    layout: str


def keypoints_to_crop(
    keypoints: np.ndarray, crop_center: np.ndarray, crop_size: np.ndarray | float
) -> np.ndarray:
    """Image-pixel keypoints (N, K, 3) -> normalised crop coordinates (x − c) / (side / 2),
    confidences unchanged.  crop_center: (N, 2) pixels; crop_size: (N,) or scalar side."""
    keypoints = np.array(keypoints, dtype=np.float64)
    half = np.broadcast_to(np.asarray(crop_size, np.float64), keypoints.shape[:1]) / 2
    keypoints[..., :2] = (keypoints[..., :2] - np.asarray(crop_center)[:, None]) / half[
        :, None, None
    ]
    return keypoints


class _Problem:
    """The objective of one batch of people around their estimates."""

    def __init__(
        self,
        model: KeypointModel,
        matrix: torch.Tensor,
        targets: torch.Tensor,
        weights: torch.Tensor,
        estimate: dict[str, torch.Tensor],
        discriminator: Discriminator | None,
        config: FitConfig,
    ) -> None:
        self.model, self.matrix, self.config = model, matrix, config
        self.targets, self.weights = targets, weights
        self.estimate, self.discriminator = estimate, discriminator
        dtype, device = targets.dtype, targets.device
        margin = np.array([-config.angle_prior_margin, config.angle_prior_margin])
        self.limits = torch.as_tensor(JOINT_LIMITS[1:] + margin, dtype=dtype, device=device)

    def body(self, v: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Variables -> rotations (B, 24, 3, 3), camera (B, 3), the layout's projected
        keypoints (B, K, 2)."""
        turns = axis_angle_to_matrix(torch.cat([v["root"][:, None], v["body"]], dim=1))
        root = v["root_base"] @ turns[:, 0]  # B x 3 x 3
        rotations = torch.cat([root[:, None], turns[:, 1:]], dim=1)  # B x 24 x 3 x 3
        keypoints = self.model(pose=rotations, betas=v["betas"]).keypoints  # B x 19 x 3
        camera = torch.cat([v["log_scale"].exp(), v["translation"]], dim=1)  # B x 3
        projected = camera[:, None, :1] * (keypoints[..., :2] + camera[:, None, 1:])
        return rotations, camera, self.matrix @ projected  # B x K x 2

    def __call__(self, v: dict[str, torch.Tensor], scale: float) -> torch.Tensor:
        """Per-person objective (B,)."""
        c = self.config
        rotations, _, points = self.body(v)
        total = objective.reprojection_term(points, self.targets, self.weights, scale)
        if c.angle_prior_weight:
            total = total + c.angle_prior_weight * objective.joint_angle_term(
                v["body"], self.limits
            )
        if self.discriminator is not None and c.adversarial_weight:
            score = objective.adversarial_term(self.discriminator, rotations[:, 1:], v["betas"])
            total = total + c.adversarial_weight * score
        if c.shape_prior_weight:
            total = total + c.shape_prior_weight * objective.squared_norm(v["betas"])
        if c.pose_pull_weight:
            pull = objective.squared_norm(v["body"] - self.estimate["body"])
            total = total + c.pose_pull_weight * pull
        if c.betas_pull_weight:
            pull = objective.squared_norm(v["betas"] - self.estimate["betas"])
            total = total + c.betas_pull_weight * pull
        return total


@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to `count` inside the block (None: untouched)."""
    previous = torch.get_num_threads()
    if count is None or count == previous:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _check_estimate(
    camera: torch.Tensor, pose: torch.Tensor, betas: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    batch = camera.shape[0]
    if pose.shape[1:] == (72,):
        pose = pose.reshape(batch, 24, 3)
    if pose.shape[1:] == (24, 3):
        pose = axis_angle_to_matrix(pose)
    if camera.shape != (batch, 3) or pose.shape != (batch, 24, 3, 3) or betas.shape[0] != batch:
        raise OpenHMRError(
            "fit: expected an estimate camera (B, 3), pose (B, 24, 3) axis-angle or (B, 24, 3, 3) "
            f"and betas (B, NB), got {tuple(camera.shape)}, {tuple(pose.shape)}, "
            f"{tuple(betas.shape)}"
        )
    for name, value in (("camera", camera), ("pose", pose), ("betas", betas)):
        if not torch.isfinite(value).all():
            raise OpenHMRError(f"fit: the estimate's {name} has NaN or infinite values")
    return camera, pose, betas


def _facing_turns(count: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(C, 3, 3) turns about the body's vertical axis (y), 2πk/C."""
    angles = torch.arange(count, dtype=dtype, device=device) * (2 * math.pi / count)
    axis_angle = torch.zeros(count, 3, dtype=dtype, device=device)
    axis_angle[:, 1] = angles
    return axis_angle_to_matrix(axis_angle)


def _repeat(v: dict[str, torch.Tensor], count: int) -> dict[str, torch.Tensor]:
    return {k: t.repeat_interleave(count, dim=0) for k, t in v.items()}


class _Adam:
    """Adam (Kingma & Ba; torch's defaults, no weight decay) over tensors whose first dimension
    is the person.  People leave for good (`stop`): from then on their rows keep the values
    they had, so each person's path depends on its own gradients only."""

    def __init__(self, params: list[torch.Tensor], lr: float) -> None:
        self.params, self.lr, self.steps = params, lr, 0
        self.first = [torch.zeros_like(p) for p in params]
        self.second = [torch.zeros_like(p) for p in params]
        self.stopped = torch.zeros(params[0].shape[0], dtype=torch.bool, device=params[0].device)
        self.frozen = [p.detach().clone() for p in params]

    @torch.no_grad()
    def stop(self, rows: torch.Tensor) -> None:
        for p, kept in zip(self.params, self.frozen, strict=True):
            kept[rows] = p[rows]
        self.stopped |= rows

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        self.steps += 1
        grads = [p.grad for p in self.params]
        torch._foreach_lerp_(self.first, grads, 1 - beta1)
        torch._foreach_mul_(self.second, beta2)
        torch._foreach_addcmul_(self.second, grads, grads, 1 - beta2)
        denominator = torch._foreach_sqrt(self.second)
        torch._foreach_div_(denominator, math.sqrt(1 - beta2**self.steps))
        torch._foreach_add_(denominator, eps)
        step = self.lr / (1 - beta1**self.steps)
        torch._foreach_addcdiv_(self.params, self.first, denominator, -step)
        if self.stopped.any():
            for p, kept in zip(self.params, self.frozen, strict=True):
                p[self.stopped] = kept[self.stopped]


def _adam(
    problem: _Problem,
    variables: dict[str, torch.Tensor],
    free: tuple[str, ...],
    iterations: int,
    scales: list[float],
    config: FitConfig,
    check_from: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Adam on `free` variables, each person on its own.  Returns per-person iterations run,
    converged flags and the last objective (at the final scale)."""
    params = [variables[k].requires_grad_(True) for k in free]
    optimizer = _Adam(params, config.learning_rate)
    batch = params[0].shape[0]
    device = params[0].device
    active = torch.ones(batch, dtype=torch.bool, device=device)
    converged = torch.zeros(batch, dtype=torch.bool, device=device)
    steps = torch.zeros(batch, dtype=torch.long, device=device)
    calm = torch.zeros(batch, dtype=torch.long, device=device)
    previous = None
    for it in range(iterations):
        for p in params:
            p.grad = None
        loss = problem(variables, scales[min(it, len(scales) - 1)])  # B
        loss.sum().backward()
        optimizer.step()
        with torch.no_grad():
            steps += active.long()
            current = loss.detach()
            if previous is not None and it >= check_from:
                change = (previous - current).abs() / previous.abs().clamp_min(1e-8)
                calm = torch.where(change < config.tolerance, calm + 1, torch.zeros_like(calm))
                done = active & (calm >= config.patience)
                if done.any():
                    optimizer.stop(done)
                converged |= done
                active &= ~done
            previous = current
        if not active.any():
            break
    for p in params:
        p.requires_grad_(False)
        p.grad = None
    with torch.no_grad():
        final = problem(variables, scales[-1])
    return steps, converged, final


def _lbfgs(
    problem: _Problem,
    variables: dict[str, torch.Tensor],
    free: tuple[str, ...],
    iterations: int,
    scales: list[float],
    config: FitConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """torch's L-BFGS (strong Wolfe) on the summed objective, in up to three scale stages."""
    params = [variables[k].requires_grad_(True) for k in free]
    stages = sorted({scales[0], scales[len(scales) // 2], scales[-1]}, reverse=True)
    per_stage = max(1, iterations // len(stages))
    evaluations = 0
    converged = True
    for scale in stages:
        optimizer = torch.optim.LBFGS(
            params,
            lr=1.0,
            max_iter=per_stage,
            tolerance_change=config.tolerance * 1e-3,
            line_search_fn="strong_wolfe",
        )

        def closure(scale: float = scale, optimizer=optimizer) -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            loss = problem(variables, scale).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        state = optimizer.state[optimizer._params[0]]
        evaluations += int(state.get("n_iter", per_stage))
        converged = converged and int(state.get("n_iter", per_stage)) < per_stage
    for p in params:
        p.requires_grad_(False)
    with torch.no_grad():
        final = problem(variables, scales[-1])
    batch = final.shape[0]
    steps = torch.full((batch,), evaluations, dtype=torch.long, device=final.device)
    return steps, torch.full_like(steps, converged, dtype=torch.bool), final


def _scales(config: FitConfig) -> list[float]:
    count = max(1, config.anneal_iterations)
    start, end = config.robust_scale_start, config.robust_scale
    return [start * (end / start) ** (i / max(1, count - 1)) for i in range(count)]


def fit_keypoints(
    body_model: BodyModel,
    camera: torch.Tensor,
    pose: torch.Tensor,
    betas: torch.Tensor,
    keypoints: np.ndarray | torch.Tensor,
    layout: str | None = None,
    discriminator: Discriminator | None = None,
    config: FitConfig | None = None,
) -> FitResult:
    """Fit people's estimates to their 2D keypoints.

    body_model: a `BodyModel` with the 19 cocoplus keypoints; camera (B, 3) s, tx, ty; pose
    (B, 24, 3) axis-angle, (B, 72) or (B, 24, 3, 3); betas (B, NB): the regressor's estimate;
    keypoints (B, K, 3): x, y in normalised crop coordinates and a confidence (layouts:
    `openhmr.fit.keypoints`; `keypoints_to_crop` converts image pixels); layout: None infers
    it from K; discriminator: HMR's trained discriminator for the adversarial prior (None:
    that term is off); config: `FitConfig`.  Returns `FitResult` (on the body model's device).
    """
    config = config or FitConfig()
    if tuple(body_model.keypoint_names) != COCOPLUS_NAMES:
        raise OpenHMRError(
            "fit: the body model's keypoints must be the 19 cocoplus keypoints (PAPER.md), got "
            f"{len(body_model.keypoint_names)} ({', '.join(body_model.keypoint_names[:4])}, ...)"
        )
    dtype, device = body_model.v_template.dtype, body_model.v_template.device
    as_tensor = lambda t: torch.as_tensor(t).to(device=device, dtype=dtype)  # noqa: E731
    camera, rotations, betas = _check_estimate(as_tensor(camera), as_tensor(pose), as_tensor(betas))
    if torch.is_tensor(keypoints):
        keypoints = keypoints.detach().cpu().numpy()
    keypoints, layout = read_keypoints(keypoints, layout)
    batch = camera.shape[0]
    if keypoints.shape[0] != batch:
        raise OpenHMRError(f"fit: {keypoints.shape[0]} people's keypoints for {batch} estimates")
    targets = torch.as_tensor(keypoints, dtype=dtype, device=device)
    confidence = targets[..., 2]
    weights = torch.where(confidence >= config.min_confidence, confidence, 0.0)
    weights = torch.where(confidence > 0, weights, 0.0)
    used = (weights > 0).sum(-1)
    matrix = body_matrix(layout, config.coco17_mapping)
    matrix = torch.as_tensor(matrix, dtype=dtype, device=device)
    frozen = None
    if discriminator is not None and config.adversarial_weight:
        frozen = copy.deepcopy(discriminator).to(device=device, dtype=dtype).eval()
        frozen.requires_grad_(False)

    with torch.enable_grad(), _threads(config.threads):
        result = _fit(
            KeypointModel(body_model),
            matrix,
            targets[..., :2],
            weights,
            camera,
            rotations,
            betas,
            frozen,
            config,
        )
    steps, converged, final, variables, problem = result
    with torch.no_grad():
        fitted_rotations, fitted_camera, points = problem.body(variables)
        estimate_vars = problem.estimate
        start_loss = problem(estimate_vars, _scales(config)[-1])
        _, _, start_points = problem.body(estimate_vars)
        error = objective.reprojection_error(points, targets[..., :2], weights)
        initial_error = objective.reprojection_error(start_points, targets[..., :2], weights)
        finite = torch.stack(
            [torch.isfinite(t.flatten(1)).all(1) for t in (fitted_rotations, fitted_camera, points)]
        ).all(0) & torch.isfinite(variables["betas"]).all(1)
        refined = (used >= config.min_keypoints) & finite & (final < start_loss)
        keep = refined[:, None]
        fitted_camera = torch.where(keep, fitted_camera, camera)
        fitted_rotations = torch.where(keep[..., None, None], fitted_rotations, rotations)
        fitted_betas = torch.where(keep, variables["betas"], betas)
        points = torch.where(keep[..., None], points, start_points)
        error = torch.where(refined, error, initial_error)
        final = torch.where(refined, final, start_loss)
    return FitResult(
        camera=fitted_camera,
        pose=matrix_to_axis_angle(fitted_rotations),
        betas=fitted_betas,
        rotations=fitted_rotations,
        keypoints2d=points,
        error=error,
        initial_error=initial_error,
        objective=final,
        iterations=torch.where(refined, steps, torch.zeros_like(steps)),
        converged=converged & refined,
        refined=refined,
        keypoints_used=used,
        layout=layout,
    )


def _fit(
    model: KeypointModel,
    matrix: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    camera: torch.Tensor,
    rotations: torch.Tensor,
    betas: torch.Tensor,
    discriminator: Discriminator | None,
    config: FitConfig,
) -> tuple:
    batch = camera.shape[0]
    estimate = {
        "root_base": rotations[:, 0],
        "root": torch.zeros(batch, 3, dtype=camera.dtype, device=camera.device),
        "body": matrix_to_axis_angle(rotations[:, 1:]),
        "betas": betas,
        "log_scale": camera[:, :1].clamp_min(1e-3).log(),
        "translation": camera[:, 1:],
    }
    problem = _Problem(model, matrix, targets, weights, estimate, discriminator, config)
    scales = _scales(config)
    start = {k: v.detach().clone() for k, v in estimate.items()}
    if config.facing_candidates > 1:
        start = _choose_facing(problem, start, config)
    else:
        start = _aligned_camera(problem, start, scales[0])
    variables = {k: v.detach().clone() for k, v in start.items()}
    free = ("root", "body", "log_scale", "translation") + (("betas",) if config.fit_shape else ())
    if config.optimizer == "adam":
        steps, converged, final = _adam(
            problem, variables, free, config.iterations, scales, config, len(scales)
        )
    else:
        steps, converged, final = _lbfgs(
            problem, variables, free, config.iterations, scales, config
        )
    return steps, converged, final, variables, problem


@torch.no_grad()
def _aligned_camera(
    problem: _Problem, start: dict[str, torch.Tensor], scale: float
) -> dict[str, torch.Tensor]:
    """Each person's start with the camera that best aligns its body's keypoints to the
    targets (weighted least squares for s and t, the body as it is), where that fits better
    than the start's own camera (a regressor's camera can be far off, even of the wrong sign,
    and Adam moves log s only by the learning rate per step)."""
    _, camera, points = problem.body(start)
    body_xy = (points / camera[:, None, :1]) - camera[:, None, 1:]  # B x K x 2: X_xy
    w = problem.weights  # B x K
    total = w.sum(-1).clamp_min(1e-9)[:, None]
    mean_body = (w[..., None] * body_xy).sum(1) / total  # B x 2
    mean_target = (w[..., None] * problem.targets).sum(1) / total
    centred_body, centred_target = (
        body_xy - mean_body[:, None],
        problem.targets - mean_target[:, None],
    )
    spread = (w * (centred_body * centred_body).sum(-1)).sum(-1)  # B
    s = (w * (centred_body * centred_target).sum(-1)).sum(-1) / spread.clamp_min(1e-12)
    usable = (s > 1e-3) & (spread > 1e-12) & torch.isfinite(s)
    s = torch.where(usable, s, torch.ones_like(s))
    t = mean_target / s[:, None] - mean_body  # x = s (X + t)
    aligned = {**start, "log_scale": s.log()[:, None], "translation": t}
    better = usable & (problem(aligned, scale) < problem(start, scale))
    return {
        k: torch.where(better.view(-1, *([1] * (v.ndim - 1))), aligned[k], v)
        for k, v in start.items()
    }


def _choose_facing(
    problem: _Problem, start: dict[str, torch.Tensor], config: FitConfig
) -> dict[str, torch.Tensor]:
    """Try `facing_candidates` turns of the root (camera and root free, the rest fixed, at the
    widest robust scale); return each person's best start."""
    count, batch = config.facing_candidates, start["root"].shape[0]
    turns = _facing_turns(count, start["root"].dtype, start["root"].device)
    trial = _repeat(start, count)
    trial["root_base"] = trial["root_base"] @ turns.repeat(batch, 1, 1)
    copies = {k: v.repeat_interleave(count, dim=0) for k, v in problem.estimate.items()}
    candidates = _Problem(
        problem.model,
        problem.matrix,
        problem.targets.repeat_interleave(count, dim=0),
        problem.weights.repeat_interleave(count, dim=0),
        copies,
        None,  # the body's pose and shape are fixed here: their priors do not change
        replace(config, angle_prior_weight=0.0),
    )
    scale = [config.robust_scale_start]
    trial = _aligned_camera(candidates, trial, scale[0])
    free = ("root", "log_scale", "translation")
    _, _, final = _adam(candidates, trial, free, config.facing_iterations, scale, config, 10**9)
    best = final.view(batch, count).argmin(dim=1)  # B
    rows = torch.arange(batch, device=best.device) * count + best
    chosen = {k: v[rows].detach() for k, v in trial.items()}
    # fold the turn and the root update into the base rotation
    chosen["root_base"] = chosen["root_base"] @ axis_angle_to_matrix(chosen["root"])
    chosen["root"] = torch.zeros_like(chosen["root"])
    return chosen
