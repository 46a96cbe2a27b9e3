"""The record format: one compressed `.npz` index per dataset split, one row per person.

| field | shape | meaning |
| --- | --- | --- |
| `imgname` | (N,) str | image path relative to the index's image root |
| `center` | (N, 2) float32 | person box centre, full-image pixels |
| `scale` | (N,) float32 | person box side / 200 (SPIN's convention) |
| `keypoints2d` | (N, 19, 3) float32 | cocoplus x, y (full-image pixels), visibility 0/1 |
| `joints3d` | (N, 14, 4) float32 | optional: LSP-14 joints, metres, camera axes, validity |
| `pose` | (N, 72) float32 | optional: SMPL axis-angle, root first |
| `betas` | (N, 10) float32 | optional: SMPL shape |
| `has_smpl` | (N,) bool | optional: whether `pose`/`betas` are ground truth |
| `meta` | () str | JSON: `dataset`, `version`, `image_root`, free provenance |
| `extra_<name>` | (N, ...) | optional per-row extras (e.g. a synthetic split's camera) |

`image_root` in `meta` is resolved relative to the index file's folder unless absolute, so an
index and its images can move together. 3D joints use camera axes (x right, y down, z forward)
and are pelvis-centred. Pixel coordinates are continuous: pixel (row i, column j) covers
[j, j + 1) × [i, i + 1), so the first pixel's centre is (0.5, 0.5) — the renderer's convention;
converters shift 1-based MATLAB annotations by −0.5 and 0-based integer ones by +0.5.
The pelvis is the mean of the two hips (LSP joints 2 and 3).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from openhmr.errors import OpenHMRError
from openhmr.files import read_npz, write_npz

NUM_KEYPOINTS = 19
OPTIONAL_FIELDS = ("joints3d", "pose", "betas", "has_smpl")


@dataclass(frozen=True)
class RecordIndex:
    """A dataset split in memory (fields as in the module table)."""

    imgname: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    keypoints2d: np.ndarray
    image_root: Path
    joints3d: np.ndarray | None = None
    pose: np.ndarray | None = None
    betas: np.ndarray | None = None
    has_smpl: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.imgname)

    @property
    def name(self) -> str:
        return str(self.meta.get("dataset", "records"))

    @property
    def has_3d(self) -> bool:
        return self.joints3d is not None

    def subset(self, rows: np.ndarray | slice) -> RecordIndex:
        """The same index restricted to `rows` (indices, mask or slice)."""
        pick = {k: getattr(self, k)[rows] for k in ("imgname", "center", "scale", "keypoints2d")}
        for name in OPTIONAL_FIELDS:
            value = getattr(self, name)
            pick[name] = None if value is None else value[rows]
        return replace(self, **pick, extras={k: v[rows] for k, v in self.extras.items()})


def _expected_shapes(n: int) -> dict[str, tuple[int, ...]]:
    return {
        "imgname": (n,),
        "center": (n, 2),
        "scale": (n,),
        "keypoints2d": (n, NUM_KEYPOINTS, 3),
        "joints3d": (n, 14, 4),
        "pose": (n, 72),
        "betas": (n, 10),
        "has_smpl": (n,),
    }


def validate_index(index: RecordIndex, check_images: bool = True, source: str = "") -> None:
    """Raise `OpenHMRError` naming the first bad field and row: wrong shape, NaN/inf, a
    non-positive scale, or (with check_images) an image that does not exist."""
    where = f"{source}: " if source else ""
    n = len(index.imgname)
    for name, shape in _expected_shapes(n).items():
        value = getattr(index, name)
        if value is None:
            continue
        if value.shape != shape:
            raise OpenHMRError(
                f"{where}field {name!r} must have shape {shape}, found {value.shape}"
            )
        if value.dtype.kind == "f":
            bad = ~np.isfinite(value.reshape(n, -1)).all(axis=1)
            if bad.any():
                raise OpenHMRError(
                    f"{where}field {name!r} has NaN/inf in row {int(np.argmax(bad))}"
                )
    for name, value in index.extras.items():
        if value.shape[:1] != (n,):
            raise OpenHMRError(f"{where}extra {name!r} must have {n} rows, found {value.shape}")
    if n and (index.scale <= 0).any():
        raise OpenHMRError(
            f"{where}field 'scale' must be positive; row "
            f"{int(np.argmax(index.scale <= 0))} is {index.scale.min()}"
        )
    if check_images:
        for row, name in enumerate(index.imgname):
            if not (index.image_root / str(name)).is_file():
                raise OpenHMRError(
                    f"{where}row {row}: image not found: {index.image_root / str(name)}"
                )


def save_index(path: str | os.PathLike, index: RecordIndex) -> None:
    """Write an index atomically as a compressed `.npz`; `image_root` is stored relative to
    the file's folder when it lies below it."""
    path = Path(path)
    validate_index(index, check_images=False, source=str(path))
    root = index.image_root.resolve()
    try:
        stored_root = os.path.relpath(root, path.parent.resolve())
    except ValueError:  # another drive
        stored_root = str(root)
    meta = {
        **index.meta,
        "image_root": stored_root,
        "format": "openhmr-records",
        "format_version": 1,
    }
    arrays: dict[str, np.ndarray] = {
        "imgname": np.asarray(index.imgname, dtype=str),
        "center": index.center.astype(np.float32),
        "scale": index.scale.astype(np.float32),
        "keypoints2d": index.keypoints2d.astype(np.float32),
        "meta": np.array(json.dumps(meta)),
    }
    for name in OPTIONAL_FIELDS:
        value = getattr(index, name)
        if value is not None:
            arrays[name] = value.astype(bool if name == "has_smpl" else np.float32)
    arrays.update({f"extra_{name}": value for name, value in index.extras.items()})
    write_npz(path, arrays)


