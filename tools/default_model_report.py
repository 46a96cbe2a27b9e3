"""Numbers for docs/default_model.md: the trained model against a constant mean-pose prediction
placed by the same box, on held-out real LSP-extended images (2D) and on a fresh synthetic split
(3D), plus the model trained without the discriminator.

    python tools/default_model_report.py --model runs/default_model/model.safetensors \
        --without-prior runs/default_model_noprior/model.safetensors \
        --lsp-val runs/data/lspet_val.npz --mocap runs/data/cmu_poses.npz \
        --synth-out runs/default_eval/synth --out runs/default_eval/report.json \
        --pictures runs/default_eval/pictures

The mean-pose baseline is the trained network with its regression updates zeroed: every image
gets the learned mean Θ₀ (pose, shape and crop camera), i.e. the mean body placed by the box.
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
from openhmr.synth import SynthConfig, generate

# crops per network call: MoveNet read 4 ways up runs fastest per crop at small batches on a
# CPU (its activations stay in cache: 2 crops = 8 reads)
BATCH = 2


def save_pictures(folder: Path, models: dict[str, HMR], lsp, lsp_rows: list, body) -> None:
    """Rows: 8 input crops, then each model's meshes (model, mean-pose baseline, no prior).
    lsp_rows: the models' predictions on `lsp`, already computed for the scores."""
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
    grids = (("lsp_val", lsp, lsp_rows), ("synthetic", synthetic, synthetic_rows))
    for name, index, rows in grids:
        with atomic_path(folder / f"{name}.png") as tmp:
            Image.fromarray(comparison_grid(index, rows, body, res)).save(tmp, format="PNG")


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
    args = parser.parse_args()

    body = load_body_model("open")
    models = {"model": load_checkpoint(args.model, body_model=body).model}
    models["mean_pose_baseline"] = mean_pose_model(models["model"])
    if args.without_prior:
        models["without_prior"] = load_checkpoint(args.without_prior, body_model=body).model
    for entry in args.also:
        name, _, path = entry.partition("=")
        models[name] = load_checkpoint(path, body_model=body).model
    if args.orientations:
        for model in models.values():
            model.set_orientations(args.orientations)
    synth = Path(args.synth_out) / "synth.npz"
    if not synth.exists():
        generate(
            SynthConfig(
                out=args.synth_out, num=args.synth_num, seed=args.synth_seed, mocap=args.mocap
            ),
            progress=False,
        )
    lsp, fresh = load_index(args.lsp_val), load_index(synth)
    report = {
        "lsp_val": {"index": args.lsp_val, "rows": len(lsp)},
        "synthetic": {"index": str(synth), "rows": len(fresh), "seed": args.synth_seed},
        "orientations": {name: m.config.orientations for name, m in models.items()},
    }
    lsp_rows = []
    for name, model in models.items():
        on_lsp = predict_index(model, lsp, batch_size=BATCH, progress=False)
        on_fresh = predict_index(model, fresh, batch_size=BATCH, progress=False)
        lsp_rows.append(on_lsp)
        report[name] = {
            "lsp_val": evaluate_predictions("keypoints2d", on_lsp, lsp).metrics,
            "synthetic": evaluate_predictions("synthetic", on_fresh, fresh).metrics,
        }
    if args.pictures:  # the model, its mean pose and the twin without the prior
        shown = dict(list(models.items())[:3])
        save_pictures(Path(args.pictures), shown, lsp, lsp_rows[:3], body)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
