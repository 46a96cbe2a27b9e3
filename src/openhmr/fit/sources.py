"""Where 2D keypoints come from when none are given: a keypoint source is any callable

    source(image RGB uint8 (H, W, 3), boxes (N, 4) x, y, w, h pixels) -> (N, K, 3)

returning each box's keypoints in image pixels with a confidence (K = 17: COCO order; any
layout of `openhmr.fit.keypoints` works).  The default is MoveNet Thunder,
``openhmr.MoveNet.pretrained("thunder").keypoints`` on the square HMR crops of the boxes
(side 224/150 × the box's longer side), when the installed openhmr has it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from openhmr.errors import OpenHMRError

KeypointSource = Callable[[np.ndarray, np.ndarray], np.ndarray]
CROP_MARGIN = 224.0 / 150.0  # HMR's crop side over the person box's longer side


def default_keypoint_source() -> KeypointSource | None:
    """MoveNet Thunder's ``keypoints`` when ``openhmr.posenet.MoveNet`` exists (imported
    lazily: the pose network loads only when a fit needs it), else None."""
    from openhmr import posenet

    movenet = getattr(posenet, "MoveNet", None)
    if movenet is None:
        return None
    net = movenet.pretrained("thunder")

    def thunder(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        # the square HMR crops (the person 150 px of 224): MoveNet needs room around the
        # person; on the tight box itself refined LSP PCK@0.2 fell from ~0.6 to 0.588
        return net.keypoints(image, boxes, margin=CROP_MARGIN)

    return thunder


def require_keypoint_source(source: KeypointSource | None) -> KeypointSource:
    """`source`, else the default, else a clear error saying how to give keypoints."""
    if source is not None:
        return source
    found = default_keypoint_source()
    if found is None:
        raise OpenHMRError(
            "refinement needs 2D keypoints: pass keypoints (e.g. OpenPose JSON: --keypoints, or "
            "a COCO-17 array), or a keypoint_source callable; no built-in pose network "
            "(openhmr.posenet.MoveNet) is available in this installation"
        )
    return found
