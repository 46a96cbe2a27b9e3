"""The pose networks with each convolution + ReLU/ReLU6 fused into one oneDNN convolution
(`openhmr.posenet.layers.conv_act`, the default) against the two ops apart, on this CPU, in
float32 and bfloat16: MoveNet Thunder and BlazePose GHUM heavy on 256² crops at batch 2 (two
people, the encoder's work per frame in demo --track), MoveNet MultiPose at 384 × 224 (its
detector on a 640 × 360 frame). Timed in alternation (`common.time_interleaved`); prints ms per
call and the ratio apart / fused.

    python benchmarks/posenet_fusion.py [--batch 2] [--repeats 15] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, time_interleaved
from posenet_precision import call as precision_call

from openhmr import MoveNet
from openhmr.posenet import layers
from openhmr.posenet.blazepose import BlazePose


def call(net, x: torch.Tensor, dtype: torch.dtype | None, fuse: bool, **options):
    """posenet_precision.py's timed call, with the fusion on or off for it."""
    run = precision_call(net, x, dtype, **options)

    def toggled():
        layers.FUSE_ACTIVATIONS = fuse
        try:
            run()
        finally:
            layers.FUSE_ACTIVATIONS = True

    return toggled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine())
    crops = torch.rand(args.batch, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    frame = torch.rand(1, 3, 224, 384, generator=torch.Generator().manual_seed(1)) * 255
    cases = [
        (f"thunder, {args.batch}", MoveNet.pretrained("thunder"), crops * 255, {}),
        (f"blazepose heavy, {args.batch}", BlazePose.pretrained("heavy"), crops, {"dense": False}),
        ("multipose 384x224, 1", MoveNet.pretrained("multipose"), frame, {}),
    ]
    print(f"{'network, batch':>24} {'precision':>9} {'apart ms':>9} {'fused ms':>9} {'ratio':>6}")
    for name, net, x, options in cases:
        for label, dtype in (("float32", None), ("bfloat16", torch.bfloat16)):
            seconds = time_interleaved(
                {
                    "apart": call(net, x, dtype, False, **options),
                    "fused": call(net, x, dtype, True, **options),
                },
                repeats=args.repeats,
            )
            apart, fused = 1000 * seconds["apart"], 1000 * seconds["fused"]
            print(f"{name:>24} {label:>9} {apart:9.1f} {fused:9.1f} {apart / fused:5.2f}x")


if __name__ == "__main__":
    main()
