"""The page's work, without the page: one loaded `Predictor`, a photo or a video and the
options in, the pictures and files out (no gradio here, so it is tested directly).

Per photo, under a fresh folder: ``<name>.glb`` (every person in one scene, coloured as in
the overlay), ``<name>_<i>.obj`` per person and ``<name>.json`` (the demo's record); meshes are
the camera-frame vertices turned π about x (y up), as ``openhmr demo`` writes them.  Per video:
what ``openhmr demo VIDEO --track`` writes, the overlay as WebM (`openhmr.web.clip`).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import shutil
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from openhmr.errors import OpenHMRError
from openhmr.inference.demo import image_record, write_json
from openhmr.inference.detect import Detections
from openhmr.inference.export import to_y_up, write_glb_meshes, write_obj
from openhmr.inference.predictor import Person, Predictor
from openhmr.inference.visualize import overlay_image, person_color, side_view_image
from openhmr.video.pipeline import Report
from openhmr.video.tiles import video_detector
from openhmr.web.clip import ClipResult, track_clip
from openhmr.web.upload import file_stem, parse_boxes, read_upload

KEPT_REQUESTS = 64  # result folders kept on disk (older ones are deleted)


@dataclass(frozen=True)
class PageResult:
    """One photo's results: overlay and side (H, W, 3) uint8; glb: the scene of all people;
    files: glb, one OBJ per person, the JSON record; record: the JSON's content; scene_size:
    (3,) the GLB's bounding box, metres (x right, y up, z towards the camera)."""

    people: int
    overlay: np.ndarray
    side: np.ndarray
    glb: Path
    files: list[Path]
    record: dict
    seconds: float
    message: str
    scene_size: tuple[float, float, float] = (1.0, 1.0, 1.0)


def accepts_refine(predictor_type: type = Predictor) -> tuple[bool, bool]:
    """Whether `Predictor(..., refine=...)` and `predictor(image, refine=...)` exist: the
    page offers refinement only when the installed predictor has it."""
    init = inspect.signature(predictor_type).parameters
    call = inspect.signature(predictor_type.__call__).parameters
    return "refine" in init, "refine" in call


@dataclass(frozen=True)
class ScoreFilter:
    """A detector that keeps the detections of `detector` scoring at least `threshold` (for
    detectors without a `threshold` setting of their own)."""

    detector: object
    threshold: float

    def __call__(self, image: np.ndarray) -> Detections:
        found = self.detector(image)
        keep = np.asarray(found.scores) >= self.threshold
        changes = {}
        for field in dataclasses.fields(found):
            value = getattr(found, field.name)
            if isinstance(value, np.ndarray) and len(value) == len(keep):
                changes[field.name] = value[keep]
        return dataclasses.replace(found, **changes)


def with_threshold(detector: object, threshold: float) -> object:
    """The detector with another score threshold: its own `threshold` setting where it has
    one (a dataclass field), otherwise its detections filtered by score."""
    if dataclasses.is_dataclass(detector) and "threshold" in {
        f.name for f in dataclasses.fields(detector)
    }:
        return dataclasses.replace(detector, threshold=threshold)
    return ScoreFilter(detector, threshold)


