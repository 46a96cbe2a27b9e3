"""A batch run's output folder: per-item results, the index that resuming trusts, the summary.

Layout under ``out``::

    results/<key>.json   the demo's record of the image (size, camera, every person's
                         parameters; ``openhmr demo``'s <name>.json)
    results/<key>.npz    pose (N, 24, 3) axis-angle, betas (N, 10), camera (N, 3) s, tx, ty,
                         translation (N, 3), boxes (N, 4) x, y, w, h, keypoints2d (N, 19, 3)
                         cocoplus pixels, detected_keypoints (N, 17, 3) COCO (NaN when a box
                         was given), detection_scores (N,)
    index.jsonl          one line per finished item: key, status ("done" | "failed"),
                         people, reason, source, frame, and the sha256 of each result file
    summary.json         counts, seconds, images/s of the last run

Only the driver writes here: result files atomically, then their index line (appended and
flushed to disk), so an item is done exactly when its line is there and its files hash to it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openhmr.errors import OpenHMRError
from openhmr.files import atomic_path, writable_folder_error

RESULT_SUFFIXES = (".json", ".npz")


@dataclass(frozen=True)
class Result:
    """What a worker sends back for one item: status "done" or "failed"; record: the JSON
    text; arrays: the .npz bytes (both empty when failed)."""

    key: str
    source: str
    frame: int
    status: str
    people: int
    reason: str
    record: str
    arrays: bytes


class Store:
    """The output folder of a batch run (see the module doc)."""

    def __init__(self, out: str | os.PathLike) -> None:
        self.out = Path(out)
        problem = writable_folder_error(self.out)
        if problem:
            raise OpenHMRError(f"--out: {problem}")
        self.index_path = self.out / "index.jsonl"
        self.entries = dict(_read_index(self.index_path))

    def result_paths(self, key: str) -> list[Path]:
        return [self.out / "results" / f"{key}{suffix}" for suffix in RESULT_SUFFIXES]

    def is_done(self, key: str) -> bool:
        """True when the index says done and each result file is there with its hash."""
        entry = self.entries.get(key)
        if entry is None or entry.get("status") != "done":
            return False
        hashes = entry.get("sha256", {})
        for path in self.result_paths(key):
            if not path.is_file() or hashes.get(path.suffix) != _sha256(path.read_bytes()):
                return False
        return True

    def is_settled(self, key: str, retry_failed: bool = False) -> bool:
        """Nothing left to run for `key`: done (`is_done`), or recorded as failed unless
        retry_failed."""
        failed = self.entries.get(key, {}).get("status") == "failed"
        return self.is_done(key) or (failed and not retry_failed)

    def write(self, result: Result) -> None:
        """Write one item's files atomically, then its index line."""
        hashes = {}
        if result.status == "done":
            for path, data in zip(
                self.result_paths(result.key),
                (result.record.encode(), result.arrays),
                strict=True,
            ):
                with atomic_path(path) as tmp:
                    tmp.write_bytes(data)
                hashes[path.suffix] = _sha256(data)
        entry = {
            "key": result.key,
            "status": result.status,
            "people": result.people,
            "reason": result.reason,
            "source": result.source,
            "frame": result.frame,
            "sha256": hashes,
        }
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.index_path, "a", encoding="utf-8") as index:
            index.write(json.dumps(entry) + "\n")
            index.flush()
            os.fsync(index.fileno())
        self.entries[result.key] = entry

    def write_summary(self, summary: dict) -> Path:
        path = self.out / "summary.json"
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(summary, indent=1))
        return path


def pack_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    """The .npz bytes of `arrays` (uncompressed, readable with numpy alone)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def read_results(out: str | os.PathLike) -> Iterator[tuple[str, dict, dict[str, np.ndarray]]]:
    """(key, JSON record, arrays) of every item the index of `out` holds as done, in index
    order, each checked against its hashes."""
    store = Store(out)
    if not store.index_path.is_file():
        raise OpenHMRError(f"{out}: no index.jsonl (not an openhmr batch output folder)")
    for key, entry in store.entries.items():
        if entry.get("status") != "done":
            continue
        if not store.is_done(key):
            raise OpenHMRError(f"{out}: the result files of {key!r} do not match the index")
        json_path, npz_path = store.result_paths(key)
        with np.load(npz_path) as data:
            arrays = {name: data[name] for name in data.files}
        yield key, json.loads(json_path.read_text()), arrays


def _read_index(path: Path) -> Iterator[tuple[str, dict]]:
    """The index's entries; the last one for a key wins; a torn last line (a killed driver)
    is ignored."""
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
            yield entry["key"], entry


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
