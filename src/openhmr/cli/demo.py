"""`openhmr demo`: image, folder of images or video -> meshes, overlays and parameters."""

from __future__ import annotations

import argparse
from pathlib import Path

from openhmr.checks import check_count, check_device, check_number, check_output_folder
from openhmr.cli.common import Commands, add_precision_option, add_views_option
from openhmr.errors import OpenHMRError


def add_parser(commands: Commands) -> None:
    parser = commands.add_parser(
        "demo",
        help="image, folder of images or video -> meshes, overlays and parameters",
        description="Find the people in an image, a folder of images or a video, predict "
        "their bodies and write overlays, side views, meshes and parameters (docs/demo.md).",
    )
    parser.add_argument(
        "input", nargs="?", help="image, folder or video (default: a bundled example photo)"
    )
    parser.add_argument(
        "--checkpoint",
        help="openhmr .safetensors, SPIN model_checkpoint.pt or HMR TF ckpt "
        "(default: the bundled model, docs/default_model.md)",
    )
    parser.add_argument(
        "--body-model",
        help="'open', 'open-annotated' or a path (default: the body model the checkpoint "
        "was trained with)",
    )
    parser.add_argument(
        "--bbox",
        action="append",
        help="person box x,y,w,h in pixels (skips detection); repeat it for several people",
    )
    parser.add_argument(
        "--keypoints", help="OpenPose JSON: boxes from its keypoints (and, with --refine, the fit)"
    )
    parser.add_argument(
        "--refine",
        action="store_true",
        help="fit each body to 2D keypoints (--keypoints, else the built-in pose networks: "
        "MoveNet Thunder's keypoints with BlazePose GHUM's 3D landmarks; docs/fitting.md)",
    )
    parser.add_argument(
        "--refine-source",
        choices=("blazepose", "blazepose-full", "movenet"),
        help="with --refine and no --keypoints: blazepose (default; heavy), blazepose-full "
        "(faster) or movenet (2D keypoints only)",
    )
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    parser.add_argument("--device", default="cpu", help="torch device: cpu or cuda")
    parser.add_argument("--batch-size", type=int, default=8, help="crops per batch (8)")
    parser.add_argument(
        "--formats", default="obj", help="mesh files, comma-separated: obj, ply, glb (obj)"
    )
    parser.add_argument(
        "--focal", type=float, help="focal length in px, > 0 (default 5000 · max(W, H) / 224)"
    )
    parser.add_argument(
        "--orientations",
        type=int,
        help="1, 2 or 4: read each crop this many ways up and keep the most confident read "
        "(MoveNet encoders: for upside-down people, at that many times the encoder's cost; "
        "default: the checkpoint's, 1 for the bundled model; docs/default_model.md)",
    )
    add_views_option(parser)
    parser.add_argument(
        "--track",
        action="store_true",
        help="video or folder of frames: find people with the video detector (MultiPose at "
        "384 px on the frame's shape, no fallback box), keep each person's identity across "
        "frames, smooth "
        "their motion, write a .npz and a .bvh per track, one animated .glb (and with --fbx "
        "an .fbx) and an overlay video with ids (docs/video.md)",
    )
    parser.add_argument(
        "--fps", type=float, help="with --track: frame rate, > 0 (default: the video's; 30)"
    )
    parser.add_argument(
        "--look-closer",
        type=int,
        default=None,
        metavar="N",
        help="with --track: read MultiPose again on crops about everyone found every N-th "
        "frame, and every frame about people whose boxes touch and tracks the detector "
        "missed, to find people behind others (0: never; default 8; costs speed, "
        "docs/video.md)",
    )
    parser.add_argument(
        "--fbx",
        action="store_true",
        help="with --track: also write the animated tracks as <stem>_tracks.fbx through "
        "Blender's own FBX exporter (needs bpy: the fbx extra, or --blender-python; "
        "docs/video.md)",
    )
    parser.add_argument(
        "--blender-python",
        metavar="PYTHON",
        help="with --fbx: a Python interpreter that has bpy, e.g. .venv-fbx/bin/python "
        "(default: $OPENHMR_BLENDER_PYTHON, else this one when it has bpy)",
    )
    add_precision_option(parser)
    parser.set_defaults(run=run)


def _check_args(args: argparse.Namespace) -> None:
    check_output_folder("--out", args.out)
    check_device("--device", args.device)
    check_count("--batch-size", args.batch_size)
    if args.focal is not None:
        check_number("--focal", args.focal, above=0)
    if args.fps is not None:
        check_number("--fps", args.fps, above=0)
    if args.fbx and not args.track:
        raise OpenHMRError("--fbx: expected --track too (FBX holds the tracks' animation)")
    if args.look_closer is not None:
        if not args.track:
            raise OpenHMRError("--look-closer: expected --track too")
        check_count("--look-closer", args.look_closer, minimum=0)
    if args.blender_python is not None and not args.fbx:
        raise OpenHMRError("--blender-python: expected --fbx too")
    if args.orientations is not None:
        from openhmr.posenet.movenet import ORIENTATIONS

        if args.orientations not in ORIENTATIONS:
            expected = ", ".join(map(str, ORIENTATIONS))
            got = args.orientations
            raise OpenHMRError(f"--orientations: expected one of {expected}, got {got}")


def run(args: argparse.Namespace) -> None:
    from openhmr.inference.command import failure_lines, run_demo_command, summary_line

    _check_args(args)
    if args.track:
        _run_track(args)
        return
    summary = run_demo_command(
        args.input,
        args.checkpoint,
        args.body_model,
        args.bbox,
        args.keypoints,
        args.out,
        args.device,
        args.batch_size,
        args.formats,
        args.focal,
        refine=args.refine,
        orientations=args.orientations,
        refine_source=args.refine_source,
        precision=args.precision,
        views=args.views,
    )
    print(summary_line(summary, args.out))
    for line in failure_lines(summary):
        print(line)


def _run_track(args: argparse.Namespace) -> None:
    from openhmr.inference.command import counted, summary_line
    from openhmr.video.command import run_track_command

    if args.bbox or args.keypoints or args.refine:
        raise OpenHMRError("--track: --bbox, --keypoints and --refine apply to single images")
    summary = run_track_command(
        args.input, args.checkpoint, args.body_model, args.out, args.device, args.batch_size,
        args.focal, fps=args.fps, orientations=args.orientations, fbx=args.fbx,
        blender_python=args.blender_python, precision=args.precision, closer=args.look_closer,
        views=args.views,
    )  # fmt: skip
    print(f"{summary_line(summary, args.out)}; {counted(summary.tracks, 'tracks')}")
