"""The local web page (``openhmr serve``): upload a photo, see and download everyone's 3D body.

`service` does the work (no gradio); `app` is the page (gradio, the ``web`` extra:
``pip install -e '.[web]'``).  Import `openhmr.web.app` only when serving.
"""

from openhmr.web.service import PageResult, PageService
from openhmr.web.upload import MAX_MEGAPIXELS, parse_boxes, read_upload

__all__ = ["MAX_MEGAPIXELS", "PageResult", "PageService", "parse_boxes", "read_upload"]
