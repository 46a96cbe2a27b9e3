"""`openhmr eval`: evaluate a checkpoint on a benchmark protocol (table + JSON)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from openhmr.checks import check_count, check_device, check_output_file
from openhmr.cli.common import (
    Commands,
    add_fit_option,
    add_precision_option,
    add_views_option,
    checkpoint_file,
)
from openhmr.errors import OpenHMRError


def add_parser(commands: Commands) -> None:
    from openhmr.evaluate.protocols import PROTOCOLS

    parser = commands.add_parser(
        "eval",
        help="evaluate a checkpoint on a benchmark protocol (table + JSON)",
        description="Evaluate a checkpoint on a record index under one of the paper's "
        "protocols; print a table and write every number to a JSON file "
        "(see docs/evaluation.md).",
    )
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="'default' (the bundled model), openhmr .safetensors, SPIN .pt or HMR TF ckpt",
    )
    parser.add_argument("--protocol", required=True, help=f"one of: {', '.join(PROTOCOLS)}")
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="record index (.npz), or the folder synth/convert wrote it to",
    )
    parser.add_argument("--out", type=Path, help="output JSON (default: out/eval_<protocol>.json)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per batch (32)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--workers", type=int, default=0, help="data loader workers (0)")
    parser.add_argument(
        "--body-model",
        help="'open', 'open-annotated' or a path (default: the body model the checkpoint "
        "was trained with)",
    )
    parser.add_argument(
        "--keypoint-regressor",
        help="(K, V) regressor replacing the model's keypoints, e.g. SPIN's "
        "J_regressor_h36m.npy for numbers comparable to the literature",
    )
    parser.add_argument(
        "--segmentation",
        type=Path,
        help="lsp-seg: the UPi-S1h folder; synthetic: a parts folder (default <split>/parts)",
    )
    parser.add_argument(
        "--part-order",
        help="lsp-seg: comma-separated part names of labels 1..6 in the part files "
        "(default head,torso,right_arm,left_arm,right_leg,left_leg)",
    )
    parser.add_argument("--limit", type=int, help="evaluate only the first N rows")
    parser.add_argument(
        "--refine",
        nargs="?",
        const="blazepose",
        metavar="KEYPOINTS",
        help="evaluate predictions fitted to 2D keypoints (docs/fitting.md): 'blazepose' (the "
        "default when the flag has no value: Thunder's and BlazePose GHUM heavy's keypoints "
        "averaged, with BlazePose's 3D landmarks and mask), 'blazepose-full', 'movenet' "
        "(Thunder's keypoints only), 'truth' (the "
        "index's own 2D keypoints, to check the fitting) or a .npz with 'keypoints' (rows, K, "
        "3) in image pixels and optionally 'world', 'world_weights', 'mask'",
    )
    parser.add_argument(
        "--keypoint-noise",
        type=float,
        default=0.0,
        metavar="PX",
        help="with --refine truth: Gaussian noise (pixels) added to the keypoints (seed 0)",
    )
    add_views_option(parser)
    add_fit_option(parser)
    add_precision_option(parser, default="float32")
    parser.set_defaults(run=run)


def _check_args(args: argparse.Namespace, out: Path) -> None:
    check_output_file("--out", out)
    check_device("--device", args.device)
    check_count("--batch-size", args.batch_size)
    check_count("--workers", args.workers, minimum=0)
    if args.limit is not None:
        check_count("--limit", args.limit)


def run(args: argparse.Namespace) -> None:
    from openhmr.body import load_body_model
    from openhmr.data.records import index_path, load_index
    from openhmr.evaluate import (
        build_report,
        checkpoint_identity,
        data_identity,
        evaluate_predictions,
        format_table,
        get_protocol,
        predict_index,
        write_report,
    )
    from openhmr.evaluate.protocols import check_index
    from openhmr.evaluate.segmentation import UPI_S1H_PART_ORDER, part_lookup
    from openhmr.model import load_checkpoint
    from openhmr.model.checkpoint import body_model_identity, trained_body_model
    from openhmr.posenet.precision import (
        posenet_precision,
        precision_name,
        resolve_precision,
    )

    protocol = get_protocol(args.protocol)
    out = args.out or Path("out") / f"eval_{protocol.name}.json"
    _check_args(args, out)
    part_order = UPI_S1H_PART_ORDER
    if args.part_order:
        part_order = tuple(p.strip() for p in args.part_order.split(","))
        part_lookup(part_order)  # validates the names
    if protocol.segmentation == "lsp" and args.segmentation is None:
        raise OpenHMRError("protocol lsp-seg needs --segmentation DIR (UPi-S1h annotations)")
    if not args.refine and (args.keypoint_noise or args.fit_options):
        raise OpenHMRError("--keypoint-noise and --fit apply with --refine")
    data_path = index_path(args.data)
    index = load_index(data_path)
    check_index(protocol, index, str(data_path))
    total = len(index)
    if args.limit is not None:
        index = index.subset(slice(0, args.limit))
    checkpoint_path = checkpoint_file(args.checkpoint)
    body_model = load_body_model(
        args.body_model or trained_body_model(checkpoint_path),
        keypoint_regressor=args.keypoint_regressor,
        device=args.device,
    )
    checkpoint = load_checkpoint(checkpoint_path, body_model=body_model)
    if args.views is not None:
        checkpoint.model.set_views(args.views)
    elif args.refine:  # as the demo's fit: it starts from the crop read mirrored too
        from openhmr.model.views import with_flip

        checkpoint.model.set_views(with_flip(checkpoint.model.config.views))
    dtype = resolve_precision(args.precision, args.device)
    settings = {
        "batch_size": args.batch_size,
        "device": args.device,
        "limit": args.limit,
        "precision": precision_name(dtype),
        "views": checkpoint.model.config.views,
    }
    with posenet_precision(dtype):  # the encoder's; the fit's keypoints stay float32
        predictions = predict_index(
            checkpoint.model, index, args.batch_size, args.device, args.workers, progress=True
        )
    if args.refine:
        predictions, settings["refine"] = _refine_for_eval(
            args, predictions, index, body_model, checkpoint.discriminator
        )
    result = evaluate_predictions(
        protocol,
        predictions,
        index,
        body_model=body_model,
        segmentation_dir=args.segmentation,
        part_order=part_order,
        progress=True,
    )
    identity = body_model_identity(body_model)
    trained = (checkpoint.record.get("body_model") or {}).get("sha256")
    identity["keypoint_regressor"] = args.keypoint_regressor
    identity["matches_checkpoint"] = None if trained is None else trained == identity["sha256"]
    if identity["matches_checkpoint"] is False:
        print(
            f"openhmr eval: warning: body model {identity['name']} differs from the "
            "checkpoint's training body model",
            file=sys.stderr,
        )
    data = data_identity(data_path, index, len(index))
    data["rows"] = total
    report = build_report(
        result,
        checkpoint=checkpoint_identity(checkpoint_path, checkpoint.record),
        data=data,
        body_model=identity,
        settings=settings,
    )
    print(format_table(result))
    write_report(out, report)
    print(f"wrote {out}")


def _refine_for_eval(args, predictions, index, body_model, discriminator):
    """The predictions fitted to --refine's keypoints, and the report's record of the fit."""
    import dataclasses

    from openhmr.evaluate.refine import index_evidence, refine_predictions
    from openhmr.fit import config_from_options

    config = config_from_options(args.fit_options, "--fit")
    keypoints, guides = index_evidence(index, args.refine, args.keypoint_noise, progress=True)
    refined, stats = refine_predictions(
        predictions,
        index,
        keypoints,
        body_model,
        discriminator=discriminator,
        config=config,
        progress=True,
        guides=guides,
    )
    record = {
        "keypoints": args.refine,
        "keypoint_noise_px": args.keypoint_noise,
        "world_landmarks": guides is not None and guides.world is not None,
        "mask": guides is not None and guides.mask is not None,
        "adversarial_prior": discriminator is not None and config.adversarial_weight > 0,
        "config": dataclasses.asdict(config),
        **stats.summary(),
    }
    print(
        f"refined {record['refined_share']:.0%} of {record['rows']} rows in "
        f"{record['seconds']:.1f} s; median keypoint error {record['median_initial_error_px']:.1f}"
        f" -> {record['median_error_px']:.1f} px"
    )
    return refined, record
