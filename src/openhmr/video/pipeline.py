"""`openhmr demo VIDEO|FOLDER --track`: per-frame people, tracked online, smoothed per track.

Writes into `out`: ``<stem>_tracked.mp4`` (the smoothed bodies overlaid in a second pass
over the frames, each labelled with its track id; mp4v through OpenCV, or VP8 in
``<stem>_tracked.webm`` for a browser), and per track
``<stem>_track<id>.npz`` and ``<stem>_track<id>.bvh`` (see `openhmr.video.outputs`), and
all tracks animated in one ``<stem>_tracks.glb`` (`openhmr.video.gltf`), and on request the
same as ``<stem>_tracks.fbx`` through Blender (`openhmr.video.fbx`). A video is written
under a temporary name and renamed at the end; on an error nothing is left behind.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np

from openhmr.errors import OpenHMRError
from openhmr.video.appearance import appearance
from openhmr.video.smooth import TrackSeries, collect_tracks, smooth_track
from openhmr.video.track import Tracker, TrackerConfig, in_frame, xywh_to_xyxy

# the overlay video's container -> OpenCV fourcc: mp4v plays in desktop players, VP8 in WebM
# in every browser (OpenCV's FFmpeg has no H.264 encoder)
VIDEO_CODECS = {"mp4": "mp4v", "webm": "VP80"}
Report = Callable[[str, int, int | None], None]


@dataclass
class TrackedSummary:
    """frames processed, people (detections), tracks written, seconds, outputs."""

    images: int = 0
    people: int = 0
    tracks: int = 0
    seconds: float = 0.0
    outputs: list[Path] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    unit: str = "frames"


@dataclass(frozen=True)
class FrameDetections:
    """One frame's people as the tracker and smoother take them (see `FrameEstimates`);
    appearance: (N, D) colour histograms (`openhmr.video.appearance`), None without the
    frame."""

    boxes: np.ndarray
    keypoints: np.ndarray
    pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    camera: np.ndarray
    appearance: np.ndarray | None = None


DETECT_EVERY = 1  # run_tracked's default: the detector on every n-th frame (docs/video.md)
RELOOK = True  # run_tracked's default: recent tracks the detector missed are read again
CLOSER = 8  # run_tracked's default: MultiPose on crops about everyone every n-th frame
# (`openhmr.video.closer.CLOSER_EVERY`; crowded people and missed tracks: every frame)


def check_fps(fps: float, source: str) -> float:
    if not (isinstance(fps, int | float) and math.isfinite(fps) and fps > 0):
        raise OpenHMRError(f"{source}: expected a frame rate > 0, got {fps}; give --fps")
    return float(fps)


def open_frames(path: Path, fps: float | None) -> tuple[Iterator[np.ndarray], float, int | None]:
    """RGB frames of a video or a folder of images (by name), the frame rate and the count
    (None if unknown). A folder's rate is `fps` (default 30); a video's is its own unless
    `fps` is given."""
    from openhmr.inference.demo import list_images

    if path.is_dir():
        files = list_images(path)
        rate = check_fps(30.0 if fps is None else fps, "--fps")

        def images() -> Iterator[np.ndarray]:
            for file in files:
                image = cv2.imread(str(file), cv2.IMREAD_COLOR)
                if image is None:
                    raise OpenHMRError(f"{file}: not an image OpenCV can read")
                yield cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

        return images(), rate, len(files)
    from openhmr.inference.video import open_video

    if path.stat().st_size == 0:
        raise OpenHMRError(f"{path}: not a video OpenCV can read (the file is empty)")
    with quiet_stderr():  # FFmpeg logs its complaints about a broken file on fd 2
        capture = open_video(path)
    rate = check_fps(capture.get(cv2.CAP_PROP_FPS) if fps is None else fps, str(path))
    count = capture.get(cv2.CAP_PROP_FRAME_COUNT)  # a still image opened by FFmpeg: -2**63
    total = int(count) if 0 < count < 2**31 else None

    def frames() -> Iterator[np.ndarray]:
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    return
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            capture.release()

    return frames(), rate, total


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration (C libraries' logs)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def draw_ids(image: np.ndarray, boxes: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Each box (N, 4 x0, y0, x1, y1) outlined with its id above it, in a colour per id."""
    out = np.ascontiguousarray(image)
    scale = max(0.4, max(image.shape[:2]) / 900)
    for box, track in zip(boxes.round().astype(int), ids, strict=True):
        hue = int(track) * 47 % 180
        color = cv2.cvtColor(np.uint8([[[hue, 200, 255]]]), cv2.COLOR_HSV2RGB)[0, 0].tolist()
        cv2.rectangle(out, tuple(box[:2]), tuple(box[2:]), color, max(1, round(2 * scale)))
        origin = (int(box[0]), max(int(box[1]) - 4, 12))
        cv2.putText(out, f"id {track}", origin, cv2.FONT_HERSHEY_SIMPLEX, scale, color, 2)
    return out


