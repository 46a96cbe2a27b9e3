"""`openhmr demo VIDEO --track` against the per-frame video demo, same clip, same run, CPU.

    python benchmarks/video_speed.py [--frames 60] [--people 2] [--threads 2] [--rounds 2] \
        [--views one ...]

Clip: 640 × 360, mp4v, the bundled photo (a person) `--people` times side by side, each copy
sliding sideways a few pixels a frame over a grey background, written before timing. The runs
share the bundled default model, loaded once (not timed), and process every frame: detect,
crop, predict, overlay, write; the tracked runs add tracking, smoothing and the per-track
.npz and .bvh. Runs: the per-frame demo (the image detector); tracked with demo --track's
detector (`openhmr.video.tiles.video_detector`), the pose networks at the default precision
("auto": bfloat16 on a CPU that computes it natively, `openhmr.posenet.precision`); the same
in float32; with --views, tracked with the regressor averaging those views
(`openhmr.model.views`; the default runs read the bundled model's own). Rounds alternate
them; ratios are per round (median and range), absolute frames/s are medians. (The detector
runs in float32 at every precision: docs/posenet.md.)
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
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine

from openhmr.inference.predictor import ASSETS, Predictor
from openhmr.inference.video import run_video
from openhmr.posenet.precision import precision_name, resolve_precision
from openhmr.video.pipeline import run_tracked
from openhmr.video.tiles import VIDEO_THRESHOLD, video_detector


def write_clip(path: Path, frames: int, people: int, fps: float = 30.0) -> None:
    size = 300
    photo = cv2.resize(cv2.imread(str(ASSETS / "astronaut.jpg")), (size, size))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 360))
    for f in range(frames):
        frame = np.full((360, 640, 3), 90, np.uint8)
        for p in range(people):
            x = int(10 + p * 320 + 2 * f * (1 if p % 2 == 0 else -1)) % (640 - size)
            frame[30 : 30 + size, x : x + size] = photo
        writer.write(frame)
    writer.release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--people", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--views", nargs="*", default=[],
        help="also time tracking with the regressor averaging these test-time views",
    )  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine())
    predictor = Predictor.from_checkpoint("default")
    tracked = copy.copy(predictor)  # the same model, demo --track's detector
    tracked.detector = video_detector(predictor.detector, VIDEO_THRESHOLD)
    exact = copy.copy(tracked)  # ... in float32
    exact.compute_dtype = resolve_precision("float32")
    print(
        f"default precision here: {precision_name(predictor.compute_dtype)}; "
        f"views {predictor.model.config.views}"
    )
    runs = {
        "per-frame": (predictor, run_video),
        "tracked": (tracked, run_tracked),
        "tracked, float32": (exact, run_tracked),
    }
    for views in args.views:
        variant = copy.copy(tracked)
        variant.model = copy.deepcopy(tracked.model).set_views(views)
        runs[f"tracked, views {views}"] = (variant, run_tracked)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        write_clip(clip, args.frames, args.people)
        run_video(predictor, clip, Path(tmp) / "warm", progress=False)  # warm-up
        rates: dict[str, list[float]] = {name: [] for name in runs}
        found: dict[str, str] = {}
        for r in range(args.rounds):
            for n, (name, (runner, run)) in enumerate(runs.items()):
                out = Path(tmp) / f"run{n}-{r}"
                start = time.perf_counter()
                summary = run(runner, clip, out, progress=False)
                rates[name].append(summary.images / (time.perf_counter() - start))
                found[name] = f"{summary.people} detections" + (
                    f", {plural(summary.tracks, 'track')}" if run is run_tracked else ""
                )
    people = "1 person" if args.people == 1 else f"{args.people} people"
    print(f"clip: 640x360, {args.frames} frames, {people}")
    for name, values in rates.items():
        print(
            f"{name:>23}: {statistics.median(values):6.2f} frames/s  ({found[name]}; rounds "
            f"{[round(v, 2) for v in values]})"
        )
    for name, base in (("tracked", "per-frame"), ("tracked", "tracked, float32")):
        ratios = [a / b for a, b in zip(rates[name], rates[base], strict=True)]
        print(
            f"{name} / {base}: {statistics.median(ratios):.2f}x "
            f"(range {min(ratios):.2f}-{max(ratios):.2f})"
        )


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


if __name__ == "__main__":
    main()
