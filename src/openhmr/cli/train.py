"""`openhmr train`: train HMR (the paper's adversarial loop, on Lightning)."""

from __future__ import annotations

import argparse

from openhmr.cli.common import Commands


def add_parser(commands: Commands) -> None:
    parser = commands.add_parser(
        "train",
        help="train HMR (the paper's adversarial loop, on Lightning)",
        description="Train from a YAML config (configs/*.yaml). Writes <out>/checkpoints/, "
        "<out>/logs/ (CSV, TensorBoard), <out>/images/ (prediction previews) and the final "
        "<out>/model.safetensors. Several GPUs: --devices N (DDP); several machines: "
        "--num-nodes M under torchrun or SLURM (see docs/training.md).",
    )
    parser.add_argument("--config", required=True, help="YAML config, e.g. configs/quick.yaml")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set trainer.max_steps=100 (repeatable)",
    )
    parser.add_argument("--resume", action="store_true", help="continue <out>'s last checkpoint")
    parser.add_argument("--devices", type=int, help="devices per node (trainer.devices)")
    parser.add_argument("--num-nodes", type=int, help="machines (trainer.num_nodes)")
    parser.add_argument("--accelerator", help="cpu, gpu or auto (trainer.accelerator)")
    parser.add_argument(
        "--caches-only",
        action="store_true",
        help="encode the feature caches (data.cache_laps) and stop, without training",
    )
    parser.add_argument(
        "--entries",
        help="with --caches-only: the data.train positions to encode, e.g. 0,2 (default all)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from openhmr.train import load_config, train
    from openhmr.train.validate import check_inputs

    entries = _entries(args.entries)  # before the config, so a typo costs nothing
    overrides = list(args.overrides)
    for flag, key in (
        ("devices", "trainer.devices"),
        ("num_nodes", "trainer.num_nodes"),
        ("accelerator", "trainer.accelerator"),
    ):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={getattr(args, flag)}")
    config = load_config(args.config, overrides)
    check_inputs(config)  # train() checks again; here before the first line is printed
    if args.caches_only or args.entries:
        _caches_only(config, entries)
        return
    print(
        f"training {config.out}: global batch {config.global_batch} "
        f"({config.data.batch_size} per device), {config.trainer.max_steps} steps"
    )
    path = train(config, resume=args.resume)
    if path is not None:  # DDP: rank 0 writes the model
        print(f"wrote {path}")


def _entries(text: str | None) -> list[int] | None:
    from openhmr.errors import OpenHMRError

    if not text:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise OpenHMRError(f"--entries: expected positions like 0,2, got {text!r}") from None


def _caches_only(config, entries: list[int] | None) -> None:
    from openhmr.train.run import build_caches

    build_caches(config, entries)
    print(f"encoded the feature caches of {config.out} in {config.data.cache_dir}")
