"""Image -> mesh throughput of the default model, beside the paper's ResNet-50 network, on CPU.

    python benchmarks/image_to_mesh.py [--images 32] [--batches 1 16] [--repeats 3] \
        [--orientations 1] [--views mirror-turns flip ...] [--checkpoint NAME=PATH ...]

What is timed: `Predictor.predict_many` on decoded RGB images — detect (MoveNet MultiPose),
crop, network (encoder + IEF × 3), body model (the full mesh) and the full-image camera; no
rendering or file writing. "batch 1": one image per call; "batch 16": 16 images per call,
their crops sharing network batches of 16. Pipelines (same detector, same images, timed in
alternation): the shipped default model (its record's encoder, crop size and orientation
search), optionally the same model reading crops other numbers of ways up (--orientations)
or averaging other test-time views (--views, `openhmr.model.views`),
other checkpoints (--checkpoint, e.g. a model whose encoder also runs BlazePose), and the
paper's network (full ResNet-50 at 224², random weights: the cost is what matters).
Images: the open body rendered walking over noise at 640 × 480 (`benchmarks/demo.py`), one
person each.
Prints images/s per pipeline and batch, the stage shares, and the ratio default / ResNet-50.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine
from demo import make_images

from openhmr.body import load_body_model
from openhmr.inference import Predictor
from openhmr.inference.timing import StageTimer
from openhmr.model import HMR


def run(predictor: Predictor, images: list, batch: int) -> float:
    """Seconds to turn all `images` into meshes, `batch` images per call."""
    start = time.perf_counter()
    for first in range(0, len(images), batch):
        people = predictor.predict_many(images[first : first + batch])
        assert all(len(p) >= 1 for p in people), "a person was missed"
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--orientations",
        type=int,
        nargs="*",
        default=[],
        help="also time the default model reading crops this many ways up (1, 2, 4)",
    )
    parser.add_argument(
        "--views",
        nargs="*",
        default=[],
        help="also time the default model averaging these test-time views (openhmr.model.views)",
    )
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="also time these checkpoints (each with the body model it was trained with)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    body = load_body_model("open")
    default = Predictor.from_checkpoint("default")
    resnet = HMR(backbone="resnet50", normalization="imagenet", body_model=body).eval()
    c = default.model.config
    label = f"default ({c.backbone}, {c.image_size}², {c.orientations} ways up, views {c.views})"
    pipelines = {label: default}
    for orientations in args.orientations:
        variant = copy.deepcopy(default.model).set_orientations(orientations)
        pipelines[f"default, {orientations} ways up"] = Predictor(variant)
    for views in args.views:
        variant = copy.deepcopy(default.model).set_views(views)
        pipelines[f"default, views {views}"] = Predictor(variant)
    for entry in args.checkpoint:
        name, _, path = entry.partition("=")
        pipelines[name] = Predictor.from_checkpoint(path)
    pipelines["paper ResNet-50 (224²)"] = Predictor(resnet)
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_images(Path(tmp), args.images, 640, 480)
        images = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
    print(machine())
    print(f"{args.images} images of 640 × 480, one person each; median of {args.repeats} runs")
    rates: dict[tuple[str, int], float] = {}
    for batch in args.batches:
        for predictor in pipelines.values():
            predictor.batch_size = batch
            run(predictor, images[:batch], batch)  # warm-up
        samples: dict[str, list[float]] = {name: [] for name in pipelines}
        for _ in range(args.repeats):
            for name, predictor in pipelines.items():
                samples[name].append(run(predictor, images, batch))
        for name, predictor in pipelines.items():
            rates[name, batch] = args.images / statistics.median(samples[name])
            timer = StageTimer()
            predictor.timer = timer
            run(predictor, images, batch)
            predictor.timer = None
            total = sum(timer.seconds.values())
            shares = ", ".join(f"{k} {v / total:.0%}" for k, v in timer.seconds.items())
            print(f"batch {batch:2d}  {name:34s} {rates[name, batch]:6.2f} images/s  ({shares})")
        names = list(pipelines)
        for name in names[:-1]:
            ratio = rates[name, batch] / rates[names[-1], batch]
            print(f"batch {batch:2d}  {name} / ResNet-50: {ratio:.2f}×")


if __name__ == "__main__":
    main()
