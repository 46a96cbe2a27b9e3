"""What the page's tabs share (gradio passed in, not imported): the upload's path, the status
line, the threshold's slider, the 3D view and the downloads, the server log, and the queue
every request waits in."""

from __future__ import annotations

import html
import os
import sys

from openhmr.errors import OpenHMRError

# one model: every request of either tab runs alone, in turn; values arrive unprocessed
QUEUE = {"concurrency_id": "model", "concurrency_limit": 1, "preprocess": False}


def upload_path(value: object, what: str = "photo") -> tuple[str, str | None]:
    """gradio's upload payload ({"path", "orig_name", ...} or a plain path) -> (server path,
    the user's file name); what: "photo" or "video", for the messages."""
    if value is None:
        hint = " (or pick the example)" if what == "photo" else ""
        raise OpenHMRError(f"Upload a {what} first{hint}.")
    if isinstance(value, dict) and value.get("path"):
        return str(value["path"]), value.get("orig_name") or None
    if isinstance(value, (str, os.PathLike)):
        return str(value), None
    kind = "image" if what == "photo" else what
    raise OpenHMRError(f"expected an uploaded {kind} file, got {type(value).__name__}")


def status_html(message: str, ok: bool, what: str = "photo") -> str:
    kind = "openhmr-ok" if ok else "openhmr-error"
    prefix = "" if ok else f"Could not process the {what}: "
    return f'<p class="{kind}">{html.escape(prefix + message)}</p>'


def threshold_slider(gr, default: float, elem_id: str | None = None):
    """The detection threshold's slider (a `gr.Slider`, 0 to 1)."""
    label = "Detection threshold (lower finds more people)"
    return gr.Slider(0.0, 1.0, value=default, step=0.05, label=label, elem_id=elem_id)


def viewer_and_downloads(gr, viewer_label: str, downloads_label: str, prefix: str = ""):
    """The 3D view (a `gr.Model3D`) and the downloads (a `gr.File` of several), elem_ids
    `{prefix}viewer` and `{prefix}downloads`, alike in both tabs."""
    viewer = gr.Model3D(
        label=viewer_label,
        clear_color=(0.96, 0.96, 0.96, 1.0),
        height=420,
        elem_id=f"{prefix}viewer",
    )
    downloads = gr.File(
        label=downloads_label,
        file_count="multiple",
        interactive=False,
        elem_id=f"{prefix}downloads",
    )
    return viewer, downloads


def log(message: str) -> None:
    print(f"openhmr serve: {message}", file=sys.stderr, flush=True)
