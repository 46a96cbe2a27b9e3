"""Train the root reader a `model.root_start` network starts from (openhmr.model.root_reader).

It reads the root from φ alone: trained on feature caches (`openhmr train`'s, from a config's
`data.cache_dir`), every cached row with SMPL labels, over `--laps` augmented laps as the heads
see them (the config's data.feature_augment), on the chordal distance to the true root.
Writes the reader's `.safetensors` for `model.root_reader_from`. About 5 minutes on 2 cores
for v7's caches (13,000 renders and 9,000 LSP pseudo-labels, 6 laps, 40 epochs).

    python tools/train_root_reader.py --config configs/default_model_v10.yaml \
        --cache runs/features/v3/train0_synth.npz --cache runs/features/v3/train1_synth.npz \
        --cache runs/features/v3/train2_lspet_train_pseudo_src_v6.npz=1.0 \
        --out runs/root_reader_v10.safetensors
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from openhmr.errors import OpenHMRError
from openhmr.geometry.rotations import axis_angle_to_matrix
from openhmr.model.root_reader import RootReader, fit_root_reader, save_root_reader
from openhmr.train.config import load_config
from openhmr.train.feature_augment import FeatureAugmentConfig
from openhmr.train.features import FeatureDataset


def gather(path: str, features: str, augment, laps: int, seed: int):
    """φ (R·laps, D) and true roots (R·laps, 3, 3) of a cache's rows with SMPL labels."""
    data = FeatureDataset(path, features, augment=augment, seed=seed)
    rows = [r for r in range(len(data)) if bool(data.labels["has_smpl"][r])]
    phi, roots = [], []
    for lap in range(laps):
        items = [data.get(r, lap) for r in rows]
        phi.append(torch.stack([item["features"] for item in items]))
        roots.append(torch.stack([item["pose"][:3] for item in items]).float())
    return torch.cat(phi), axis_angle_to_matrix(torch.cat(roots))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="the training config (features, augment)")
    parser.add_argument(
        "--cache", action="append", required=True, metavar="PATH[=WEIGHT]",
        help="a feature cache and its rows' weight in the loss (default 1)",
    )  # fmt: skip
    parser.add_argument("--laps", type=int, default=6, help="augmented laps of each cache")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    try:
        torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)
        config = load_config(args.config)
        augment = FeatureAugmentConfig(**config.data.feature_augment)
        phi, roots, weights = [], [], []
        for spec in args.cache:
            path, _, weight = spec.partition("=")
            x, r = gather(path, config.model.features, augment, args.laps, 1)
            phi.append(x)
            roots.append(r)
            weights.append(torch.full((len(x),), float(weight or 1.0)))
            print(f"{path}: {len(x)} readings ({args.laps} laps)", flush=True)
        phi = torch.cat(phi)
        reader = RootReader(phi.shape[1], hidden=args.hidden)
        history = fit_root_reader(
            reader, phi, torch.cat(roots), torch.cat(weights), epochs=args.epochs,
            seed=args.seed, progress=True,
        )  # fmt: skip
        save_root_reader(args.out, reader)
        print(f"chordal loss {history[0]:.4f} -> {history[-1]:.4f}; wrote {args.out}")
    except OpenHMRError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
