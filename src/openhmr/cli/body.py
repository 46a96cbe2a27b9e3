"""`openhmr body`: build a body from a model file, pose it and write a mesh."""

from __future__ import annotations

import argparse
from pathlib import Path

from openhmr.checks import check_number, check_output_file
from openhmr.cli.common import MESH_SUFFIXES, Commands, floats

BETA_LIMIT = 10.0
"""|β| above this is refused: shape coefficients are in standard deviations of the body
model's shape space (typical bodies lie within ±3; ±10 already gives grotesque ones)."""


def add_parser(commands: Commands) -> None:
    from openhmr.body.poses import POSE_NAMES

    parser = commands.add_parser(
        "body",
        help="build a body from a model file, pose it and write a mesh (.obj, .ply, .glb)",
        description="Build a body (shape β), pose it (a named pose) and write the mesh; the "
        "file name's extension chooses the format: .obj, .ply (binary) or .glb.",
    )
    parser.add_argument(
        "--body-model",
        default="open",
        help="'open' (bundled, default) or a path to an SMPL .pkl / .npz",
    )
    parser.add_argument(
        "--pose", default="walk", choices=POSE_NAMES, help="named pose (default: walk)"
    )
    parser.add_argument(
        "--betas",
        type=floats,
        default=[],
        help="comma-separated shape coefficients in standard deviations, each within ±10, "
        "e.g. 1.5,-0.5 (default: mean)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for --pose random")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("out/body.obj"),
        help="output mesh: .obj, .ply or .glb (default: out/body.obj)",
    )
    parser.set_defaults(run=run)


def _check_args(args: argparse.Namespace) -> None:
    for value in args.betas:
        check_number("--betas", value, minimum=-BETA_LIMIT, maximum=BETA_LIMIT)
    check_output_file("--out", args.out, MESH_SUFFIXES)


def run(args: argparse.Namespace) -> None:
    import torch

    from openhmr.body import load_body_model
    from openhmr.body.poses import named_pose
    from openhmr.inference.export import MESH_WRITERS

    _check_args(args)
    model = load_body_model(args.body_model)
    pose = named_pose(args.pose, generator=torch.Generator().manual_seed(args.seed))
    betas = torch.tensor([args.betas], dtype=torch.float32) if args.betas else None
    with torch.no_grad():
        out = model(pose=pose, betas=betas)
    write = MESH_WRITERS[args.out.suffix.lower().lstrip(".")]
    write(args.out, out.vertices[0].numpy(), model.faces.numpy())
    height = float(out.vertices[0, :, 1].max() - out.vertices[0, :, 1].min())
    print(
        f"wrote {args.out}: {model.name}, {model.num_vertices} vertices, "
        f"{model.faces.shape[0]} faces, pose {args.pose!r}, height {height:.2f} m"
    )
