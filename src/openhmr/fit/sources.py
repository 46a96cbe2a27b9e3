"""Where 2D keypoints come from when none are given: a keypoint source is any callable

    source(image RGB uint8 (H, W, 3), boxes (N, 4) x, y, w, h pixels) -> (N, K, 3)
                                                                      or `PoseEvidence`

returning each box's keypoints in image pixels with a confidence (K = 17: COCO order; any
layout of `openhmr.fit.keypoints` works), or a `PoseEvidence` that adds 3D world landmarks and
person masks for the fit's 3D and silhouette terms.  MoveNet Thunder
(``openhmr.MoveNet.pretrained("thunder").keypoints`` on the square HMR crops of the boxes,
side 224/150 × the box's longer side) gives keypoints; `blazepose_source` adds BlazePose
GHUM's world landmarks and masks, its crops placed by Thunder's keypoints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from openhmr.errors import OpenHMRError
from openhmr.fit.guides import PoseEvidence

if TYPE_CHECKING:  # the pose networks load lazily, when a fit needs them
    from openhmr.posenet.blazepose import BlazePoseLandmarks

KeypointSource = Callable[[np.ndarray, np.ndarray], "np.ndarray | PoseEvidence"]
CROP_MARGIN = 224.0 / 150.0  # HMR's crop side over the person box's longer side
# Thunder reads each box 4 ways up and keeps the most confident reading (`MoveNet.read_turned`):
# on held-out LSP-extended its limb PCK@0.2 is 68.6 against 65.6 one way up (upside-down and
# sideways people; docs/fitting.md)
SOURCE_ORIENTATIONS = 4
KEYPOINT_CHOICES = ("movenet", "blazepose", "confident", "average")
MIN_POSE_FLAG = 0.5  # BlazePose's pose flag below this: its landmarks and mask are not used
# "average" keypoints weigh less where Thunder and BlazePose disagree: their confidence times
# exp(-(d / (CONSISTENCY_SCALE x the box's longer side))^2), d the distance between the two
# readings (0.15 of the box is 0.2 of HMR's crop half-side).  On the fit's tuning splits this
# raised refined LSP PCK 68.8 -> 69.4 and cut the sampler renders' PA-MPJPE 119.8 -> 110.3 mm
# (docs/fitting.md): where the networks disagree, neither is to be trusted.
CONSISTENCY_SCALE = 0.15


SOURCE_NAMES = ("blazepose", "blazepose-full", "movenet")


def default_keypoint_source() -> KeypointSource | None:
    """The `blazepose_source` (heavy; imported lazily: the networks load only when a fit needs
    them) when this openhmr has `openhmr.posenet.BlazePose`, else MoveNet Thunder's keypoints
    when it has `openhmr.posenet.MoveNet`, else None."""
    from openhmr import posenet

    if getattr(posenet, "BlazePose", None) is not None:
        return keypoint_source("blazepose")
    if getattr(posenet, "MoveNet", None) is not None:
        return keypoint_source("movenet")
    return None


def keypoint_source(name: str) -> KeypointSource:
    """A built-in source by name: "blazepose" / "blazepose-full" (`blazepose_source`, heavy /
    full) or "movenet" (Thunder's keypoints alone)."""
    if name not in SOURCE_NAMES:
        raise OpenHMRError(f"keypoint source: expected one of {SOURCE_NAMES}, got {name!r}")
    if name.startswith("blazepose"):
        return blazepose_source("full" if name.endswith("full") else "heavy")
    from openhmr.posenet import MoveNet

    net = MoveNet.pretrained("thunder")

    def thunder(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        # the square HMR crops (the person 150 px of 224): MoveNet needs room around the
        # person; on the tight box itself refined LSP PCK@0.2 fell from ~0.6 to 0.588
        return net.keypoints(image, boxes, margin=CROP_MARGIN, orientations=SOURCE_ORIENTATIONS)

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
            "(openhmr.posenet.BlazePose or MoveNet) is available in this installation"
        )
    return found


def blazepose_source(
    variant: str = "heavy",
    keypoints: str = "average",
    masks: bool = True,
    consistency: float | None = CONSISTENCY_SCALE,
) -> KeypointSource:
    """A source returning `PoseEvidence`: MoveNet Thunder reads each box (as the default
    source), its keypoints place BlazePose GHUM's crop (`openhmr.BlazePose`), and BlazePose
    adds its world landmarks (COCO-17 subset, metres, visibility as weight) and, with
    `masks`, its person mask.  keypoints: the 2D targets, "average" (Thunder's and
    BlazePose's COCO-17 keypoints averaged, `average_keypoints`; the best measured,
    docs/fitting.md), "movenet" (Thunder's), "blazepose" (BlazePose's, visibility as
    confidence) or "confident" (per keypoint, whichever confidence is higher); consistency:
    with "average", the confidences fall where the two readings disagree (`choose_keypoints`;
    None: they do not).  A person whose pose flag is below `MIN_POSE_FLAG` keeps Thunder's
    keypoints and gets no world landmarks or mask."""
    from openhmr.posenet import BlazePose, MoveNet
    from openhmr.posenet.blazepose import VARIANTS

    if variant not in VARIANTS:
        raise OpenHMRError(f"BlazePose variant: expected one of {VARIANTS}, got {variant!r}")
    if keypoints not in KEYPOINT_CHOICES:
        raise OpenHMRError(
            f"BlazePose source keypoints: expected one of {KEYPOINT_CHOICES}, got {keypoints!r}"
        )
    thunder = MoveNet.pretrained("thunder")
    net = BlazePose.pretrained(variant)

    def source(image: np.ndarray, boxes: np.ndarray) -> PoseEvidence:
        found = thunder.keypoints(
            image, boxes, margin=CROP_MARGIN, orientations=SOURCE_ORIENTATIONS
        )
        person, theirs, world, weights, mask = gated(
            net.landmarks(image, boxes, keypoints=found, masks=masks)
        )
        chosen = choose_keypoints(keypoints, found, theirs, person, boxes, consistency)
        return PoseEvidence(chosen, world, weights, mask)

    return source


def gated(read: BlazePoseLandmarks) -> tuple:
    """BlazePose's reading, its people with a pose flag below `MIN_POSE_FLAG` removed: person
    (N,) bool; its COCO-17 keypoints (N, 17, 3) (visibility as confidence, 0 for a removed
    person); world landmarks (N, 17, 3) (COCO-17); their weights (N, 17) (visibility, 0 for a
    removed person); masks (N, H, W) float32 (0 for a removed person; None without masks)."""
    from openhmr.posenet.blazepose import COCO_FROM_BLAZEPOSE

    coco = list(COCO_FROM_BLAZEPOSE)
    person = read.pose_flag >= MIN_POSE_FLAG
    theirs = read.coco17()
    theirs[..., 2] = np.where(person[:, None], theirs[..., 2], 0.0)
    weights = np.where(person[:, None], read.visibility[:, coco], 0.0)
    mask = None
    if read.mask is not None:
        mask = np.where(person[:, None, None], read.mask, 0.0).astype(np.float32)
    return person, theirs, read.world[:, coco], weights, mask


def choose_keypoints(
    choice: str,
    found: np.ndarray,
    theirs: np.ndarray,
    person: np.ndarray,
    boxes: np.ndarray | None = None,
    consistency: float | None = CONSISTENCY_SCALE,
) -> np.ndarray:
    """The 2D targets (N, 17, 3) from Thunder's keypoints `found` and BlazePose's `theirs`
    (`gated`) by `blazepose_source`'s keypoints option; a person not `person` keeps Thunder's.
    With "average", the person `boxes` (N, 4) x, y, w, h pixels and a `consistency` scale, each
    averaged keypoint's confidence is multiplied by `agreement(...)` (size: the box's longer
    side)."""
    if choice == "blazepose":
        return np.where(person[:, None, None], theirs, found)
    if choice == "confident":
        better = person[:, None] & (theirs[..., 2] > found[..., 2])
        return np.where(better[..., None], theirs, found)
    if choice == "average":
        averaged = average_keypoints(found, theirs)
        if boxes is not None and consistency:
            sizes = np.asarray(boxes, np.float64)[:, 2:4].max(axis=1)
            averaged[..., 2] *= agreement(found, theirs, sizes, consistency)
        return averaged
    return found


def agreement(first: np.ndarray, second: np.ndarray, sizes: np.ndarray, scale: float) -> np.ndarray:
    """How well two readings of the same keypoints (N, K, 3) agree: exp(−(d / (scale · size))²)
    per keypoint (N, K), d their distance, size (N,) the person's; 1 where either reading has
    no confidence (nothing to compare)."""
    distance = np.linalg.norm(first[..., :2] - second[..., :2], axis=-1)
    spread = scale * np.asarray(sizes, np.float64)[:, None]
    both = (first[..., 2] > 0) & (second[..., 2] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.exp(-((distance / spread) ** 2))
    return np.where(both & np.isfinite(weight), weight, 1.0)


def average_keypoints(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Two readings of the same keypoints (N, K, 3) x, y, confidence, averaged: positions
    weighted by confidence, the larger confidence kept (where neither has any, the first's
    position).  On held-out LSP-extended, MoveNet Thunder's and BlazePose heavy's averaged so
    reach PCK@0.2 0.662 on the 12 limb joints, against 0.656 and 0.642 alone (docs/fitting.md)."""
    a, b = first[..., 2:], second[..., 2:]
    total = a + b
    mean = (first[..., :2] * a + second[..., :2] * b) / np.where(total > 0, total, 1.0)
    position = np.where(total > 0, mean, first[..., :2])
    return np.concatenate([position, np.maximum(a, b)], axis=-1)
