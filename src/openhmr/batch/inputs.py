"""What a batch run works on: every image and every video frame under the inputs, each an
`Item` with a stable key (its output name) that resuming and the index go by."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2

from openhmr.errors import OpenHMRError
from openhmr.inference.demo import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

LIST_EXTENSIONS = (".txt", ".lst")


@dataclass(frozen=True)
class Item:
    """One unit of work.  key: its output name ("folder/photo" or "clip/frame_000012"),
    unique in a run; path: the image or video file; frame: the frame index in a video, else
    -1."""

    key: str
    path: str
    frame: int = -1


def list_inputs(inputs: Sequence[str | os.PathLike]) -> list[Item]:
    """Items of images and video frames under `inputs`: image or video files, folders
    (searched recursively, keys relative to the folder) and text files listing one path a
    line (relative paths against the list's folder; blank and '#' lines skipped).  An
    unreadable video still gives one item, whose failure the run records.  Keys that would
    collide get the source's position as a prefix."""
    items: list[Item] = []
    for index, given in enumerate(inputs):
        path = Path(given)
        if not path.exists():
            raise OpenHMRError(f"{path}: no such file or folder")
        found = list(_expand(path, index))
        if not found:
            raise OpenHMRError(
                f"{path}: no images or videos (expected {IMAGE_EXTENSIONS + VIDEO_EXTENSIONS})"
            )
        items.extend(found)
    keys = [item.key for item in items]
    if len(set(keys)) != len(keys):
        raise OpenHMRError(
            "two inputs give the same output name (e.g. photo.jpg and photo.png in one folder, "
            "or the same file twice): rename one"
        )
    return items


def _expand(path: Path, index: int) -> Iterable[Item]:
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            if file.suffix.lower() in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS:
                yield from _file_items(file, file.relative_to(path).with_suffix("").as_posix())
    elif path.suffix.lower() in LIST_EXTENSIONS:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if Path(line).suffix.lower() not in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS:
                raise OpenHMRError(
                    f"{path}: line {number}: expected an image or video path, got {line!r}"
                )
            listed = Path(line) if Path(line).is_absolute() else path.parent / line
            yield from _file_items(listed, Path(line).with_suffix("").as_posix().lstrip("/"))
    elif path.suffix.lower() in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS:
        yield from _file_items(path, path.stem)
    else:
        raise OpenHMRError(f"{path}: expected an image, a video, a folder or a .txt list of paths")


def _file_items(path: Path, key: str) -> Iterable[Item]:
    key = key.replace("..", "__")
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        yield Item(key, str(path))
        return
    count = video_frame_count(path)
    if count == 0:
        yield Item(key, str(path), 0)  # fails in the run, with the reason recorded
    for frame in range(count):
        yield Item(f"{key}/frame_{frame:06d}", str(path), frame)


def video_frame_count(path: Path) -> int:
    """Frames a video decodes to (counted by decoding: containers' counts are estimates)."""
    capture = cv2.VideoCapture(str(path))
    count = 0
    try:
        while capture.isOpened() and capture.grab():
            count += 1
    finally:
        capture.release()
    return count
