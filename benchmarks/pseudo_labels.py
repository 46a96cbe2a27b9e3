"""How good the fit's pseudo-labels are, where the truth is known: `openhmr pseudo-label`'s run
(`openhmr.pseudo.fit_split`) on synthetic splits with exact 3D.

    .venv/bin/python benchmarks/pseudo_labels.py --out runs/pseudo_bench \
        --data cmu=runs/synth_fit_cmu/synth.npz --data sampler=runs/synth_fit_sampler/synth.npz \
        [--config NAME:targets=source,iterations=90 ...] [--json runs/pseudo_bench.json]

Each configuration (`PseudoLabelConfig` fields `targets`, `source`, `body_model`, and any
`FitConfig` field) fits every row of each split (the run is kept under --out/<data>_<config>
and resumes).  The fitted θ, β are then posed through the body model the split was rendered
with (--truth-body-model, "open": joint-centre keypoints), so a label is judged by its pose
and shape, not by where its keypoint rows sit.  Printed per split and configuration:
PA-MPJPE and MPJPE (pelvis-centred) over the 14 LSP joints of the network's estimate and of
the labels, the labels' root orientation error (median), and the share the default filter
(`openhmr.pseudo.PseudoLabelFilter`) keeps with their PA-MPJPE.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine

from openhmr.body import load_body_model
from openhmr.data.records import load_index
from openhmr.evaluate.metrics import joint_errors, root_orientation_errors
from openhmr.fit.sources import keypoint_source
from openhmr.pseudo import PseudoLabelConfig, PseudoLabelFilter, fit_split
from openhmr.pseudo.merge import good_rows, quality
from openhmr.pseudo.run import load_model, read_chunks

FIELDS = ("checkpoint", "body_model", "source", "targets")


def parse_config(text: str) -> tuple[str, PseudoLabelConfig]:
    name, _, options = text.partition(":")
    values: dict = {}
    fit: dict = {}
    for option in filter(None, options.split(",")):
        key, _, value = option.partition("=")
        if key in FIELDS:
            values[key] = value
        else:
            import yaml

            fit[key] = yaml.safe_load(value)
    return name, PseudoLabelConfig(**values, fit=fit)


def joints14(body, pose: np.ndarray, betas: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = body(
            pose=torch.from_numpy(pose).float().reshape(-1, 24, 3),
            betas=torch.from_numpy(betas).float(),
        )
    return out.keypoints[:, :14].double().numpy()


def score(pred: np.ndarray, truth: np.ndarray, rows: np.ndarray | None = None) -> dict:
    rows = np.arange(len(pred)) if rows is None else rows
    if len(rows) == 0:
        return {"pa_mpjpe_mm": float("nan"), "mpjpe_mm": float("nan")}
    p, t = torch.from_numpy(pred[rows]), torch.from_numpy(truth[rows])
    return {
        "pa_mpjpe_mm": 1000 * float(joint_errors(p, t, "procrustes").mean()),
        "mpjpe_mm": 1000 * float(joint_errors(p, t, "pelvis").mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", action="append", required=True, metavar="NAME=INDEX")
    parser.add_argument("--config", action="append", metavar="NAME:KEY=VALUE,...")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--truth-body-model", default="open")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    configs = [parse_config(c) for c in (args.config or ["default:"])]
    truth_body = load_body_model(args.truth_body_model)
    print(machine())
    results: dict = {"machine": machine(), "runs": {}}
    sources: dict = {}
    for spec in args.data:
        data_name, _, path = spec.partition("=")
        index = load_index(path)
        if args.limit:
            index = index.subset(slice(0, args.limit))
        truth = np.asarray(index.joints3d, np.float64)[..., :3]
        true_root = np.asarray(index.pose, np.float64).reshape(-1, 24, 3)[:, 0]
        for name, config in configs:
            model = load_model(config.checkpoint, config.body_model)
            if config.source not in sources:
                sources[config.source] = keypoint_source(config.source)
            run = args.out / f"{data_name}_{name}"
            fit_split(index, run, model, sources[config.source], config, progress=True)
            fits = read_chunks(run, rows=len(index))
            labels = joints14(truth_body, fits["pose"], fits["betas"])
            estimate = joints14(truth_body, fits["estimate_pose"], fits["estimate_betas"])
            good = good_rows(quality(fits, index), PseudoLabelFilter())
            root = root_orientation_errors(fits["pose"].reshape(-1, 24, 3), true_root)
            row = {
                "estimate": score(estimate, truth),
                "labels": score(labels, truth),
                "root_error_median_deg": float(np.median(root)),
                "kept_share": float(good.mean()),
                "kept": score(labels, truth, np.flatnonzero(good)),
                "config": {**config.__dict__},
            }
            results["runs"][f"{data_name}/{name}"] = row
            print(
                f"{data_name:>8} {name:>14}: estimate PA {row['estimate']['pa_mpjpe_mm']:.1f} mm"
                f" -> labels PA {row['labels']['pa_mpjpe_mm']:.1f} mm, MPJPE "
                f"{row['labels']['mpjpe_mm']:.1f}, root {row['root_error_median_deg']:.1f} deg;"
                f" filter keeps {row['kept_share']:.0%} at PA {row['kept']['pa_mpjpe_mm']:.1f} mm"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
