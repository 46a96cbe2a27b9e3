"""`openhmr mocap`: BVH / SMPL .npz mocap into a pose set for the adversarial prior."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from openhmr.checks import check_number, check_output_file
from openhmr.cli.common import Commands


def add_parser(commands: Commands) -> None:
    parser = commands.add_parser(
        "mocap",
        help="convert BVH / SMPL .npz mocap into a pose set for the adversarial prior",
        description="Convert BVH (.bvh, .bvh.gz) and SMPL-parameter .npz files, or folders of "
        "them, into one pose set .npz: poses (N, 72) axis-angle, source, sources, meta.",
    )
    parser.add_argument("inputs", nargs="+", help="BVH / .npz files or folders")
    parser.add_argument("--out", type=Path, required=True, help="output pose set .npz")
    parser.add_argument(
        "--fps", type=float, default=10.0, help="resample clips to about this rate (default 10)"
    )
    parser.add_argument(
        "--skeleton",
        default="auto",
        help="auto (default), cgspeed, daz, iclone or a JSON/YAML map file (SMPL -> BVH joint)",
    )
    parser.add_argument(
        "--min-change",
        type=float,
        default=5.0,
        metavar="DEG",
        help="drop poses whose joints all moved less than DEG degrees (default 5; 0 keeps all)",
    )
    parser.add_argument(
        "--body-model",
        default="smpl",
        help="whose T-pose limbs define the zero pose: 'smpl' (built-in SMPL template, "
        "default), 'open' (bundled model) or a model path",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    import dataclasses

    from tqdm import tqdm

    from openhmr.data.mocap import build_pose_set, save_pose_set
    from openhmr.data.retarget import rest_joints

    check_output_file("--out", args.out, (".npz",))
    check_number("--fps", args.fps, above=0)
    check_number("--min-change", args.min_change, minimum=0)
    template = None if args.body_model == "smpl" else rest_joints(args.body_model)
    pose_set = build_pose_set(
        args.inputs,
        fps=args.fps,
        skeleton=args.skeleton,
        min_change_deg=args.min_change,
        progress=True,
        warn=lambda message: tqdm.write(f"openhmr mocap: {message}", file=sys.stderr),
        template_joints=template,
    )
    pose_set = dataclasses.replace(pose_set, meta={**pose_set.meta, "template": args.body_model})
    save_pose_set(args.out, pose_set)
    meta = pose_set.meta
    skeletons = ", ".join(f"{name} {count}" for name, count in meta["skeletons"].items())
    skipped = f", {len(meta['skipped'])} bad files skipped" if meta["skipped"] else ""
    print(
        f"wrote {args.out}: {len(pose_set)} poses from {meta['files']} files "
        f"({skeletons}){skipped}; "
        f"{meta['frames_in']} frames in, {meta['frames_resampled']} at {args.fps:g} fps, "
        f"{len(pose_set)} after --min-change {args.min_change:g}; {meta['seconds']:.1f} s"
    )
