"""Renderer speed: ms per frame for the open body model at 224² and 1024 × 768, shaded and
triangle-id modes, on one thread and on all.

    python benchmarks/render.py [--repeats 20]

The body stands ~2.2 m from the camera (filling most of the frame's height, as in a demo
overlay). Reference in the same run: numpy's z-buffer-free cost floor, i.e. one pass of
`np.zeros` over the frame, is not meaningful, so the figures are absolute ms; the targets are
≤ 5 ms (224²) and ≤ 30 ms (1024 × 768) on one core.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import numba
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, time_interleaved

from openhmr.body import load_body_model
from openhmr.body.poses import named_pose
from openhmr.render import Mesh, rasterize, render


def camera_frame_body() -> tuple[np.ndarray, np.ndarray]:
    """The open model in the walk pose, turned to face the camera (π about x), 2.2 m away."""
    model = load_body_model("open")
    with torch.no_grad():
        vertices = model(pose=named_pose("walk")).vertices[0].numpy().astype(np.float64)
    vertices = vertices * [1.0, -1.0, -1.0] + [0.0, 0.0, 2.2]
    return vertices, model.faces.numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    vertices, faces = camera_frame_body()
    print(f"machine: {machine()}; numba {numba.__version__}")
    print(f"mesh: {len(vertices)} vertices, {len(faces)} triangles")
    print(f"{'size':>10} {'threads':>7} {'id ms':>8} {'shaded ms':>10} {'covered px':>10}")
    for height, width in ((224, 224), (768, 1024)):
        focal = 1.1 * height  # the body's ~1.8 m fills ~90% of the frame height
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            size, mesh = (height, width), [Mesh(vertices, faces)]
            times = time_interleaved(
                {
                    "id": partial(rasterize, vertices, faces, size, focal),
                    "shaded": partial(render, mesh, size, focal),
                },
                repeats=args.repeats,
            )
            covered = int(rasterize(vertices, faces, (height, width), focal).mask.sum())
            print(
                f"{width:>4}x{height:<5} {threads:>7} {1e3 * times['id']:>8.2f} "
                f"{1e3 * times['shaded']:>10.2f} {covered:>10}"
            )


if __name__ == "__main__":
    main()
