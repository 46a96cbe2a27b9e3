"""Tracking and smoothing on synthetic multi-person sequences with exact truth (issue 28).

    python benchmarks/video_tracking.py [--seeds 100 110] [--frames 300] [--mocap DIR]
    python benchmarks/video_tracking.py --estimator real [--size 640 360] [--render-dir DIR]
        [--detector video|image]

Each seed: 2-4 people (2 + seed % 3) walking paths that cross, CMU motion when --mocap holds
clips (else the built-in sampler). The per-frame estimates come from

- `--estimator simulated` (default): `openhmr.video.synthetic.simulate_estimates` at its
  default noise, tracked with `track_frames`;
- `--estimator real`: the sequence rendered to frames (`openhmr.video.rendered`), then the
  pipeline of `openhmr demo FRAMES --track` on them (the checkpoint's predictor with the video
  detector, the online tracker, tracks of ≥ 5 detections smoothed); each detection is matched
  to the true person it shows (`openhmr.video.evaluate.with_truth`: CLEAR MOT's matching,
  a person keeps their track's detection while its box overlaps theirs by IoU >= 0.5, the
  rest matched per frame by `match_truth`; the detector's recall matches per frame).
  `--detector image`
  runs the image demo's detector (MultiPose at 256 px in a square, threshold 0.2, fallback)
  in the tiled pass instead, as `demo --track` did before `video_detector`.

Prints identity switches per 100 frames per person, the lowest coverage of a person, and
MPJPE / acceleration error of the root-relative 3D joints, per-frame (raw) against smoothed
(σ = 2 frames), with their ratio; with the real estimator also the detector's recall of
visible people (per person, and over all person-frames: people apart, and people stacked,
i.e. with another person's torso centre within 0.2 of their height), unmatched detections,
tracks written, the matched boxes' IoU and the time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine

from openhmr.body import load_body_model
from openhmr.posenet.precision import PRECISIONS, precision_name
from openhmr.video.evaluate import motion_metrics
from openhmr.video.metrics import tracking_metrics
from openhmr.video.pipeline import CLOSER, RELOOK
from openhmr.video.smooth import collect_tracks, smooth_track
from openhmr.video.synthetic import make_sequence, mocap_files, simulate_estimates
from openhmr.video.track import TrackerConfig, track_frames


def simulated(body, seq, seed: int, sigma: float, trackers: list[TrackerConfig]):
    """[(tracking, motion, extra text, None)] with the simulated estimator, one per tracker
    configuration."""
    est = simulate_estimates(seq, np.random.default_rng(10_000 + seed))
    results = []
    for config in trackers:
        ids = track_frames(est, config)
        track = tracking_metrics([e.truth for e in est], ids, seq.visible)
        raw = collect_tracks(est, ids)
        motion = motion_metrics(body, seq, raw, [smooth_track(t, sigma) for t in raw])
        results.append((track, motion, "", None, None))
    return results


def real(
    body, seq, seed: int, sigma: float, predictor, eval_body, folder: Path, backgrounds,
    trackers: list[TrackerConfig], detect_every: int = 1, relook: bool = RELOOK,
    closer: int = CLOSER,
):  # fmt: skip
    """[(tracking, motion, extra text, detection counts)] with the real predictor on the
    rendered sequence, one per tracker configuration (the first is the pipeline's own pass;
    the others track its detections again); counts: (2, 2) detected and visible person-frames,
    people standing apart (row 0) and stacked (row 1, `openhmr.video.evaluate.stacked`)."""
    from openhmr.video.evaluate import detected_frames, score_tracked, stacked, with_truth
    from openhmr.video.pipeline import detect_and_track, open_frames
    from openhmr.video.rendered import render_sequence

    start = time.perf_counter()
    rendered = render_sequence(
        seq, body, folder / f"seed{seed}", np.random.default_rng(20_000 + seed), backgrounds
    )
    rendering = time.perf_counter() - start
    images, _, _ = open_frames(rendered.folder, seq.fps)
    estimates, ids = [], []
    passes = detect_and_track(predictor, images, trackers[0], detect_every, relook, closer)
    for frame, frame_ids, _ in passes:
        estimates.append(frame)
        ids.append(frame_ids)
    seconds = time.perf_counter() - start
    visible = rendered.visible(seq)
    truthed = with_truth(seq, estimates)
    hit = detected_frames(truthed, visible.shape)
    crowd = stacked(seq)
    counts = np.array(
        [[(hit & visible & c).sum(), (visible & c).sum()] for c in (~crowd, crowd)], dtype=float
    )
    results = []
    for n, config in enumerate(trackers):
        again = ids if n == 0 else track_frames(estimates, config)
        held = with_truth(seq, estimates, again)  # CLEAR MOT: a match holds while it overlaps
        score = score_tracked(eval_body, seq, held, again, sigma, visible=visible)
        extra = (
            f"; {visible.sum()} of {seq.visible.size} person-frames visible by pixels "
            f"({seq.visible.sum()} by boxes); per person coverage "
            f"{np.round(score.tracking.coverage, 3).tolist()}, with filled frames "
            f"{np.round(score.output_coverage, 3).tolist()}, detected "
            f"{np.round(score.detected, 3).tolist()}; {score.unmatched} unmatched, "
            f"{score.tracks} tracks, match IoU {score.match_iou:.2f}; {recall_text(counts)}; "
            f"{seconds:.0f} s ({rendering:.0f} s rendering)"
        )
        results.append((score.tracking, score.motion, extra, counts, score.output_coverage))
    return results


def recall_text(counts: np.ndarray) -> str:
    """Detector recall of visible person-frames: all, apart, stacked (hits of frames)."""
    found, seen = counts.sum(0)
    parts = [f"recall {found / max(seen, 1):.3f} ({found:.0f}/{seen:.0f})"]
    for name, (hit, total) in zip(("apart", "stacked"), counts, strict=True):
        parts.append(f"{name} {hit / max(total, 1):.3f} ({hit:.0f}/{total:.0f})")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs=2, default=(100, 110))
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--mocap", default=None)
    parser.add_argument("--sigma", type=float, default=2.0)
    parser.add_argument("--estimator", choices=("simulated", "real"), default="simulated")
    parser.add_argument("--size", type=int, nargs=2, default=(640, 360), help="width height")
    parser.add_argument("--checkpoint", default="default", help="real: the predictor's")
    parser.add_argument(
        "--detector",
        choices=("video", "image"),
        default="video",
        help="real: demo --track's (video_detector), or the image demo's in tiles (the former)",
    )
    parser.add_argument("--device", default="cpu", help="real: the predictor's device")
    parser.add_argument(
        "--detect-every", type=int, default=1, help="real: the detector on every n-th frame"
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="real: the pose networks' (openhmr.posenet.precision)",
    )
    parser.add_argument("--backgrounds", default=None, help="real: image folder (procedural)")
    parser.add_argument(
        "--no-relook",
        dest="relook",
        action="store_false",
        help="real: do not read recent tracks the detector missed again (openhmr.video.relook; "
        "on by default, as demo --track)",
    )
    parser.add_argument(
        "--closer",
        type=int,
        default=CLOSER,
        metavar="N",
        help="real: read crops about the people found again every N-th frame "
        f"(openhmr.video.closer; 0: never; default {CLOSER}, as demo --track)",
    )
    parser.add_argument(
        "--render-dir", default=None, help="real: keep the frames in DIR/seed<N> (else deleted)"
    )
    parser.add_argument(
        "--appearance",
        type=float,
        nargs="+",
        default=[TrackerConfig.weight_appearance],
        metavar="W",
        help="the tracker's appearance weight; several: the same detections tracked with each "
        f"(default {TrackerConfig.weight_appearance}; 0: box, keypoints and body alone)",
    )
    args = parser.parse_args()
    trackers = [TrackerConfig(weight_appearance=w) for w in args.appearance]
    torch.set_num_threads(1)
    print(machine())
    body = load_body_model("open")
    files = mocap_files(args.mocap)
    if args.estimator == "real":
        from openhmr.inference.predictor import resolve_checkpoint
        from openhmr.model.checkpoint import trained_body_model
        from openhmr.synth.scene import list_backgrounds
        from openhmr.video.command import tracking_predictor

        predictor = tracking_predictor(
            args.checkpoint, device=args.device, precision=args.precision
        )
        if args.detector == "image":
            from openhmr.inference.detect import MoveNetPersonDetector
            from openhmr.video.tiles import TiledDetector

            predictor.detector = TiledDetector(MoveNetPersonDetector(device=args.device))
        body_name = trained_body_model(resolve_checkpoint(args.checkpoint))
        eval_body = load_body_model(body_name)
        backgrounds = list_backgrounds(args.backgrounds)
        scratch = None if args.render_dir else tempfile.TemporaryDirectory(prefix="video_real_")
        folder = Path(args.render_dir or scratch.name)
        print(
            f"real predictor ({args.checkpoint}, body {body_name}, {args.detector} detector "
            f"every {args.detect_every} frames{'' if args.relook else ', no relook'}, "
            f"closer look every {args.closer} frames, "
            f"{precision_name(predictor.compute_dtype)}) "
            f"on {folder}"
        )
    rows = {w: [] for w in args.appearance}
    for seed in range(*args.seeds):
        people = 2 + seed % 3
        seq = make_sequence(
            body, np.random.default_rng(seed), people, args.frames, tuple(args.size), mocap=files
        )
        if args.estimator == "real":
            results = real(
                body, seq, seed, args.sigma, predictor, eval_body, folder, backgrounds, trackers,
                args.detect_every, args.relook, args.closer,
            )  # fmt: skip
        else:
            results = simulated(body, seq, seed, args.sigma, trackers)
        for weight, result in zip(args.appearance, results, strict=True):
            track, motion, extra, counts, output = result
            coverage = np.nanmin(track.coverage)
            filled = coverage if output is None else np.nanmin(output)
            rows[weight].append((track.switches_per_100, coverage, motion, counts, filled))
            label = f" [appearance {weight:g}]" if len(args.appearance) > 1 else ""
            print(
                f"seed {seed}{label} ({people} people, {seq.pose_source}, max occlusion "
                f"{seq.occlusion.max():.2f}): switches/100 {track.switches_per_100:.2f}, min "
                f"coverage {coverage:.3f}; MPJPE {motion.mpjpe_raw:.1f} -> "
                f"{motion.mpjpe_smooth:.1f} mm; accel {motion.accel_raw:.1f} -> "
                f"{motion.accel_smooth:.1f} mm/frame² "
                f"({motion.accel_smooth / motion.accel_raw:.3f}){extra}",
                flush=True,
            )
    for weight, kept in rows.items():
        switches = np.array([r[0] for r in kept])
        accel = np.array([r[2].accel_smooth / r[2].accel_raw for r in kept])
        mp = np.array([r[2].mpjpe_smooth - r[2].mpjpe_raw for r in kept])
        label = f" [appearance {weight:g}]" if len(args.appearance) > 1 else ""
        print(
            f"all{label}: switches/100 max {switches.max():.2f} mean {switches.mean():.2f}; min "
            f"coverage {min(r[1] for r in kept):.3f} (with filled frames "
            f"{min(r[4] for r in kept):.3f}); accel ratio max {accel.max():.3f}; "
            f"MPJPE change max {mp.max():+.1f} mm"
        )
    if args.estimator == "real":
        first = rows[args.appearance[0]]
        print(f"all: detector {recall_text(sum(r[3] for r in first))}")


if __name__ == "__main__":
    main()
