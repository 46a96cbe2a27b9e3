"""`openhmr demo` end to end on CPU: a folder of rendered people -> outputs, with each stage's
share of the time.

    python benchmarks/demo.py [--images 50] [--size 640x480] [--batch-size 8]

Images: the open body walking, turned by a random yaw, at a random place, over a noisy
gradient (JPEG, written before timing).  Network: full ResNet-50 HMR (T = 3) with its IEF
updates zeroed so every prediction is the mean Θ (a realistic camera and body, so the renderer
draws a real mesh; the network's cost is unchanged).  Stages: decode (JPEG read), detect (MoveNet),
crop, predict (network + body model + camera), render (overlay with keypoints + side view),
write (2 PNGs, OBJ, JSON).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine

from openhmr.body import load_body_model
from openhmr.body.poses import named_pose
from openhmr.inference import Predictor
from openhmr.inference.demo import run_images
from openhmr.inference.timing import StageTimer
from openhmr.model import HMR
from openhmr.render import Mesh, composite, render


def make_images(folder: Path, count: int, width: int, height: int) -> list[Path]:
    body = load_body_model("open")
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        pose = named_pose("walk").reshape(1, 24, 3).clone()
        pose[0, 0] = torch.tensor([math.pi, rng.uniform(-0.3, 0.3), 0.0])  # turned a little
        with torch.no_grad():
            vertices = body(pose=pose).vertices[0].double().numpy()
        vertices = vertices + np.array([rng.uniform(-0.6, 0.6), 0.0, rng.uniform(5.0, 7.0)])
        gradient = np.linspace(rng.uniform(40, 120), rng.uniform(130, 220), width)[None, :, None]
        background = np.clip(gradient + rng.normal(0, 8, (height, width, 3)), 0, 255)
        rendering = render([Mesh(vertices, body.faces.numpy(), rng.uniform(0.2, 0.9, 3))],
                           (height, width), 1.8 * height)  # fmt: skip
        image = composite(background.astype(np.uint8), rendering)
        paths.append(folder / f"{index:03d}.jpg")
        cv2.imwrite(str(paths[-1]), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    torch.set_grad_enabled(False)
    model = HMR(body_model=load_body_model("open")).eval()
    model.regressor.fc3.weight.zero_()
    model.regressor.fc3.bias.zero_()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "in").mkdir()
        paths = make_images(folder / "in", args.images, width, height)
        warm = Predictor(model, batch_size=args.batch_size)  # compile numba, warm the caches
        run_images(warm, paths[:2], folder / "warm", progress=False)
        timer = StageTimer()
        predictor = Predictor(model, batch_size=args.batch_size, timer=timer)
        summary = run_images(predictor, paths, folder / "out", progress=False, timer=timer)
    total = summary.seconds
    print(machine())
    print(
        f"{summary.images} images {width}x{height}, {summary.people} people, "
        f"{len(summary.failures)} failed, batch {args.batch_size}: {total:.2f} s, "
        f"{summary.images / total:.2f} images/s"
    )
    print("| stage | s | ms / processed image | share |")
    print("| --- | ---: | ---: | ---: |")
    done = max(summary.images, 1)
    for name, seconds in timer.seconds.items():
        print(
            f"| {name} | {seconds:.2f} | {1000 * seconds / done:.1f} | "
            f"{100 * seconds / total:.0f}% |"
        )
    other = total - sum(timer.seconds.values())
    print(f"| other | {other:.2f} | {1000 * other / done:.1f} | {100 * other / total:.0f}% |")
    render_detect = timer.seconds.get("render", 0) + timer.seconds.get("detect", 0)
    network = timer.seconds.get("predict", 0)
    verdict = "met" if render_detect <= network else "NOT met"
    print(f"render + detect {render_detect:.2f} s vs network {network:.2f} s: {verdict}")


if __name__ == "__main__":
    main()
