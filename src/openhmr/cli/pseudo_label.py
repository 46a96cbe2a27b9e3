"""`openhmr pseudo-label`: the fit run over a training split, kept as pseudo-ground-truth θ, β."""

from __future__ import annotations

import argparse
from pathlib import Path

from openhmr.checks import check_count, check_number, check_output_file
from openhmr.cli.common import Commands, add_fit_option, add_views_option


def add_parser(commands: Commands) -> None:
    parser = commands.add_parser(
        "pseudo-label",
        help="fit every person of a training split; keep the fits as pseudo-labels",
        description="Run the fit (docs/fitting.md) over every person of a record index, "
        "chunk by chunk into --out (a stopped run resumes: run the same command again), then "
        "with --merge write the index with the good fits as pose / betas / joints3d labels "
        "(docs/pseudo_labels.md).",
    )
    parser.add_argument(
        "data", type=Path, help="record index (.npz), e.g. runs/data/lspet_train.npz"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the run's chunks")
    parser.add_argument(
        "--checkpoint", default="default", help="the network that starts each fit ('default')"
    )
    parser.add_argument(
        "--body-model",
        default="open-annotated",
        help="the body model the fit poses: 'open-annotated' (default: keypoints where "
        "annotators put them), 'open' or a path",
    )
    parser.add_argument(
        "--source",
        default="blazepose",
        help="keypoint source: 'blazepose' (default: Thunder + BlazePose GHUM heavy, with 3D "
        "landmarks), 'blazepose-full' or 'movenet'",
    )
    parser.add_argument(
        "--targets",
        default="truth+face",
        help="2D targets: 'truth+face' (default: the index's annotated joints plus the "
        "source's face points) or 'source' (the source's keypoints only)",
    )
    parser.add_argument("--chunk", type=int, default=128, help="persons a chunk file (128)")
    parser.add_argument("--rows", type=int, help="fit only the first N rows")
    add_fit_option(parser)
    add_views_option(
        parser, default="as --refine starts: the checkpoint's, with the crop read mirrored too"
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument(
        "--merge", type=Path, help="when every chunk is done, write the labelled index here (.npz)"
    )
    parser.add_argument(
        "--max-error",
        type=float,
        default=0.04,
        help="--merge: a fit is a label when its mean 2D error is at most this fraction of "
        "the person box's side (0.04)",
    )
    parser.add_argument(
        "--min-keypoints", type=int, default=10, help="--merge: 2D targets a label needs (10)"
    )
    parser.add_argument(
        "--no-world",
        action="store_true",
        help="--merge: keep fits without BlazePose's 3D landmarks too",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    import dataclasses
    import shlex
    import sys

    import torch

    from openhmr.data.records import load_index, save_index
    from openhmr.fit import config_from_options
    from openhmr.fit.sources import keypoint_source
    from openhmr.pseudo import PseudoLabelConfig, PseudoLabelFilter, fit_split, merge_pseudo_labels
    from openhmr.pseudo.run import load_model

    check_count("--chunk", args.chunk)
    if args.rows is not None:
        check_count("--rows", args.rows)
    if args.threads is not None:
        check_count("--threads", args.threads)
        torch.set_num_threads(args.threads)
    if args.merge is not None:
        check_output_file("--merge", args.merge, (".npz",))
    check_number("--max-error", args.max_error, above=0)
    fit_config = config_from_options(args.fit_options, "--fit")  # checked before hours of work
    keys = [option.partition("=")[0] for option in args.fit_options]
    fit = {key: getattr(fit_config, key) for key in keys}
    config = PseudoLabelConfig(
        checkpoint=args.checkpoint,
        body_model=args.body_model,
        source=args.source,
        targets=args.targets,
        chunk=args.chunk,
        fit=fit,
        views=args.views,
    )
    config.check()
    index = load_index(args.data)
    source = keypoint_source(args.source)
    model = load_model(args.checkpoint, args.body_model, views=args.views)
    fit_split(index, args.out, model, source, config, rows=args.rows)
    print(f"fitted {len(index) if args.rows is None else args.rows} persons into {args.out}")
    if args.merge is not None:
        keep = PseudoLabelFilter(args.max_error, args.min_keypoints, not args.no_world)
        labelled = merge_pseudo_labels(index.subset(slice(0, args.rows)), args.out, keep)
        record = {
            **labelled.meta["pseudo_labels"],
            "command": shlex.join(["openhmr", *getattr(args, "argv", sys.argv[1:])]),
        }
        labelled = dataclasses.replace(labelled, meta={**labelled.meta, "pseudo_labels": record})
        save_index(args.merge, labelled)
        good = labelled.meta["pseudo_labels"]["good"]
        print(f"wrote {args.merge}: {good} of {len(labelled)} persons labelled")
