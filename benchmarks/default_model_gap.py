"""Where a frozen-encoder default model loses 2D accuracy (docs/default_model.md, "Why these").

    .venv/bin/python benchmarks/default_model_gap.py \
        --checkpoint runs/v3_eval/model_fp16.safetensors --lsp-val runs/data/lspet_val.npz \
        --val-cache runs/v3_eval/val_lsp_features.npz \
        --train-cache runs/features/v3/train2_lspet_train_pseudo.npz [--train-rows 1500]

Prints, for the checkpoint's projected joints (final IEF iteration):
- held-out LSP PCK@0.2 (torso, 14 joints) and on the 12 limb joints, beside the limb PCK of
  the Thunder keypoints φ holds (unseen ones at the crop centre, as φ has them);
- the same on the first rows of a training feature cache (augmented training crops, crop
  coordinates): the gap between the two is what the head learned by heart;
- held-out PCK with an oracle camera: each person's projection moved by the least-squares
  scale and shift onto the visible truth (what a perfect camera would add).
--val-cache: the held-out crops' encoder outputs (`openhmr.train.features`), built on first
use with the checkpoint's encoder and no augmentation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine

from openhmr.body import load_body_model
from openhmr.data.dataset import RecordDataset
from openhmr.data.records import load_index
from openhmr.evaluate import metrics
from openhmr.evaluate.keypoints2d import limb_pck
from openhmr.evaluate.predict import crop_to_image
from openhmr.model import load_checkpoint
from openhmr.model.checkpoint import trained_body_model
from openhmr.model.movenet_encoder import keypoint_columns
from openhmr.train.features import FeatureDataset, build_feature_cache


def projected(model, features: torch.Tensor) -> np.ndarray:
    """φ (N, D) -> the final iteration's 14 LSP joints in normalised crop coordinates."""
    with torch.inference_mode():
        final = model.decode_all(model.regress_features(features), pose_body="keypoints")[-1]
    return final.keypoints2d[:, :14].numpy()


def pck14(pred: np.ndarray, truth: np.ndarray) -> float:
    size, ok = metrics.torso_size(truth)
    return 100 * metrics.pck_2d(pred, truth, size, ok, 0.2).value


def oracle_camera(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Each person's points moved by the least-squares scale and shift onto the visible truth."""
    out = pred.copy()
    for n in range(len(pred)):
        seen = truth[n, :, 2] > 0
        a, b = pred[n, seen], truth[n, seen, :2]
        am, bm = a.mean(0), b.mean(0)
        scale = ((a - am) * (b - bm)).sum() / max(((a - am) ** 2).sum(), 1e-12)
        out[n] = (pred[n] - am) * scale + bm
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--lsp-val", required=True)
    parser.add_argument("--val-cache", required=True)
    parser.add_argument("--train-cache", required=True)
    parser.add_argument("--train-rows", type=int, default=1500)
    args = parser.parse_args()
    body = load_body_model(trained_body_model(args.checkpoint))
    model = load_checkpoint(args.checkpoint, body_model=body).model.eval()
    features = model.config.features
    columns = keypoint_columns(features)
    index = load_index(args.lsp_val)
    dataset = RecordDataset(index, res=model.config.image_size)
    build_feature_cache(model, dataset, 1, args.val_cache, workers=1)
    val = FeatureDataset(args.val_cache, features)
    truth = index.keypoints2d[:, :14]
    pred = crop_to_image(projected(model, val.features), index.center, index.scale)
    thunder = val.features[:, columns].reshape(-1, 17, 3)[..., :2].numpy()
    thunder = crop_to_image(thunder, index.center, index.scale)
    train = FeatureDataset(args.train_cache, features)
    rows = slice(0, args.train_rows)
    train_truth = train.labels["keypoints2d"][rows, :14].numpy()
    train_pred = projected(model, train.features[rows])
    train_thunder = train.features[rows, columns].reshape(-1, 17, 3)[..., :2].numpy()
    print(machine())
    limbs, theirs = limb_pck(pred, truth).value, limb_pck(thunder, truth).value
    print(f"held-out ({len(index)}): PCK@0.2 {pck14(pred, truth):.1f}; limbs "
          f"{100 * limbs:.1f}, Thunder's {100 * theirs:.1f}; "
          f"oracle camera {pck14(oracle_camera(pred, truth), truth):.1f}")  # fmt: skip
    print(f"training crops ({len(train_pred)}): PCK@0.2 {pck14(train_pred, train_truth):.1f}; "
          f"limbs {100 * limb_pck(train_pred, train_truth).value:.1f}, Thunder's "
          f"{100 * limb_pck(train_thunder, train_truth).value:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
