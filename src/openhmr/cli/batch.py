"""`openhmr batch`: every image and video frame under the inputs -> one result each, on Ray."""

from __future__ import annotations

import argparse
from pathlib import Path

from openhmr.checks import check_count, check_device, check_output_folder
from openhmr.cli.common import (
    Commands,
    add_precision_option,
    add_views_option,
    checkpoint_file,
)


def add_parser(commands: Commands) -> None:
    parser = commands.add_parser(
        "batch",
        help="images, videos, folders or path lists -> one result per image/frame, on Ray",
        description="Predict every image and video frame under the inputs with a pool of "
        "workers on Ray Data (a local Ray by default, a cluster with --address): per item the "
        "demo's JSON and an .npz of pose, shape, camera, boxes and keypoints, an index of what "
        "is done (re-running skips it) and a summary (docs/batch.md). Needs the ray extra: "
        "pip install 'openhmr[ray]'.",
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image, video, folder (searched recursively) or .txt file listing paths",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--checkpoint", default="default", help="model (default: the bundled model)"
    )
    parser.add_argument(
        "--body-model",
        help="'open', 'open-annotated' or a path (default: the body model the checkpoint "
        "was trained with)",
    )
    parser.add_argument(
        "--address",
        help="Ray cluster to run on (host:port or 'auto'; default: start Ray locally)",
    )
    parser.add_argument(
        "--workers", type=int, help="worker actors (default: the cluster's CPUs / --threads)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (and CPUs reserved) per worker (1)"
    )
    parser.add_argument("--batch-size", type=int, default=8, help="images per worker call (8)")
    parser.add_argument(
        "--refine", action="store_true", help="fit each body to 2D keypoints (docs/fitting.md)"
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="run the items an earlier run recorded as failed again (default: skip them)",
    )
    parser.add_argument("--device", default="cpu", help="torch device in the workers: cpu or cuda")
    add_precision_option(parser)
    add_views_option(parser, "the checkpoint's; with --refine, also the crop read mirrored")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from openhmr.batch.run import require_ray, run_batch
    from openhmr.batch.worker import WorkerConfig
    from openhmr.inference.command import counted

    check_output_folder("--out", args.out)
    check_device("--device", args.device)
    check_count("--batch-size", args.batch_size)
    check_count("--threads", args.threads)
    if args.workers is not None:
        check_count("--workers", args.workers)
    config = WorkerConfig(
        checkpoint=checkpoint_file(args.checkpoint),
        body_model=args.body_model,
        refine=args.refine,
        device=args.device,
        threads=args.threads,
        precision=args.precision,
        views=args.views,
    )
    require_ray()
    summary = run_batch(
        args.inputs,
        args.out,
        config,
        workers=args.workers,
        batch_size=args.batch_size,
        address=args.address,
        retry_failed=args.retry_failed,
    )
    failed = f", {summary.failed} failed" if summary.failed else ""
    print(
        f"{summary.done + summary.failed} of {summary.inputs} items run ({summary.skipped} "
        f"already done){failed}, {counted(summary.people, 'people')}; {summary.seconds:.1f} s "
        f"({summary.images_per_second:.2f} images/s, {counted(summary.workers, 'workers')}); "
        f"outputs in {args.out}"
    )
