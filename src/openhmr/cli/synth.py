"""`openhmr synth`: synthetic images with exact 2D/3D/SMPL ground truth."""

from __future__ import annotations

import argparse
from pathlib import Path

from openhmr.checks import check_count, check_number, check_output_folder
from openhmr.cli.common import Commands


def add_parser(commands: Commands) -> None:
    parser = commands.add_parser(
        "synth",
        help="generate synthetic images with exact 2D/3D/SMPL ground truth",
        description="Render bodies (shapes × poses × cameras) over backgrounds and write "
        "<out>/images/, <out>/annotations/ and the record index <out>/synth.npz. "
        "Deterministic per seed, independent of --workers; re-running fills in what is missing.",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--num", type=int, required=True, help="number of samples")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--mocap",
        help="pose set .npz (openhmr mocap / AMASS-style); "
        "default: the built-in sampler within per-joint limits",
    )
    parser.add_argument(
        "--backgrounds", help="folder of background images; default: procedural textures"
    )
    parser.add_argument("--body-model", default="open", help="'open' (default) or a path")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--size", type=int, default=224, help="image side in px (default 224)")
    parser.add_argument(
        "--parts",
        action="store_true",
        help="also write part-label PNGs "
        "(0 background, 1 head, 2 torso, 3/4 left/right arm, 5/6 left/right leg)",
    )
    parser.add_argument(
        "--occluders",
        type=float,
        default=0.25,
        help="probability in [0, 1] of a random occluder per image (default 0.25)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    import time

    from openhmr.synth import SceneConfig, SynthConfig, generate

    check_output_folder("--out", args.out)
    check_count("--num", args.num)
    check_count("--seed", args.seed, minimum=0)
    check_count("--workers", args.workers)
    check_count("--size", args.size, minimum=64)
    check_number("--occluders", args.occluders, minimum=0, maximum=1)
    scene = SceneConfig.sized(args.size, occluder_prob=args.occluders)
    config = SynthConfig(
        out=str(args.out),
        num=args.num,
        seed=args.seed,
        mocap=args.mocap,
        backgrounds=args.backgrounds,
        body_model=args.body_model,
        parts=args.parts,
        scene=scene,
    )
    start = time.perf_counter()
    path = generate(config, workers=args.workers)
    seconds = time.perf_counter() - start
    print(f"wrote {path}: {args.num} samples in {seconds:.1f} s ({args.num / seconds:.0f}/s)")
