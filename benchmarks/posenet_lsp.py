"""MoveNet on held-out LSP-extended: keypoint PCK and person-detection recall, in one run.

    .venv/bin/python benchmarks/posenet_lsp.py [--data ../shared/data/lspet] [--first 7201]
        [--last 8000] [--step 1] [--json out/posenet_lsp.json]

- Keypoints: MoveNet Thunder and Lightning through `MoveNet.keypoints` on each image's
  ground-truth box (square, 1.2 × the visible joints' extent); PCK@0.2 (torso) of the 12 limb
  joints, beside the mean layout of the training images (im00001 up to --first − 1).
- Detection: the fraction of images where a detected box (squared) has IoU ≥ 0.5 with the
  ground-truth box, for the default detector (MultiPose at 256 px, threshold 0.2, fallback to
  the best person ≥ 0.05) and MultiPose at 256 and 384 px without the fallback, plus ms per
  image (the HOG
  detector it replaced was measured in the same run up to commit 7ec7b71: docs/benchmarks.md).
See `openhmr.evaluate.keypoints2d` for the definitions. Reads the data in place.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine

from openhmr.data.converters.lsp import read_joints_mat
from openhmr.evaluate.keypoints2d import detection_hits, limb_pck, lsp_person_boxes, mean_layout
from openhmr.inference.detect import MoveNetPersonDetector
from openhmr.inference.predictor import load_image
from openhmr.posenet import MoveNet

ROOT = Path(__file__).resolve().parents[1]


def add_split_arguments(parser: argparse.ArgumentParser) -> None:
    """--data, --first, --last, --step (the held-out LSP-extended images) and --threads."""
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/lspet")
    parser.add_argument("--first", type=int, default=7201, help="first image number (7201)")
    parser.add_argument("--last", type=int, default=8000, help="last image number (8000)")
    parser.add_argument("--step", type=int, default=1, help="every step-th image (1)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2)")


def load_split(data: Path, first: int, last: int, step: int):
    """Images im<first>..im<last> present on disk: paths, keypoints (N, 14, 3), boxes, and the
    training keypoints before `first`."""
    keypoints = read_joints_mat(data / "joints.mat")
    rows = [i for i in range(first - 1, min(last, len(keypoints)))[::step]]
    paths = [data / "images" / f"im{i + 1:05d}.jpg" for i in rows]
    keep = [k for k, p in enumerate(paths) if p.is_file()]
    rows, paths = [rows[k] for k in keep], [paths[k] for k in keep]
    truth = keypoints[rows]
    train = keypoints[: first - 1]
    train = train[(train[..., 2] > 0).sum(axis=1) >= 2]
    return paths, truth, lsp_person_boxes(truth), train


def keypoint_scores(paths, truth, boxes, train) -> dict[str, dict]:
    results = {"mean_layout": {"pck": limb_pck(mean_layout(train, boxes), truth).value}}
    for variant in ("thunder", "lightning"):
        net = MoveNet.pretrained(variant)
        start, preds = time.perf_counter(), []
        for path, box in tqdm(list(zip(paths, boxes, strict=True)), desc=variant, leave=False):
            preds.append(net.keypoints(load_image(path), box[None])[0])
        seconds = (time.perf_counter() - start) / len(paths)
        score = limb_pck(np.array(preds), truth)
        results[variant] = {"pck": score.value, "ms_per_image": 1000 * seconds,
                            "persons": score.persons}  # fmt: skip
    return results


DETECTORS = {
    "default": lambda: MoveNetPersonDetector(),  # 256 px, threshold 0.2, fallback 0.05
    "multipose256": lambda: MoveNetPersonDetector(size=256, fallback_score=1.0),
    "multipose384": lambda: MoveNetPersonDetector(size=384, fallback_score=1.0),
}


def detection_scores(paths, boxes, names) -> dict[str, dict]:
    detectors = {name: DETECTORS[name]() for name in names}
    found = {name: [] for name in detectors}
    seconds = dict.fromkeys(detectors, 0.0)
    for path in tqdm(paths, desc="detect", leave=False):
        image = load_image(path)
        for name, detector in detectors.items():
            start = time.perf_counter()
            found[name].append(detector(image).boxes)
            seconds[name] += time.perf_counter() - start
    return {
        name: {
            "recall_iou50": float(detection_hits(found[name], boxes).mean()),
            "mean_people": float(np.mean([len(b) for b in found[name]])),
            "ms_per_image": 1000 * seconds[name] / len(paths),
        }
        for name in detectors
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_split_arguments(parser)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--skip", nargs="*", default=[], choices=["keypoints", "detection"])
    parser.add_argument("--detectors", nargs="*", default=list(DETECTORS), choices=list(DETECTORS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    paths, truth, boxes, train = load_split(args.data, args.first, args.last, args.step)
    print(machine())
    print(f"LSP-extended im{args.first:05d}-im{args.last:05d}: {len(paths)} images")
    keypoints = {} if "keypoints" in args.skip else keypoint_scores(paths, truth, boxes, train)
    detection = {} if "detection" in args.skip else detection_scores(paths, boxes, args.detectors)
    print("PCK@0.2 (torso), 12 limb joints, ground-truth boxes:")
    for name, row in keypoints.items():
        extra = f"  {row['ms_per_image']:.0f} ms/image" if "ms_per_image" in row else ""
        print(f"  {name:<12} {row['pck']:.3f}{extra}")
    print("Detection recall (IoU >= 0.5 with the ground-truth box, detections squared):")
    for name, row in detection.items():
        print(f"  {name:<14} {row['recall_iou50']:.3f}  ({row['mean_people']:.2f} boxes/image, "
              f"{row['ms_per_image']:.0f} ms/image)")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {"machine": machine(), "images": len(paths), "keypoints": keypoints,
                  "detection": detection}  # fmt: skip
        args.json.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
