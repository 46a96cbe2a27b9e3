"""Step 1 of the fit: which way each body faces.  Regressors often misjudge it, and 2D fitting
does not recover from a half turn, so the camera and root alone are fitted from
`facing_candidates` turns of the estimate about the body's own vertical axis, and each person
keeps the turn that fits best; the camera starts from a least-squares alignment."""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from openhmr.fit.config import FitConfig
from openhmr.fit.optimize import Problem, adam
from openhmr.geometry.procrustes import procrustes_transform
from openhmr.geometry.rotations import axis_angle_to_matrix


def facing_turns(count: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(C, 3, 3) turns about the body's vertical axis (y), 2πk/C."""
    angles = torch.arange(count, dtype=dtype, device=device) * (2 * math.pi / count)
    axis_angle = torch.zeros(count, 3, dtype=dtype, device=device)
    axis_angle[:, 1] = angles
    return axis_angle_to_matrix(axis_angle)


def repeat_people(v: dict[str, torch.Tensor], count: int) -> dict[str, torch.Tensor]:
    return {k: t.repeat_interleave(count, dim=0) for k, t in v.items()}


@torch.no_grad()
def aligned_camera(
    problem: Problem, start: dict[str, torch.Tensor], scale: float
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


def world_orients(problem: Problem) -> bool:
    """Whether the 3D term is on and reads orientation (`world_rotate` False), so that the
    world landmarks give a facing candidate (`world_turn`)."""
    on = problem.extras.world is not None and bool(problem.config.world_weight)
    return on and not problem.config.world_rotate


def world_turn(problem: Problem, start: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """(B, 3, 3) roots turned so that the body's keypoints face as the world landmarks do
    (the rotation of their weighted Procrustes alignment), when `world_orients`; rows without
    landmarks keep their root.  Else None."""
    extras = problem.extras
    if not world_orients(problem):
        return None
    with torch.no_grad():
        posed = problem.posed(start)
        points = extras.world_matrix @ posed.keypoints3d  # B x 17 x 3
        turn = procrustes_transform(points, extras.world, extras.world_weights).rotation
        has = (extras.world_weights.sum(-1) > 0)[:, None, None]
        eye = torch.eye(3, dtype=turn.dtype, device=turn.device).expand_as(turn)
        return torch.where(has, turn, eye) @ posed.rotations[:, 0]


def choose_facing(
    problem: Problem, start: dict[str, torch.Tensor], config: FitConfig
) -> dict[str, torch.Tensor]:
    """Try `facing_candidates` turns of the root about the body's own vertical axis, and the
    root the world landmarks give (`world_turn`), camera and root free, the rest fixed, at the
    widest robust scale; return each person's best start."""
    batch = start["root"].shape[0]
    turns = facing_turns(config.facing_candidates, start["root"].dtype, start["root"].device)
    base = start["root_base"] @ axis_angle_to_matrix(start["root"])  # B x 3 x 3
    bases = base[:, None] @ turns[None]  # B x C x 3 x 3
    from_world = world_turn(problem, start)
    if from_world is not None:
        bases = torch.cat([bases, from_world[:, None]], dim=1)
    count = bases.shape[1]
    trial = repeat_people({**start, "root": torch.zeros_like(start["root"])}, count)
    trial["root_base"] = bases.reshape(batch * count, 3, 3)
    copies = {k: v.repeat_interleave(count, dim=0) for k, v in problem.estimate.items()}
    candidates = Problem(
        problem.model,
        problem.matrix,
        problem.targets.repeat_interleave(count, dim=0),
        problem.weights.repeat_interleave(count, dim=0),
        copies,
        None,  # the body's pose and shape are fixed here: their priors do not change
        replace(config, angle_prior_weight=0.0),
        problem.extras.repeat(count),
    )
    scale = [config.robust_scale_start]
    trial = aligned_camera(candidates, trial, scale[0])
    free = ("root", "log_scale", "translation")
    _, _, final = adam(candidates, trial, free, config.facing_iterations, scale, config, 10**9)
    best = final.view(batch, count).argmin(dim=1)  # B
    rows = torch.arange(batch, device=best.device) * count + best
    chosen = {k: v[rows].detach() for k, v in trial.items()}
    # fold the turn and the root update into the base rotation
    chosen["root_base"] = chosen["root_base"] @ axis_angle_to_matrix(chosen["root"])
    chosen["root"] = torch.zeros_like(chosen["root"])
    return chosen
