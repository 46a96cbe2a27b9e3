"""`openhmr demo VIDEO --track` against the per-frame video demo, same clip, same run, CPU.

    python benchmarks/video_speed.py [--frames 60] [--people 2] [--threads 2] [--rounds 2]

Clip: 640 × 360, mp4v, the bundled photo (a person) `--people` times side by side, each copy
sliding sideways a few pixels a frame over a grey background, written before timing. Both
runs load the bundled default model once (not timed) and process every frame: detect, crop,
predict, overlay, write; the tracked run adds tracking, smoothing and the per-track .npz and
.bvh. Rounds alternate the two; the ratio is tracked frames/s over per-frame frames/s per round
(median and range), absolute frames/s are medians.
"""

from __future__ import annotations

import argparse
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
from openhmr.video.pipeline import run_tracked


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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine())
    predictor = Predictor.from_checkpoint("default")
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        write_clip(clip, args.frames, args.people)
        run_video(predictor, clip, Path(tmp) / "warm", progress=False)  # warm-up
        rates: dict[str, list[float]] = {"per-frame": [], "tracked": []}
        people = 0
        for r in range(args.rounds):
            for name in rates:
                out = Path(tmp) / f"{name}{r}"
                start = time.perf_counter()
                if name == "per-frame":
                    summary = run_video(predictor, clip, out, progress=False)
                else:
                    summary = run_tracked(predictor, clip, out, progress=False)
                    tracks = summary.tracks
                rates[name].append(summary.images / (time.perf_counter() - start))
                people = summary.people
    ratios = [t / p for t, p in zip(rates["tracked"], rates["per-frame"], strict=True)]
    print(f"clip: 640x360, {args.frames} frames, {args.people} people; {people} detections, "
          f"{tracks} tracks")  # fmt: skip
    for name, values in rates.items():
        print(f"{name:>9}: {statistics.median(values):6.2f} frames/s  (rounds {values})")
    print(
        f"tracked / per-frame: {statistics.median(ratios):.2f}x "
        f"(range {min(ratios):.2f}-{max(ratios):.2f})"
    )


if __name__ == "__main__":
    main()
