"""`openhmr <command>`: the command-line interface, one module per command.

Each command module has `add_parser(commands)`, which builds its sub-parser and sets
`run=<its handler>`, and `run(args)`. Every command turns a bad input (`OpenHMRError`) into one
line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from openhmr.cli import (
    batch,
    body,
    convert,
    demo,
    export,
    mocap,
    pseudo_label,
    serve,
    synth,
    train,
)
from openhmr.cli import eval as evaluate
from openhmr.cli.common import OneLineParser
from openhmr.errors import OpenHMRError

COMMANDS = (body, convert, synth, train, mocap, pseudo_label, export, evaluate, demo, batch, serve)
"""The command modules, in the order `openhmr --help` lists them."""


def build_parser() -> argparse.ArgumentParser:
    from openhmr import __version__

    parser = OneLineParser(
        prog="openhmr", description="HMR (End-to-end Recovery of Human Shape and Pose)."
    )
    parser.add_argument("--version", action="version", version=f"openhmr {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command line, for records
    run: Callable[[argparse.Namespace], None] = args.run
    try:
        run(args)
    except OpenHMRError as err:
        print(f"openhmr {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
