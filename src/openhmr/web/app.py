"""The page itself (gradio): `build_app(service)` lays it out, `serve(...)` loads the model once
and serves it on loopback (``openhmr serve``).

Nothing leaves the machine: analytics and Hugging Face telemetry are switched off before gradio
is imported, no share link is made, server-side rendering (a Node process) is off, and the
theme's fonts are the ones gradio bundles.  Requests queue and run one at a time (the model is
shared; a video waits as a photo does).  Two tabs, Photo and Video (`openhmr.web.video_tab`),
and two routes to each one's work: the page's button (results and a message on the page) and a
named API endpoint, ``predict`` (photo in -> overlay image, GLB, JSON record) and
``predict_video`` (video in -> overlay video, animated GLB, downloads, JSON summary); a bad
input is an error the client raises with the same message.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path

from openhmr.errors import OpenHMRError
from openhmr.web.common import (
    QUEUE,
    log,
    status_html,
    threshold_slider,
    upload_path,
    viewer_and_downloads,
)
from openhmr.web.service import PageResult, PageService
from openhmr.web.video_tab import video_tab

EXAMPLE_NOTE = "astronaut.jpg (NASA, public domain)"
OFFLINE_ENVIRONMENT = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_SSR_MODE": "False",
}
CSS = """
.openhmr-ok { color: #1f6f3f; font-weight: 600; }
.openhmr-error { color: #a4262c; font-weight: 600; }
"""
MAX_UPLOAD = "100mb"
VIEW_DISTANCE = 2.6  # the 3D view's camera distance in half scene sizes (its field of view)


def import_gradio():
    """gradio, imported with telemetry off; a clear error when the web extra is missing."""
    os.environ.update(OFFLINE_ENVIRONMENT)
    try:
        import gradio
    except ImportError:
        raise OpenHMRError(
            "the web page needs gradio: pip install -e '.[web]' (or run make serve)"
        ) from None
    return gradio


def build_app(service: PageService, model_label: str = "the bundled default model"):
    """The page's `gradio.Blocks` (queue set; launch it)."""
    gr = import_gradio()
    from openhmr.inference.command import EXAMPLE_IMAGE

    def run(photo, threshold, draw_boxes, boxes, refine=False) -> PageResult:
        path, name = upload_path(photo)
        result = service.run(path, name, threshold, draw_boxes, boxes, refine)
        log(result.message)
        return result

    def on_page(photo, threshold, draw_boxes, boxes, refine=False):
        empty = (None, None, None, None, None)
        try:
            result = run(photo, threshold, draw_boxes, boxes, refine)
        except OpenHMRError as err:
            log(f"refused: {err}")
            return (status_html(str(err), ok=False), *empty)
        except Exception as err:  # the server keeps serving; the details go to its log
            traceback.print_exc()
            message = f"an error on the server ({type(err).__name__}: {err}); see its log"
            return (status_html(message, ok=False), *empty)
        files = [str(p) for p in result.files]
        width, height, depth = result.scene_size  # seen from the front, everyone in view:
        view_distance = VIEW_DISTANCE * max(width, height) / 2 + depth / 2
        return (
            status_html(result.message, ok=True),
            result.overlay,
            result.side,
            gr.Model3D(value=str(result.glb), camera_position=(90, 90, view_distance)),
            files,
            result.record,
        )

    def on_api(photo, threshold, draw_boxes, boxes, refine=False):
        try:
            result = run(photo, threshold, draw_boxes, boxes, refine)
        except OpenHMRError as err:
            log(f"refused: {err}")
            raise gr.Error(str(err)) from None
        return result.overlay, str(result.glb), result.record

    with gr.Blocks(title="openhmr", analytics_enabled=False, delete_cache=(900, 3600)) as app:
        gr.Markdown(
            "## openhmr: a photo or a video in, everyone's 3D body out\n"
            f"HMR with {model_label}. Drop a photo (it runs at once) or pick the example; "
            "change an option and press **Find the bodies** again. Drag the 3D view to turn "
            "it. A video (the *Video* tab) gives each person's tracked, smoothed motion. "
            "Everything runs on this machine."
        )
        with gr.Tabs():
            with gr.Tab("Photo", id="photo-tab"), gr.Row():
                with gr.Column(scale=2):
                    inputs = _inputs(gr, service)
                    button = gr.Button("Find the bodies", variant="primary", elem_id="run")
                    api_button = gr.Button(visible=False)
                    photo, boxes = inputs[0], inputs[3]
                    examples = gr.Examples(
                        [[str(EXAMPLE_IMAGE), ""]],
                        inputs=[photo, boxes],
                        label="Example",
                        example_labels=[EXAMPLE_NOTE],
                    )
                with gr.Column(scale=3):
                    outputs = _outputs(gr)
            with gr.Tab("Video", id="video-tab"):
                video_tab(gr, service)
        api_outputs = [outputs[1], outputs[3], outputs[5]]  # overlay, 3D view (GLB), record
        page = {"api_visibility": "private", **QUEUE}
        button.click(on_page, inputs, outputs, **page)
        # a new photo runs at once, without the boxes typed for the previous one
        photo.upload(lambda: "", None, boxes, queue=False, api_visibility="private").then(
            on_page, inputs, outputs, **page
        )
        examples.load_input_event.then(on_page, inputs, outputs, **page)
        api_button.click(on_api, inputs, api_outputs, api_name="predict", **QUEUE)
    app.queue(max_size=64, default_concurrency_limit=1)
    return app


def _inputs(gr, service: PageService) -> list:
    """The photo and the options: [photo, threshold, draw boxes, boxes(, refine)]."""
    # a File, not an Image: the browser would drop a non-image silently, and the page owes
    # the user a message
    photo = gr.File(
        label="Photo (JPEG, PNG, WebP, ...)", file_count="single", elem_id="photo", height=120
    )
    with gr.Accordion("Options", open=True):
        threshold = threshold_slider(gr, service.default_threshold)
        draw_boxes = gr.Checkbox(value=True, label="Draw person boxes")
        boxes = gr.Textbox(
            value="",
            label="Person boxes (optional; skips detection)",
            placeholder="x, y, w, h in pixels; several separated by ;",
            elem_id="boxes",
        )
        inputs = [photo, threshold, draw_boxes, boxes]
        if service.supports_refine:
            label = "Refine (fit the body to 2D keypoints and BlazePose's 3D landmarks)"
            inputs.append(gr.Checkbox(value=False, label=label, elem_id="refine"))
    return inputs


def _outputs(gr) -> list:
    """[status, overlay, side view, 3D view, downloads, JSON record]."""
    status = gr.HTML(elem_id="status")
    with gr.Row():
        overlay = gr.Image(label="Overlay", format="png", interactive=False, elem_id="overlay")
        side = gr.Image(label="Side view", format="png", interactive=False, elem_id="side")
    viewer, downloads = viewer_and_downloads(
        gr,
        "3D: all people (drag to turn, scroll to zoom)",
        "Downloads: GLB (everyone), OBJ per person, JSON (parameters)",
    )
    with gr.Accordion("Parameters (the JSON record)", open=False):
        record = gr.JSON(elem_id="record")
    return [status, overlay, side, viewer, downloads, record]


def check_port(host: str, port: int) -> None:
    """An error now if the address cannot be served (port in use, unknown host)."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except (OSError, OverflowError) as err:
        raise OpenHMRError(
            f"cannot serve on {host}:{port} ({err}); check --host, or try another --port"
        ) from None


def serve(
    host: str = "127.0.0.1",
    port: int = 7860,
    checkpoint: str | None = None,
    body_model: str | None = None,
    device: str = "cpu",
    precision: str = "auto",
    views: str | None = None,
) -> None:
    """Load the model once and serve the page until interrupted (Ctrl-C or SIGTERM).
    views: what the regressor reads and averages (`openhmr.model.views`), photos and videos;
    None: photos the checkpoint's, videos "one" (as `demo` and `demo --track`)."""
    check_port(host, port)  # before gradio and the model load, not after
    gr = import_gradio()
    from openhmr.inference.predictor import Predictor

    predictor = Predictor.from_checkpoint(
        checkpoint or "default",
        body_model=body_model,
        device=device,
        precision=precision,
        views=views,
    )
    work_dir = tempfile.mkdtemp(prefix="openhmr-serve-")
    service = PageService(predictor, work_dir, video_views=views or "one")
    service.warm_up()
    label = f"the checkpoint {Path(checkpoint).name}" if checkpoint else None
    app = build_app(service, label or "the bundled default model")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # run the clean-up below
    try:
        app.launch(
            server_name=host,
            server_port=port,
            share=False,
            show_error=True,
            ssr_mode=False,
            max_file_size=MAX_UPLOAD,
            theme=gr.themes.Default(),
            css=CSS,
        )
    except OSError as err:
        raise OpenHMRError(f"cannot serve on {host}:{port} ({err}); try another --port") from None
    finally:
        app.close()
        import shutil

        shutil.rmtree(work_dir, ignore_errors=True)
