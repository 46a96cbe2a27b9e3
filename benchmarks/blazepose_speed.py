"""BlazePose GHUM's forward pass on this CPU: channels-last (`BlazePoseNet.channels_last`, the
default) against channels-first, and the landmarks alone (`dense=False`, what the default
model's encoder reads) against every output (heatmaps and the person mask too), heavy and full,
timed in alternation (`common.time_interleaved`). Prints ms per call and the ratios.

    python benchmarks/blazepose_speed.py [--batches 1 2 8] [--repeats 15] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, time_interleaved

from openhmr.posenet.blazepose import BlazePose


def forward(net: BlazePose, x: torch.Tensor, channels_last: bool, dense: bool):
    """A call of `net` on `x` in that layout, with or without the dense outputs."""

    def call():
        net.channels_last = channels_last
        with torch.no_grad():
            net(x, dense=dense)

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 8])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine())
    for variant in ("heavy", "full"):
        net = BlazePose.pretrained(variant)
        for batch in args.batches:
            x = torch.rand(batch, 3, 256, 256, generator=torch.Generator().manual_seed(0))

            seconds = time_interleaved(
                {
                    "channels-first, all outputs": forward(net, x, False, True),
                    "channels-last, all outputs": forward(net, x, True, True),
                    "channels-last, landmarks only": forward(net, x, True, False),
                },
                repeats=args.repeats,
            )
            ms = {name: 1000 * s for name, s in seconds.items()}
            base = ms["channels-first, all outputs"]
            cells = ", ".join(f"{name} {v:.1f} ms ({base / v:.2f}x)" for name, v in ms.items())
            print(f"{variant} batch {batch}: {cells}", flush=True)


if __name__ == "__main__":
    main()
