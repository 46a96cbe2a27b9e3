"""`openhmr serve`: the local web page."""

from __future__ import annotations

import argparse

from openhmr.cli.common import Commands, add_precision_option, add_views_option


def add_parser(commands: Commands) -> None:
    parser = commands.add_parser(
        "serve",
        help="the local web page: upload a photo or a video, see and download the 3D bodies",
        description="Serve the local web page (needs the web extra: pip install -e '.[web]'): "
        "upload a photo, see the overlay, side view and 3D view, download GLB, OBJ and JSON; "
        "or a video (up to 300 frames of 1920x1080), tracked as by demo --track: the overlay "
        "video, the animation in 3D, GLB, BVH and NPZ downloads. API endpoints 'predict' and "
        "'predict_video' for gradio_client (docs/demo.md).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    parser.add_argument(
        "--checkpoint", help="as for demo (default: the bundled model, docs/default_model.md)"
    )
    parser.add_argument(
        "--body-model",
        help="'open', 'open-annotated' or a path (default: the body model the checkpoint "
        "was trained with)",
    )
    parser.add_argument("--device", default="cpu", help="torch device: cpu or cuda")
    add_precision_option(parser)
    add_views_option(parser, "photos the checkpoint's, videos one, as demo and demo --track")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from openhmr.web.app import serve

    serve(
        args.host,
        args.port,
        args.checkpoint,
        args.body_model,
        args.device,
        args.precision,
        views=args.views,
    )
