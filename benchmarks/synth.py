"""Synthetic data throughput: samples per second of `openhmr synth` at 224² (body model, render,
background, occluders, JPEG + annotation writing), with 1 and 2 worker processes.

    python benchmarks/synth.py [--num 1000]

Times include start-up (with 2 workers: spawning two processes that import torch and load the
body model, ~2 s), so larger --num approaches the steady rate. The reference measured in the
same run is the renderer alone on one body (shaded 224² frames per second on one thread), so
the ratio says how much of the budget the rest of the pipeline takes.
Target: ≥ 100 samples/s on 2 cores.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numba

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, time_interleaved
from render import camera_frame_body

from openhmr.render import Mesh, render
from openhmr.synth import SynthConfig, generate


def throughput(num: int, workers: int) -> float:
    out = Path(tempfile.mkdtemp(prefix="synth-bench-"))
    try:
        start = time.perf_counter()
        generate(SynthConfig(out=str(out / "run"), num=num), workers, progress=False)
        return num / (time.perf_counter() - start)
    finally:
        shutil.rmtree(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=1000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    numba.set_num_threads(1)
    vertices, faces = camera_frame_body()
    frame = time_interleaved(
        {"render": lambda: render([Mesh(vertices, faces)], (224, 224), 246.4)}
    )["render"]
    print(f"reference: shaded 224² render, 1 thread: {1 / frame:.0f} frames/s")
    for workers in (1, 2):
        rate = throughput(args.num, workers)
        print(
            f"synth, {workers} worker(s): {rate:.0f} samples/s ({rate * frame:.2f} × render-only)"
        )


if __name__ == "__main__":
    main()
