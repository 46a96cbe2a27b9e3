"""Test-time fitting speed: one person and a batch of 8, the default `FitConfig`, on CPU.

    python benchmarks/fit.py [--threads 2] [--repeats 5] [--discriminator]

Each person is a known body (moderate pose, random shape) whose cocoplus keypoints, projected
with a weak-perspective camera, are the targets; the fit starts from the body with its joints
turned by N(0, 0.35²) rad, zero shape and a 15% wrong scale, as a regressor's estimate might
be.  Prints the median wall time per call (after a warm-up call), the iterations run (the
facing step's and the main stage's), and the mean keypoint error before and after, in pixels
of a 224 crop.  --discriminator adds the adversarial term with a random-weight discriminator
(its cost, not its effect).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, time_interleaved

from openhmr.body import load_body_model
from openhmr.body.limits import JOINT_LIMITS
from openhmr.fit import FitConfig, fit_keypoints
from openhmr.geometry import weak_perspective_project
from openhmr.model import Discriminator


def people(body, count: int, seed: int = 0) -> tuple[dict, np.ndarray]:
    """Estimates and targets (count, 19, 3) for `count` known bodies."""
    rng = np.random.default_rng(seed)
    low, high = JOINT_LIMITS[..., 0], JOINT_LIMITS[..., 1]
    pose = np.clip(rng.normal(0, 1, (count, 24, 3)) * (high - low) / 5, low, high)
    pose[:, 0] = [math.pi, 0, 0]
    pose = torch.tensor(pose, dtype=torch.float32)
    betas = torch.tensor(rng.normal(0, 0.5, (count, 10)), dtype=torch.float32)
    camera = torch.tensor([[0.9, 0.0, 0.1]]).repeat(count, 1)
    with torch.no_grad():
        keypoints = body(pose=pose, betas=betas).keypoints
    points = weak_perspective_project(keypoints, camera).numpy()
    targets = np.concatenate([points, np.ones((count, 19, 1))], axis=-1)
    start = pose.clone()
    start[:, 1:] += 0.35 * torch.from_numpy(rng.normal(0, 1, (count, 23, 3))).float()
    estimate = {
        "camera": camera * torch.tensor([1.15, 1.0, 1.0]),
        "pose": start,
        "betas": torch.zeros(count, 10),
    }
    return estimate, targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--discriminator", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    body = load_body_model("open")
    config = FitConfig()
    discriminator = Discriminator().eval() if args.discriminator else None
    print(machine())
    print(f"config: {config}")
    runs = {}
    for count in (1, 8):
        estimate, targets = people(body, count)
        runs[count] = (estimate, targets)
    calls = {
        f"{count} people": (
            lambda e=e, t=t: fit_keypoints(
                body, e["camera"], e["pose"], e["betas"], t, discriminator=discriminator
            )
        )
        for count, (e, t) in runs.items()
    }
    seconds = time_interleaved(calls, repeats=args.repeats, warmup=1)
    for count in runs:
        result = calls[f"{count} people"]()
        to_px = 112.0
        print(
            f"{count} people: {seconds[f'{count} people']:.3f} s "
            f"(facing {config.facing_candidates} x {config.facing_iterations} iterations, "
            f"main {result.iterations.float().mean():.0f} of {config.iterations} iterations, "
            f"{int(result.converged.sum())}/{count} converged); keypoint error "
            f"{float(result.initial_error.mean()) * to_px:.1f} -> "
            f"{float(result.error.mean()) * to_px:.2f} px of a 224 crop"
        )


if __name__ == "__main__":
    main()
