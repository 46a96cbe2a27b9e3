"""The fit's objective over one batch of people (`Problem`: variables -> body -> the terms of
`openhmr.fit.objective`) and the loops that minimise it: Adam per person (each stops on its
own tolerance) or torch's L-BFGS on the batch's sum, under an annealed robust scale."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from openhmr.body.keypoint_model import KeypointModel
from openhmr.body.limits import JOINT_LIMITS
from openhmr.fit import objective
from openhmr.fit.config import FitConfig
from openhmr.geometry.rotations import axis_angle_to_matrix
from openhmr.model.discriminator import Discriminator


class Posed(NamedTuple):
    """rotations (B, 24, 3, 3); camera (B, 3); points (B, K, 2) the layout's projected
    keypoints; keypoints3d (B, 19, 3) the cocoplus keypoints; vertices (B, V', 2) the extra
    vertices projected (None without)."""

    rotations: torch.Tensor
    camera: torch.Tensor
    points: torch.Tensor
    keypoints3d: torch.Tensor
    vertices: torch.Tensor | None


@dataclass(frozen=True)
class Extras:
    """The optional terms' targets for one batch (tensors on the fit's device):
    world (B, 17, 3), world_weights (B, 17) and world_matrix (17, 19) (the body's COCO-17
    keypoints from its cocoplus ones); outside (B, 1, S, S), inside_points (B, M, 2),
    inside_weights (B, M) (`openhmr.fit.guides.silhouette_targets`)."""

    world: torch.Tensor | None = None
    world_weights: torch.Tensor | None = None
    world_matrix: torch.Tensor | None = None
    outside: torch.Tensor | None = None
    inside_points: torch.Tensor | None = None
    inside_weights: torch.Tensor | None = None

    def repeat(self, count: int) -> Extras:
        """Each person's rows `count` times in a row (as `repeat_interleave`)."""

        def rows(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.repeat_interleave(count, dim=0)

        return Extras(
            rows(self.world),
            rows(self.world_weights),
            self.world_matrix,
            rows(self.outside),
            rows(self.inside_points),
            rows(self.inside_weights),
        )


class Problem:
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
        extras: Extras | None = None,
    ) -> None:
        self.model, self.matrix, self.config = model, matrix, config
        self.targets, self.weights = targets, weights
        self.estimate, self.discriminator = estimate, discriminator
        self.extras = extras or Extras()
        self.depth_reference: torch.Tensor | None = None  # (B, K) set by `hold_depth`
        self.agreement: torch.Tensor | None = None  # (B,) set by `measure_agreement`
        dtype, device = targets.dtype, targets.device
        margin = np.array([-config.angle_prior_margin, config.angle_prior_margin])
        self.limits = torch.as_tensor(JOINT_LIMITS[1:] + margin, dtype=dtype, device=device)

    def posed(self, v: dict[str, torch.Tensor]) -> Posed:
        """Variables -> the body they describe (`Posed`)."""
        turns = axis_angle_to_matrix(torch.cat([v["root"][:, None], v["body"]], dim=1))
        root = v["root_base"] @ turns[:, 0]  # B x 3 x 3
        rotations = torch.cat([root[:, None], turns[:, 1:]], dim=1)  # B x 24 x 3 x 3
        out = self.model(pose=rotations, betas=v["betas"])
        camera = torch.cat([v["log_scale"].exp(), v["translation"]], dim=1)  # B x 3
        projected = camera[:, None, :1] * (out.keypoints[..., :2] + camera[:, None, 1:])
        vertices = None
        if out.vertices is not None:
            vertices = camera[:, None, :1] * (out.vertices[..., :2] + camera[:, None, 1:])
        return Posed(rotations, camera, self.matrix @ projected, out.keypoints, vertices)

    @torch.no_grad()
    def hold_depth(self, v: dict[str, torch.Tensor]) -> None:
        """Take the body of `v` as the depth pull's reference (its keypoints' depth relative
        to their mean, camera axes)."""
        self.depth_reference = objective.relative_depth(self.posed(v).keypoints3d)

    @torch.no_grad()
    def measure_agreement(self, v: dict[str, torch.Tensor]) -> None:
        """Weigh the agreement pull for the body of `v`: exp(−(e / agreement_scale)²), e its
        keypoints' confidence-weighted mean distance to the targets (0 without targets)."""
        error = objective.reprojection_error(self.posed(v).points, self.targets, self.weights)
        gate = torch.exp(-((error / self.config.agreement_scale) ** 2))
        self.agreement = torch.nan_to_num(gate, nan=0.0)

    def body(self, v: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Variables -> rotations (B, 24, 3, 3), camera (B, 3), the layout's projected
        keypoints (B, K, 2)."""
        posed = self.posed(v)
        return posed.rotations, posed.camera, posed.points

    def __call__(self, v: dict[str, torch.Tensor], scale: float) -> torch.Tensor:
        """Per-person objective (B,)."""
        c, extras = self.config, self.extras
        posed = self.posed(v)
        rotations, points = posed.rotations, posed.points
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
        pose_pull = c.pose_pull_weight
        if c.agreement_pull_weight and self.agreement is not None:
            pose_pull = pose_pull + c.agreement_pull_weight * self.agreement
        if c.pose_pull_weight or c.agreement_pull_weight:
            pull = objective.squared_norm(v["body"] - self.estimate["body"])
            total = total + pose_pull * pull
        if c.betas_pull_weight:
            pull = objective.squared_norm(v["betas"] - self.estimate["betas"])
            total = total + c.betas_pull_weight * pull
        if c.depth_pull_weight and self.depth_reference is not None:
            depth = objective.relative_depth(posed.keypoints3d) - self.depth_reference
            total = total + c.depth_pull_weight * (depth * depth).sum(-1)
        if extras.world is not None and c.world_weight:
            body3d = extras.world_matrix @ posed.keypoints3d  # B x 17 x 3
            total = total + c.world_weight * objective.world_term(
                body3d, extras.world, extras.world_weights, c.world_scale, c.world_rotate
            )
        if extras.outside is not None and c.silhouette_weight and posed.vertices is not None:
            total = total + c.silhouette_weight * objective.silhouette_term(
                posed.vertices,
                extras.outside,
                extras.inside_points,
                extras.inside_weights,
                c.silhouette_scale,
            )
        return total


class PersonAdam:
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


def adam(
    problem: Problem,
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
    optimizer = PersonAdam(params, config.learning_rate)
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


def lbfgs(
    problem: Problem,
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


def robust_scales(config: FitConfig) -> list[float]:
    count = max(1, config.anneal_iterations)
    start, end = config.robust_scale_start, config.robust_scale
    return [start * (end / start) ** (i / max(1, count - 1)) for i in range(count)]
