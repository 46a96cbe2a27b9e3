"""`openhmr demo`: what the command does once its arguments are parsed (cli/demo.py stays thin)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from openhmr.errors import OpenHMRError
from openhmr.inference.demo import DemoSummary, input_kind, list_images, run_images
from openhmr.inference.export import MESH_WRITERS
from openhmr.inference.predictor import ASSETS, Predictor

EXAMPLE_IMAGE = ASSETS / "astronaut.jpg"
EXAMPLE_BOX = (40.0, 20.0, 430.0, 492.0)  # its person, x, y, w, h pixels (of 512 x 512)


def parse_box(text: str) -> np.ndarray:
    """Parse "x,y,w,h" -> (1, 4) float64."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4 or values[2] <= 0 or values[3] <= 0:
        raise OpenHMRError(f"--bbox: expected x,y,w,h in pixels with w, h > 0, got {text!r}")
    return np.array([values])


def parse_formats(text: str) -> tuple[str, ...]:
    """Parse "obj,ply" -> ("obj", "ply"), each one of the known mesh formats."""
    formats = tuple(dict.fromkeys(v.strip().lower() for v in text.split(",") if v.strip()))
    unknown = [f for f in formats if f not in MESH_WRITERS]
    if unknown or not formats:
        raise OpenHMRError(f"--formats: expected some of {sorted(MESH_WRITERS)}, got {text!r}")
    return formats


def run_demo_command(
    input_path: str | None,
    checkpoint: str | None,
    body_model: str | None,
    bbox: str | Sequence[str] | None,
    keypoints: str | None,
    out: Path,
    device: str,
    batch_size: int,
    formats: str,
    focal_length: float | None,
    progress: bool = True,
    refine: bool = False,
    orientations: int | None = None,
    refine_source: str | None = None,
    precision: str = "auto",
    views: str | None = None,
) -> DemoSummary:
    """Run the demo on an image, a folder of images or a video; returns the summary (raises
    `OpenHMRError` when nothing could be processed).  refine: fit each person to 2D keypoints
    (the OpenPose file's with --keypoints, else the default keypoint source, or the built-in
    source `refine_source` names: `openhmr.fit.sources.SOURCE_NAMES`); orientations:
    how many ways up a MoveNet encoder reads each crop (`HMR.set_orientations`; None: the
    checkpoint's); views: what the regressor reads and averages (`openhmr.model.views`;
    None: the checkpoint's)."""
    from openhmr.inference.openpose import people_from_openpose

    mesh_formats = parse_formats(formats)
    if bbox and keypoints:
        raise OpenHMRError("give --bbox or --keypoints, not both")
    bbox = [bbox] if isinstance(bbox, str) else list(bbox or [])
    boxes = np.concatenate([parse_box(text) for text in bbox]) if bbox else None
    path = EXAMPLE_IMAGE if input_path is None else Path(input_path)
    kind = input_kind(path)
    people_keypoints = None
    source = None
    if refine_source is not None:
        from openhmr.fit.sources import keypoint_source

        if not refine:
            raise OpenHMRError("--refine-source applies with --refine")
        source = keypoint_source(refine_source)
    if keypoints:
        if kind != "image":
            raise OpenHMRError("--keypoints applies to a single image")
        boxes, people_keypoints = people_from_openpose(keypoints)
    predictor = Predictor.from_checkpoint(
        checkpoint or "default",
        body_model=body_model,
        device=device,
        batch_size=batch_size,
        focal_length=focal_length,
        refine=refine,
        keypoint_source=source,
        orientations=orientations,
        views=views,
        precision=precision,
    )
    if kind == "video":
        from openhmr.inference.video import run_video

        return run_video(predictor, path, out, boxes, progress=progress)
    paths = list_images(path) if kind == "folder" else [path]
    single = kind == "image"
    summary = run_images(
        predictor,
        paths,
        out,
        boxes,
        mesh_formats,
        progress=progress and not single,
        strict=single,
        keypoints=people_keypoints if refine else None,
    )
    if not summary.images:
        raise OpenHMRError(f"{path}: none of the {len(paths)} images could be processed")
    return summary


def counted(count: int, plural: str) -> str:
    """ "1 person", "2 people", "1 image", "3 images": a count with its noun."""
    singular = {"people": "person"}.get(plural, plural.removesuffix("s"))
    return f"{count} {singular if count == 1 else plural}"


def summary_line(summary: DemoSummary, out: Path, unit: str | None = None) -> str:
    """One line: counts (of images, or of a video's frames), failures, speed and where the
    outputs are."""
    unit = unit or summary.unit
    rate = summary.images / summary.seconds if summary.seconds > 0 else 0.0
    failed = f", {len(summary.failures)} failed" if summary.failures else ""
    return (
        f"{counted(summary.images, unit)}, {counted(summary.people, 'people')}{failed}; "
        f"{summary.seconds:.1f} s ({rate:.2f} {unit}/s); outputs in {out}"
    )


def failure_lines(summary: DemoSummary) -> Sequence[str]:
    return [f"  {name}: {message}" for name, message in summary.failures]