def index_path(path: str | os.PathLike) -> Path:
    """A record index file, or the folder `openhmr synth` / `openhmr convert` wrote it to when
    the folder holds exactly one index (`.npz`) directly inside."""
    path = Path(path)
    if not path.is_dir():
        return path
    found = sorted(p for p in path.glob("*.npz") if p.is_file())
    if len(found) == 1:
        return found[0]
    if not found:
        raise OpenHMRError(f"{path}: expected a record index (.npz) or a folder holding one")
    names = ", ".join(p.name for p in found)
    raise OpenHMRError(f"{path}: the folder holds several record indexes ({names}); name one")


def load_index(
    path: str | os.PathLike, image_root: str | os.PathLike | None = None, check_images: bool = True
) -> RecordIndex:
    """Read and validate an index (a file, or a folder holding one: `index_path`).
    image_root overrides the stored one."""
    path = index_path(path)
    if not path.is_file():
        raise OpenHMRError(f"record index not found: {path}")
    arrays = read_npz(path, "record index")
    missing = [k for k in ("imgname", "center", "scale", "keypoints2d") if k not in arrays]
    if missing:
        raise OpenHMRError(f"{path}: not a record index; missing fields {missing}")
    meta = json.loads(str(arrays.pop("meta"))) if "meta" in arrays else {}
    root = Path(image_root) if image_root is not None else Path(meta.get("image_root", "."))
    if not root.is_absolute() and image_root is None:
        root = path.parent / root
    index = RecordIndex(
        imgname=arrays["imgname"].astype(str),
        center=arrays["center"],
        scale=arrays["scale"],
        keypoints2d=arrays["keypoints2d"],
        image_root=root,
        **{name: arrays.get(name) for name in OPTIONAL_FIELDS},
        meta=meta,
        extras={k[len("extra_") :]: v for k, v in arrays.items() if k.startswith("extra_")},
    )
    validate_index(index, check_images=check_images, source=str(path))
    return index
