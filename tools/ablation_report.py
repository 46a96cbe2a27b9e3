"""For docs/ablation.md (its "reproduce" commands): the prior / no-prior ablation report.

The paper's ablation, measured: models trained with and without the adversarial prior, on the
same held-out images — 2D accuracy and the plausibility of the bodies they predict.

    python tools/ablation_report.py --with runs/ablation_prior/model.safetensors \
        --without runs/ablation_noprior/model.safetensors --data runs/data/lspet_val.npz \
        --mocap runs/data/cmu_poses.npz --out runs/ablation_report.json \
        [--pictures runs/ablation_pictures]

Plausibility measures (independent of either model's discriminator):
- joint-limit violations: the share of predicted non-root joint rotations with an axis-angle
  component outside the documented per-joint limits (`openhmr.body.limits`) widened by
  a margin (default 0.3 rad ≈ 17°), and the mean excess beyond them;
- shape: mean and max |β| (the shape space has unit variance: |β| ≫ 3 is a "monster");
- a separately trained critic: a fresh factorized discriminator trained here to tell the mocap
  poses (real) from poses with uniformly random joint rotations (fake); its mean all-joints
  score on each model's predictions (1 ≈ mocap-like, 0 ≈ random).
Pictures: both models' meshes over the same crops (written to --pictures; LSP crops are for
looking at, not for the repository), and the same meshes alone on grey.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from openhmr.body import load_body_model
from openhmr.data.mocap import load_pose_set
from openhmr.data.records import load_index
from openhmr.evaluate.metrics import joint_limit_violations
from openhmr.evaluate.predict import predict_index
from openhmr.evaluate.protocols import evaluate_predictions
from openhmr.files import atomic_path
from openhmr.geometry import axis_angle_to_matrix
from openhmr.losses import adversarial_discriminator_loss
from openhmr.model import Discriminator, load_checkpoint


def train_critic(mocap: np.ndarray, steps: int, seed: int) -> Discriminator:
    """A discriminator trained to score mocap poses 1 and uniformly random rotations 0."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    critic = Discriminator()
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-4)
    real_all = torch.from_numpy(mocap.reshape(-1, 24, 3)).float()
    for _ in range(steps):
        rows = torch.randint(len(real_all), (128,), generator=generator)
        real = axis_angle_to_matrix(real_all[rows])[:, 1:]
        axes = torch.nn.functional.normalize(torch.randn(128, 23, 3, generator=generator), dim=-1)
        angles = torch.rand(128, 23, 1, generator=generator) * torch.pi
        fake = axis_angle_to_matrix(axes * angles)
        betas = torch.zeros(128, 10)
        loss_real, loss_fake = adversarial_discriminator_loss(
            critic(real, betas)[:, 23:24], critic(fake, betas)[:, 23:24]
        )
        optimizer.zero_grad()
        (loss_real + loss_fake).backward()
        optimizer.step()
    return critic.eval()


def critic_score(critic: Discriminator, pose: np.ndarray) -> float:
    with torch.no_grad():
        rotations = axis_angle_to_matrix(torch.from_numpy(pose).float())[:, 1:]
        return float(critic(rotations, torch.zeros(len(pose), 10))[:, 23].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with", dest="with_prior", required=True)
    parser.add_argument("--without", dest="without_prior", required=True)
    parser.add_argument("--data", required=True, help="a 2D record index (held-out)")
    parser.add_argument("--mocap", required=True, help="pose set for the critic's real side")
    parser.add_argument("--out", required=True)
    parser.add_argument("--pictures", help="folder for side-by-side prediction pictures")
    parser.add_argument("--margin", type=float, default=0.3)
    parser.add_argument("--critic-steps", type=int, default=1500)
    args = parser.parse_args()

    index = load_index(args.data)
    body = load_body_model("open")
    critic = train_critic(load_pose_set(args.mocap).poses, args.critic_steps, seed=0)
    mocap_rows = load_pose_set(args.mocap).poses.reshape(-1, 24, 3)[::10]
    report: dict = {
        "data": args.data,
        "rows": len(index),
        "margin_rad": args.margin,
        "reference_mocap": {
            "critic_score": critic_score(critic, mocap_rows),
            **joint_limit_violations(mocap_rows, args.margin),
        },
    }
    predictions = {}
    for name, path in (("with_prior", args.with_prior), ("without_prior", args.without_prior)):
        model = load_checkpoint(path, body_model=body).model
        pred = predict_index(model, index, batch_size=32, progress=False)
        predictions[name] = (model, pred)
        result = evaluate_predictions("keypoints2d", pred, index)
        betas = np.abs(pred.betas)
        report[name] = {
            "checkpoint": path,
            "metrics": result.metrics,
            "betas_mean_abs": float(betas.mean()),
            "betas_max_abs": float(betas.max()),
            "betas_over_3_share": float((betas.max(axis=1) > 3).mean()),
            "critic_score": critic_score(critic, pred.pose),
            **joint_limit_violations(pred.pose, args.margin),
        }
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    if args.pictures:
        save_pictures(Path(args.pictures), index, predictions, body)


def save_pictures(folder: Path, index, predictions: dict, body) -> None:
    """ablation.png: rows of 8 input crops, with-prior meshes over them, without-prior meshes;
    ablation_meshes.png: the two rows of meshes alone, on grey (no dataset pixels: the picture
    docs/ablation.md can show)."""
    from PIL import Image

    from openhmr.train.visualize import comparison_grid

    folder.mkdir(parents=True, exist_ok=True)
    (model, first), (_, second) = predictions["with_prior"], predictions["without_prior"]
    res = model.config.image_size
    for name, photos, side in (("ablation.png", True, res), ("ablation_meshes.png", False, 160)):
        grid = comparison_grid(index, [first, second], body, side, photos=photos)
        with atomic_path(folder / name) as tmp:
            Image.fromarray(grid).save(tmp, format="PNG")


if __name__ == "__main__":
    main()
