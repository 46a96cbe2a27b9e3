"""The local web page (``openhmr serve``): upload a photo or a video, see and download
everyone's 3D body (a video: tracked, smoothed and animated, as ``openhmr demo --track``).

`service` does the work (no gradio; `upload` and `clip` check the inputs); `app` is the page
and `video_tab` its Video tab (gradio, the ``web`` extra: ``pip install -e '.[web]'``).
Import `openhmr.web.app` only when serving.
"""

from openhmr.web.clip import MAX_CLIP_FRAMES, MAX_CLIP_MEGAPIXELS, ClipResult, read_clip
from openhmr.web.service import PageResult, PageService
from openhmr.web.upload import MAX_MEGAPIXELS, parse_boxes, read_upload

__all__ = [
    "MAX_CLIP_FRAMES",
    "MAX_CLIP_MEGAPIXELS",
    "MAX_MEGAPIXELS",
    "ClipResult",
    "PageResult",
    "PageService",
    "parse_boxes",
    "read_clip",
    "read_upload",
]
