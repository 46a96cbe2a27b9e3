"""Turn a trained run's model into the checkpoint that ships with the package: half-precision
weights, no discriminator, the run's record (config, data identity, steps) kept and the
evaluation report (tools/default_model_report.py) added under metrics["evaluation"].

    python tools/package_default_model.py --model runs/default_model/model.safetensors \
        --run runs/default_model --out runs/default_model/model_fp16.safetensors
    python tools/default_model_report.py --model runs/default_model/model_fp16.safetensors ...
    python tools/package_default_model.py --model runs/default_model/model_fp16.safetensors \
        --report runs/default_eval/report.json \
        --out src/openhmr/inference/assets/default_model.safetensors

The report is computed on the float16-rounded weights, i.e. on exactly what ships.
``--heads`` adds other trained models' regressors as further heads on the same encoder (an
ensemble, `HMR.with_heads`); each one's file, sha256, steps, config and training data go
into the record under metrics["heads"].
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from openhmr.body import load_body_model
from openhmr.data.records import load_index
from openhmr.evaluate.report import sha256_file
from openhmr.model import load_checkpoint, save_checkpoint
from openhmr.model.checkpoint import trained_body_model

LIMIT_BYTES = 60 * 1024 * 1024


def stages_of(record: dict) -> list[dict]:
    """The training stages behind a model, earliest first: for each run, its steps and
    learning rates, following `model.init_from` (a second stage starts from an earlier run's
    checkpoint) while that checkpoint is on this machine."""
    config = record.get("config", {})
    optim = config.get("optim", {})
    stage = {
        "steps": record.get("metrics", {}).get("steps"),
        "encoder_lr": optim.get("encoder_lr"),
        "discriminator_lr": optim.get("discriminator_lr") if optim.get("adversarial") else None,
    }
    start = config.get("model", {}).get("init_from")
    if not start:
        return [stage]
    stage["init_from"] = start
    if not Path(start).is_file():
        return [stage]
    return [*stages_of(load_checkpoint(start).record), stage]


def head_record(path: str, record: dict) -> dict:
    """What the record keeps of a model added as a head: its file and digest, its steps and
    stages, its training config and data."""
    metrics = record.get("metrics", {})
    return {
        "file": path,
        "sha256": sha256_file(path),
        "steps": metrics.get("steps"),
        "stages": metrics.get("stages") or stages_of(record),
        "config": record.get("config", {}),
        "training_data": record.get("training_data") or {},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a trained openhmr .safetensors")
    parser.add_argument("--report", help="JSON written by tools/default_model_report.py")
    parser.add_argument("--hardware", help="what it was trained on, kept in the record")
    parser.add_argument(
        "--run",
        help="the run folder (its config.json names the training data) when --model is a "
        "resume point (<run>/checkpoints/*.ckpt), whose record lacks it",
    )
    parser.add_argument(
        "--orientations",
        type=int,
        help="ship the model reading crops this many ways up (1, 2, 4; MoveNet encoders)",
    )
    parser.add_argument(
        "--views",
        help="ship the model averaging these test-time views (openhmr.model.views: one, "
        "mirror, mirror-turns, flip, flip-turns)",
    )
    parser.add_argument(
        "--pseudo-labels",
        help="the labelled index training read (openhmr pseudo-label --merge): its file's "
        "sha256, the command that made it and its run's settings go into the record",
    )
    parser.add_argument(
        "--heads",
        nargs="+",
        default=[],
        metavar="MODEL",
        help="other trained models (.safetensors or .ckpt, same architecture) whose regressors "
        "become further heads, averaged with --model's when evaluating",
    )
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    body = load_body_model(trained_body_model(args.model))
    checkpoint = load_checkpoint(args.model, body_model=body)
    record = checkpoint.record
    if args.orientations:
        checkpoint.model.set_orientations(args.orientations)
    if args.views:
        checkpoint.model.set_views(args.views)
    metrics = dict(record.get("metrics", {}))
    if "stages" not in metrics:
        metrics["stages"] = stages_of(record)
    model = checkpoint.model
    if args.heads:
        others = [load_checkpoint(path, body_model=body) for path in args.heads]
        model = model.with_heads(*(other.model for other in others))
        added = [head_record(p, o.record) for p, o in zip(args.heads, others, strict=True)]
        metrics["heads"] = [*metrics.get("heads", []), *added]
    if args.report:
        metrics["evaluation"] = json.loads(Path(args.report).read_text())
    config = dict(record.get("config", {}))
    if args.hardware:
        config["hardware"] = args.hardware
    training_data = record.get("training_data") or {}
    if args.run:
        training_data = json.loads((Path(args.run) / "config.json").read_text())["data"]
    if args.pseudo_labels:
        labelled = load_index(args.pseudo_labels)
        digest = sha256_file(args.pseudo_labels)
        training_data = {
            **training_data,
            "pseudo_labels": {
                "file": args.pseudo_labels,
                "sha256": digest,
                **labelled.meta.get("pseudo_labels", {}),
            },
        }
    path = save_checkpoint(
        args.out,
        model,
        config=config,
        training_data=training_data,
        metrics=metrics,
        body_model=record.get("body_model"),
        half=True,
    )
    size = path.stat().st_size
    print(f"wrote {path}: {size / 1e6:.1f} MB (float16)")
    if size > LIMIT_BYTES:
        raise SystemExit(f"{path}: {size / 1e6:.1f} MB is over the 60 MB the package allows")


if __name__ == "__main__":
    main()
