"""Numbers for docs/default_model.md: the trained model against a constant mean-pose prediction
placed by the same box, on held-out real LSP-extended images (2D) and on a fresh synthetic split
(3D), plus the model trained without the discriminator.

    python tools/default_model_report.py --model runs/default_model/model.safetensors \
        --without-prior runs/default_model_noprior/model.safetensors \
        --lsp-val runs/data/lspet_val.npz --mocap runs/data/cmu_poses.npz \
        --synth-out runs/default_eval/synth --out runs/default_eval/report.json

The mean-pose baseline is the trained network with its regression updates zeroed: every image
gets the learned mean Θ₀ (pose, shape and crop camera), i.e. the mean body placed by the box.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import torch

from openhmr.body import load_body_model
from openhmr.data.records import load_index
from openhmr.evaluate.predict import predict_index
from openhmr.evaluate.protocols import evaluate_predictions
from openhmr.model import HMR, load_checkpoint
from openhmr.synth import SynthConfig, generate


def mean_pose_baseline(model: HMR) -> HMR:
    """A copy of `model` that always outputs its mean Θ₀ (the IEF updates are zero)."""
    baseline = copy.deepcopy(model)
    with torch.no_grad():
        baseline.regressor.fc3.weight.zero_()
        baseline.regressor.fc3.bias.zero_()
    return baseline.eval()


def scores(model: HMR, protocol: str, index) -> dict[str, float]:
    predictions = predict_index(model, index, batch_size=32, progress=False)
    return evaluate_predictions(protocol, predictions, index).metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--without-prior")
    parser.add_argument("--lsp-val", required=True)
    parser.add_argument("--mocap", required=True, help="pose set for the fresh synthetic split")
    parser.add_argument("--synth-out", required=True)
    parser.add_argument("--synth-num", type=int, default=300)
    parser.add_argument("--synth-seed", type=int, default=99)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    body = load_body_model("open")
    models = {"model": load_checkpoint(args.model, body_model=body).model}
    models["mean_pose_baseline"] = mean_pose_baseline(models["model"])
    if args.without_prior:
        models["without_prior"] = load_checkpoint(args.without_prior, body_model=body).model
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
    }
    for name, model in models.items():
        report[name] = {
            "lsp_val": scores(model, "keypoints2d", lsp),
            "synthetic": scores(model, "synthetic", fresh),
        }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
