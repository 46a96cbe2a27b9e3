"""Numbers for docs/default_model.md: the trained model against a constant mean-pose prediction
placed by the same box, on held-out real LSP-extended images (2D) and on a fresh synthetic split
(3D), plus the model trained without the discriminator.

    python tools/default_model_report.py --model runs/default_model/model.safetensors \
        --without-prior runs/default_model_noprior/model.safetensors \
        --lsp-val runs/data/lspet_val.npz --mocap runs/data/cmu_poses.npz \
        --synth-out runs/default_eval/synth --out runs/default_eval/report.json \
        --pictures runs/default_eval/pictures [--sampler-out runs/default_eval/sampler]

The mean-pose baseline is the trained network with its regression updates zeroed: every image
gets the learned mean Θ₀ (pose, shape and crop camera), i.e. the mean body placed by the box.

Each checkpoint is scored with the body model it was trained with (`trained_body_model`:
"open", joint-centre keypoints, or "open-annotated", hips and shoulders where annotators put
them), on synthetic splits whose truth comes from that same body model (the same seed gives
the same images under both; the splits are generated per body model, `<out>_<body model>`).
A model trained with "open-annotated" is also scored with its θ, β posed through "open"
(rows `<name>@open`), against the joint-centre truth the older models are scored on.
--sampler-out adds a fresh split of the built-in pose sampler (seed --sampler-seed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from openhmr.body import load_body_model
from openhmr.data.records import load_index
from openhmr.evaluate import mean_pose_model
from openhmr.evaluate.predict import predict_index
from openhmr.evaluate.protocols import evaluate_predictions
from openhmr.files import atomic_path
from openhmr.model import HMR, load_checkpoint
from openhmr.model.checkpoint import trained_body_model
from openhmr.synth import SynthConfig, generate

# crops per network call: MoveNet read 4 ways up runs fastest per crop at small batches on a
# CPU (its activations stay in cache: 2 crops = 8 reads)
BATCH = 2


def save_pictures(
    folder: Path, models: dict[str, HMR], lsp, lsp_rows: list, body, count: int = 8
) -> None:
    """Rows: input crops, then each model's meshes (model, mean-pose baseline, no prior).
    lsp_rows: the models' predictions on `lsp`, already computed for the scores; count: the
    first `count` LSP crops, 10 to a picture (lsp_val.png, lsp_val_2.png, …)."""
    from PIL import Image

    from openhmr.train.visualize import comparison_grid

    folder.mkdir(parents=True, exist_ok=True)
    builtin = folder / "synthetic_builtin"
    if not (builtin / "synth.npz").exists():
        generate(SynthConfig(out=str(builtin), num=8, seed=5), progress=False)
    res = models["model"].config.image_size
    synthetic = load_index(builtin / "synth.npz")
    synthetic_rows = [
        predict_index(m, synthetic, batch_size=BATCH, progress=False) for m in models.values()
    ]
    grids = [("synthetic", synthetic, synthetic_rows, 8)]
    for part, start in enumerate(range(0, count, 10)):
        rows = slice(start, min(start + 10, count))
        grids.append((
            "lsp_val" if part == 0 else f"lsp_val_{part + 1}",
            lsp.subset(rows),
            [_rows_of(p, rows) for p in lsp_rows],
            rows.stop - rows.start,
        ))  # fmt: skip
    for name, index, rows, shown in grids:
        with atomic_path(folder / f"{name}.png") as tmp:
            grid = comparison_grid(index, rows, body, res, count=shown)
            Image.fromarray(grid).save(tmp, format="PNG")


def _rows_of(predictions, rows: slice):
    """Predictions for a slice of the index's rows."""
    from dataclasses import fields, replace

    return replace(predictions, **{
        f.name: getattr(predictions, f.name)[rows]
        for f in fields(predictions) if f.name != "keypoint_names"
    })  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--without-prior")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="more checkpoints to score, e.g. the with-prior run at the no-prior run's budget",
    )
    parser.add_argument("--lsp-val", required=True)
    parser.add_argument("--mocap", required=True, help="pose set for the fresh synthetic split")
    parser.add_argument("--synth-out", required=True)
    parser.add_argument("--synth-num", type=int, default=300)
    parser.add_argument("--synth-seed", type=int, default=99)
    parser.add_argument("--sampler-out", help="a fresh split of the built-in pose sampler")
    parser.add_argument("--sampler-seed", type=int, default=98)
    parser.add_argument(
        "--orientations",
        type=int,
        help="read crops this many ways up (1, 2, 4), overriding every checkpoint's setting",
    )
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--pictures",
        help="folder for prediction pictures: lsp_val.png (held-out LSP-extended crops; stays "
        "out of the repository) and synthetic.png (a split of the built-in pose sampler, "
        "derived from no dataset)",
    )
    parser.add_argument(
        "--picture-count",
        type=int,
        default=8,
        help="how many held-out LSP crops the pictures show, 10 to a file (default 8)",
    )
    args = parser.parse_args()

    bodies: dict[str, object] = {}

    def body_of(name: str):
        if name not in bodies:
            bodies[name] = load_body_model(name)
        return bodies[name]

    def load(path: str) -> HMR:
        return load_checkpoint(path, body_model=body_of(trained_body_model(path))).model

    models = {"model": load(args.model)}
    models["mean_pose_baseline"] = mean_pose_model(models["model"])
    if args.without_prior:
        models["without_prior"] = load(args.without_prior)
    for entry in args.also:
        name, _, path = entry.partition("=")
        models[name] = load(path)
    if args.orientations:
        for model in models.values():
            model.set_orientations(args.orientations)
    splits = {"synthetic": (args.synth_out, args.synth_seed, args.mocap)}
    if args.sampler_out:
        splits["sampler"] = (args.sampler_out, args.sampler_seed, None)

    def split(kind: str, body_name: str):
        out, seed, mocap = splits[kind]
        folder = f"{out}_{body_name}" if body_name != "open" else out
        path = Path(folder) / "synth.npz"
        if not path.exists():
            config = SynthConfig(out=folder, num=args.synth_num, seed=seed, mocap=mocap,
                                 body_model=body_name)  # fmt: skip
            generate(config, progress=False)
        return load_index(path)

    lsp = load_index(args.lsp_val)
    report = {
        "lsp_val": {"index": args.lsp_val, "rows": len(lsp)},
        **{
            kind: {"folder": out, "rows": args.synth_num, "seed": seed}
            for kind, (out, seed, _) in splits.items()
        },
        "orientations": {name: m.config.orientations for name, m in models.items()},
        "body_models": {name: m.body_model.name for name, m in models.items()},
    }
    lsp_rows = []
    for name, model in models.items():
        body_name = "open-annotated" if model.body_model.name == "open-annotated" else "open"
        readings = [(name, body_name, model.body_model)]
        if body_name != "open":
            readings.append((f"{name}@open", "open", body_of("open")))
        for row_name, truth_body, body in readings:
            model.body_model = body
            on_lsp = predict_index(model, lsp, batch_size=BATCH, progress=False)
            if row_name == name:
                lsp_rows.append(on_lsp)
            report[row_name] = {"lsp_val": evaluate_predictions("keypoints2d", on_lsp, lsp).metrics}
            for kind in splits:
                index = split(kind, truth_body)
                on_split = predict_index(model, index, batch_size=BATCH, progress=False)
                report[row_name][kind] = evaluate_predictions("synthetic", on_split, index).metrics
        model.body_model = readings[0][2]
    body = models["model"].body_model
    if args.pictures:  # the model, its mean pose and the twin without the prior
        shown = dict(list(models.items())[:3])
        save_pictures(Path(args.pictures), shown, lsp, lsp_rows[:3], body, args.picture_count)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
