"""Copy a run's feature caches with their 3D (and synthetic 2D) labels re-read through another
body model's keypoint rows: the keypoint-move ablation of docs/default_model.md trains on the
same encoded crops with the joint-centre keypoints ("open") instead of the annotator-placed
ones ("open-annotated"), without encoding them again.

    python tools/relabel_caches.py runs/features/v3 runs/features/v3_open \
        --source open-annotated --target open

Per cached row with SMPL labels (pose, betas: flips and turns of the augmentation already in
them):
- joints3d: the target body's 14 LSP keypoints posed with them, hip-midpoint-centred (the
  source body reproduces the cached joints to within a millimetre; checked, else an error);
- keypoints2d, on synthetic caches only (whose 2D labels are the body's projected keypoints,
  not annotations): moved by the keypoints' 3D offset between the two bodies times the row's
  projection scale (least squares of the centred 2D labels on the centred 3D keypoints).
Rows without SMPL labels, and the annotated 2D of real photos, are kept. The caches' identity
(its labels digest included) is kept, so a run with `data.cache_dir` set to the output folder
reads them as they are.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from openhmr.body import load_body_model
from openhmr.files import write_npz

CHUNK = 512
TOLERANCE_M = 1e-3


def posed_keypoints(body, pose: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """(N, 72), (N, 10) -> (N, 19, 3) camera-frame keypoints, in chunks."""
    out = []
    with torch.no_grad():
        for start in range(0, len(pose), CHUNK):
            p = torch.from_numpy(pose[start : start + CHUNK]).float().view(-1, 24, 3)
            b = torch.from_numpy(betas[start : start + CHUNK]).float()
            out.append(body(pose=p, betas=b).keypoints.double().numpy())
    return np.concatenate(out)


def relabel(data: dict[str, np.ndarray], source, target, synthetic: bool) -> dict:
    rows = np.flatnonzero(data["has_smpl"])
    if not len(rows):
        return data
    old = posed_keypoints(source, data["pose"][rows], data["betas"][rows])
    new = posed_keypoints(target, data["pose"][rows], data["betas"][rows])
    centre = old[:, [2, 3]].mean(axis=1, keepdims=True)
    has_3d = data["has_3d"][rows]
    cached = data["joints3d"][rows, :, :3]
    error = np.abs((old[:, :14] - centre) - cached).max(axis=(1, 2))[has_3d]
    if len(error) and error.max() > TOLERANCE_M:
        raise SystemExit(
            f"the source body does not reproduce the cached 3D joints (off by up to "
            f"{1000 * error.max():.1f} mm): wrong --source?"
        )
    out = {k: v.copy() for k, v in data.items()}
    joints = new[:, :14] - new[:, [2, 3]].mean(axis=1, keepdims=True)
    out["joints3d"][rows, :, :3] = np.where(has_3d[:, None, None], joints, cached)
    if synthetic:
        keypoints = data["keypoints2d"][rows].astype(np.float64)
        seen = keypoints[..., 2] > 0
        xy3, xy2 = old[..., :2], keypoints[..., :2]
        weights = seen[..., None]
        mean3 = (xy3 * weights).sum(1, keepdims=True) / np.maximum(weights.sum(1, keepdims=True), 1)
        mean2 = (xy2 * weights).sum(1, keepdims=True) / np.maximum(weights.sum(1, keepdims=True), 1)
        a, b = (xy3 - mean3) * weights, (xy2 - mean2) * weights
        scale = (a * b).sum(axis=(1, 2)) / np.maximum((a * a).sum(axis=(1, 2)), 1e-12)
        moved = xy2 + scale[:, None, None] * (new[..., :2] - old[..., :2])
        out["keypoints2d"][rows, :, :2] = moved.astype(np.float32)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("caches", help="folder of a run's feature caches (*.npz)")
    parser.add_argument("out", help="folder for the relabelled copies")
    parser.add_argument("--source", default="open-annotated", help="the caches' body model")
    parser.add_argument("--target", default="open", help="the body model to relabel with")
    args = parser.parse_args()
    source, target = load_body_model(args.source), load_body_model(args.target)
    paths = sorted(Path(args.caches).glob("*.npz"))
    if not paths:
        raise SystemExit(f"{args.caches}: no feature caches (*.npz)")
    for path in tqdm(paths, desc="relabelling", unit="cache"):
        with np.load(path) as handle:
            data = {k: handle[k] for k in handle.files}
        identity = json.loads(str(data["identity"]))
        if "labels" not in identity:
            # training re-reads the labels of a cache without the digest from its index, which
            # would undo this relabelling
            raise SystemExit(
                f"{path}: made before caches recorded their labels; run the training's "
                "`--caches-only` once to update it, then relabel"
            )
        synthetic = identity["index"] == "synthetic"
        write_npz(
            Path(args.out) / path.name, relabel(data, source, target, synthetic), compress=False
        )


if __name__ == "__main__":
    main()
