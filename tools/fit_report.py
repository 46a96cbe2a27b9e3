"""For docs/fitting.md (its commands): refined against unrefined, per prior term.

Refined against unrefined predictions (docs/fitting.md): a synthetic split's 3D errors with the
fit's prior terms switched on and off, and 2D PCK on a real 2D split (LSP-extended), from any
keypoint source.

    python tools/fit_report.py --checkpoint default \
        --discriminator runs/default_model_with_prior_a.safetensors \
        --synthetic runs/synth_eval_b/synth.npz --synthetic-keypoints truth --noise 3 \
        --lsp runs/data/lspet_val.npz --lsp-keypoints truth \
        --out runs/fit_report.json

Keypoints (each split): "truth" (the index's own 2D keypoints, cocoplus: checks the machinery;
--noise adds Gaussian pixel noise), "movenet" (the default keypoint source: openhmr.MoveNet
Thunder on each row's image and box), or an .npz with ``keypoints`` (rows, K, 3) in image
pixels (e.g. from tools/movenet_tfjs.py).

Arms: the unrefined prediction, then the fit with no prior term, the joint-angle prior alone,
the adversarial prior alone and both (the adversarial arms need a discriminator: the
checkpoint's, or --discriminator's).  The pull towards the estimate and the shape prior stay
on in every arm.  Per arm: the protocol's metrics (synthetic: MPJPE, PA-MPJPE, 2D PCK; 2D
split: PCK@0.2 torso, PCKh@0.5), joints outside the joint limits (± 0.3 rad, the ablation's
measure), mean |β|, median keypoint error before / after (pixels), fitting time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import torch

from openhmr.body import load_body_model
from openhmr.data.records import load_index
from openhmr.evaluate.metrics import joint_limit_violations
from openhmr.evaluate.predict import predict_index
from openhmr.evaluate.protocols import evaluate_predictions
from openhmr.evaluate.refine import index_evidence, refine_predictions
from openhmr.files import atomic_path
from openhmr.fit import FitConfig, config_from_options
from openhmr.inference.predictor import resolve_checkpoint
from openhmr.model import load_checkpoint

REPORTED = {
    "synthetic": ("pa_mpjpe", "mpjpe", "pck2d_torso@0.2"),
    "keypoints2d": ("pck2d_torso@0.2", "pckh@0.5"),
}


def arms(base: FitConfig, adversarial: bool) -> dict[str, FitConfig]:
    weight = base.adversarial_weight or FitConfig().adversarial_weight
    angle = base.angle_prior_weight or FitConfig().angle_prior_weight
    configs = {
        "no_prior": dataclasses.replace(base, angle_prior_weight=0.0, adversarial_weight=0.0),
        "angle_prior": dataclasses.replace(base, angle_prior_weight=angle, adversarial_weight=0.0),
    }
    if adversarial:
        configs["adversarial_prior"] = dataclasses.replace(
            base, angle_prior_weight=0.0, adversarial_weight=weight
        )
        configs["both_priors"] = dataclasses.replace(
            base, angle_prior_weight=angle, adversarial_weight=weight
        )
    return configs


def plausibility(predictions) -> dict[str, float]:
    return {
        **joint_limit_violations(predictions.pose, margin=0.3),
        "betas_mean_abs": float(np.abs(predictions.betas).mean()),
    }


def score(protocol: str, predictions, index) -> dict[str, float]:
    metrics = evaluate_predictions(protocol, predictions, index).metrics
    return {k: metrics[k] for k in REPORTED[protocol] if k in metrics}


def run_split(
    protocol, index_path, source, noise, model, body, discriminator, base, limit, progress
) -> dict:
    index = load_index(index_path)
    if limit:
        index = index.subset(slice(0, limit))
    start = time.perf_counter()
    predictions = predict_index(model, index, batch_size=32, progress=progress)
    keypoints = index_evidence(index, source, noise, seed=0, progress=progress)[0]
    report = {
        "index": str(index_path),
        "rows": len(index),
        "keypoints": source,
        "noise_px": noise,
        "predict_seconds": time.perf_counter() - start,
        "unrefined": {**score(protocol, predictions, index), **plausibility(predictions)},
    }
    for name, config in arms(base, discriminator is not None).items():
        refined, stats = refine_predictions(
            predictions,
            index,
            keypoints,
            body,
            discriminator=discriminator,
            config=config,
            progress=progress,
        )
        report[name] = {
            **score(protocol, refined, index),
            **plausibility(refined),
            **{f"fit_{k}": v for k, v in stats.summary().items()},
        }
        print(name, json.dumps({k: round(v, 3) for k, v in report[name].items()}))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="default")
    parser.add_argument(
        "--discriminator", help="a checkpoint whose discriminator is the adversarial prior"
    )
    parser.add_argument("--synthetic", help="a synthetic split's index (3D truth)")
    parser.add_argument("--synthetic-keypoints", default="truth")
    parser.add_argument("--noise", type=float, default=0.0, help="pixels, truth keypoints only")
    parser.add_argument("--lsp", help="a 2D split's index (e.g. runs/data/lspet_val.npz)")
    parser.add_argument("--lsp-keypoints", default="movenet")
    parser.add_argument("--limit", type=int, help="first N rows of each split")
    parser.add_argument(
        "--fit", action="append", default=[], metavar="KEY=VALUE", help="FitConfig overrides"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    base = config_from_options(args.fit, "--fit")
    body = load_body_model("open")
    checkpoint = load_checkpoint(resolve_checkpoint(args.checkpoint), body_model=body)
    discriminator = checkpoint.discriminator
    if args.discriminator:
        discriminator = load_checkpoint(args.discriminator, body_model=body).discriminator
    report = {
        "checkpoint": args.checkpoint,
        "discriminator": args.discriminator or ("checkpoint's" if discriminator else None),
        "config": dataclasses.asdict(base),
    }
    splits = (
        ("synthetic", "synthetic", args.synthetic, args.synthetic_keypoints, args.noise),
        ("lsp", "keypoints2d", args.lsp, args.lsp_keypoints, 0.0),
    )
    for name, protocol, path, source, noise in splits:
        if path:
            print(f"== {name}: {path}, keypoints {source}")
            report[name] = run_split(
                protocol,
                path,
                source,
                noise if source == "truth" else 0.0,
                checkpoint.model,
                body,
                discriminator,
                base,
                args.limit,
                progress=False,
            )
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
