"""The fitting run over a split, chunk by chunk: each chunk's fits go to their own file, written
atomically, so a run stopped anywhere resumes where it stopped (`fit_split`)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from openhmr.body.keypoints import COCO17_NAMES, COCOPLUS_NAMES
from openhmr.data.records import RecordIndex
from openhmr.errors import OpenHMRError
from openhmr.evaluate.predict import predict_index
from openhmr.evaluate.refine import evidence_from_source, refine_predictions
from openhmr.files import atomic_path
from openhmr.fit import FitConfig
from openhmr.fit.sources import KeypointSource
from openhmr.model.hmr import HMR

TARGETS = ("truth+face", "source")
FACE = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class PseudoLabelConfig:
    """What a run fits, recorded in its manifest (a resumed run must match it).

    targets: "truth+face" (the split's own annotated 2D keypoints, plus the face points of the
    source, which the annotations lack) or "source" (the source's 2D keypoints alone);
    source: the keypoint source's name (`openhmr.fit.sources.keypoint_source`); chunk: rows a
    file; fit: `FitConfig` overrides; views: what the starting network reads and averages
    (`openhmr.model.views`; None: as `--refine` starts, the checkpoint's views with the
    mirrored crop read too, `with_flip`)."""

    checkpoint: str = "default"
    body_model: str = "open-annotated"
    source: str = "blazepose"
    targets: str = "truth+face"
    chunk: int = 128
    fit: dict = field(default_factory=dict)
    views: str | None = None

    def check(self) -> None:
        if self.targets not in TARGETS:
            raise OpenHMRError(
                f"pseudo-label targets: expected one of {TARGETS}, got {self.targets!r}"
            )
        if self.chunk < 1:
            raise OpenHMRError(f"pseudo-label chunk: expected ≥ 1 rows, got {self.chunk}")


def fit_targets(index: RecordIndex, source_keypoints: np.ndarray, targets: str) -> np.ndarray:
    """The 2D targets (N, K, 3) image pixels + confidence: the source's COCO-17 keypoints
    ("source"), or the index's 14 annotated LSP joints (visibility as confidence) with the
    source's 5 face points as cocoplus 19 ("truth+face")."""
    if targets == "source":
        return source_keypoints
    if source_keypoints.shape[1] != len(COCO17_NAMES):
        raise OpenHMRError(
            f"truth+face targets need a COCO-17 source, got {source_keypoints.shape[1]} keypoints"
        )
    keypoints = np.zeros((len(index), len(COCOPLUS_NAMES), 3))
    keypoints[:, :14] = index.keypoints2d[:, :14]
    face = [COCO17_NAMES.index(name) for name in FACE]
    keypoints[:, [COCOPLUS_NAMES.index(name) for name in FACE]] = source_keypoints[:, face]
    return keypoints


def fit_chunk(
    model: HMR,
    index: RecordIndex,
    source: KeypointSource,
    config: PseudoLabelConfig,
    fit_config: FitConfig,
) -> dict[str, np.ndarray]:
    """One chunk's fits: the network's estimate on each row's crop, the source's evidence, the
    fit.  Returns arrays: pose (N, 24, 3), betas (N, 10), camera (N, 3), keypoints3d (N, K, 3)
    the fitted body's keypoints (camera axes, metres), keypoints2d (N, K, 2) projected in the
    crop's [−1, 1], the estimate's pose / betas, the fit's error / initial_error (px),
    refined, iterations, keypoints_used, and the evidence: source_keypoints (N, 17, 3) px,
    world (N, 17, 3) metres, world_weights (N, 17) (zeros where the source gave none)."""
    body_model = model.body_model
    estimate = predict_index(model, index, batch_size=32, progress=False)
    source_keypoints, guides = evidence_from_source(index, source)
    targets = fit_targets(index, source_keypoints, config.targets)
    refined, stats = refine_predictions(
        estimate, index, targets, body_model, config=fit_config, guides=guides
    )
    world = np.zeros((len(index), 17, 3), np.float32)
    weights = np.zeros((len(index), 17), np.float32)
    if guides is not None and guides.world is not None:
        world = np.nan_to_num(np.asarray(guides.world, np.float32))
        weights = np.nan_to_num(np.asarray(guides.world_weights, np.float32))
    return {
        "pose": refined.pose.astype(np.float32),
        "betas": refined.betas.astype(np.float32),
        "camera": refined.camera.astype(np.float32),
        "keypoints3d": refined.keypoints3d.astype(np.float32),
        "keypoints2d": refined.keypoints2d.astype(np.float32),
        "estimate_pose": estimate.pose.astype(np.float32),
        "estimate_betas": estimate.betas.astype(np.float32),
        "error": stats.error.astype(np.float32),
        "initial_error": stats.initial_error.astype(np.float32),
        "refined": stats.refined,
        "iterations": stats.iterations.astype(np.int32),
        "keypoints_used": stats.keypoints_used.astype(np.int32),
        "source_keypoints": source_keypoints.astype(np.float32),
        "world": world,
        "world_weights": weights,
    }


def chunk_path(out: Path, chunk: int) -> Path:
    return out / f"chunk_{chunk:05d}.npz"


def check_manifest(out: Path, manifest: dict) -> None:
    """Write the run's manifest, or check that a resumed run's matches it."""
    path = out / MANIFEST
    if path.exists():
        found = json.loads(path.read_text())
        if found != manifest:
            changed = sorted(k for k in manifest if found.get(k) != manifest[k])
            raise OpenHMRError(
                f"{out} holds a pseudo-label run with other settings ({', '.join(changed)}); "
                f"use another --out or the same settings to resume"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(manifest, indent=1))


def fit_split(
    index: RecordIndex,
    out: str | Path,
    model: HMR,
    source: KeypointSource,
    config: PseudoLabelConfig | None = None,
    rows: int | None = None,
    progress: bool = True,
) -> list[Path]:
    """Fit every row of `index` (the first `rows`, if given) chunk by chunk into `out`
    (`chunk_00000.npz`, ... and `manifest.json`); chunks already there are kept, so calling
    it again resumes.  model: the network giving each fit's start, with the body model the fit
    uses attached.  Returns the chunk files in row order."""
    config = config or PseudoLabelConfig()
    config.check()
    out = Path(out)
    total = len(index) if rows is None else min(rows, len(index))
    if total < 1:
        raise OpenHMRError("pseudo-labels: the index has no rows to fit")
    manifest = {
        **asdict(config),
        "views": model.config.views,
        "index": index.name,
        "rows": total,
        "body_model_name": model.body_model.name,
    }
    check_manifest(out, manifest)
    fit_config = FitConfig(**config.fit)
    chunks = range((total + config.chunk - 1) // config.chunk)
    paths = [chunk_path(out, c) for c in chunks]
    todo = [c for c in chunks if not paths[c].exists()]
    bar = tqdm(
        total=total,
        initial=total - _rows_in(todo, config.chunk, total),
        unit="person",
        desc="pseudo-labels",
        disable=not progress,
    )
    for c in todo:
        first = c * config.chunk
        part = index.subset(slice(first, min(first + config.chunk, total)))
        start = time.perf_counter()
        arrays = fit_chunk(model, part, source, config, fit_config)
        arrays["rows"] = np.arange(first, first + len(part))
        arrays["seconds"] = np.float64(time.perf_counter() - start)
        with atomic_path(paths[c]) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
        bar.update(len(part))
    bar.close()
    return paths


def _rows_in(chunks: list[int], size: int, total: int) -> int:
    return sum(min(size, total - c * size) for c in chunks)


def read_chunks(out: str | Path, rows: int | None = None) -> dict[str, np.ndarray]:
    """All chunks of a finished run, concatenated in row order (`fit_chunk`'s arrays and
    rows).  A missing chunk is an error naming it."""
    out = Path(out)
    path = out / MANIFEST
    if not path.exists():
        raise OpenHMRError(f"{out}: no pseudo-label run here ({MANIFEST} missing)")
    manifest = json.loads(path.read_text())
    total = manifest["rows"] if rows is None else rows
    count = (total + manifest["chunk"] - 1) // manifest["chunk"]
    missing = [chunk_path(out, c).name for c in range(count) if not chunk_path(out, c).exists()]
    if missing:
        raise OpenHMRError(
            f"{out}: {len(missing)} of {count} chunks not fitted yet (first: {missing[0]}); "
            f"run the same command again to finish"
        )
    parts: dict[str, list[np.ndarray]] = {}
    for c in range(count):
        with np.load(chunk_path(out, c)) as data:
            for key in data.files:
                if key != "seconds":
                    parts.setdefault(key, []).append(data[key])
    merged = {key: np.concatenate(values) for key, values in parts.items()}
    if not np.array_equal(merged["rows"], np.arange(total)):
        raise OpenHMRError(f"{out}: the chunks do not cover rows 0..{total - 1} in order")
    return merged


def load_model(
    checkpoint: str, body_model: str, device: str = "cpu", views: str | None = None
) -> HMR:
    """The network that starts each fit, with `body_model` attached, reading `views` (None:
    as `--refine` starts, the checkpoint's own with the mirrored crop read too)."""
    from openhmr.body import load_body_model
    from openhmr.inference.predictor import resolve_checkpoint
    from openhmr.model.checkpoint import load_checkpoint
    from openhmr.model.views import with_flip

    body = load_body_model(body_model)
    model = load_checkpoint(resolve_checkpoint(checkpoint), body_model=body).model
    model.set_views(with_flip(model.config.views) if views is None else views)
    return model.eval().to(torch.device(device))
