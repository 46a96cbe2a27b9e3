"""Score frozen-encoder models and their ensembles on the tuning splits, from cached φ
(docs/default_model.md: the v7 ensemble table, the v8 both-readings table).

    .venv/bin/python benchmarks/heads_tuning.py --cache runs/heads_tuning \
        --model v6=runs/v6_decay/model.safetensors --model v7=runs/v7_decay/model.safetensors \
        --model v6n=runs/v6_nomirror_decay/model.safetensors \
        --combo v6 --combo v7 --combo v6+v7+v6n [--views mirror-turns] [--json out.json]

Each split (--data NAME=INDEX; default: held-out LSP-extended im07201–im08000 and the CMU and
sampler tuning renders) is encoded once, without augmentation, into a feature cache under
--cache (`openhmr.train.features`) holding MoveNet Thunder's keypoints and both BlazePose
readings, so every model reads its own `features` choice from the same crops. A combo
"a+b+…" of models with the same features (and root start) runs as one network (`HMR.with_heads`:
every head's views averaged together); a combo mixing them averages each group's Θ, weighted by its
head count (`average_params`), outside the network: a probe, not something a checkpoint
can hold. Views "flip…" read the mirrored crop with the encoder and are not available from
cached φ.

Prints per combo: LSP PCK@0.2 (torso, 14 joints), and on renders PA-MPJPE (mm, 14 joints)
and the root orientation's median error (degrees).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine

from openhmr.body import load_body_model
from openhmr.data.dataset import RecordDataset
from openhmr.data.records import load_index
from openhmr.errors import OpenHMRError
from openhmr.evaluate import evaluate_predictions, get_protocol
from openhmr.evaluate.predict import Predictions
from openhmr.files import atomic_path
from openhmr.model import HMR, load_checkpoint
from openhmr.model.views import VIEWS, average_params
from openhmr.train.features import FeatureDataset, build_feature_cache

SPLITS = {
    "lsp": "runs/data/lspet_val.npz",
    "cmu": "runs/synth_fit_cmu_ann/synth.npz",
    "sampler": "runs/synth_fit_sampler_ann/synth.npz",
}
ENCODED = "seen-keypoints+blazepose+blazepose-full"  # the cache holds every reading


def named(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise OpenHMRError(f"{what}: expected NAME=PATH, got {item!r}")
        out[name] = value
    return out


def encode(encoder: HMR, name: str, path: str, cache: Path) -> Path:
    """The split's feature cache, read by `encoder` (built on first use)."""
    dataset = RecordDataset(load_index(path), res=encoder.config.image_size)
    return build_feature_cache(encoder, dataset, 1, cache / f"{name}.npz", workers=1)


def ensemble(members: list[HMR]) -> list[tuple[HMR, str, int]]:
    """Models -> (network, features, head count) per features choice and root start: the
    models alike in both as one network with heads (`HMR.with_heads` keeps the first's
    views)."""
    groups: dict[tuple[str, bool], list[HMR]] = {}
    for model in members:
        groups.setdefault((model.config.features, model.config.root_start), []).append(model)
    return [
        (group[0].with_heads(*group[1:]) if len(group) > 1 else group[0], features, len(group))
        for (features, _), group in groups.items()
    ]


def ensemble_params(
    parts: list[tuple[HMR, str, int]], caches: dict[str, FeatureDataset]
) -> torch.Tensor:
    """Θ (N, 85) of an `ensemble`: each network's, the groups averaged by head count."""
    with torch.inference_mode():
        thetas = [net.regress_features(caches[features].features)[-1] for net, features, _ in parts]
    if len(thetas) == 1:
        return thetas[0]
    counts = [count for *_, count in parts]
    return average_params(
        torch.stack([t for t, c in zip(thetas, counts, strict=True) for _ in range(c)])
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", required=True, help="NAME=CHECKPOINT")
    parser.add_argument("--combo", action="append", help="a+b+… of model names (default: each)")
    parser.add_argument("--data", action="append", help="NAME=INDEX (default: the tuning splits)")
    parser.add_argument("--cache", required=True, help="folder for the splits' feature caches")
    parser.add_argument("--views", default="mirror-turns", choices=VIEWS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.views.startswith("flip"):
        raise SystemExit(f"--views {args.views}: reads the mirrored crop; cached φ cannot")
    body = load_body_model("open-annotated")
    models = {name: load_checkpoint(path, body_model=body).model.eval()
              for name, path in named(args.model, "--model").items()}  # fmt: skip
    for model in models.values():
        model.set_views(args.views)
    combos = args.combo or list(models)
    for combo in combos:
        missing = [n for n in combo.split("+") if n not in models]
        if missing:
            raise SystemExit(f"--combo {combo}: no --model named {missing[0]}")
    splits = named(args.data, "--data") if args.data else SPLITS
    cache = Path(args.cache)
    size = next(iter(models.values())).config.image_size
    encoder = HMR(backbone="movenet_thunder", normalization="pixels", image_size=size,
                  features=ENCODED).eval()  # fmt: skip
    networks = {combo: ensemble([models[n] for n in combo.split("+")]) for combo in combos}
    rows: dict[str, dict[str, dict[str, float]]] = {combo: {} for combo in combos}
    for split, path in splits.items():
        index = load_index(path)
        stored = encode(encoder, split, path, cache)
        caches = {m.config.features: FeatureDataset(stored, m.config.features)
                  for m in models.values()}  # fmt: skip
        protocol = get_protocol("synthetic" if index.joints3d is not None else "keypoints2d")
        protocol = dataclasses.replace(protocol, segmentation=None)
        for combo, parts in networks.items():
            with torch.inference_mode():
                out = parts[0][0].decode(ensemble_params(parts, caches))
            predictions = Predictions(
                camera=out.camera.numpy(), pose=out.pose.numpy(), betas=out.betas.numpy(),
                keypoints3d=out.keypoints3d.numpy(), keypoints2d=out.keypoints2d.numpy(),
                keypoint_names=tuple(body.keypoint_names),
            )  # fmt: skip
            metrics = evaluate_predictions(protocol, predictions, index, body_model=body).metrics
            keep = (
                ("pck2d_torso@0.2",) if index.joints3d is None else ("pa_mpjpe", "root_error_deg")
            )
            rows[combo][split] = {key: round(float(metrics[key]), 3) for key in keep}
    print(f"# {machine()}; views {args.views}")
    for combo, by_split in rows.items():
        cells = []
        for split, values in by_split.items():
            if "pck2d_torso@0.2" in values:
                cells.append(f"{split} PCK {values['pck2d_torso@0.2']:.2f}%")
            else:
                cells.append(f"{split} PA {values['pa_mpjpe']:.2f} mm, root "
                             f"{values['root_error_deg']:.1f}°")  # fmt: skip
        print(f"{combo:28s} " + " | ".join(cells))
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps({"machine": machine(), "views": args.views, "rows": rows}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except OpenHMRError as err:  # a bad NAME=PATH, checkpoint or views: one line
        sys.exit(f"heads_tuning: {err}")
