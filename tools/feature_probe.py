"""For docs/default_model.md (its commands): the MLP probe of a frozen encoder's outputs.

How much 3D is in a frozen encoder's outputs? An MLP probe (FC 1024 → 1024 → 42, ReLU,
dropout 0.2, Adam 1e-3, L1, batch 256) regresses the 14 pelvis-centred 3D joints directly from
each input of a feature cache (`openhmr.train.features`) of a synthetic split, and is scored
on a validation split's crops (encoded here) by PA-MPJPE and MPJPE. Inputs: "keypoints" (the
encoder's 17 decoded keypoints), "pooled", "pooled+keypoints", and "truth2d" (the crops' true
2D keypoints: the ceiling a perfect 2D detector would give). docs/default_model.md quotes it.

    python tools/feature_probe.py runs/features/movenet_lightning/train1_synth.npz \
        runs/data/synth_val/synth.npz --inputs keypoints pooled pooled+keypoints truth2d
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from openhmr.data.dataset import RecordDataset
from openhmr.data.records import load_index
from openhmr.evaluate.metrics import joint_errors
from openhmr.model import HMR
from openhmr.model.movenet_encoder import MOVENET_BACKBONES
from openhmr.posenet.movenet import VARIANTS

INPUTS = ("keypoints", "pooled", "pooled+keypoints", "truth2d")


def inputs_of(name: str, pooled: np.ndarray, keypoints: np.ndarray, truth2d: np.ndarray):
    """(N, D) float32 probe inputs."""
    if name == "truth2d":
        return truth2d[:, :, :2].reshape(len(truth2d), -1).astype(np.float32)
    parts = []
    if "pooled" in name:
        parts.append(pooled.astype(np.float32))
    if "keypoints" in name:
        parts.append(keypoints.reshape(len(keypoints), -1).astype(np.float32))
    return np.concatenate(parts, axis=1)


@torch.no_grad()
def encode_split(index_path: str, backbone: str, size: int) -> dict[str, np.ndarray]:
    model = HMR(backbone=backbone, normalization="pixels", image_size=size).eval()
    dataset = RecordDataset(load_index(index_path), None, res=size)
    out: dict[str, list] = {"pooled": [], "keypoints": [], "keypoints2d": [], "joints3d": []}
    for start in range(0, len(dataset), 8):
        items = [dataset[i] for i in range(start, min(start + 8, len(dataset)))]
        images = torch.stack([item["image"] for item in items]).float() / 255.0
        pooled, keypoints = model.encoder.parts(model.normalize(images))
        out["pooled"].append(pooled.numpy())
        out["keypoints"].append(keypoints.numpy())
        out["keypoints2d"].append(torch.stack([i["keypoints2d"] for i in items]).numpy())
        out["joints3d"].append(torch.stack([i["joints3d"] for i in items]).numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def probe(x, y, xv, yv, steps: int, seed: int = 0) -> tuple[float, float]:
    torch.manual_seed(seed)
    x, y = torch.from_numpy(x), torch.from_numpy(y.reshape(len(y), -1).astype(np.float32))
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], 1024), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(1024, 1024), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(1024, y.shape[1]),
    )  # fmt: skip
    optimiser = torch.optim.Adam(net.parameters(), 1e-3)
    rows = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        pick = torch.randint(0, len(x), (256,), generator=rows)
        loss = (net(x[pick]) - y[pick]).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    net.eval()
    with torch.no_grad():
        pred = net(torch.from_numpy(xv)).reshape(len(xv), 14, 3).double()
    truth = torch.from_numpy(yv).double()
    return (
        float(joint_errors(pred, truth, "procrustes").mean()) * 1000,
        float(joint_errors(pred, truth, "pelvis").mean()) * 1000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", help="a feature cache .npz of a synthetic split")
    parser.add_argument("val", help="a synthetic record index to score on")
    parser.add_argument("--inputs", nargs="+", default=list(INPUTS), choices=INPUTS)
    parser.add_argument("--backbone", default="movenet_lightning", choices=MOVENET_BACKBONES)
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args()
    with np.load(args.cache) as data:
        train = {k: data[k] for k in ("pooled", "keypoints", "keypoints2d", "joints3d")}
    size = VARIANTS[MOVENET_BACKBONES[args.backbone]].input_size
    val = encode_split(args.val, args.backbone, size)
    for name in args.inputs:
        start = time.perf_counter()
        x = inputs_of(name, train["pooled"], train["keypoints"], train["keypoints2d"])
        xv = inputs_of(name, val["pooled"], val["keypoints"], val["keypoints2d"])
        pa, mpjpe = probe(x, train["joints3d"][..., :3], xv, val["joints3d"][..., :3], args.steps)
        took = time.perf_counter() - start
        print(f"{name:18s} PA-MPJPE {pa:6.1f} mm  MPJPE {mpjpe:6.1f} mm  ({took:.0f} s)")


if __name__ == "__main__":
    main()
