"""What the page receives, checked: an uploaded file -> RGB image, and the optional person boxes
typed on the page.  Every bad input raises `OpenHMRError` with a message written for the page."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from openhmr.errors import OpenHMRError

MAX_MEGAPIXELS = 40.0  # a 50-megapixel photo takes ~150 MB decoded and minutes to process here
IMAGE_KINDS = "JPEG, PNG, WebP, BMP or TIFF"


def read_upload(path: str | os.PathLike, name: str | None = None) -> np.ndarray:
    """An uploaded file -> RGB uint8 (H, W, 3), turned upright by its EXIF orientation.

    name: what the user called the file (the message names it, not the server's copy). Refuses
    what is not an image, a truncated or damaged file, and an image over `MAX_MEGAPIXELS`
    (checked from the header, before decoding)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    label = name or Path(path).name
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_MEGAPIXELS * 1e6:
                raise OpenHMRError(_too_large(label, width, height))
            image.load()
            upright = ImageOps.exif_transpose(image)
            pixels = np.asarray(upright.convert("RGB"))
    except OpenHMRError:
        raise
    except Image.DecompressionBombError:
        raise OpenHMRError(f"{label}: the image is too large (over 178 megapixels)") from None
    except (UnidentifiedImageError, FileNotFoundError):
        raise OpenHMRError(
            f"{label} is not an image this page can read (expected a {IMAGE_KINDS} photo)"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise OpenHMRError(
            f"{label}: the image file is truncated or damaged ({err}); upload it again or "
            "re-save it"
        ) from None
    if 0 in pixels.shape:
        raise OpenHMRError(f"{label}: the image is empty ({width}x{height} pixels)")
    return np.ascontiguousarray(pixels)


def _too_large(label: str, width: int, height: int) -> str:
    megapixels = width * height / 1e6
    return (
        f"{label} is {width}x{height} pixels ({megapixels:.1f} megapixels); the page takes up "
        f"to {MAX_MEGAPIXELS:.0f} megapixels: resize the photo first"
    )


def parse_boxes(text: str | None) -> np.ndarray | None:
    """Typed person boxes "x, y, w, h" (pixels), several separated by ";" or new lines ->
    (N, 4) float64, or None when the text is blank (then the detector finds the people)."""
    parts = [p for p in re.split(r"[;\n]", text or "") if p.strip()]
    if not parts:
        return None
    boxes = []
    for part in parts:
        try:
            values = [float(v) for v in re.split(r"[,\s]+", part.strip())]
        except ValueError:
            values = []
        if len(values) != 4 or not np.isfinite(values).all() or min(values[2:]) <= 0:
            raise OpenHMRError(
                f"person box {part.strip()!r}: expected four numbers x, y, w, h in pixels "
                "with w, h > 0 (several boxes separated by ;)"
            )
        boxes.append(values)
    return np.array(boxes, dtype=np.float64)


def file_stem(name: str | None, default: str = "photo") -> str:
    """A safe output name from the uploaded file's name ("my photo.JPG" -> "my_photo")."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(name or "").stem).strip("_")
    return stem[:40] or default
