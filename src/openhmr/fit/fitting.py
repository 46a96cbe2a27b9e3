"""Test-time fitting: refine people's HMR estimates Θ = (camera, θ, β) so the body's keypoints
land on given 2D keypoints, under priors (see `openhmr.fit.objective` for the terms).

Coordinates are the crop's, normalised to [−1, 1], with HMR's weak-perspective camera
x̂ = s · (X_xy + t): the network's own frame (`keypoints_to_crop` maps image pixels in).
Variables per person: the root rotation as R̂_root · exp(δ) (free of the axis-angle
singularity at π, where HMR's mean root sits), the 23 body joints' axis-angle θ (the joint-angle
prior bounds its components), β, log s and t.

Steps: (1) facing (`openhmr.fit.facing`): the camera and root alone, from `facing_candidates` turns
of the estimate about the body's own vertical axis, a few iterations each; each person keeps the
turn that fits best (regressors often misjudge which way a body faces, and 2D fitting does not
recover from a half turn); (2) everything, with the robust scale σ annealed from
`robust_scale_start` to `robust_scale` over `anneal_iterations` (wide basin first, outliers
down-weighted last; the loops are `openhmr.fit.optimize`'s). Adam (default) updates each person on
its own gradients, and a person stops once its objective changes by less than `tolerance`
(relative) for `patience` iterations, so a batch gives the same result as fitting each person
alone. "lbfgs" runs torch's L-BFGS on the batch's summed objective: fewer iterations, but the line
search is shared, so people are not independent.

Fallbacks (`FitResult.refined` False, the input estimate returned unchanged): fewer than
`min_keypoints` keypoints with confidence ≥ `min_confidence`; a non-finite result; a final
objective no lower than the estimate's own.  A NaN keypoint counts as missing (confidence 0).
The settings are `openhmr.fit.config.FitConfig`'s.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from openhmr.body.keypoint_model import KeypointModel
from openhmr.body.keypoints import COCOPLUS_NAMES
from openhmr.body.model import BodyModel
from openhmr.errors import OpenHMRError
from openhmr.fit import objective
from openhmr.fit.config import FitConfig
from openhmr.fit.facing import aligned_camera, choose_facing, world_orients
from openhmr.fit.guides import FitGuides, silhouette_targets, world_tensors
from openhmr.fit.keypoints import body_matrix, read_keypoints
from openhmr.fit.optimize import Extras, Problem, adam, lbfgs, robust_scales
from openhmr.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from openhmr.model.discriminator import Discriminator


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


def fit_keypoints(
    body_model: BodyModel,
    camera: torch.Tensor,
    pose: torch.Tensor,
    betas: torch.Tensor,
    keypoints: np.ndarray | torch.Tensor,
    layout: str | None = None,
    discriminator: Discriminator | None = None,
    config: FitConfig | None = None,
    guides: FitGuides | None = None,
) -> FitResult:
    """Fit people's estimates to their 2D keypoints (and, given `guides`, 3D landmarks and a
    person mask).

    body_model: a `BodyModel` with the 19 cocoplus keypoints; camera (B, 3) s, tx, ty; pose
    (B, 24, 3) axis-angle, (B, 72) or (B, 24, 3, 3); betas (B, NB): the regressor's estimate;
    keypoints (B, K, 3): x, y in normalised crop coordinates and a confidence (layouts:
    `openhmr.fit.keypoints`; `keypoints_to_crop` converts image pixels); layout: None infers
    it from K; discriminator: HMR's trained discriminator for the adversarial prior (None:
    that term is off); config: `FitConfig`; guides: `openhmr.fit.guides.FitGuides` in the
    crop frame (world landmarks for the 3D term, a mask for the silhouette term; each term runs
    when its guide is given and its weight is not 0).  Returns `FitResult` (on the body
    model's device).
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
    extras = _extras(guides, batch, config, dtype, device)
    frozen = None
    if discriminator is not None and config.adversarial_weight:
        frozen = copy.deepcopy(discriminator).to(device=device, dtype=dtype).eval()
        frozen.requires_grad_(False)

    with torch.enable_grad(), _threads(config.threads):
        vertices = None
        if extras.outside is not None:
            count = body_model.num_vertices
            vertices = torch.linspace(0, count - 1, config.silhouette_vertices).round().long()
        result = _fit(
            KeypointModel(body_model, vertices),
            matrix,
            targets[..., :2],
            weights,
            camera,
            rotations,
            betas,
            frozen,
            config,
            extras,
        )
    steps, converged, final, variables, problem = result
    with torch.no_grad():
        fitted_rotations, fitted_camera, points = problem.body(variables)
        estimate_vars = problem.estimate
        start_loss = problem(estimate_vars, robust_scales(config)[-1])
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


def _extras(
    guides: FitGuides | None,
    batch: int,
    config: FitConfig,
    dtype: torch.dtype,
    device: torch.device,
) -> Extras:
    """The optional terms' targets, for the terms that are on."""
    if guides is None:
        return Extras()
    guides.check(batch)
    world = world_weights = world_matrix = None
    if guides.world is not None and config.world_weight:
        world, world_weights = world_tensors(guides, dtype, device)
        coco = body_matrix("coco17", "namesake")
        world_matrix = torch.as_tensor(coco, dtype=dtype, device=device)
    outside = inside_points = inside_weights = None
    if guides.mask is not None and config.silhouette_weight:
        outside, inside_points, inside_weights = silhouette_targets(guides.mask, dtype, device)
    return Extras(world, world_weights, world_matrix, outside, inside_points, inside_weights)


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
    extras: Extras,
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
    problem = Problem(model, matrix, targets, weights, estimate, discriminator, config, extras)
    scales = robust_scales(config)
    start = {k: v.detach().clone() for k, v in estimate.items()}
    if config.facing_candidates > 1 or world_orients(problem):
        start = choose_facing(problem, start, config)
    else:
        start = aligned_camera(problem, start, scales[0])
    if config.depth_pull_weight:
        problem.hold_depth(start)
    if config.agreement_pull_weight:
        problem.measure_agreement(start)
    variables = {k: v.detach().clone() for k, v in start.items()}
    free = ("root", "body", "log_scale", "translation") + (("betas",) if config.fit_shape else ())
    if config.optimizer == "adam":
        steps, converged, final = adam(
            problem, variables, free, config.iterations, scales, config, len(scales)
        )
    else:
        steps, converged, final = lbfgs(problem, variables, free, config.iterations, scales, config)
    return steps, converged, final, variables, problem