def detect_and_track(
    predictor,
    images: Iterable[np.ndarray],
    tracker: TrackerConfig | None = None,
    detect_every: int = DETECT_EVERY,
    relook: bool = RELOOK,
    closer: int = CLOSER,
) -> Iterator[tuple[FrameDetections, np.ndarray, list]]:
    """The per-frame pass of `run_tracked`: for each RGB image (H, W, 3) in order, everyone
    the predictor's detector finds, their bodies (`FrameDetections`), their track ids (N,)
    from one online `Tracker` (with each person's appearance in the frame), and the
    predictor's `Person`s. detect_every: run the detector on every n-th frame only (the
    first, n + 1-th, ...); the frames between read each person at their track's predicted
    box (`Tracker.carried_boxes`: the tracks matched in the frame before), so a new person
    is found up to n - 1 frames late. relook: where a recent track has no detection, read
    its expected box again with MoveNet Thunder (`openhmr.video.relook.Relook`). closer:
    read MultiPose again on crops about each detection every n-th frame, and every frame
    about each detection whose box touches another's and each recent track with no
    detection (`openhmr.video.closer.CloserLook`; 0: never), for people behind others;
    before the relook."""
    from openhmr.inference.predictor import as_detections
    from openhmr.video.closer import CloserLook
    from openhmr.video.relook import MAX_MISSED, Relook

    if detect_every < 1:
        raise OpenHMRError(f"detect every: expected a whole number ≥ 1, got {detect_every}")
    if closer < 0:
        raise OpenHMRError(f"closer: expected a whole number ≥ 0, got {closer}")
    online = Tracker(tracker)
    look = CloserLook(every=closer) if closer else None
    again = Relook() if relook else None
    for f, image in enumerate(images):
        height, width = image.shape[:2]
        if f % detect_every == 0:
            found = as_detections(predictor.detect(image), width, height)
            expected = online.expected_boxes(MAX_MISSED)
            if look is not None:
                found = look(image, found, expected, f)
            if again is not None:
                found = again(image, found, expected)
        else:
            found = as_detections(in_frame(online.carried_boxes(), width, height), width, height)
        people = predictor.predict_many([image], [found])[0] if len(found) else []
        frame = _frame_detections(people, image)
        yield frame, online.track(frame), people


def smoothed_tracks(
    estimates, ids: list[np.ndarray], sigma: float = 2.0, min_frames: int = 5
) -> list[tuple[TrackSeries, TrackSeries]]:
    """Per track with at least min_frames detections: (per-frame series, smoothed series) as
    `run_tracked` writes them (`collect_tracks`, `smooth_track` with sigma in frames)."""
    return [
        (raw, smooth_track(raw, sigma))
        for raw in collect_tracks(estimates, ids)
        if raw.observed.sum() >= min_frames
    ]


def _at_most(
    frames: Iterable[np.ndarray], max_frames: int | None, path: Path
) -> Iterator[np.ndarray]:
    for count, image in enumerate(frames):
        if max_frames is not None and count >= max_frames:
            raise OpenHMRError(f"{path}: longer than {max_frames} frames, the most taken")
        yield image


