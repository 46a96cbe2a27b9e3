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

With ``refine=True`` each person's Θ is then fitted to 2D keypoints in its crop
(`openhmr.fit`; docs/fitting.md): keypoints given per image (`keypoints=`, e.g. from OpenPose
JSON) or found by a keypoint source (a callable (image, boxes) -> (N, K, 3); default MoveNet
Thunder when this openhmr has it), with the checkpoint's discriminator as the adversarial prior
when it carries one.  `Person.fit` reports how the fit went.

The box and crop side live in `openhmr.inference.crops`, the camera step and the `Person`
record in `openhmr.inference.people`; this module runs the stages in order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from openhmr.body import BodyModel, load_body_model
from openhmr.checks import check_device, check_number
from openhmr.errors import OpenHMRError
from openhmr.fit import FitConfig, FitResult, fit_keypoints, keypoints_to_crop, read_keypoints
from openhmr.fit.guides import PoseEvidence, evidence_in_crops, merge_evidence
from openhmr.fit.sources import KeypointSource, require_keypoint_source
from openhmr.images import check_image
from openhmr.inference.crops import as_detections, crop_boxes, load_image
from openhmr.inference.detect import Detections, MoveNetPersonDetector, PersonDetector
from openhmr.inference.people import Person, PersonFit, person_fits, place_people
from openhmr.inference.timing import StageTimer, maybe_stage
from openhmr.model import HMR, Discriminator, load_checkpoint
from openhmr.model.checkpoint import trained_body_model
from openhmr.model.views import with_flip
from openhmr.posenet.precision import posenet_precision, resolve_precision

ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_MODEL = ASSETS / "default_model.safetensors"


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


