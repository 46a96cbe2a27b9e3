"""The page's Video tab (gradio passed in): a clip in, the tracked pipeline of ``openhmr demo
VIDEO --track`` run on it (`PageService.run_video`), with a progress bar per frame; out the
overlay video, an animated 3D view of every track (the GLB plays in the page), the downloads
(GLB, NPZ and BVH per track) and the tracks' JSON summary.  API endpoint ``predict_video``:
clip in -> (overlay video, GLB, downloads, summary)."""

from __future__ import annotations

import traceback

from openhmr.errors import OpenHMRError
from openhmr.web.clip import CLIP_KINDS, MAX_CLIP_FRAMES, ClipResult
from openhmr.web.common import (
    QUEUE,
    log,
    status_html,
    threshold_slider,
    upload_path,
    viewer_and_downloads,
)
from openhmr.web.service import PageService

# the 3D view from the front, at the distance the viewer picks to see every track's motion
FRONT = (90, 90, None)
STAGES = {"tracking": "Tracking", "drawing": "Drawing the overlay"}  # the progress bar's words


def video_tab(gr, service: PageService) -> None:
    """Lay out the tab (call inside a `gr.Tab`) and wire its events."""

    def run(clip, threshold, progress) -> ClipResult:
        path, name = upload_path(clip, "video")

        def report(stage: str, done: int, total: int | None) -> None:
            progress((done, total), desc=STAGES.get(stage, stage), unit="frames")

        result = service.run_video(path, name, threshold, report)
        log(result.message)
        return result

    def on_page(clip, threshold, progress=gr.Progress()):  # noqa: B008 (gradio's idiom)
        try:
            result = run(clip, threshold, progress)
        except OpenHMRError as err:
            log(f"refused: {err}")
            return status_html(str(err), ok=False, what="video"), None, None, None, None
        except Exception as err:  # the server keeps serving; the details go to its log
            traceback.print_exc()
            message = f"an error on the server ({type(err).__name__}: {err}); see its log"
            return status_html(message, ok=False, what="video"), None, None, None, None
        return (
            status_html(result.message, ok=True),
            str(result.video),
            gr.Model3D(value=str(result.glb), camera_position=FRONT),
            [str(p) for p in result.files],
            result.record,
        )

    def on_api(clip, threshold, progress=gr.Progress()):  # noqa: B008
        try:
            result = run(clip, threshold, progress)
        except OpenHMRError as err:
            log(f"refused: {err}")
            raise gr.Error(str(err)) from None
        return str(result.video), str(result.glb), [str(p) for p in result.files], result.record

    with gr.Row():
        with gr.Column(scale=2):
            # a File, as for the photo: the page owes a message for whatever is dropped
            label = f"Video ({CLIP_KINDS}; up to {MAX_CLIP_FRAMES} frames of 1920x1080)"
            clip = gr.File(label=label, file_count="single", elem_id="clip", height=120)
            with gr.Accordion("Options", open=True):
                threshold = threshold_slider(gr, service.default_threshold, "clip-threshold")
            button = gr.Button("Track the bodies", variant="primary", elem_id="clip-run")
            api_button = gr.Button(visible=False)
        with gr.Column(scale=3):
            outputs = _outputs(gr)
    inputs = [clip, threshold]
    page = {"api_visibility": "private", **QUEUE}
    button.click(on_page, inputs, outputs, **page)
    clip.upload(on_page, inputs, outputs, **page)  # a new clip runs at once
    api_button.click(on_api, inputs, outputs[1:], api_name="predict_video", **QUEUE)


def _outputs(gr) -> list:
    """[status, overlay video, animated 3D view, downloads, JSON summary]."""
    status = gr.HTML(elem_id="clip-status")
    video = gr.Video(
        label="Overlay: the smoothed bodies, each person's box with its track id",
        interactive=False,
        autoplay=True,
        loop=True,
        elem_id="clip-overlay",
    )
    viewer, downloads = viewer_and_downloads(
        gr,
        "3D: every track, animated (drag to turn, scroll to zoom)",
        "Downloads: GLB (every track, animated), NPZ and BVH per track",
        prefix="clip-",
    )
    with gr.Accordion("Tracks (the JSON summary)", open=False):
        record = gr.JSON(elem_id="clip-record")
    return [status, video, viewer, downloads, record]