def run_tracked(
    predictor,
    path: Path,
    out: Path,
    fps: float | None = None,
    sigma: float = 2.0,
    min_frames: int = 5,
    tracker: TrackerConfig | None = None,
    progress: bool = True,
    video_format: str = "mp4",
    max_frames: int | None = None,
    report: Report | None = None,
    fbx_python: str | None = None,
    detect_every: int = DETECT_EVERY,
    relook: bool = RELOOK,
    closer: int = CLOSER,
) -> TrackedSummary:
    """Detect, predict, track, smooth and write (module docstring). predictor: an
    `openhmr.inference.predictor.Predictor`; sigma: smoothing in frames; tracks with fewer
    than min_frames detections are not written; video_format: "mp4" or "webm" (see
    `VIDEO_CODECS`); max_frames: a longer input is refused (`OpenHMRError`) when its frame
    max_frames + 1 is reached; report(stage, frames done, total or None) after every frame,
    stage "tracking" (first pass) then "drawing" (the overlay); fbx_python: a Python with bpy
    (`openhmr.video.fbx.blender_python`) to also write ``<stem>_tracks.fbx``, or None;
    detect_every: the detector runs on every n-th frame; relook: tracks the detector missed
    are read again; closer: crops about the people found are read again every n-th frame
    (all three `detect_and_track`)."""
    from tqdm import tqdm

    from openhmr.video.gltf import write_animated_glb
    from openhmr.video.outputs import write_track_files

    if video_format not in VIDEO_CODECS:
        raise OpenHMRError(
            f"video format: expected one of {sorted(VIDEO_CODECS)}, got {video_format!r}"
        )
    frames, rate, total = open_frames(path, fps)
    summary, start = TrackedSummary(), time.perf_counter()
    video_path = out / f"{path.stem}_tracked.{video_format}"
    out.mkdir(parents=True, exist_ok=True)
    partial = out / f".{path.stem}_tracked.partial.{video_format}"  # the container follows it
    estimates: list[FrameDetections] = []
    ids: list[np.ndarray] = []
    writer = None
    camera = None  # focal length, principal point of the first person found
    faces = predictor.faces
    bar = tqdm(total=total, unit="frame", disable=not progress, file=sys.stderr)
    try:
        for frame, frame_ids, people in detect_and_track(
            predictor, _at_most(frames, max_frames, path), tracker, detect_every, relook, closer
        ):
            estimates.append(frame)
            ids.append(frame_ids)
            if people and camera is None:
                camera = (people[0].focal_length, np.asarray(people[0].principal_point))
            summary.images += 1
            summary.people += len(people)
            bar.update(1)
            if report is not None:
                report("tracking", summary.images, total)
        if not estimates:
            raise OpenHMRError(f"{path}: no readable frame")
        body = predictor.model.body_model
        written: list[Path] = []
        smoothed = []
        try:
            for raw, smooth in smoothed_tracks(estimates, ids, sigma, min_frames):
                smoothed.append(smooth)
                written += write_track_files(body, out, path.stem, raw, smooth, rate)
                summary.tracks += 1
            if smoothed:
                glb = out / f"{path.stem}_tracks.glb"
                written.append(glb)
                write_animated_glb(glb, body, smoothed, rate)
                if fbx_python is not None:
                    from openhmr.video.fbx import write_fbx

                    written.append(out / f"{path.stem}_tracks.fbx")
                    last_frame = max(int(t.frames[-1]) for t in smoothed)
                    write_fbx(written[-1], glb, rate, last_frame, fbx_python)
            # second pass: the smoothed bodies over the frames, each with its id
            bar.reset(total=len(estimates))
            frames, _, _ = open_frames(path, rate)
            for f, image in enumerate(frames):
                if f >= len(estimates):
                    break
                overlay = smoothed_overlay(image, f, smoothed, body, faces, camera)
                if writer is None:
                    writer = _open_writer(partial, rate, image.shape[1], image.shape[0])
                writer.write(cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
                bar.update(1)
                if report is not None:
                    report("drawing", f + 1, len(estimates))
            writer.release()
            writer = None
        except BaseException:
            for file in written:
                file.unlink(missing_ok=True)
            raise
        os.replace(partial, video_path)
        summary.outputs = [video_path, *written]
    finally:
        bar.close()
        if writer is not None:
            writer.release()
        partial.unlink(missing_ok=True)
    summary.seconds = time.perf_counter() - start
    return summary


def smoothed_overlay(image, frame, tracks, body, faces, camera) -> np.ndarray:
    """The tracks present at `frame` drawn over image (their smoothed bodies, coloured and
    labelled by id); the image unchanged when none is or no camera is known."""
    import torch

    from openhmr.inference.visualize import overlay_image

    present = [t for t in tracks if t.frames[0] <= frame <= t.frames[-1]]
    if not present or camera is None:
        return image.copy()
    rows = [frame - int(t.frames[0]) for t in present]
    pose = np.stack([t.pose[r] for t, r in zip(present, rows, strict=True)])
    betas = np.stack([t.betas[r] for t, r in zip(present, rows, strict=True)])
    transl = np.stack([t.transl[r] for t, r in zip(present, rows, strict=True)])
    with torch.no_grad():
        vertices = (
            body(
                torch.as_tensor(pose, dtype=torch.float32),
                torch.as_tensor(betas, dtype=torch.float32),
                torch.as_tensor(transl, dtype=torch.float32),
            )
            .vertices.double()
            .numpy()
        )
    focal, principal = camera
    people = [
        SimpleNamespace(vertices=v, focal_length=focal, principal_point=principal) for v in vertices
    ]
    overlay = overlay_image(image, people, faces, keypoints=False)
    boxes = np.stack([t.boxes[r] for t, r in zip(present, rows, strict=True)])
    return draw_ids(overlay, boxes, np.array([t.id for t in present]))


def _frame_detections(people, image: np.ndarray | None = None) -> FrameDetections:
    def stack(name: str, shape: tuple[int, ...]) -> np.ndarray:
        values = [np.asarray(getattr(p, name), dtype=np.float64) for p in people]
        return np.stack(values) if values else np.zeros((0, *shape))

    keypoints = stack("keypoints2d", (19, 3))
    return FrameDetections(
        xywh_to_xyxy(stack("bbox", (4,))), keypoints,
        stack("pose", (24, 3)), stack("betas", (10,)), stack("translation", (3,)),
        stack("camera", (3,)), None if image is None else appearance(image, keypoints),
    )  # fmt: skip


def _open_writer(path: Path, fps: float, width: int, height: int) -> cv2.VideoWriter:
    codec = VIDEO_CODECS[path.suffix.lstrip(".")]
    with quiet_stderr():  # FFmpeg notes that WebM stores no fourcc
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    if not writer.isOpened():
        raise OpenHMRError(f"{path}: OpenCV cannot write a {codec} video here")
    return writer
