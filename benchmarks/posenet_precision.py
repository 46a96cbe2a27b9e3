"""The pose networks in float32 against bfloat16 (`openhmr.posenet.precision`) on this CPU:
MoveNet Thunder and BlazePose GHUM heavy on 256² crops (what the default model's encoder runs
per person), MoveNet MultiPose at 384 × 224 (demo --track's detector on a 640 × 360 frame),
timed in alternation (`common.time_interleaved`). Prints ms per call and the ratio.

    python benchmarks/posenet_precision.py [--batches 1 2 4] [--repeats 15] [--threads 2]

Without a CPU that computes bfloat16 natively (AMX or AVX-512 BF16) the bfloat16 column is
emulated and slower: that is why "auto" picks float32 there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, time_interleaved

from openhmr import MoveNet
from openhmr.posenet.blazepose import BlazePose
from openhmr.posenet.precision import native_bfloat16, posenet_precision


def call(net, x: torch.Tensor, dtype: torch.dtype | None, **options):
    def run():
        with torch.no_grad(), posenet_precision(dtype):
            net(x, **options)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine())
    print(f"native bfloat16 (AMX or AVX-512 BF16): {native_bfloat16()}")
    thunder, heavy = MoveNet.pretrained("thunder"), BlazePose.pretrained("heavy")
    multipose = MoveNet.pretrained("multipose")
    cases = []
    for batch in args.batches:
        crops = torch.rand(batch, 3, 256, 256, generator=torch.Generator().manual_seed(batch))
        cases.append((f"thunder, {batch}", thunder, crops * 255, {}))
        cases.append((f"blazepose heavy, {batch}", heavy, crops, {"dense": False}))
    frame = torch.rand(1, 3, 224, 384, generator=torch.Generator().manual_seed(0)) * 255
    cases.append(("multipose 384x224, 1", multipose, frame, {}))
    print(f"{'network, batch':>24} {'float32 ms':>11} {'bfloat16 ms':>12} {'ratio':>6}")
    for name, net, x, options in cases:
        seconds = time_interleaved(
            {
                "float32": call(net, x, None, **options),
                "bfloat16": call(net, x, torch.bfloat16, **options),
            },
            repeats=args.repeats,
        )
        exact, reduced = 1000 * seconds["float32"], 1000 * seconds["bfloat16"]
        print(f"{name:>24} {exact:11.1f} {reduced:12.1f} {exact / reduced:5.2f}x")


if __name__ == "__main__":
    main()
