"""MoveNet's own 2D keypoints on a record index's crops, read 1, 2 and 4 ways up
(`HMRConfig.orientations`): PCK@0.1 and @0.2 (torso) of the 12 LSP limb joints and crops per
second, each against the one-way read in the same run (was tools/orientation_2d.py).

    python benchmarks/movenet_orientations.py runs/data/lspet_val.npz --variant lightning
    python benchmarks/movenet_orientations.py runs/default_eval/synth/synth.npz --variant thunder
    python benchmarks/movenet_orientations.py runs/data/lspet_val.npz --fit-crops

Crops: the index's boxes at the network's input size, no augmentation (what evaluation feeds
the default model). --fit-crops: instead, `MoveNet.keypoints` on the full images with the
fit's boxes and margin (`evaluate.refine.person_boxes`, `fit.sources.CROP_MARGIN`: what the
fit's keypoint source reads), PCK in image pixels.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine

from openhmr.data.dataset import RecordDataset
from openhmr.data.records import load_index
from openhmr.evaluate.keypoints2d import limb_pck
from openhmr.model.movenet_encoder import MoveNetEncoder
from openhmr.posenet.movenet import ORIENTATIONS


@torch.no_grad()
def keypoints_of(
    encoders: list[MoveNetEncoder], dataset: RecordDataset, batch: int
) -> tuple[list[np.ndarray], np.ndarray, list[float]]:
    """Each encoder's keypoints (N, 17, 3: x, y in [−1, 1] of the crop and score) on the
    same crops, read once; the crops' true keypoints (N, K, 3); each encoder's seconds."""
    out: list[list[np.ndarray]] = [[] for _ in encoders]
    seconds = [0.0] * len(encoders)
    truth = []
    for start in tqdm(range(0, len(dataset), batch), desc="crops", unit="batch", leave=False):
        items = [dataset[i] for i in range(start, min(start + batch, len(dataset)))]
        images = torch.stack([item["image"] for item in items]).float()
        truth.append(torch.stack([item["keypoints2d"] for item in items]).numpy())
        for i, encoder in enumerate(encoders):
            begin = time.perf_counter()
            out[i].append(encoder.parts(images)[1].numpy())
            seconds[i] += time.perf_counter() - begin
    return [np.concatenate(o) for o in out], np.concatenate(truth), seconds


@torch.no_grad()
def fit_crop_keypoints(
    variant: str, orientations: list[int], index
) -> tuple[list[np.ndarray], np.ndarray, list[float]]:
    """`MoveNet.keypoints` per image on the fit's boxes, read each of `orientations` ways up:
    keypoints (N, 17, 3) image pixels per choice, the truth (N, K, 3), seconds per choice."""
    from openhmr.data.dataset import read_image
    from openhmr.evaluate.refine import person_boxes
    from openhmr.fit.sources import CROP_MARGIN
    from openhmr.posenet import MoveNet

    net = MoveNet.pretrained(variant)
    boxes = person_boxes(index)
    out: list[list[np.ndarray]] = [[] for _ in orientations]
    seconds = [0.0] * len(orientations)
    for row, name in enumerate(tqdm(index.imgname, desc="images", unit="image", leave=False)):
        image = read_image(index.image_root / str(name))
        for i, ways in enumerate(orientations):
            begin = time.perf_counter()
            found = net.keypoints(image, boxes[row : row + 1], CROP_MARGIN, orientations=ways)
            seconds[i] += time.perf_counter() - begin
            out[i].append(found)
    return [np.concatenate(o) for o in out], index.keypoints2d, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", help="a record index (.npz) with 2D keypoints in LSP order")
    parser.add_argument("--variant", default="thunder", choices=["thunder", "lightning"])
    parser.add_argument("--orientations", type=int, nargs="+", default=list(ORIENTATIONS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--fit-crops", action="store_true", help="the fit's crops (above)")
    args = parser.parse_args()
    index = load_index(args.index)
    if args.fit_crops:
        points, truth, seconds = fit_crop_keypoints(args.variant, args.orientations, index)
    else:
        encoders = [MoveNetEncoder(args.variant, "keypoints", orientations=n).eval()
                    for n in args.orientations]  # fmt: skip
        dataset = RecordDataset(index, None, res=encoders[0].input_size)
        points, truth, seconds = keypoints_of(encoders, dataset, args.batch)
    print(machine())
    first = None
    for orientations, found, took in zip(args.orientations, points, seconds, strict=True):
        scores = [limb_pck(found, truth, alpha) for alpha in (0.1, 0.2)]
        first = first or (scores[1].value, took)
        print(
            f"{args.variant} {orientations} way(s) up: PCK@0.1 {scores[0].value:.3f}  "
            f"PCK@0.2 {scores[1].value:.3f} ({scores[1].value / first[0]:.2f}x the first)  "
            f"({scores[1].persons} persons with a torso, {len(index) / took:.1f} crops/s, "
            f"{took / first[1]:.2f}x the first's time)"
        )


if __name__ == "__main__":
    main()
