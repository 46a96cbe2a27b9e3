"""Training a frozen encoder's head fast: the encoder's outputs on each training dataset,
computed once for `laps` augmented passes and cached (`data.cache_laps`), then read instead of
images. With the encoder frozen (`optim.train_encoder: false`) a step is then the regressor,
the body model, the losses and the discriminator: no image is decoded or convolved.

A cache file `<cache_dir>/<name>.npz` holds, for each (lap, row), what a MoveNet encoder's
`parts` give — pooled (1280) float16 and keypoints (17, 3) — and, when its features read
BlazePose, BlazePose's reading of the crop (`blazepose_reading`) by both variants (heavy and
full, so either can be trained from one cache), or, for another encoder, φ itself, plus the
sample's labels (keypoints2d, joints3d, pose, betas, has_smpl, has_3d) drawn with the same
augmentation `RecordDataset.get(row, lap)` draws. Its `identity` (the index and a digest of its
labels, the encoder's weights, the crop, the augmentation, the laps) is checked on reuse: a
cache made for other inputs is rebuilt, never silently used.

Labels are cheap, encoder outputs are not. A cache whose identity differs only in the labels
(the same persons with new pseudo-labels, say, under its own or another file name in the same
folder) gives its encoder outputs to the new cache, and only the labels are read again
(`RecordDataset.labels`). That needs the same crops: every row's 2D keypoints, as the new
labels place them in each cached crop, must equal the cached ones (the crop's centre, scale,
turn, flip and truncation all move them). Otherwise it is encoded afresh.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from openhmr.data.dataset import RecordDataset
from openhmr.errors import OpenHMRError
from openhmr.files import write_npz
from openhmr.model.hmr import HMR
from openhmr.model.movenet_encoder import (
    MoveNetEncoder,
    blazepose_reading,
    blazepose_variants,
    combine_parts,
)
from openhmr.train.feature_augment import (
    FeatureAugmentConfig,
    check_feature_augment,
    sample_feature_transform,
    transform_labels,
    transform_phi,
)

FEATURE_AUGMENT_STREAM = 7  # keeps φ's draws apart from the image augmentation's
LABELS = ("keypoints2d", "joints3d", "pose", "betas", "has_smpl", "has_3d")
BLAZEPOSE_CACHED = ("heavy", "full")


def weights_fingerprint(module: torch.nn.Module) -> str:
    """A short hash of a module's weights (what is computed from them belongs to exactly these)."""
    digest = hashlib.sha1()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def encoder_fingerprint(model: HMR) -> str:
    """A short hash of the encoder's weights (a cache belongs to exactly these weights)."""
    return weights_fingerprint(model.encoder)


def cache_identity(model: HMR, dataset: RecordDataset, laps: int) -> dict:
    """What a cache's contents depend on (orientations only when not 1, so caches made before
    it existed stay valid)."""
    identity = {
        "rows": len(dataset),
        "index": dataset.index.name,
        "image_root": str(dataset.index.image_root),
        "crop": dataset.res,
        "seed": dataset.seed,
        "augment": repr(dataset.augment),
        "laps": laps,
        "backbone": model.config.backbone,
        "normalization": model.config.normalization,
        "encoder": encoder_fingerprint(model),
        "labels": labels_digest(dataset.index),
    }
    if model.config.orientations != 1:
        identity["orientations"] = model.config.orientations
    if blazepose_variants(model.config.features):
        identity["blazepose"] = list(BLAZEPOSE_CACHED)
    return identity


def labels_digest(index) -> str:
    """A short hash of a record index's labels (a cache's labels belong to exactly these)."""
    digest = hashlib.sha1()
    for name in ("keypoints2d", "joints3d", "pose", "betas", "has_smpl"):
        value = getattr(index, name)
        digest.update(name.encode())
        if value is not None:
            digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()[:16]


