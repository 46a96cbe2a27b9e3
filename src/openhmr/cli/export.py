"""`openhmr export`: the network (image -> Θ for every iteration) to ONNX."""

from __future__ import annotations

import argparse
from pathlib import Path

from openhmr.checks import check_count, check_output_file
from openhmr.cli.common import Commands, checkpoint_file


def add_parser(commands: Commands) -> None:
    parser = commands.add_parser(
        "export",
        help="export the network (image -> Θ for every iteration) to ONNX",
        description="Export the network to ONNX: input 'images' (B, 3, S, S) normalised as the "
        "network expects, output 'params' (B, T, P).",
    )
    parser.add_argument("--onnx", type=Path, required=True, help="output .onnx path")
    parser.add_argument(
        "--checkpoint",
        help="'default' (the bundled model), openhmr .safetensors, SPIN model_checkpoint.pt or "
        "HMR's TF model.ckpt-*; without it the untrained network of --backbone is exported",
    )
    parser.add_argument(
        "--backbone",
        default="resnet50",
        choices=("resnet50", "resnet50_v2"),
        help="encoder when no --checkpoint is given (default: resnet50)",
    )
    parser.add_argument(
        "--image-size", type=int, help="input side (default: the network's training size)"
    )
    parser.add_argument(
        "--static-batch", action="store_true", help="fix the batch size instead of dynamic"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from openhmr.model import HMR, load_checkpoint
    from openhmr.model.export import export_onnx

    check_output_file("--onnx", args.onnx, (".onnx",))
    if args.image_size is not None:
        check_count("--image-size", args.image_size, minimum=32)
    if args.checkpoint:
        from openhmr.body import load_body_model
        from openhmr.model.checkpoint import trained_body_model

        path = checkpoint_file(args.checkpoint)
        # a network with keypoint feedback poses its body model's keypoints inside the graph
        model = load_checkpoint(path, load_body_model(trained_body_model(path))).model
        source = args.checkpoint
    else:
        model, source = HMR(backbone=args.backbone).eval(), f"untrained {args.backbone}"
    size = model.config.image_size if args.image_size is None else args.image_size
    export_onnx(model, args.onnx, image_size=size, dynamic_batch=not args.static_batch)
    config = model.config
    print(
        f"wrote {args.onnx}: {source}, {config.backbone} + {config.head} head, "
        f"{config.iterations} iterations, input {config.normalization}-normalised "
        f"{size}x{size}"
    )
