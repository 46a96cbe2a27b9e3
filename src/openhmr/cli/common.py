"""What the command modules share: the one-line argparse parser, argument types, file suffixes
and the checkpoint spec every command accepts."""

from __future__ import annotations

import argparse
from typing import NoReturn

MESH_SUFFIXES = (".obj", ".ply", ".glb")

Commands = argparse._SubParsersAction
"""What `add_parser(commands)` receives: the `openhmr` parser's sub-command collection."""


class OneLineParser(argparse.ArgumentParser):
    """argparse's own errors (a missing argument, a bad choice) in one line like every other
    error, pointing at the help instead of printing the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def floats(text: str) -> list[float]:
    """Argument type: comma-separated numbers, e.g. "1.5,-0.5" -> [1.5, -0.5]."""
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None


def checkpoint_file(spec: str) -> str:
    """A checkpoint path; "default" names the bundled model in every command, as in the demo."""
    from openhmr.inference.predictor import resolve_checkpoint

    return str(resolve_checkpoint(spec))


def add_precision_option(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    """`--precision auto|float32|bfloat16`: what the pose networks compute in
    (`openhmr.posenet.precision`)."""
    from openhmr.posenet.precision import PRECISIONS

    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=default,
        help="the arithmetic of the encoder's pose networks (MoveNet Thunder, BlazePose heavy "
        "on each person's crop): auto = bfloat16 on a CPU that computes it natively (AMX or "
        "AVX-512 BF16; about 1.3x faster end to end, nearly the same accuracy), else float32 "
        f"(default: {default}; docs/posenet.md)",
    )


def add_views_option(parser: argparse.ArgumentParser, default: str = "the checkpoint's") -> None:
    """`--views one|mirror|mirror-turns|flip|flip-turns`: what the regressor reads and
    averages (`openhmr.model.views`); `default` says in the help what no flag means."""
    from openhmr.model.views import VIEWS

    parser.add_argument(
        "--views",
        choices=VIEWS,
        help="what the regressor reads and averages: its reading of the crop (one), also "
        "mirrored (mirror), also turned ±20° (mirror-turns), with the crop read mirrored "
        f"too (flip, flip-turns: twice the encoder's cost) (default: {default}; "
        "docs/default_model.md)",
    )


def add_fit_option(parser: argparse.ArgumentParser) -> None:
    """`--fit KEY=VALUE` (repeatable) into `args.fit_options`: `openhmr.fit.FitConfig`
    overrides, read by `openhmr.fit.config_from_options`."""
    parser.add_argument(
        "--fit",
        dest="fit_options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a fitting setting (openhmr.fit.FitConfig), e.g. --fit iterations=100",
    )
