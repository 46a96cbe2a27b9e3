"""The page's video path: an uploaded clip checked from its header (`read_clip`), then the
tracked pipeline of ``openhmr demo VIDEO --track`` (`openhmr.video.pipeline.run_tracked`, the
same code) run on it (`track_clip`), its outputs as the page offers them (`ClipResult`).

Limits (a request holds the one model while it runs; on 2 CPU cores a 640x360 clip with one
person takes about 0.2 s a frame): at most `MAX_CLIP_FRAMES` frames of at most
`MAX_CLIP_MEGAPIXELS` each, at a frame rate within `FRAME_RATES`.  Every bad clip raises
`OpenHMRError` with a message written for the page, before the model runs where the header
tells (a clip whose header hides its length is stopped at the limit).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from openhmr.errors import OpenHMRError
from openhmr.video.pipeline import Report, quiet_stderr, run_tracked
from openhmr.web.upload import file_stem

MAX_CLIP_FRAMES = 300  # 10 s at 30 frames/s: about a minute here
MAX_CLIP_MEGAPIXELS = 2.1  # 1920x1080
FRAME_RATES = (1.0, 1000.0)  # frames/s accepted from a header
MIN_TRACK_FRAMES = 5  # a person detected in fewer frames is not kept (as `demo --track`)
CLIP_KINDS = "MP4, WebM, MOV, MKV or AVI"
CONTAINERS = {b"RIFF": "AVI", b"\x1aE\xdf\xa3": "Matroska/WebM", b"OggS": "Ogg"}


@dataclass(frozen=True)
class ClipHeader:
    """What a clip's header says: fps (frames/s), frames (None when it does not say), width
    and height (pixels, of the first frame)."""

    fps: float
    frames: int | None
    width: int
    height: int


@dataclass(frozen=True)
class ClipResult:
    """One clip's results.  video: the smoothed bodies over the frames with track ids
    (``<stem>_tracked.webm``, VP8, plays in browsers); glb: every track animated
    (``<stem>_tracks.glb``); files: the glb, then per track ``<stem>_track<id>.npz`` and
    ``.bvh``; record: {name, frames, fps, width, height, tracks: [{id, first_frame,
    last_frame, observed_frames}]}."""

    tracks: int
    frames: int
    video: Path
    glb: Path
    files: list[Path]
    record: dict
    seconds: float = 0.0
    message: str = ""


def read_clip(path: str | os.PathLike, name: str | None = None) -> ClipHeader:
    """Check an uploaded clip from its header and first frame (name: the user's file name,
    for the messages); raises `OpenHMRError` for an empty file, a photo, a file OpenCV cannot
    open or decode (not a video, a missing codec), a frame rate outside `FRAME_RATES`, frames
    over `MAX_CLIP_MEGAPIXELS` or more than `MAX_CLIP_FRAMES` frames."""
    path = Path(path)
    label = name or path.name
    if not path.is_file() or path.stat().st_size == 0:
        raise OpenHMRError(f"{label}: the file is empty (expected a {CLIP_KINDS} video)")
    with quiet_stderr():  # FFmpeg logs its complaints about a broken file on fd 2
        capture = cv2.VideoCapture(str(path))
        try:
            readable = capture.isOpened() and capture.grab()
            several = readable and capture.grab()  # FFmpeg reads a photo as one frame
            fps = capture.get(cv2.CAP_PROP_FPS)
            count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
            width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        finally:
            capture.release()
    if not several and _is_photo(path):
        raise OpenHMRError(f"{label} is a photo, not a video: use the Photo tab")
    if not readable:
        raise OpenHMRError(_unreadable(path, label))
    low, high = FRAME_RATES
    if not (math.isfinite(fps) and low <= fps <= high):
        raise OpenHMRError(
            f"{label}: its header gives a frame rate of {fps:.3g} frames/s; expected "
            f"{low:g} to {high:g} (re-encode the video)"
        )
    if width * height > MAX_CLIP_MEGAPIXELS * 1e6:
        raise OpenHMRError(
            f"{label} has frames of {width}x{height} pixels; the page takes up to "
            f"{MAX_CLIP_MEGAPIXELS:g} megapixels (1920x1080): scale the video down first"
        )
    frames = int(count) if 0 < count < 2**31 else None
    if frames is not None and frames > MAX_CLIP_FRAMES:
        raise OpenHMRError(too_long(label, frames, fps))
    return ClipHeader(float(fps), frames, width, height)


def too_long(label: str, frames: int, fps: float) -> str:
    return (
        f"{label} has {frames} frames ({frames / fps:.1f} s); the page takes up to "
        f"{MAX_CLIP_FRAMES} frames ({MAX_CLIP_FRAMES / fps:.1f} s at its {fps:g} frames/s): "
        "cut it shorter, or run openhmr demo VIDEO --track"
    )


def _is_photo(path: Path) -> bool:
    """Whether Pillow reads the file as a still image (not an animated GIF, say)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return getattr(image, "n_frames", 1) == 1
    except Exception:  # not an image at all: Pillow has many ways of saying so
        return False


def _unreadable(path: Path, label: str) -> str:
    with open(path, "rb") as file:
        head = file.read(12)
    container = "MP4/MOV" if head[4:8] == b"ftyp" else CONTAINERS.get(head[:4])
    if container is None:
        return f"{label} is not a video this page can read (expected a {CLIP_KINDS} video)"
    return (
        f"{label}: an {container} file whose video cannot be decoded here (a codec this "
        "server's FFmpeg lacks, or a damaged file): re-encode it, as H.264 MP4 or VP9 WebM say"
    )


def track_clip(
    predictor, path: Path, label: str, folder: Path, report: Report | None = None
) -> ClipResult:
    """The tracked pipeline on a clip checked by `read_clip`, its files in `folder` (named
    after label). predictor: a `Predictor` (its detector already tiled, as for `demo
    --track`); raises `OpenHMRError` naming label when the clip fails or nobody is tracked."""
    header = read_clip(path, label)
    source = folder / "input" / f"{file_stem(label, 'clip')}{Path(path).suffix.lower()}"
    source.parent.mkdir(parents=True)
    os.symlink(os.path.abspath(path), source)  # the outputs take its (safe) name
    try:
        summary = run_tracked(
            predictor,
            source,
            folder,
            min_frames=MIN_TRACK_FRAMES,
            progress=False,
            video_format="webm",
            max_frames=MAX_CLIP_FRAMES,
            report=report,
        )
    except OpenHMRError as err:  # its messages name the file as the user knows it
        raise OpenHMRError(str(err).replace(str(source), label)) from None
    finally:
        source.unlink()
        source.parent.rmdir()
    if summary.tracks == 0:
        raise OpenHMRError(
            f"No person tracked in {label}: {summary.people} detections in {summary.images} "
            f"frames, and a person needs {MIN_TRACK_FRAMES} frames. Try a lower detection "
            "threshold."
        )
    video, *tracks, glb = summary.outputs
    record = {"name": label, "frames": summary.images, "fps": header.fps,
              "width": header.width, "height": header.height,
              "tracks": [_track_record(f) for f in tracks if f.suffix == ".npz"]}  # fmt: skip
    return ClipResult(summary.tracks, summary.images, video, glb, [glb, *tracks], record)


def _track_record(npz: Path) -> dict:
    """A track's summary from its .npz: id, first_frame, last_frame, observed_frames."""
    with np.load(npz) as data:
        frames, observed = data["frame"], data["observed"]
        return {"id": int(data["id"]), "first_frame": int(frames[0]),
                "last_frame": int(frames[-1]), "observed_frames": int(observed.sum())}  # fmt: skip
