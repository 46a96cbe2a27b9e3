"""`openhmr convert`: a public dataset's own files to openhmr record indexes."""

from __future__ import annotations

import argparse
from pathlib import Path

from openhmr.checks import check_number, check_output_folder
from openhmr.cli.common import Commands
from openhmr.errors import OpenHMRError

PW3D_SPLITS = ("train", "validation", "test")


def add_parser(commands: Commands) -> None:
    from openhmr.data.converters import CONVERTERS

    parser = commands.add_parser(
        "convert",
        help="convert a public dataset's own files to openhmr record indexes",
        description="Convert a dataset to record indexes <out>/<dataset>_<split>.npz "
        "(see docs/data.md for where each dataset's RAW path points).",
    )
    parser.add_argument("dataset", choices=sorted(CONVERTERS), help="dataset kind")
    parser.add_argument("raw", type=Path, help="the dataset's folder or annotation file")
    parser.add_argument("out", type=Path, help="output folder for the indexes")
    parser.add_argument("--image-root", help="image folder (coco, mpii, spin: see docs)")
    parser.add_argument(
        "--holdout",
        type=float,
        help="lspet only: fraction in [0, 1) of the images present held out as a val split",
    )
    parser.add_argument(
        "--split", choices=PW3D_SPLITS, help="3dpw only: train, validation or test (default test)"
    )
    parser.set_defaults(run=run)


def _converter_options(args: argparse.Namespace) -> dict[str, object]:
    """The converter's keyword arguments; an option that does not apply is an error."""
    options: dict[str, object] = {}
    if args.image_root is not None:
        if args.dataset not in ("coco", "mpii", "spin"):
            raise OpenHMRError(f"--image-root does not apply to {args.dataset}")
        options["image_root"] = args.image_root
    elif args.dataset == "spin":
        raise OpenHMRError("spin: --image-root is required (the dataset's image folder)")
    if args.holdout is not None:
        if args.dataset != "lspet":
            raise OpenHMRError(f"--holdout applies to lspet only, not {args.dataset}")
        options["holdout_fraction"] = check_number("--holdout", args.holdout, minimum=0, below=1)
    if args.split is not None and args.dataset != "3dpw":
        raise OpenHMRError(f"--split applies to 3dpw only, not {args.dataset}")
    if args.dataset == "3dpw":
        options["split"] = args.split or "test"
    return options


def run(args: argparse.Namespace) -> None:
    from openhmr.data.converters import CONVERTERS
    from openhmr.data.records import load_index

    check_output_folder("out", args.out)
    options = _converter_options(args)
    for path in CONVERTERS[args.dataset](args.raw, args.out, **options):
        index = load_index(path, check_images=False)
        print(
            f"wrote {path}: {len(index)} persons ({index.meta.get('persons_in', len(index))}"
            f" before filtering), 3D: {index.has_3d}, SMPL: {index.pose is not None}"
        )
