"""`openhmr <command>`: the command-line interface.

Every command turns a bad input (`OpenHMRError`) into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from openhmr.errors import OpenHMRError


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None


def _add_body(commands: argparse._SubParsersAction) -> None:
    from openhmr.body.poses import POSE_NAMES

    parser = commands.add_parser(
        "body",
        help="build a body from a model file, pose it and write a mesh (.obj)",
        description="Build a body (shape β), pose it (a named pose) and write the mesh as OBJ.",
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
        type=_floats,
        default=[],
        help="comma-separated shape coefficients, e.g. 1.5,-0.5 (default: mean)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for --pose random")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("out/body.obj"),
        help="output mesh path (default: out/body.obj)",
    )
    parser.set_defaults(run=_run_body)


def _run_body(args: argparse.Namespace) -> None:
    import torch

    from openhmr.body import load_body_model
    from openhmr.body.poses import named_pose
    from openhmr.inference.export import write_obj

    model = load_body_model(args.body_model)
    pose = named_pose(args.pose, generator=torch.Generator().manual_seed(args.seed))
    betas = torch.tensor([args.betas], dtype=torch.float32) if args.betas else None
    with torch.no_grad():
        out = model(pose=pose, betas=betas)
    write_obj(args.out, out.vertices[0].numpy(), model.faces.numpy())
    height = float(out.vertices[0, :, 1].max() - out.vertices[0, :, 1].min())
    print(
        f"wrote {args.out}: {model.name}, {model.num_vertices} vertices, "
        f"{model.faces.shape[0]} faces, pose {args.pose!r}, height {height:.2f} m"
    )


def build_parser() -> argparse.ArgumentParser:
    from openhmr import __version__

    parser = argparse.ArgumentParser(
        prog="openhmr", description="HMR (End-to-end Recovery of Human Shape and Pose)."
    )
    parser.add_argument("--version", action="version", version=f"openhmr {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for add in (_add_body,):
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], None] = args.run
    try:
        run(args)
    except OpenHMRError as err:
        print(f"openhmr {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
