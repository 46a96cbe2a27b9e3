"""The demo's outputs for images and folders of images (``openhmr demo``).

Per image ``<name>`` under the output folder, each written atomically:
``<name>_overlay.png`` (meshes + 2D keypoints over the image), ``<name>_side.png`` (side view),
``<name>_<i>.obj`` (and ``.ply`` / ``.glb``) per person, ``<name>.json`` (all parameters and
the camera).  Mesh files hold the camera-frame vertices turned π about x (y up, +z towards the
viewer, as mesh viewers expect): ``to_y_up(person.vertices)``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from openhmr.errors import OpenHMRError
from openhmr.files import atomic_path
from openhmr.inference.detect import Detections
from openhmr.inference.export import MESH_WRITERS, to_y_up
from openhmr.inference.predictor import Person, Predictor, as_detections, check_image, load_image
from openhmr.inference.timing import StageTimer, maybe_stage
from openhmr.inference.visualize import overlay_image, side_view_image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


@dataclass
class DemoSummary:
    """images: processed (the frames of a video); people: found in them; failures: (name,
    message) per failed image; seconds: wall time; outputs: files written; unit: what one of
    `images` is ("images" or "frames"), for the summary line."""

    images: int = 0
    people: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    outputs: list[Path] = field(default_factory=list)
    unit: str = "images"


def input_kind(path: Path) -> str:
    """The input's kind: "folder", "video" or "image" (by suffix); an error if missing."""
    if path.is_dir():
        return "folder"
    if not path.exists():
        raise OpenHMRError(f"{path}: no such file or folder")
    return "video" if path.suffix.lower() in VIDEO_EXTENSIONS else "image"


def list_images(folder: Path) -> list[Path]:
    """The folder's image files (by suffix, not recursive), sorted by name."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise OpenHMRError(f"{folder}: no images in the folder (expected {IMAGE_EXTENSIONS})")
    return files


def write_png(path: Path, image: np.ndarray) -> None:
    """RGB uint8 (H, W, 3) -> PNG, atomically."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OpenHMRError(f"{path}: PNG encoding failed")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())


def write_json(path: Path, record: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1))


def image_record(name: str, image_size: tuple[int, int], people: Sequence[Person]) -> dict:
    """The JSON record of one image: size, camera and every person's parameters."""
    height, width = image_size
    first = people[0]
    return {
        "image": name,
        "width": width,
        "height": height,
        "camera": {
            "model": "pinhole, x right, y down, looking down +z; pixel j covers [j, j + 1)",
            "focal_length": first.focal_length,
            "principal_point": np.asarray(first.principal_point).tolist(),
        },
        "keypoint_order": "cocoplus-19",
        "detected_keypoint_order": "coco-17 (nose, eyes, ears, shoulders, elbows, wrists, hips, "
        "knees, ankles; left before right)",
        "people": [person.to_dict() for person in people],
    }


def write_outputs(
    out: Path,
    name: str,
    image: np.ndarray,
    people: Sequence[Person],
    faces: np.ndarray,
    formats: Sequence[str] = ("obj",),
    timer: StageTimer | None = None,
    supersample: int = 1,
) -> list[Path]:
    """Render and write one image's outputs (see the module doc); returns the paths.
    supersample: 2 or more smooths the overlay's edges (4× the rendering time at 2)."""
    with maybe_stage(timer, "render"):
        overlay = overlay_image(image, people, faces, supersample=supersample)
        side = side_view_image(image.shape[:2], people, faces)
    paths = [out / f"{name}_overlay.png", out / f"{name}_side.png"]
    with maybe_stage(timer, "write"):
        write_png(paths[0], overlay)
        write_png(paths[1], side)
        for index, person in enumerate(people):
            vertices = to_y_up(person.vertices)
            for fmt in formats:
                paths.append(out / f"{name}_{index}.{fmt}")
                MESH_WRITERS[fmt](paths[-1], vertices, faces)
        paths.append(out / f"{name}.json")
        write_json(paths[-1], image_record(name, image.shape[:2], people))
    return paths


def output_names(paths: Sequence[Path]) -> list[str]:
    """Unique output stems: the file stem, with the suffix added where two stems collide."""
    stems = [p.stem for p in paths]
    return [
        f"{p.stem}_{p.suffix.lstrip('.')}" if stems.count(p.stem) > 1 else p.stem for p in paths
    ]


def run_images(
    predictor: Predictor,
    paths: Sequence[Path],
    out: Path,
    boxes: np.ndarray | None = None,
    formats: Sequence[str] = ("obj",),
    progress: bool = True,
    timer: StageTimer | None = None,
    images: Sequence[np.ndarray] | None = None,
    strict: bool = False,
    keypoints: np.ndarray | None = None,
) -> DemoSummary:
    """Predict and write outputs for each image; a failing image (unreadable, no person, ...)
    is recorded in the summary and the rest go on (strict: raise instead).  boxes: (N, 4)
    used for every image instead of detection; images: already decoded images (skip reading
    `paths`); keypoints: (N, K, 3) matching `boxes`, for a refining predictor."""
    from tqdm import tqdm

    summary = DemoSummary()
    start = time.perf_counter()
    names = output_names(paths)
    bar = tqdm(total=len(paths), unit="img", disable=not progress, file=sys.stderr)
    faces = predictor.faces
    for first in range(0, len(paths), predictor.batch_size):
        chunk = range(first, min(first + predictor.batch_size, len(paths)))
        ready: list[tuple[int, np.ndarray, np.ndarray]] = []
        for index in chunk:
            try:
                ready.append(
                    (index, *_prepare(predictor, paths[index], boxes, timer, images, index))
                )
            except OpenHMRError as err:
                if strict:
                    raise
                _fail(summary, bar, names[index], str(err))
        if ready:
            given = None if keypoints is None else [keypoints] * len(ready)
            people = predictor.predict_many([r[1] for r in ready], [r[2] for r in ready], given)
            for (index, image, _), found in zip(ready, people, strict=True):
                try:
                    summary.outputs += write_outputs(
                        out, names[index], image, found, faces, formats, timer
                    )
                    summary.images += 1
                    summary.people += len(found)
                except (OpenHMRError, OSError) as err:
                    if strict:
                        raise OpenHMRError(str(err)) from None
                    _fail(summary, bar, names[index], str(err))
        bar.update(len(chunk))
    bar.close()
    summary.seconds = time.perf_counter() - start
    return summary


def _prepare(
    predictor: Predictor,
    path: Path,
    boxes: np.ndarray | None,
    timer: StageTimer | None,
    images: Sequence[np.ndarray] | None,
    index: int,
) -> tuple[np.ndarray, Detections]:
    if images is None:
        with maybe_stage(timer, "decode"):
            image = load_image(path)
    else:
        image = check_image(images[index])
    found = predictor.detect(image) if boxes is None else boxes
    found = as_detections(found, image.shape[1], image.shape[0])
    if not len(found):
        raise OpenHMRError(
            f"{path}: no person found (pass --bbox x,y,w,h or --keypoints openpose.json)"
        )
    return image, found


def _fail(summary: DemoSummary, bar, name: str, message: str) -> None:
    summary.failures.append((name, message))
    bar.write(f"openhmr demo: {name}: {message}", file=sys.stderr)
