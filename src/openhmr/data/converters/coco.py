"""COCO person keypoints (`annotations/person_keypoints_{train,val}2017.json` + image folder).

COCO's 17 keypoints map to cocoplus (no neck, no head top); a keypoint counts as visible when
labelled (v > 0). COCO coordinates already use continuous pixels. Crowd annotations are skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from openhmr.data.converters.common import index_from_keypoints, require, to_cocoplus, write_split
from openhmr.errors import OpenHMRError

# cocoplus order ← COCO index (−1: absent)
COCO_TO_COCOPLUS = [16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9, -1, -1, 0, 1, 2, 3, 4]


def convert_coco(
    annotation_file: str | os.PathLike,
    out: str | os.PathLike,
    image_root: str | os.PathLike | None = None,
    split: str | None = None,
) -> list[Path]:
    """A COCO keypoint JSON → `coco_<split>.npz`. image_root defaults to
    `<json folder>/../<split>2017` (the official layout)."""
    path = require(Path(annotation_file), "COCO annotation file")
    try:
        content = json.loads(path.read_text())
        images = {im["id"]: im["file_name"] for im in content["images"]}
        annotations = content["annotations"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise OpenHMRError(f"{path}: not a COCO keypoint annotation file ({err})") from None
    split = split or path.stem.split("_")[-1].replace("2017", "").replace("2014", "") or "train"
    year = "2014" if "2014" in path.stem else "2017"
    root = Path(image_root) if image_root else path.parent.parent / f"{split}{year}"
    people = [
        a
        for a in annotations
        if not a.get("iscrowd", 0) and a.get("num_keypoints", 0) > 0 and "keypoints" in a
    ]
    raw = np.array([a["keypoints"] for a in people], dtype=np.float64).reshape(-1, 17, 3)
    raw[..., 2] = (raw[..., 2] > 0).astype(np.float64)
    names = [images[a["image_id"]] for a in people]
    index = index_from_keypoints(
        names,
        to_cocoplus(raw, COCO_TO_COCOPLUS),
        root,
        {"dataset": "coco", "split": split, "version": year},
    )
    return [write_split(out, "coco", split, index)]
