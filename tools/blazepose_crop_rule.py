"""docs/posenet.md: how far beyond the farthest COCO keypoint BlazePose's crop reaches
(`openhmr.posenet.pose_roi.REACH`), chosen on LSP-extended training images (not the held-out
im07201-im08000), and whether a second pass from BlazePose's own alignment landmarks (33, 34,
as MediaPipe's tracker does) helps.

    .venv/bin/python tools/blazepose_crop_rule.py [--first 6001] [--last 7200] [--step 12]

Prints PCK@0.2 (torso) of the 12 limb joints of BlazePose heavy for each reach, the second
pass, and MoveNet Thunder (whose keypoints place the crops) on the same persons.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from posenet_lsp import load_split

from openhmr.evaluate.keypoints2d import limb_pck
from openhmr.inference.predictor import load_image
from openhmr.posenet import BlazePose, MoveNet
from openhmr.posenet.blazepose import COCO_FROM_BLAZEPOSE
from openhmr.posenet.pose_roi import (
    PoseROI,
    crop_points_to_image,
    roi_from_alignment,
    roi_from_keypoints,
    warp_crops,
)

ROOT = Path(__file__).resolve().parents[1]
REACHES = (1.0, 1.15, 1.35)


def read(net: BlazePose, image: np.ndarray, roi: PoseROI) -> np.ndarray:
    """All 39 landmarks (1, 39, 2) in image pixels for one crop."""
    affine = roi.crop_to_image(256)
    pixels = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    with torch.no_grad():
        out = net(warp_crops(pixels, affine, 256))
    return crop_points_to_image(out.ld_3d[:, :, :2].double().numpy(), affine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/lspet")
    parser.add_argument("--first", type=int, default=6001)
    parser.add_argument("--last", type=int, default=7200)
    parser.add_argument("--step", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(2)
    paths, truth, boxes, _ = load_split(args.data, args.first, args.last, args.step)
    thunder, net = MoveNet.pretrained("thunder"), BlazePose.pretrained("heavy")
    coco = list(COCO_FROM_BLAZEPOSE)
    preds: dict[str, list] = {f"reach {r}": [] for r in REACHES}
    preds.update({"reach 1.15, second pass from 33/34": [], "thunder": []})
    for path, box in zip(paths, boxes, strict=True):
        image = load_image(path)
        keypoints = thunder.keypoints(image, box[None])
        preds["thunder"].append(keypoints[0])
        for reach in REACHES:
            xy = read(net, image, roi_from_keypoints(keypoints, box[None], reach=reach))
            preds[f"reach {reach}"].append(xy[0, coco])
            if reach == 1.15:
                again = read(net, image, roi_from_alignment(xy[:, 33], xy[:, 34]))
                preds["reach 1.15, second pass from 33/34"].append(again[0, coco])
    print(f"LSP-extended im{args.first:05d}-im{args.last:05d} step {args.step}: {len(paths)}")
    for name, rows in preds.items():
        print(f"  {name:<36} {limb_pck(np.array(rows), truth).value:.3f}")


if __name__ == "__main__":
    main()
