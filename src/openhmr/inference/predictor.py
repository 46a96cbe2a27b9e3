"""`Predictor`: an image (or a batch of images) and optional person boxes -> `Person`s with the
body in the original image's camera.

Per person: box (x, y, w, h) -> square crop centred on the box, side max(w, h) · 224 / 150 (the
released code's ~150 px person in a 224 crop) -> network -> Θ = [s, tx, ty | θ | β] -> body
in the network's camera axes -> the full-image pinhole camera (`crop_to_full_perspective`):

    T_z = 2 f / (s · b),   T_xy = t + 2 (c − (W, H)/2) / (s · b)

with b the crop side in pixels, c its centre, the principal point at the image centre (W/2, H/2)
and, by default, f = 5000 · max(W, H) / 224 px: the crop camera of SPIN / HMR 2.0 (5000 px for a
224 crop) scaled to the image, nearly orthographic so the perspective rendering reproduces the
weak-perspective camera the network was trained with.  Vertices and 3D keypoints are returned
in that camera's frame (X + T) and `keypoints2d` are their pinhole projections, so an overlay
rendered with (f, principal point) lines up with them exactly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from openhmr.body import BodyModel, load_body_model
from openhmr.checks import check_device, check_number
from openhmr.data.crop import crop_matrix, warp_image
from openhmr.errors import OpenHMRError
from openhmr.geometry.camera import crop_to_full_perspective, perspective_project
from openhmr.images import check_boxes, check_image
from openhmr.inference.detect import Detections, MoveNetPersonDetector, PersonDetector
from openhmr.inference.timing import StageTimer, maybe_stage
from openhmr.model import HMR, load_checkpoint
from openhmr.model.hmr import CROP_SIZE

ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_MODEL = ASSETS / "default_model.safetensors"
PERSON_PX = 150.0  # the person's longer box side in the 224 crop (released HMR demo)
BASE_FOCAL = 5000.0  # px for a 224 crop (SPIN, HMR 2.0); scaled with the image


@dataclass(frozen=True)
class Person:
    """One person's prediction, in the original image.

    bbox (4,) x, y, w, h pixels (the box the crop came from); crop_center (2,), crop_size: the
    square crop (pixels); camera (3,) = s, tx, ty, the weak-perspective crop camera (crop
    coordinates in [−1, 1]); translation (3,): the body's translation T in the full-image
    pinhole camera (focal_length, principal_point); pose (24, 3) axis-angle (root in camera
    axes); betas (10,); vertices (V, 3) and keypoints3d (19, 3): camera frame, metres;
    keypoints2d (19, 3): cocoplus x, y in image pixels and a confidence (1: predicted);
    detection_score and detected_keypoints (17, 3) COCO x, y pixels, score: what the person
    detector reported (None when the box was given).
    """

    bbox: np.ndarray
    crop_center: np.ndarray
    crop_size: float
    camera: np.ndarray
    translation: np.ndarray
    focal_length: float
    principal_point: np.ndarray
    pose: np.ndarray
    betas: np.ndarray
    vertices: np.ndarray
    keypoints3d: np.ndarray
    keypoints2d: np.ndarray
    detection_score: float | None = None
    detected_keypoints: np.ndarray | None = None

    def to_dict(self) -> dict[str, object]:
        """Everything but the vertices, as JSON-ready lists (the detector's fields only when
        present)."""
        fields = (
            "bbox",
            "crop_center",
            "crop_size",
            "camera",
            "translation",
            "focal_length",
            "principal_point",
            "pose",
            "betas",
            "keypoints2d",
            "keypoints3d",
            "detection_score",
            "detected_keypoints",
        )
        return {
            name: np.asarray(getattr(self, name)).tolist()
            for name in fields
            if getattr(self, name) is not None
        }


def default_focal_length(width: int, height: int) -> float:
    """The default full-image focal length in pixels: 5000 · max(W, H) / 224."""
    return BASE_FOCAL * max(width, height) / CROP_SIZE


def resolve_checkpoint(spec: str | os.PathLike) -> Path:
    """A checkpoint path, or "default": the bundled model at ``inference/assets/
    default_model.safetensors`` (docs/default_model.md)."""
    if str(spec) != "default":
        return Path(spec)
    if DEFAULT_MODEL.is_file():
        return DEFAULT_MODEL
    raise OpenHMRError(
        f"the bundled default model is missing ({DEFAULT_MODEL}: a broken install?); "
        "reinstall openhmr or pass a checkpoint: --checkpoint PATH (openhmr .safetensors, "
        "SPIN model_checkpoint.pt or HMR's TF model.ckpt-*)"
    )


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3)."""
    path = Path(path)
    if not path.is_file():
        raise OpenHMRError(f"{path}: no such image file")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise OpenHMRError(f"{path}: not an image OpenCV can read (expected JPEG, PNG, ...)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def as_detections(found: Detections | np.ndarray | Sequence, width: int, height: int) -> Detections:
    """Boxes given as `Detections` or an (N, 4) x, y, w, h array, checked against the image
    (`check_boxes`); arrays get scores of 1 and no keypoints."""
    if isinstance(found, Detections):
        boxes = check_boxes(found.boxes, width, height)
        return Detections(boxes, np.asarray(found.scores, np.float64), found.keypoints)
    boxes = check_boxes(found, width, height)
    return Detections(boxes, np.ones(len(boxes)))


def crop_boxes(
    image: np.ndarray, boxes: np.ndarray, res: int = CROP_SIZE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Person boxes (N, 4) -> crops (N, res, res, 3) uint8, centres (N, 2), sides (N,) in
    image pixels (the person's longer side fills PERSON_PX of a 224 crop, whatever res)."""
    centers = boxes[:, :2] + boxes[:, 2:] / 2
    sides = boxes[:, 2:].max(axis=1) * CROP_SIZE / PERSON_PX
    crops = [
        warp_image(image, crop_matrix(center, side / 200.0, res), res)
        for center, side in zip(centers, sides, strict=True)
    ]
    crops = np.stack(crops) if crops else np.zeros((0, res, res, 3), np.uint8)
    return crops, centers, sides


class Predictor:
    """Image -> people.  ``Predictor.from_checkpoint(path or "default")``, then
    ``predictor(image, boxes=None) -> list[Person]``.

    model: an `HMR` with a body model attached; detector: called when no boxes are given
    (default `MoveNetPersonDetector`, MoveNet MultiPose); focal_length: full-image focal in
    pixels (default `default_focal_length`); batch_size: crops per network call; timer: an optional
    `StageTimer` that receives the detect, crop and predict times.
    """

    def __init__(
        self,
        model: HMR,
        detector: PersonDetector | None = None,
        focal_length: float | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 8,
        timer: StageTimer | None = None,
    ) -> None:
        if model.body_model is None:
            raise OpenHMRError("Predictor: the model needs a body model (HMR(body_model=...))")
        if batch_size < 1:
            raise OpenHMRError(f"batch size: expected ≥ 1, got {batch_size}")
        if focal_length is not None:
            check_number("focal length (pixels)", focal_length, above=0)
        check_device("device", str(device))
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.detector = detector if detector is not None else MoveNetPersonDetector()
        self.focal_length = focal_length
        self.batch_size = batch_size
        self.timer = timer

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike = "default",
        body_model: str | os.PathLike | BodyModel = "open",
        **options: object,
    ) -> Predictor:
        """Load a checkpoint ("default": the bundled model) with a body model ("open": the
        bundled open model, or a path to SMPL); options go to `Predictor`."""
        checkpoint_path = resolve_checkpoint(path)
        body = body_model if isinstance(body_model, BodyModel) else load_body_model(body_model)
        return cls(load_checkpoint(checkpoint_path, body_model=body).model, **options)

    @property
    def faces(self) -> np.ndarray:
        """(F, 3) int64 triangles of the body model."""
        return self.model.body_model.faces.cpu().numpy().astype(np.int64)

    def __call__(
        self, image: np.ndarray | str | os.PathLike, boxes: np.ndarray | None = None
    ) -> list[Person]:
        """image: RGB uint8 (H, W, 3) or a file path; boxes: optional (N, 4) x, y, w, h pixels
        or `Detections` (skip detection).  Returns the people found (possibly none), best
        detection first."""
        image = load_image(image) if isinstance(image, (str, os.PathLike)) else image
        return self.predict_many([image], None if boxes is None else [boxes])[0]

    def detect(self, image: np.ndarray) -> Detections:
        """Everyone the detector finds: `Detections` (boxes (N, 4) x, y, w, h; scores;
        keypoints (N, 17, 3) or None), best first."""
        with maybe_stage(self.timer, "detect"):
            image = check_image(image)
            return as_detections(self.detector(image), image.shape[1], image.shape[0])

    def predict_many(
        self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray | None] | None = None
    ) -> list[list[Person]]:
        """Several images at once (the crops of all of them share network batches); boxes: one
        (N_i, 4) array, `Detections` or None (detect) per image."""
        boxes = [None] * len(images) if boxes is None else list(boxes)
        if len(boxes) != len(images):
            raise OpenHMRError(f"boxes: expected one entry per image ({len(images)})")
        crops, centers, sides, owners, checked = [], [], [], [], []
        for index, (image, image_boxes) in enumerate(zip(images, boxes, strict=True)):
            image = check_image(image)
            height, width = image.shape[:2]
            found = self.detect(image) if image_boxes is None else image_boxes
            found = as_detections(found, width, height)
            with maybe_stage(self.timer, "crop"):
                crop, center, side = crop_boxes(image, found.boxes, self.model.config.image_size)
            crops.append(crop)
            centers.append(center)
            sides.append(side)
            owners.extend([index] * len(found))
            checked.append(found)
        people: list[list[Person]] = [[] for _ in images]
        if not owners:
            return people
        crop_all, center_all = np.concatenate(crops), np.concatenate(centers)
        side_all = np.concatenate(sides)
        box_all = np.concatenate([d.boxes for d in checked])
        score_all = np.concatenate([d.scores for d in checked])
        keypoint_all = [
            k
            for d in checked
            for k in (d.keypoints if d.keypoints is not None else [None] * len(d))
        ]
        sizes = np.array([images[i].shape[1::-1] for i in owners], dtype=np.float64)  # W, H
        with maybe_stage(self.timer, "predict"):
            predictions = self._regress(crop_all, center_all, side_all, sizes)
        for row, owner in enumerate(owners):
            detected = keypoint_all[row] is not None
            people[owner].append(
                Person(
                    bbox=box_all[row],
                    crop_size=float(side_all[row]),
                    detection_score=float(score_all[row]) if detected else None,
                    detected_keypoints=keypoint_all[row],
                    **predictions[row],
                )
            )
        return people

    @torch.no_grad()
    def _regress(
        self, crops: np.ndarray, centers: np.ndarray, sides: np.ndarray, sizes: np.ndarray
    ) -> list[dict[str, object]]:
        outputs = []
        for start in range(0, len(crops), self.batch_size):
            batch = torch.from_numpy(crops[start : start + self.batch_size]).to(self.device)
            images = batch.permute(0, 3, 1, 2).float() / 255.0
            final = self.model(self.model.normalize(images))[-1]
            outputs.append({k: getattr(final, k).float().cpu() for k in _FIELDS})
        out = {k: torch.cat([o[k] for o in outputs]).double() for k in _FIELDS}
        focal = torch.tensor(
            [self.focal_length or default_focal_length(*size) for size in sizes.astype(int)],
            dtype=torch.float64,
        )
        sizes_t = torch.from_numpy(sizes)
        translation = crop_to_full_perspective(
            out["camera"], torch.from_numpy(centers), torch.from_numpy(sides), sizes_t, focal
        )  # N x 3
        vertices = out["vertices"] + translation[:, None]
        keypoints3d = out["keypoints3d"] + translation[:, None]
        keypoints2d = perspective_project(keypoints3d, focal, sizes_t / 2)
        confidence = torch.ones_like(keypoints2d[..., :1])
        keypoints2d = torch.cat([keypoints2d, confidence], dim=-1)
        return [
            {
                "crop_center": centers[i],
                "camera": out["camera"][i].numpy(),
                "translation": translation[i].numpy(),
                "focal_length": float(focal[i]),
                "principal_point": sizes[i] / 2,
                "pose": out["pose"][i].numpy(),
                "betas": out["betas"][i].numpy(),
                "vertices": vertices[i].float().numpy(),
                "keypoints3d": keypoints3d[i].numpy(),
                "keypoints2d": keypoints2d[i].numpy(),
            }
            for i in range(len(crops))
        ]


_FIELDS = ("camera", "pose", "betas", "vertices", "keypoints3d")
