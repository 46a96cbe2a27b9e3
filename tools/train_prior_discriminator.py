"""For docs/fitting.md (its commands): a stand-in discriminator for the fit's prior.

A factorized discriminator for the fitting stage's adversarial prior, for checkpoints that
carry none (the bundled default model, SPIN's weights): trained here with HMR's least-squares
objective on mocap poses (real) against implausible ones (fake), then saved together with a
network as one openhmr checkpoint.

    python tools/train_prior_discriminator.py --mocap runs/data/cmu_poses.npz \
        --checkpoint default --out runs/default_model_with_prior.safetensors

HMR's own discriminator learns against the network's predictions while the network trains;
this stand-in has no network to play against, so its fakes are what 2D fitting can produce
and a plausible body should not: per batch, a third mocap poses with every joint turned by a
random amount (up to `--max-noise` rad per axis, a different magnitude per pose), a third
uniformly random joint rotations, a third mocap poses with a few joints turned far (a single
bent-back knee or twisted shoulder).  Shapes: β ~ N(0, I) on the real side (the mocap carries
none), β ~ N(0, 3²) on the fake side.  The record notes what the discriminator is.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from openhmr.body import load_body_model
from openhmr.data.mocap import load_pose_set
from openhmr.geometry import axis_angle_to_matrix, quaternion_to_axis_angle
from openhmr.inference.predictor import resolve_checkpoint
from openhmr.losses import adversarial_discriminator_loss
from openhmr.model import Discriminator, load_checkpoint, save_checkpoint


def random_axis_angle(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Uniform random rotations' axis-angle vectors (..., 3)."""
    quaternion = torch.nn.functional.normalize(torch.randn(*shape, 4, generator=generator), dim=-1)
    return quaternion_to_axis_angle(quaternion)


def fake_poses(real: torch.Tensor, generator: torch.Generator, max_noise: float) -> torch.Tensor:
    """(N, 23, 3) implausible body poses from mocap poses (N, 23, 3) (see the module doc)."""
    count = real.shape[0]
    third = count // 3
    noisy = real[:third] + torch.randn(third, 23, 3, generator=generator) * (
        torch.rand(third, 1, 1, generator=generator) * max_noise
    )
    uniform = random_axis_angle((third, 23), generator)
    rest = real[2 * third :].clone()
    few = torch.rand(rest.shape[:2], generator=generator) < 0.1  # ~2 joints per pose
    turned = rest + torch.randn(rest.shape, generator=generator) * 1.2
    rest = torch.where(few[..., None], turned, rest)
    return torch.cat([noisy, uniform, rest])


def train(
    poses: np.ndarray, steps: int, batch: int, lr: float, max_noise: float, seed: int
) -> tuple[Discriminator, dict[str, float]]:
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    discriminator = Discriminator()
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=lr)
    body = torch.from_numpy(poses.reshape(-1, 24, 3)[:, 1:]).float()
    for _ in range(steps):
        rows = torch.randint(len(body), (batch,), generator=generator)
        real = body[rows]
        fake = fake_poses(
            body[torch.randint(len(body), (batch,), generator=generator)], generator, max_noise
        )
        real_betas = torch.randn(batch, 10, generator=generator)
        fake_betas = torch.randn(len(fake), 10, generator=generator) * 3
        loss_real, loss_fake = adversarial_discriminator_loss(
            discriminator(axis_angle_to_matrix(real), real_betas),
            discriminator(axis_angle_to_matrix(fake), fake_betas),
        )
        optimizer.zero_grad()
        (loss_real + loss_fake).backward()
        optimizer.step()
    with torch.no_grad():
        rows = torch.randint(len(body), (2048,), generator=generator)
        real_scores = discriminator(axis_angle_to_matrix(body[rows]), torch.randn(2048, 10))
        fake = fake_poses(body[rows], generator, max_noise)
        fake_scores = discriminator(axis_angle_to_matrix(fake), torch.randn(len(fake), 10) * 3)
    summary = {
        "real_all_joints_score": float(real_scores[:, 23].mean()),
        "fake_all_joints_score": float(fake_scores[:, 23].mean()),
        "real_loss": float(((real_scores - 1) ** 2).sum(1).mean()),
        "fake_loss": float((fake_scores**2).sum(1).mean()),
    }
    return discriminator.eval(), summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mocap", required=True, help="pose set .npz (openhmr mocap)")
    parser.add_argument("--checkpoint", default="default", help="the network to pair it with")
    parser.add_argument("--out", required=True, help="output .safetensors")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=192)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--max-noise", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    poses = load_pose_set(args.mocap).poses
    discriminator, summary = train(
        poses, args.steps, args.batch, args.lr, args.max_noise, args.seed
    )
    path = resolve_checkpoint(args.checkpoint)
    checkpoint = load_checkpoint(path, body_model=load_body_model("open"))
    record = checkpoint.record
    save_checkpoint(
        args.out,
        checkpoint.model,
        discriminator,
        config={
            **record.get("config", {}),
            "prior_discriminator": {
                "what": "stand-in trained by tools/train_prior_discriminator.py, not by HMR "
                "training",
                "mocap": args.mocap,
                "poses": len(poses),
                **{k: getattr(args, k) for k in ("steps", "batch", "lr", "max_noise", "seed")},
                "scores": summary,
            },
        },
        training_data=record.get("training_data"),
        metrics=record.get("metrics"),
        body_model=record.get("body_model"),
        half=record.get("dtype") == "float16",
    )
    print(f"wrote {args.out}: {summary}")


if __name__ == "__main__":
    main()
