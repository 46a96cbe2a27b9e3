"""`openhmr demo VIDEO|FOLDER --track`: what the command does once its arguments are parsed."""

from __future__ import annotations

from pathlib import Path

from openhmr.errors import OpenHMRError
from openhmr.video.pipeline import TrackedSummary, open_frames, run_tracked
from openhmr.video.tiles import VIDEO_THRESHOLD, video_detector


def run_track_command(
    input_path: str | None,
    checkpoint: str | None,
    body_model: str | None,
    out: Path,
    device: str,
    batch_size: int,
    focal_length: float | None,
    fps: float | None = None,
    orientations: int | None = None,
    progress: bool = True,
    fbx: bool = False,
    blender_python: str | None = None,
    precision: str = "auto",
    closer: int | None = None,
    views: str | None = None,
) -> TrackedSummary:
    """Check the input (a video or a folder of frames; the frame rate) and, with fbx, find
    a Python with bpy (`openhmr.video.fbx.blender_python`, from blender_python if given), then
    load the predictor with the video detector (`openhmr.video.tiles.video_detector`) and run
    `run_tracked` (closer: its look closer every n-th frame; None: its default; views: the
    regressor's test-time views, None: one, `tracking_predictor`)."""
    from openhmr.inference.demo import input_kind

    if input_path is None:
        raise OpenHMRError("--track: expected a video or a folder of frames as INPUT")
    path = Path(input_path)
    if input_kind(path) == "image":
        raise OpenHMRError(f"--track: expected a video or a folder of frames, got image {path}")
    open_frames(path, fps)  # bad input fails before the model loads
    fbx_python = None
    if fbx:
        from openhmr.video.fbx import blender_python as find_blender_python

        fbx_python = find_blender_python(blender_python)
    predictor = tracking_predictor(
        checkpoint, body_model, device, batch_size, focal_length, orientations, precision, views
    )
    extra = {} if closer is None else {"closer": closer}
    return run_tracked(
        predictor, path, out, fps=fps, progress=progress, fbx_python=fbx_python, **extra
    )


def tracking_predictor(
    checkpoint: str | None = None,
    body_model: str | None = None,
    device: str = "cpu",
    batch_size: int = 8,
    focal_length: float | None = None,
    orientations: int | None = None,
    precision: str = "auto",
    views: str | None = None,
):
    """The predictor `demo --track` runs: the checkpoint ("default" when None) with the video
    detector (`openhmr.video.tiles.video_detector`: MultiPose at 384 px on the frame's shape,
    threshold `VIDEO_THRESHOLD`, no fallback; tiles for > 6 people and large frames).
    views None: "one", whatever the checkpoint's: the views' regressor passes cost the
    tracked pipeline about a quarter of its frame rate (two people, 640 × 360), and the
    smoothing over frames does the averaging's work there (docs/video.md)."""
    from openhmr.inference.predictor import Predictor

    predictor = Predictor.from_checkpoint(
        checkpoint or "default",
        body_model=body_model,
        device=device,
        batch_size=batch_size,
        focal_length=focal_length,
        orientations=orientations,
        views="one" if views is None else views,
        precision=precision,
    )
    predictor.detector = video_detector(predictor.detector, VIDEO_THRESHOLD)
    return predictor
