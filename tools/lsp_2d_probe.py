"""Can the network learn 2D keypoints from a record index from scratch on this budget? Trains a
fresh HMR on the reprojection loss alone (no augmentation, no prior, Θ₀ at the rest pose) on the
training crops held in memory, and prints the mean L1 reprojection error (normalised crop units)
on the training batches and on a held-out index every --every steps (docs/default_model.md).

    python tools/lsp_2d_probe.py runs/data/lspet_train.npz runs/data/lspet_val.npz \
        --res 64 --lr 1e-3 --dropout 0.0 --steps 1000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from openhmr.body import load_body_model
from openhmr.data.dataset import RecordDataset
from openhmr.data.records import load_index
from openhmr.losses import reprojection_loss
from openhmr.model import HMR


def load_crops(path: str, res: int, limit: int | None = None) -> dict[str, torch.Tensor]:
    """Every row's un-augmented crop and keypoints, collated: image (N, 3, res, res) uint8,
    keypoints2d (N, 19, 3)."""
    index = load_index(path)
    dataset = RecordDataset(index, res=res)
    rows = range(len(index) if limit is None else min(limit, len(index)))
    return torch.utils.data.default_collate([dataset[i] for i in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train")
    parser.add_argument("val")
    parser.add_argument("--res", type=int, default=64)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--dropout", type=float, default=0.5, help="the regressor's (paper: 0.5)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--every", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    model = HMR(width=args.width, hidden=512, image_size=args.res, body_model=load_body_model())
    model.regressor.dropout.p = args.dropout
    train, val = load_crops(args.train, args.res), load_crops(args.val, args.res, limit=300)
    train_images = model.normalize(train["image"].float() / 255)
    val_images = model.normalize(val["image"].float() / 255)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    losses: list[float] = []
    start = time.perf_counter()
    for step in range(args.steps + 1):
        rows = torch.randint(0, len(train_images), (args.batch,))
        final = model(train_images[rows], pose_body="final")[-1]
        loss = reprojection_loss(final.keypoints2d, train["keypoints2d"][rows])
        optimizer.zero_grad()
        (60 * loss).backward()  # the paper's weight
        optimizer.step()
        losses.append(float(loss.detach()))
        if step % args.every == 0:
            model.eval()
            with torch.no_grad():
                final = model(val_images, pose_body="final")[-1]
                held_out = float(reprojection_loss(final.keypoints2d, val["keypoints2d"]))
            model.train()
            print(
                f"step {step}: train L1 {np.mean(losses[-args.every :]):.4f}, "
                f"held-out L1 {held_out:.4f} ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
