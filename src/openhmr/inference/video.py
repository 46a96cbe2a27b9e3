"""Video in, video out: every frame's people overlaid (``<name>_overlay.mp4``, MPEG-4 Part 2
'mp4v' through OpenCV) and their parameters in ``<name>_params.npz``, one row per person and
frame: frame (P,), person (P,) index within its frame, bbox (P, 4), camera (P, 3), translation
(P, 3), focal_length (P,), pose (P, 24, 3), betas (P, 10), keypoints2d (P, 19, 3),
keypoints3d (P, 19, 3); plus fps, frames (count), width, height."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from openhmr.errors import OpenHMRError
from openhmr.files import write_npz
from openhmr.inference.demo import DemoSummary
from openhmr.inference.predictor import Person, Predictor, as_detections
from openhmr.inference.timing import StageTimer, maybe_stage
from openhmr.inference.visualize import overlay_image

PARAMETERS = ("bbox", "camera", "translation", "pose", "betas", "keypoints2d", "keypoints3d")


def open_video(path: Path) -> cv2.VideoCapture:
    """An opened capture whose first frame is readable, or an error."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened() or not capture.grab():
        capture.release()
        raise OpenHMRError(f"{path}: not a video OpenCV can read")
    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return capture


def run_video(
    predictor: Predictor,
    path: Path,
    out: Path,
    boxes: np.ndarray | None = None,
    progress: bool = True,
    timer: StageTimer | None = None,
) -> DemoSummary:
    """Process every frame (frames without a person are kept as they are)."""
    from tqdm import tqdm

    capture = open_video(path)
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    summary, start = DemoSummary(unit="frames"), time.perf_counter()
    video_path = out / f"{path.stem}_overlay.mp4"
    partial = out / f".{path.stem}_overlay.partial.mp4"  # the container follows the suffix
    out.mkdir(parents=True, exist_ok=True)
    writer, rows = None, []
    faces = predictor.faces
    bar = tqdm(total=total, unit="frame", disable=not progress, file=sys.stderr)
    try:
        frame_index = 0
        while True:
            with maybe_stage(timer, "decode"):
                ok, frame = capture.read()
            if not ok:
                break
            image = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            found = predictor.detect(image) if boxes is None else boxes
            found = as_detections(found, image.shape[1], image.shape[0])
            people = predictor.predict_many([image], [found])[0] if len(found) else []
            with maybe_stage(timer, "render"):
                overlay = overlay_image(image, people, faces)
            with maybe_stage(timer, "write"):
                if writer is None:
                    writer = _open_writer(partial, fps, image.shape[1], image.shape[0])
                writer.write(cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
            rows += [(frame_index, i, person) for i, person in enumerate(people)]
            summary.images += 1
            summary.people += len(people)
            frame_index += 1
            bar.update(1)
        if writer is None:
            raise OpenHMRError(f"{path}: the video has no readable frame")
        writer.release()
        writer = None
        os.replace(partial, video_path)
    finally:
        bar.close()
        capture.release()
        if writer is not None:
            writer.release()
        partial.unlink(missing_ok=True)
    params_path = out / f"{path.stem}_params.npz"
    write_npz(params_path, _parameter_arrays(rows, fps, summary.images, image.shape[:2]))
    summary.outputs = [video_path, params_path]
    summary.seconds = time.perf_counter() - start
    return summary


def _open_writer(path: Path, fps: float, width: int, height: int) -> cv2.VideoWriter:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise OpenHMRError(f"{path}: OpenCV cannot write an mp4v video here")
    return writer


def _parameter_arrays(
    rows: list[tuple[int, int, Person]], fps: float, frames: int, size: tuple[int, int]
) -> dict[str, np.ndarray]:
    people = [person for _, _, person in rows]
    arrays = {
        "frame": np.array([r[0] for r in rows], dtype=np.int64),
        "person": np.array([r[1] for r in rows], dtype=np.int64),
        "focal_length": np.array([p.focal_length for p in people], dtype=np.float64),
        "fps": np.float64(fps),
        "frames": np.int64(frames),
        "height": np.int64(size[0]),
        "width": np.int64(size[1]),
    }
    shapes = {"bbox": (4,), "camera": (3,), "translation": (3,), "pose": (24, 3)}
    shapes |= {"betas": (10,), "keypoints2d": (19, 3), "keypoints3d": (19, 3)}
    for name in PARAMETERS:
        values = [np.asarray(getattr(p, name), dtype=np.float64) for p in people]
        arrays[name] = np.stack(values) if values else np.zeros((0, *shapes[name]))
    return arrays