def _encode(model: HMR, images: torch.Tensor) -> dict[str, np.ndarray]:
    x = model.normalize(images.float() / 255.0)
    if isinstance(model.encoder, MoveNetEncoder):
        pooled, keypoints = model.encoder.parts(x)
        parts = {"pooled": pooled.half().numpy(), "keypoints": keypoints.float().numpy()}
        if model.encoder.blazepose_variants:
            for variant in BLAZEPOSE_CACHED:
                net = model.encoder.blazepose(variant)
                parts[f"blazepose_{variant}"] = blazepose_reading(net, x, keypoints).numpy()
        return parts
    return {"features": model.encoder(x).half().numpy()}


@torch.no_grad()
def build_feature_cache(
    model: HMR,
    dataset: RecordDataset,
    laps: int,
    path: str | Path,
    batch_size: int = 8,
    workers: int = 1,
    progress: bool = True,
) -> Path:
    """Encode `laps` augmented passes over `dataset` into `path` (reused when its identity
    matches). Rows are ordered lap-major: entry lap · N + row. batch_size: crops per encoder
    call (small batches are the fastest per crop on a CPU: 8 ran 2–3× faster than 64)."""
    path = Path(path)
    identity = cache_identity(model, dataset, laps)
    stored = _stored_identity(path) if path.exists() else None
    if stored == identity or _serves(stored, identity):
        return path
    if relabel_feature_cache(path, dataset, identity, progress):
        return path
    was_training = model.training
    model.eval()
    keys = [(row, lap) for lap in range(laps) for row in range(len(dataset))]
    loader = torch.utils.data.DataLoader(
        _Keyed(dataset, keys),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        persistent_workers=False,
    )
    chunks: dict[str, list[np.ndarray]] = {}
    device = next(model.parameters()).device
    bar = tqdm(total=len(keys), desc=f"encoding {path.stem}", unit="crop", disable=not progress)
    for batch in loader:
        for name, value in _encode(model, batch["image"].to(device)).items():
            chunks.setdefault(name, []).append(value)
        for name in LABELS:
            chunks.setdefault(name, []).append(batch[name].numpy())
        bar.update(len(batch["image"]))
    bar.close()
    model.train(was_training)
    arrays = {name: np.concatenate(parts) for name, parts in chunks.items()}
    write_npz(path, {"identity": np.array(json.dumps(identity)), **arrays}, compress=False)
    return path


def _stored_identity(path: Path) -> dict | None:
    try:
        with np.load(path) as data:
            return json.loads(str(data["identity"])) if "identity" in data.files else None
    except (OSError, ValueError):
        return None


def _same_crops(stored: dict | None, identity: dict) -> bool:
    """Identities equal but for the labels (a cache made before labels were in the identity
    has none)."""
    if stored is None:
        return False
    stored, identity = ({k: v for k, v in d.items() if k != "labels"} for d in (stored, identity))
    return stored == identity or _serves(stored, identity)


def relabel_feature_cache(
    path: str | Path, dataset: RecordDataset, identity: dict, progress: bool = True
) -> bool:
    """Write the cache `path` for `dataset` from a cache of the same crops (`path` itself or
    another .npz in its folder whose identity differs only in the labels) with the dataset's
    labels, without encoding anything. Returns False (nothing written) when there is none."""
    path = Path(path)
    candidates = [path] if path.exists() else []
    candidates += sorted(p for p in path.parent.glob("*.npz") if p != path)
    laps, rows = int(identity["laps"]), len(dataset)
    labels = None
    for candidate in candidates:
        if not _same_crops(_stored_identity(candidate), identity):
            continue
        if labels is None:
            keys = [(row, lap) for lap in range(laps) for row in range(rows)]
            items = [
                dataset.labels(row, lap)
                for row, lap in tqdm(keys, desc=f"labels {path.stem}", disable=not progress)
            ]
            labels = {name: torch.stack([i[name] for i in items]).numpy() for name in LABELS}
        with np.load(candidate) as data:
            cached = data["keypoints2d"]
            if cached.shape != labels["keypoints2d"].shape or not np.allclose(
                cached, labels["keypoints2d"], atol=1e-5
            ):
                continue
            keep = set(data.files) - {"identity", *LABELS}
            if "blazepose" not in identity:  # what the identity does not promise is left out
                keep -= {f"blazepose_{variant}" for variant in BLAZEPOSE_CACHED}
            arrays = {n: data[n] for n in keep}
        write_npz(
            path, {"identity": np.array(json.dumps(identity)), **arrays, **labels}, compress=False
        )
        return True
    return False


