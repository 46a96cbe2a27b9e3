"""What BlazePose GHUM's 3D landmarks, mask and 2D keypoints are worth to the fit.

    .venv/bin/python benchmarks/fit_blazepose.py --cache runs/fit_blazepose \
        --data lsp=runs/data/lspet_val.npz --data cmu=runs/synth_fit_cmu/synth.npz \
        --data sampler=runs/synth_fit_sampler/synth.npz [--variant heavy] [--limit N] \
        [--config NAME:KEY=VALUE,KEY=VALUE ...] [--speed 5] [--json out/fit_blazepose.json]

Per data set (a record index: LSP-extended's held-out split for 2D PCK, `openhmr synth`
splits for 3D), once, cached under --cache: the regressor's predictions (one file per
checkpoint and --views); MoveNet
Thunder's keypoints on each row's person box (as `--refine movenet`); BlazePose (`--variant`)
on the crop Thunder's keypoints place: its COCO-17 2D landmarks, world landmarks, visibility,
pose flag and mask (in the row's evaluation crop, 64²); the seconds each took. On a 2D split,
the PCK@0.2 of the 12 limb joints of each choice of 2D targets itself. On synthetic
sets with parts/, the mask's IoU against the rendered body (foreground of the part maps, full
resolution) and the PA-MPJPE of BlazePose's world landmarks against the truth.

Then each fit configuration (`FitConfig` overrides; the keypoint choice `keypoints=movenet |
blazepose | confident | average` and "average"'s agreement scale `consistency=S` (0: off;
default the source's `CONSISTENCY_SCALE`) are the benchmark's own) refines the predictions
and is scored by the evaluation protocols: LSP PCK@0.2 (keypoints2d), synthetic PA-MPJPE
(14 LSP joints) and, for comparison with BlazePose's own landmarks, PA-MPJPE over the 12 limb
joints.  Seconds per person
of the fit alone (batched) are printed beside each row; --speed times one person (the bundled
photo) through `Predictor`, unrefined and refined with each source, end to end.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine

from openhmr.body import load_body_model
from openhmr.data.records import load_index
from openhmr.evaluate import evaluate_predictions, get_protocol, predict_index
from openhmr.evaluate.keypoints2d import limb_pck
from openhmr.evaluate.predict import Predictions
from openhmr.evaluate.refine import (
    evidence_from_source,
    person_boxes,
    refine_predictions,
    slice_guides,
)
from openhmr.files import atomic_path
from openhmr.fit import FitGuides, PoseEvidence, config_from_options
from openhmr.fit.sources import (
    CONSISTENCY_SCALE,
    CROP_MARGIN,
    SOURCE_ORIENTATIONS,
    choose_keypoints,
    gated,
)
from openhmr.geometry.procrustes import procrustes_align
from openhmr.inference.predictor import DEFAULT_MODEL
from openhmr.model import load_checkpoint
from openhmr.model.checkpoint import trained_body_model
from openhmr.model.views import VIEWS
from openhmr.posenet import BlazePose, MoveNet
from openhmr.train.features import weights_fingerprint

LSP12 = list(range(12))  # LSP's 12 limb joints (of 14): ankles .. wrists
# COCO-17 index of each LSP limb joint: r ankle, r knee, r hip, l hip, l knee, l ankle,
# r wrist, r elbow, r shoulder, l shoulder, l elbow, l wrist
COCO_OF_LSP12 = [16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9]
DEFAULT_CONFIGS = (
    "movenet:world_weight=0",
    "world:world_weight=1",
    "world_norot:world_weight=1,world_rotate=false",
    "world_sil:world_weight=1,silhouette_weight=1",
    "sil:world_weight=0,silhouette_weight=1",
    "confident_world:keypoints=confident,world_weight=1",
)


class Recorder:
    """BlazePose's evidence for each call, with both keypoint sets and the full masks' IoU
    inputs kept aside; timings accumulated."""

    def __init__(self, variant: str) -> None:
        self.thunder = MoveNet.pretrained("thunder")
        self.net = BlazePose.pretrained(variant)
        self.seconds = {"thunder": 0.0, "blazepose": 0.0}
        self.persons = 0
        self.masks: list[np.ndarray] = []

    def __call__(self, image: np.ndarray, boxes: np.ndarray) -> PoseEvidence:
        start = time.perf_counter()
        found = self.thunder.keypoints(
            image, boxes, margin=CROP_MARGIN, orientations=SOURCE_ORIENTATIONS
        )
        middle = time.perf_counter()
        read = self.net.landmarks(image, boxes, keypoints=found, masks=True)
        self.seconds["thunder"] += middle - start
        self.seconds["blazepose"] += time.perf_counter() - middle
        self.persons += len(boxes)
        self.masks.append(read.mask)
        _, theirs, world, weights, mask = gated(read)
        both = np.concatenate([found, theirs], axis=1)  # N x 34 x 3
        return PoseEvidence(both, world, weights, mask)


def predicted(model, index) -> dict:
    predictions = predict_index(model, index, 32, "cpu", 0, progress=True)
    out = {f"pred_{f.name}": np.asarray(getattr(predictions, f.name))
           for f in dataclasses.fields(Predictions)}  # fmt: skip
    out["model"] = np.array(model_key(model))
    return out


def model_key(model) -> str:
    """What the cached predictions depend on: the weights, and the views read (when not one)."""
    views = model.config.views
    return weights_fingerprint(model) + ("" if views == "one" else f":{views}")


def cache_set(name: str, path: Path, cache: Path, variant: str, limit: int | None, model) -> dict:
    """Predictions and evidence of one data set, computed once: the evidence (which does not
    depend on the model) in `<name>_<variant>.npz`, each model's predictions (weights and
    views, `model_key`) in `<name>_<variant>_<key digest>.npz` beside it."""
    file = cache / f"{name}_{variant}.npz"
    key = model_key(model)
    predictions_file = (
        cache / f"{name}_{variant}_{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz"
    )
    index = load_index(path)
    if limit:
        index = index.subset(slice(0, limit))
    if predictions_file.is_file():
        predictions = dict(np.load(predictions_file, allow_pickle=False))
    else:
        predictions = predicted(model, index)
        _save(predictions_file, predictions)
    if file.is_file():
        out = dict(np.load(file, allow_pickle=False))
        out.update(predictions)
        return out
    out = dict(predictions)
    recorder = Recorder(variant)
    keypoints, guides = evidence_from_source(index, recorder, progress=True)
    out.update(
        thunder=keypoints[:, :17], blazepose=keypoints[:, 17:], world=guides.world,
        world_weights=guides.world_weights, mask=guides.mask,
        seconds=np.array([recorder.seconds["thunder"], recorder.seconds["blazepose"]]),
        persons=np.array(recorder.persons),
    )  # fmt: skip
    parts = Path(path).parent / "parts"
    if parts.is_dir():
        out["mask_iou"] = mask_iou(index, parts, recorder.masks)
    _save(file, out)
    return out


def _save(file: Path, out: dict) -> None:
    with atomic_path(file) as tmp, open(tmp, "wb") as handle:  # an interrupted run leaves none
        np.savez(handle, **out)


def mask_iou(index, parts: Path, masks: list[np.ndarray]) -> np.ndarray:
    """Per row, IoU of BlazePose's mask (≥ 0.5) with the rendered body (part label > 0).
    Rows are one per image in synthetic sets, in index order."""
    names = np.asarray(index.imgname).astype(str)
    ious = []
    for name, mask in zip(names, masks, strict=True):
        truth = np.asarray(Image.open(parts / (Path(name).stem + ".png"))) > 0
        found = mask[0] >= 0.5
        union = (truth | found).sum()
        ious.append((truth & found).sum() / union if union else np.nan)
    return np.asarray(ious)


def predictions_of(data: dict) -> Predictions:
    values = {f.name: data[f"pred_{f.name}"] for f in dataclasses.fields(Predictions)}
    values["keypoint_names"] = tuple(str(n) for n in values["keypoint_names"])
    return Predictions(**values)


def targets(
    data: dict, choice: str, index=None, consistency: float | None = CONSISTENCY_SCALE
) -> np.ndarray:
    """The source's 2D targets from the cached keypoints (a removed person's BlazePose
    keypoints were cached with confidence 0); with `index`, "average" weighs the two readings'
    agreement as the source does (on the index's person boxes)."""
    person = (data["blazepose"][..., 2] > 0).any(-1)
    boxes = None if index is None else person_boxes(index)
    return choose_keypoints(choice, data["thunder"], data["blazepose"], person, boxes, consistency)


def pa_mpjpe_12(pred: np.ndarray, index) -> float:
    """PA-MPJPE (mm) over the 12 LSP limb joints.  pred: (N, 12, 3)."""
    truth = torch.as_tensor(index.joints3d[:, LSP12, :3], dtype=torch.float64)
    aligned = procrustes_align(torch.as_tensor(pred, dtype=torch.float64), truth)
    return float(1000 * torch.linalg.vector_norm(aligned - truth, dim=-1).mean())


def score(name: str, path: Path, predictions: Predictions, body_model) -> dict:
    index = load_index(path).subset(slice(0, len(predictions)))
    protocol = get_protocol("synthetic" if index.joints3d is not None else "keypoints2d")
    protocol = dataclasses.replace(protocol, segmentation=None)  # parts: scored once, below
    result = evaluate_predictions(protocol, predictions, index, body_model=body_model)
    keep = ("pck2d_torso@0.2", "pa_mpjpe", "mpjpe", "root_error_deg")
    out = {k: v for k, v in result.metrics.items() if k in keep}
    if index.joints3d is not None:
        out["pa_mpjpe_12"] = pa_mpjpe_12(predictions.joints3d[:, LSP12], index)
    return out


def speed(repeats: int, checkpoint: str = "default") -> dict:
    """Seconds per person for the bundled photo through `Predictor` (given box), unrefined and
    refined with each source; median of `repeats` after one warm-up, interleaved."""
    from openhmr import Predictor
    from openhmr.fit.sources import keypoint_source
    from openhmr.inference.command import EXAMPLE_BOX, EXAMPLE_IMAGE
    from openhmr.inference.predictor import load_image

    image, box = load_image(EXAMPLE_IMAGE), np.array([EXAMPLE_BOX])
    runs = {"unrefined": Predictor.from_checkpoint(checkpoint)}
    for name in ("movenet", "blazepose", "blazepose-full"):
        runs[name] = Predictor.from_checkpoint(
            checkpoint, refine=True, keypoint_source=keypoint_source(name)
        )
    times: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(repeats + 1):
        for name, predictor in runs.items():
            start = time.perf_counter()
            predictor(image, boxes=box)
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--data", action="append", default=[], metavar="NAME=INDEX")
    parser.add_argument("--variant", default="heavy", choices=("heavy", "full"))
    parser.add_argument("--limit", type=int)
    parser.add_argument("--config", action="append", metavar="NAME:KEY=VALUE,...")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--checkpoint", default=str(DEFAULT_MODEL), help="the regressor (default: the bundled)"
    )
    parser.add_argument(
        "--views", default=None, choices=VIEWS,
        help="the regressor's test-time views (openhmr.model.views; default: the checkpoint's)",
    )  # fmt: skip
    parser.add_argument(
        "--body-model",
        help="default: the one the checkpoint was trained with; synthetic sets must be "
        "rendered with it (openhmr synth --body-model) for their 3D truth to match",
    )
    parser.add_argument("--speed", type=int, default=5, metavar="REPEATS",
                        help="time one person through Predictor (0: skip)")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(2)
    body_model = load_body_model(args.body_model or trained_body_model(args.checkpoint))
    model = load_checkpoint(args.checkpoint, body_model=body_model).model.eval()
    if args.views is not None:
        model.set_views(args.views)
    report = {"machine": machine(), "variant": args.variant, "sets": {}}
    if args.speed:
        report["seconds_per_person"] = speed(args.speed, args.checkpoint)
        print("seconds per person", json.dumps(report["seconds_per_person"]))
    for item in args.data:
        name, _, path = item.partition("=")
        data = cache_set(name, Path(path), args.cache, args.variant, args.limit, model)
        predictions = predictions_of(data)
        index = load_index(path).subset(slice(0, len(predictions)))
        persons = int(data["persons"])
        entry = {
            "persons": persons,
            "ms_thunder": 1000 * float(data["seconds"][0]) / persons,
            "ms_blazepose": 1000 * float(data["seconds"][1]) / persons,
            "unrefined": score(name, path, predictions, body_model),
        }
        if "mask_iou" in data:
            entry["mask_iou_mean"] = float(np.nanmean(data["mask_iou"]))
            entry["mask_iou_median"] = float(np.nanmedian(data["mask_iou"]))
        if index.joints3d is None:  # a 2D split: the targets' own PCK of the 12 limb joints
            truth = index.keypoints2d[:, :14]
            entry["targets_limb_pck"] = {
                choice: limb_pck(targets(data, choice), truth).value
                for choice in ("movenet", "blazepose", "average", "confident")
            }
        else:
            world12 = data["world"][:, COCO_OF_LSP12]
            entry["blazepose_world_pa_mpjpe_12"] = pa_mpjpe_12(world12, index)
        print(name, json.dumps({k: v for k, v in entry.items()}, indent=None))
        guides_all = FitGuides(data["world"], data["world_weights"], data["mask"])
        for spec in args.config or DEFAULT_CONFIGS:
            label, _, options = spec.partition(":")
            options = [o for o in options.split(",") if o]
            choice, limbs, consistency = "movenet", False, CONSISTENCY_SCALE
            for option in list(options):
                if option.startswith("keypoints="):
                    choice = option.split("=", 1)[1]
                    options.remove(option)
                if option.startswith("consistency="):  # "average"'s agreement scale (0: off)
                    consistency = float(option.split("=", 1)[1])
                    options.remove(option)
                if option == "limbs":  # world landmarks of the 12 limb joints only
                    limbs = True
                    options.remove(option)
            config = config_from_options(options, "--config")
            keypoints = targets(data, choice, index, consistency)
            rows = slice(0, len(predictions))
            guides = slice_guides(guides_all, rows)
            if limbs:
                weights = guides.world_weights.copy()
                weights[:, :5] = 0
                guides = dataclasses.replace(guides, world_weights=weights)
            refined, stats = refine_predictions(
                predictions, index, keypoints, body_model, config=config, guides=guides,
            )  # fmt: skip
            row = score(name, path, refined, body_model)
            row["fit_s_per_person"] = stats.seconds / len(predictions)
            row["refined_share"] = float(stats.refined.mean())
            entry[label] = row
            print(f"  {label:>18}", json.dumps(row))
        report["sets"][name] = entry
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