class PageService:
    """The loaded model and the page's options -> `PageResult`s.

    predictor: loaded once and shared by every request (variants for another threshold or
    refinement share its network); photos read its model's views; work_dir: where result
    folders go (the last `KEPT_REQUESTS` are kept); video_views: the views videos read
    (`openhmr.model.views`; default "one", as `demo --track`; None: the model's own).
    """

    def __init__(
        self, predictor: Predictor, work_dir: str | Path, video_views: str | None = "one"
    ) -> None:
        self.predictor = predictor
        self.video_views = video_views
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.refine_in_init, self.refine_in_call = accepts_refine(type(predictor))
        self.default_threshold = float(getattr(predictor.detector, "threshold", 0.0))
        self._variants: dict[tuple[float, bool], Predictor] = {}
        self._lock = threading.Lock()

    @property
    def supports_refine(self) -> bool:
        return self.refine_in_init or self.refine_in_call

    def warm_up(self) -> None:
        """Run everything once (detector, network, rendering, files) on a small grey picture,
        so that the first visitor does not wait for just-in-time compilation."""
        blank = np.full((160, 120, 3), 128, np.uint8)
        self.predictor.detect(blank)
        people = self.predictor(blank, boxes=np.array([[30.0, 20.0, 60.0, 120.0]]))
        write_results(self._new_folder(), "warm_up", blank, people, self.predictor.faces)

    def run(
        self,
        path: str | Path,
        name: str | None = None,
        threshold: float | None = None,
        draw_boxes: bool = True,
        boxes: str | None = None,
        refine: bool = False,
    ) -> PageResult:
        """An uploaded photo (its server path and the user's file name) -> results; raises
        `OpenHMRError` for a bad upload, malformed boxes or nobody found."""
        start = time.perf_counter()
        label = name or Path(path).name
        image = read_upload(path, label)
        typed = parse_boxes(boxes)
        predictor, options = self._predictor(threshold, refine)
        people = predictor(image, boxes=typed, **options)
        if not people:
            raise OpenHMRError(
                f"No person found in {label}. Try a lower detection threshold, or type the "
                "person's box (x, y, w, h in pixels) under Options."
            )
        folder = self._new_folder()
        result = write_results(folder, file_stem(label), image, people, predictor.faces, draw_boxes)
        seconds = time.perf_counter() - start
        found = f"{len(people)} {'person' if len(people) == 1 else 'people'}"
        how = "from the boxes typed" if typed is not None else "detected"
        message = f"{found} {how} in {label} ({seconds:.1f} s)."
        return dataclasses.replace(result, seconds=seconds, message=message)

    def run_video(
        self,
        path: str | Path,
        name: str | None = None,
        threshold: float | None = None,
        report: Report | None = None,
    ) -> ClipResult:
        """An uploaded clip (its server path and the user's file name) -> the tracked
        pipeline's results (`openhmr.web.clip`, checked there before the model runs);
        report(stage, frames done, total or None) after every frame.  Raises `OpenHMRError`
        for a bad clip or nobody tracked, and then leaves no result folder behind."""
        start = time.perf_counter()
        label = name or Path(path).name
        predictor, _ = self._predictor(threshold, refine=False)
        tracked = copy.copy(predictor)
        # as `demo --track` does, at the page's threshold
        tracked.detector = video_detector(predictor.detector)
        tracked.model = with_views(predictor.model, self.video_views)
        folder = self._new_folder()
        try:
            result = track_clip(tracked, Path(path), label, folder, report)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        seconds = time.perf_counter() - start
        tracks = f"{result.tracks} {'person' if result.tracks == 1 else 'people'} tracked"
        message = (
            f"{tracks} over {result.frames} frames ({result.record['fps']:g} frames/s) of {label} "
            f"({seconds:.1f} s)."
        )
        return dataclasses.replace(result, seconds=seconds, message=message)

    def _predictor(self, threshold: float | None, refine: bool) -> tuple[Predictor, dict]:
        """The predictor for these options (cached) and the options its call takes."""
        given = threshold
        try:
            threshold = self.default_threshold if given is None else float(given)
        except (TypeError, ValueError):
            threshold = float("nan")
        if not np.isfinite(threshold) or threshold < 0:
            raise OpenHMRError(f"detection threshold: expected a number ≥ 0, got {given!r}")
        refine_init = bool(refine) and self.refine_in_init
        key = (round(threshold, 6), refine_init)
        with self._lock:
            variant = self._variants.get(key) or self._variant(threshold, refine_init)
            self._variants.pop(key, None)
            self._variants[key] = variant  # most recently used last
            while len(self._variants) > 8:
                self._variants.pop(next(iter(self._variants)))
        options = {"refine": bool(refine)} if self.refine_in_call else {}
        return variant, options

    def _variant(self, threshold: float, refine_init: bool) -> Predictor:
        base = self.predictor
        detector = base.detector
        if abs(threshold - self.default_threshold) > 1e-9:
            detector = with_threshold(detector, threshold)
        if refine_init:
            return type(base)(
                base.model,
                detector=detector,
                focal_length=base.focal_length,
                device=base.device,
                batch_size=base.batch_size,
                refine=True,
            )
        variant = copy.copy(base)  # shallow: shares the network and all else the predictor holds
        variant.detector = detector
        return variant

    def _new_folder(self) -> Path:
        folders = sorted(
            (p for p in self.work_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime
        )
        for old in folders[: max(0, len(folders) - KEPT_REQUESTS + 1)]:
            shutil.rmtree(old, ignore_errors=True)
        folder = self.work_dir / uuid.uuid4().hex[:12]
        folder.mkdir()
        return folder


def with_views(model, views: str | None):
    """`model` reading `views` (None or its own: the model itself), else a shallow copy that
    shares every weight with it: requests in flight on `model` keep their views."""
    if views is None or model.config.views == views:
        return model
    return copy.copy(model).set_views(views)


def write_results(
    folder: Path,
    name: str,
    image: np.ndarray,
    people: Sequence[Person],
    faces: np.ndarray,
    draw_boxes: bool = True,
) -> PageResult:
    """Render the overlay and side view and write the downloads (see the module doc)."""
    overlay = overlay_image(image, people, faces)
    if draw_boxes:
        draw_person_boxes(overlay, [p.bbox for p in people])
    side = side_view_image(image.shape[:2], people, faces)
    meshes = [(to_y_up(p.vertices), faces) for p in people]
    glb = folder / f"{name}.glb"
    write_glb_meshes(
        glb,
        meshes,
        colors=[person_color(i) for i in range(len(people))],
        names=[f"person_{i}" for i in range(len(people))],
    )
    files = [glb]
    for index, (vertices, _) in enumerate(meshes):
        files.append(folder / f"{name}_{index}.obj")
        write_obj(files[-1], vertices, faces)
    record = image_record(name, image.shape[:2], people)
    files.append(folder / f"{name}.json")
    write_json(files[-1], record)
    points = np.concatenate([vertices for vertices, _ in meshes])
    size = tuple(float(v) for v in points.max(axis=0) - points.min(axis=0))
    return PageResult(len(people), overlay, side, glb, files, record, 0.0, "", size)


def draw_person_boxes(image: np.ndarray, boxes: Sequence[np.ndarray]) -> None:
    """Draw each person's box (x, y, w, h) in the person's colour with its number (the index
    of its OBJ file) onto image (H, W, 3) uint8, in place."""
    thickness = max(2, round(max(image.shape[:2]) / 300))
    scale = max(0.5, max(image.shape[:2]) / 1000)
    for index, box in enumerate(boxes):
        color = tuple(int(c) for c in np.round(person_color(index) * 255 * 0.8))
        x, y, w, h = (round(float(v)) for v in box)
        cv2.rectangle(image, (x, y), (x + w, y + h), color, thickness, cv2.LINE_AA)
        origin = (max(x, 0) + thickness, max(y, 0) + round(24 * scale) + thickness)
        cv2.putText(
            image, str(index), origin, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thickness,
            cv2.LINE_AA,
        )  # fmt: skip