def _serves(stored: dict | None, identity: dict) -> bool:
    """A cache that also holds BlazePose's readings serves features that do not read them."""
    if stored is None or "blazepose" in identity or "blazepose" not in stored:
        return False
    return {k: v for k, v in stored.items() if k != "blazepose"} == identity


class _Keyed(torch.utils.data.Dataset):
    def __init__(self, dataset: RecordDataset, keys: list[tuple[int, int]]) -> None:
        self.dataset, self.keys = dataset, keys

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.dataset.get(*self.keys[i])


class FeatureDataset(torch.utils.data.Dataset):
    """A feature cache as a dataset with `RecordDataset`'s rows and laps: `get(row, lap)`
    returns the labels and "features" φ (D,) of cached pass lap mod laps (so training past
    the cached laps repeats them). features: the φ choice (`HMRConfig.features`); augment:
    a transform of φ and the labels drawn afresh for every (row, lap) from `seed`
    (`openhmr.train.feature_augment`; off by default)."""

    takes_lap = True

    def __init__(
        self,
        path: str | Path,
        features: str = "pooled",
        augment: FeatureAugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        path = Path(path)
        self.features_name, self.seed = features, seed
        self.augment = check_feature_augment(augment or FeatureAugmentConfig())
        if self.augment.active and "keypoints" not in features:
            raise OpenHMRError(
                f"data.feature_augment moves φ's keypoints: features {features!r} hold none"
            )
        if self.augment.mirror_prob and "pooled" in features:
            raise OpenHMRError(
                f"data.feature_augment.mirror_prob: a pooled map cannot be mirrored from φ; "
                f"features {features!r} hold one"
            )
        try:
            with np.load(path) as data:
                self.identity = json.loads(str(data["identity"]))
                arrays = {name: data[name] for name in data.files if name != "identity"}
        except (OSError, ValueError, KeyError) as err:
            raise OpenHMRError(f"{path}: not a feature cache ({err})") from None
        self.rows, self.laps = int(self.identity["rows"]), int(self.identity["laps"])
        if "features" in arrays:
            phi = torch.from_numpy(arrays.pop("features").astype(np.float32))
        else:
            variants = blazepose_variants(features)
            for variant in variants:
                if f"blazepose_{variant}" not in arrays:
                    raise OpenHMRError(f"{path}: no BlazePose {variant} reading for {features!r}")
            readings = [arrays[f"blazepose_{variant}"] for variant in variants]
            phi = combine_parts(
                torch.from_numpy(arrays.pop("pooled").astype(np.float32)),
                torch.from_numpy(arrays.pop("keypoints").astype(np.float32)),
                features,
                torch.from_numpy(np.concatenate(readings, axis=1)) if readings else None,
            )
        self.features = phi
        self.labels = {name: torch.from_numpy(arrays[name]) for name in LABELS}
        if len(phi) != self.rows * self.laps:
            raise OpenHMRError(f"{path}: {len(phi)} entries, expected {self.rows * self.laps}")

    def __len__(self) -> int:
        return self.rows

    def get(self, row: int, lap: int) -> dict[str, torch.Tensor]:
        i = (int(lap) % self.laps) * self.rows + int(row)
        item = {name: value[i] for name, value in self.labels.items()}
        item["features"] = self.features[i]
        item["index"] = torch.tensor(row)
        if self.augment.active:
            rng = np.random.default_rng([self.seed, int(lap), int(row), FEATURE_AUGMENT_STREAM])
            transform = sample_feature_transform(self.augment, rng)
            item = transform_labels(item, transform)
            item["features"] = transform_phi(item["features"], self.features_name, transform)
        return item

    def __getitem__(self, row: int) -> dict[str, torch.Tensor]:
        return self.get(row, 0)
