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


def choose_facing(
    problem: Problem, start: dict[str, torch.Tensor], config: FitConfig
) -> dict[str, torch.Tensor]:
    """Try `facing_candidates` turns of the root (camera and root free, the rest fixed, at the
    widest robust scale); return each person's best start."""
    count, batch = config.facing_candidates, start["root"].shape[0]
    turns = facing_turns(count, start["root"].dtype, start["root"].device)
    trial = repeat_people(start, count)
    trial["root_base"] = trial["root_base"] @ turns.repeat(batch, 1, 1)
    copies = {k: v.repeat_interleave(count, dim=0) for k, v in problem.estimate.items()}
    candidates = Problem(
        problem.model,
        problem.matrix,
        problem.targets.repeat_interleave(count, dim=0),
        problem.weights.repeat_interleave(count, dim=0),
        copies,
        None,  # the body's pose and shape are fixed here: their priors do not change
        replace(config, angle_prior_weight=0.0),
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