class Predictor:
    """Image -> people.  ``Predictor.from_checkpoint(path or "default")``, then
    ``predictor(image, boxes=None, keypoints=None) -> list[Person]``.

    model: an `HMR` with a body model attached; detector: called when no boxes are given
    (default `MoveNetPersonDetector`, MoveNet MultiPose); focal_length: full-image focal in
    pixels (default `default_focal_length`); batch_size: crops per network call; timer: an optional
    `StageTimer` that receives the detect, crop, predict (and keypoints, fit) times.
    refine: fit each person to 2D keypoints (see the module doc); keypoint_source: a callable
    (image, boxes (N, 4)) -> (N, K, 3) used when an image comes without keypoints (default:
    MoveNet Thunder when available, else such an image is an error); discriminator: HMR's
    trained discriminator for the fit's adversarial prior (`from_checkpoint` passes the
    checkpoint's); fit_config: `openhmr.fit.FitConfig`; precision: what the encoder's pose
    networks compute in, one of `PRECISIONS` ("auto": bfloat16 on a CPU that computes it
    natively, else float32; `openhmr.posenet.precision`); the detector and the fit's keypoint
    source always run in float32.
    """

    def __init__(
        self,
        model: HMR,
        detector: PersonDetector | None = None,
        focal_length: float | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 8,
        timer: StageTimer | None = None,
        refine: bool = False,
        keypoint_source: KeypointSource | None = None,
        discriminator: Discriminator | None = None,
        fit_config: FitConfig | None = None,
        precision: str = "auto",
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
        self.refine = refine
        self.keypoint_source = keypoint_source
        self.discriminator = discriminator
        self.fit_config = fit_config or FitConfig()
        self.compute_dtype = resolve_precision(precision, self.device)

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike = "default",
        body_model: str | os.PathLike | BodyModel | None = None,
        orientations: int | None = None,
        views: str | None = None,
        **options: object,
    ) -> Predictor:
        """Load a checkpoint ("default": the bundled model) with a body model ("open": the
        bundled open model, "open-annotated", or a path to SMPL; None: the bundled one the
        checkpoint was trained with, `trained_body_model`); orientations: how many ways up a MoveNet
        encoder reads each crop (`HMR.set_orientations`; None: the checkpoint's); views: what the
        regressor reads and averages (`openhmr.model.views`, `HMR.set_views`; None: the
        checkpoint's; with ``refine=True``, the checkpoint's with the mirrored crop read too,
        `openhmr.model.views.with_flip`); options go to `Predictor`.  With ``refine=True`` the
        checkpoint's discriminator (if it has one and no discriminator option is given) becomes
        the fit's adversarial prior."""
        checkpoint_path = resolve_checkpoint(path)
        if body_model is None:
            body_model = trained_body_model(checkpoint_path)
        body = body_model if isinstance(body_model, BodyModel) else load_body_model(body_model)
        checkpoint = load_checkpoint(checkpoint_path, body_model=body)
        if orientations is not None:
            checkpoint.model.set_orientations(orientations)
        if views is not None:
            checkpoint.model.set_views(views)
        elif options.get("refine"):  # the fit starts from the crop read mirrored too
            checkpoint.model.set_views(with_flip(checkpoint.model.config.views))
        if options.get("refine") and options.get("discriminator") is None:
            options["discriminator"] = checkpoint.discriminator
        return cls(checkpoint.model, **options)

    @property
    def faces(self) -> np.ndarray:
        """(F, 3) int64 triangles of the body model."""
        return self.model.body_model.faces.cpu().numpy().astype(np.int64)

    def __call__(
        self,
        image: np.ndarray | str | os.PathLike,
        boxes: np.ndarray | None = None,
        keypoints: np.ndarray | None = None,
    ) -> list[Person]:
        """image: RGB uint8 (H, W, 3) or a file path; boxes: optional (N, 4) x, y, w, h pixels
        or `Detections` (skip detection); keypoints: optional (N, K, 3) image pixels and
        confidence, one per box (refine=True only; K = 17 COCO, 25/18 OpenPose, 19 cocoplus or
        14 LSP).  Returns the people found (possibly none), best detection first."""
        image = load_image(image) if isinstance(image, (str, os.PathLike)) else image
        return self.predict_many(
            [image], None if boxes is None else [boxes], None if keypoints is None else [keypoints]
        )[0]

    def detect(self, image: np.ndarray) -> Detections:
        """Everyone the detector finds: `Detections` (boxes (N, 4) x, y, w, h; scores;
        keypoints (N, 17, 3) or None), best first."""
        # float32 whatever `precision` says: in bfloat16 MultiPose's boxes shift enough to
        # double the identity switches of tracked clips (docs/posenet.md, "Precision")
        with maybe_stage(self.timer, "detect"), posenet_precision(None):
            image = check_image(image)
            return as_detections(self.detector(image), image.shape[1], image.shape[0])

    def predict_many(
        self,
        images: Sequence[np.ndarray],
        boxes: Sequence[np.ndarray | None] | None = None,
        keypoints: Sequence[np.ndarray | None] | None = None,
    ) -> list[list[Person]]:
        """Several images at once (the crops of all of them share network batches); boxes: one
        (N_i, 4) array, `Detections` or None (detect) per image; keypoints: one (N_i, K, 3)
        array or None (the keypoint source) per image, used with refine=True."""
        with posenet_precision(self.compute_dtype):
            return self._predict_many(images, boxes, keypoints)

    def _predict_many(
        self,
        images: Sequence[np.ndarray],
        boxes: Sequence[np.ndarray | None] | None,
        keypoints: Sequence[np.ndarray | None] | None,
    ) -> list[list[Person]]:
        boxes = [None] * len(images) if boxes is None else list(boxes)
        keypoints = [None] * len(images) if keypoints is None else list(keypoints)
        if len(boxes) != len(images) or len(keypoints) != len(images):
            raise OpenHMRError(f"boxes, keypoints: expected one entry per image ({len(images)})")
        if not self.refine and any(k is not None for k in keypoints):
            raise OpenHMRError("keypoints are only used to refine: create Predictor(refine=True)")
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
        targets = None
        if self.refine:  # the fit's evidence in float32, as its numbers were measured
            with posenet_precision(None):
                targets = self._keypoints(images, [d.boxes for d in checked], keypoints)
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
            estimate = self._regress(crop_all)
        fits: list[PersonFit | None] = [None] * len(owners)
        if targets is not None:
            with maybe_stage(self.timer, "fit"):
                estimate, fits = self._fit(estimate, targets, center_all, side_all)
        predictions = place_people(
            self.model.body_model,
            estimate,
            center_all,
            side_all,
            sizes,
            self.focal_length,
            self.batch_size,
        )
        for row, owner in enumerate(owners):
            detected = keypoint_all[row] is not None
            people[owner].append(
                Person(
                    bbox=box_all[row],
                    crop_size=float(side_all[row]),
                    detection_score=float(score_all[row]) if detected else None,
                    detected_keypoints=keypoint_all[row],
                    fit=fits[row],
                    **predictions[row],
                )
            )
        return people

    def _keypoints(
        self,
        images: Sequence[np.ndarray],
        boxes: Sequence[np.ndarray],
        given: Sequence[np.ndarray | None],
    ) -> tuple[np.ndarray, str, PoseEvidence | None]:
        """Every person's 2D keypoints (N, K, 3) in image pixels, their layout, and, when the
        keypoint source gave them for every person, its world landmarks and masks."""
        found = []
        for image, image_boxes, keypoints in zip(images, boxes, given, strict=True):
            if keypoints is None and len(image_boxes):
                with maybe_stage(self.timer, "keypoints"):
                    self.keypoint_source = require_keypoint_source(self.keypoint_source)
                    keypoints = self.keypoint_source(image, image_boxes)
            if keypoints is None:
                continue
            evidence = keypoints if isinstance(keypoints, PoseEvidence) else None
            keypoints, layout = read_keypoints(
                evidence.keypoints if evidence is not None else keypoints
            )
            if len(keypoints) != len(image_boxes):
                raise OpenHMRError(
                    f"keypoints: {len(keypoints)} people's keypoints for {len(image_boxes)} boxes"
                )
            found.append((keypoints, layout, evidence))
        layouts = {layout for _, layout, _ in found}
        if len(layouts) > 1:
            raise OpenHMRError(f"keypoints: one layout per call, got {sorted(layouts)}")
        keypoints = np.concatenate([k for k, _, _ in found])
        return keypoints, layouts.pop(), merge_evidence(keypoints, [e for _, _, e in found])

    @torch.no_grad()
    def _regress(self, crops: np.ndarray) -> dict[str, torch.Tensor]:
        """The network's Θ for every crop: camera (N, 3), pose (N, 24, 3), rotations
        (N, 24, 3, 3), betas (N, 10)."""
        outputs = []
        for start in range(0, len(crops), self.batch_size):
            batch = torch.from_numpy(crops[start : start + self.batch_size]).to(self.device)
            images = batch.permute(0, 3, 1, 2).float() / 255.0
            final = self.model.decode(self.model.regress(self.model.normalize(images))[-1], False)
            outputs.append({k: getattr(final, k).float() for k in _THETA})
        return {k: torch.cat([o[k] for o in outputs]) for k in _THETA}

    def _fit(
        self,
        estimate: dict[str, torch.Tensor],
        targets: tuple[np.ndarray, str, PoseEvidence | None],
        centers: np.ndarray,
        sides: np.ndarray,
    ) -> tuple[dict[str, torch.Tensor], list[PersonFit]]:
        keypoints, layout, evidence = targets
        guides = None if evidence is None else evidence_in_crops(evidence, centers, sides)
        result: FitResult = fit_keypoints(
            self.model.body_model,
            estimate["camera"],
            estimate["rotations"],
            estimate["betas"],
            keypoints_to_crop(keypoints, centers, sides),
            layout=layout,
            discriminator=self.discriminator,
            config=self.fit_config,
            guides=guides,
        )
        fits = person_fits(result, keypoints, layout, sides)
        fitted = {k: getattr(result, k) for k in _THETA}
        return {k: v.detach().float() for k, v in fitted.items()}, fits


_THETA = ("camera", "pose", "rotations", "betas")
