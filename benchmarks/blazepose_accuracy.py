"""BlazePose heavy and full against MoveNet Thunder on held-out LSP-extended: PCK and speed.

    .venv/bin/python benchmarks/blazepose_accuracy.py [--data ../shared/data/lspet]
        [--first 7201] [--last 8000] [--step 1] [--tfjs-crops 3] [--json out/blazepose.json]

Each person gets the ground-truth box and nothing else (square, 1.2 × the visible joints'
extent, as benchmarks/posenet_lsp.py): MoveNet Thunder reads the box, its keypoints place
BlazePose's crop (MediaPipe's ROI: `openhmr.posenet.pose_roi`), BlazePose reads the crop.
Printed: PCK@0.2 (torso) of the 12 limb joints for Thunder, heavy and full (their
MediaPipe landmarks in COCO order), and heavy with the crop left upright (not turned) to show
what the turn is worth; ms per person on this CPU for MoveNet and for each BlazePose
(crop + network, no masks), and TF.js's own ms per crop (the published graph in Node,
@tensorflow/tfjs CPU backend, on the first --tfjs-crops crops of this run) with the ratio.
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from common import machine
from posenet_lsp import add_split_arguments, load_split

from openhmr.evaluate.keypoints2d import limb_pck
from openhmr.inference.predictor import load_image
from openhmr.posenet import BlazePose, MoveNet
from openhmr.posenet.blazepose import COCO_FROM_BLAZEPOSE
from openhmr.posenet.pose_roi import PoseROI, roi_from_keypoints, warp_crops

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT.parent / "shared" / "models" / "human-models-3.0.4"


def upright(roi: PoseROI) -> PoseROI:
    """The same crops, not turned."""
    up = np.tile([0.0, -1.0], (len(roi), 1))
    return PoseROI(roi.centre, roi.side, up, roi.from_keypoints)


def crop_of(image: np.ndarray, roi: PoseROI) -> torch.Tensor:
    pixels = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    return warp_crops(pixels, roi.crop_to_image(256), 256)


def run(paths, boxes, tfjs_crops: int) -> dict:
    thunder = MoveNet.pretrained("thunder")
    nets = {v: BlazePose.pretrained(v) for v in ("heavy", "full")}
    preds = {"thunder": [], "heavy": [], "full": [], "heavy_upright": []}
    seconds = dict.fromkeys(["thunder", "heavy", "full"], 0.0)
    crops = []
    for path, box in list(zip(paths, boxes, strict=True))[:2]:  # warm-up, untimed
        image = load_image(path)
        keypoints = thunder.keypoints(image, box[None])
        for net in nets.values():
            net.landmarks(image, box[None], keypoints=keypoints, masks=False)
    for path, box in tqdm(list(zip(paths, boxes, strict=True)), desc="persons", leave=False):
        image = load_image(path)
        start = time.perf_counter()
        keypoints = thunder.keypoints(image, box[None])
        seconds["thunder"] += time.perf_counter() - start
        preds["thunder"].append(keypoints[0])
        for variant, net in nets.items():
            start = time.perf_counter()
            found = net.landmarks(image, box[None], keypoints=keypoints, masks=False)
            seconds[variant] += time.perf_counter() - start
            preds[variant].append(found.coco17()[0])
        roi = roi_from_keypoints(keypoints, box[None])
        if len(crops) < tfjs_crops:
            crops.append(crop_of(image, roi))
        with torch.no_grad():
            out = nets["heavy"](crop_of(image, upright(roi)))
        flat = upright(roi).crop_to_image(256)
        xy = out.ld_3d[0, :, :2].double().numpy() @ flat[0, :, :2].T + flat[0, :, 2]
        preds["heavy_upright"].append(xy[list(COCO_FROM_BLAZEPOSE)])
    ms = {k: 1000 * v / len(paths) for k, v in seconds.items()}
    return {"preds": {k: np.array(v) for k, v in preds.items()}, "ms": ms, "crops": crops}


def tfjs_ms(crops: list[torch.Tensor]) -> dict[str, float]:
    """TF.js's mean ms per crop (one warm-up, two timed runs per crop) for each variant."""
    from tfjs_reference import run_tfjs_timed

    out = {}
    for variant in ("heavy", "full"):
        times = []
        for crop in crops:
            x = np.ascontiguousarray(crop.permute(0, 2, 3, 1).numpy().astype(np.float32))
            _, timing = run_tfjs_timed(MODELS / f"blazepose-{variant}.json", x, repeat=2, warmup=1)
            times.append(timing["mean_ms"])
        out[variant] = float(np.mean(times))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_split_arguments(parser)
    parser.add_argument("--tfjs-crops", type=int, default=3, help="crops timed in TF.js (3)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    paths, truth, boxes, _ = load_split(args.data, args.first, args.last, args.step)
    print(machine())
    print(f"LSP-extended im{args.first:05d}-im{args.last:05d} step {args.step}: "
          f"{len(paths)} persons")  # fmt: skip
    result = run(paths, boxes, args.tfjs_crops)
    scores = {k: limb_pck(v, truth) for k, v in result["preds"].items()}
    tfjs = tfjs_ms(result["crops"]) if args.tfjs_crops else {}
    print("PCK@0.2 (torso), 12 limb joints, ground-truth box only:")
    for name, score in scores.items():
        ms = result["ms"].get(name)
        extra = f"  {ms:.0f} ms/person (ours)" if ms is not None else ""
        if name in tfjs:
            extra += f", TF.js {tfjs[name]:.0f} ms/crop ({tfjs[name] / ms:.1f}x ours)"
        print(f"  {name:<14} {score.value:.3f}{extra}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {"machine": machine(), "persons": len(paths), "step": args.step,
                  "pck": {k: s.value for k, s in scores.items()}, "ms_per_person": result["ms"],
                  "tfjs_ms_per_crop": tfjs}  # fmt: skip
        args.json.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
