"""Tracking and smoothing on synthetic multi-person sequences with exact truth (issue 28).

    python benchmarks/video_tracking.py [--seeds 100 110] [--frames 300] [--mocap DIR]

Each seed: 2-4 people (2 + seed % 3) walking paths that cross, CMU motion when --mocap holds
clips (else the built-in sampler), the simulated per-frame estimator of
`openhmr.video.synthetic.simulate_estimates` at its default noise. Prints identity switches per
100 frames per person, the lowest coverage of a person, and MPJPE / acceleration error of the
root-relative 3D joints, per-frame (raw) against smoothed (σ = 2 frames), with their ratio.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine

from openhmr.body import load_body_model
from openhmr.video.evaluate import motion_metrics
from openhmr.video.metrics import tracking_metrics
from openhmr.video.smooth import collect_tracks, smooth_track
from openhmr.video.synthetic import make_sequence, mocap_files, simulate_estimates
from openhmr.video.track import track_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs=2, default=(100, 110))
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--mocap", default=None)
    parser.add_argument("--sigma", type=float, default=2.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(machine())
    body = load_body_model("open")
    files = mocap_files(args.mocap)
    rows = []
    for seed in range(*args.seeds):
        people = 2 + seed % 3
        seq = make_sequence(body, np.random.default_rng(seed), people, args.frames, mocap=files)
        est = simulate_estimates(seq, np.random.default_rng(10_000 + seed))
        ids = track_frames(est)
        track = tracking_metrics([e.truth for e in est], ids, seq.visible)
        raw = collect_tracks(est, ids)
        motion = motion_metrics(body, seq, raw, [smooth_track(t, args.sigma) for t in raw])
        coverage = np.nanmin(track.coverage)
        rows.append((track.switches_per_100, coverage, motion))
        print(
            f"seed {seed} ({people} people, {seq.pose_source}, max occlusion "
            f"{seq.occlusion.max():.2f}): switches/100 {track.switches_per_100:.2f}, min coverage "
            f"{coverage:.3f}; MPJPE {motion.mpjpe_raw:.1f} -> {motion.mpjpe_smooth:.1f}"
            f" mm; accel {motion.accel_raw:.1f} -> {motion.accel_smooth:.1f} mm/frame² "
            f"({motion.accel_smooth / motion.accel_raw:.3f})"
        )
    switches = np.array([r[0] for r in rows])
    accel = np.array([r[2].accel_smooth / r[2].accel_raw for r in rows])
    mp = np.array([r[2].mpjpe_smooth - r[2].mpjpe_raw for r in rows])
    print(
        f"all: switches/100 max {switches.max():.2f} mean {switches.mean():.2f}; min coverage "
        f"{min(r[1] for r in rows):.3f}; accel ratio max {accel.max():.3f}; "
        f"MPJPE change max {mp.max():+.1f} mm"
    )


if __name__ == "__main__":
    main()
