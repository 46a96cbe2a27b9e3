"""The work of one batch of items, with no Ray in it: read each image or video frame, find
the people, predict them as ``openhmr demo`` does, and turn each item into a `Result`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from openhmr.batch.inputs import Item
from openhmr.batch.store import Result, pack_arrays
from openhmr.errors import OpenHMRError
from openhmr.inference.demo import image_record
from openhmr.inference.people import Person
from openhmr.inference.predictor import Predictor, as_detections, load_image


@dataclass(frozen=True)
class WorkerConfig:
    """checkpoint: a path or "default"; body_model: a name or path (None: the one the
    checkpoint was trained with); threads: torch threads in each worker; crops: crops
    per network batch; precision: the pose networks' (`openhmr.posenet.precision`), resolved
    on each worker's own CPU; views: what the regressor reads and averages
    (`openhmr.model.views`; None: the checkpoint's, or with refine its flip form)."""

    checkpoint: str = "default"
    body_model: str | None = None
    refine: bool = False
    device: str = "cpu"
    threads: int = 1
    crops: int = 8
    precision: str = "auto"
    views: str | None = None


class Worker:
    """Holds one `Predictor`, loaded once; `__call__` turns items into results."""

    def __init__(self, config: WorkerConfig) -> None:
        import torch

        # each worker keeps to its share of the CPUs: torch's, OpenCV's and numba's pools
        torch.set_num_threads(config.threads)
        cv2.setNumThreads(config.threads)
        import numba

        from openhmr import numba_threads  # noqa: F401  (numba's own pool, before it starts)

        numba.set_num_threads(min(config.threads, numba.config.NUMBA_NUM_THREADS))
        self.predictor = Predictor.from_checkpoint(
            config.checkpoint,
            body_model=config.body_model,
            device=config.device,
            batch_size=config.crops,
            refine=config.refine,
            precision=config.precision,
            views=config.views,
        )
        self._video: tuple[str, cv2.VideoCapture, int] | None = None

    def __call__(self, items: Sequence[Item]) -> list[Result]:
        ready, results = [], {}
        for item in items:
            try:
                image = self._read(item)
                found = as_detections(self.predictor.detect(image), image.shape[1], image.shape[0])
            except OpenHMRError as err:
                results[item.key] = _failed(item, str(err))
                continue
            if len(found):
                ready.append((item, image, found))
            else:
                results[item.key] = _result(item, image.shape[:2], [])
        if ready:
            people = self.predictor.predict_many([r[1] for r in ready], [r[2] for r in ready])
            for (item, image, _), found in zip(ready, people, strict=True):
                results[item.key] = _result(item, image.shape[:2], found)
        return [results[item.key] for item in items]

    def _read(self, item: Item) -> np.ndarray:
        if item.frame < 0:
            return load_image(item.path)
        if self._video is None or self._video[0] != item.path or self._video[2] != item.frame:
            if self._video is not None:
                self._video[1].release()
            capture = cv2.VideoCapture(item.path)
            if not capture.isOpened():
                raise OpenHMRError(f"{item.path}: not a video OpenCV can read")
            if item.frame:
                capture.set(cv2.CAP_PROP_POS_FRAMES, item.frame)
            self._video = (item.path, capture, item.frame)
        path, capture, frame = self._video
        ok, bgr = capture.read()
        if not ok:
            self._video = None
            capture.release()
            raise OpenHMRError(f"{path}: frame {frame} could not be decoded")
        self._video = (path, capture, frame + 1)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _failed(item: Item, reason: str) -> Result:
    return Result(item.key, item.path, item.frame, "failed", 0, reason, "", b"")


def _result(item: Item, size: tuple[int, int], people: Sequence[Person]) -> Result:
    if people:
        record = image_record(item.key, size, people)
    else:
        record = {"image": item.key, "width": size[1], "height": size[0], "people": []}
    record["source"] = item.path
    if item.frame >= 0:
        record["frame"] = item.frame
    return Result(
        item.key,
        item.path,
        item.frame,
        "done",
        len(people),
        "",
        json.dumps(record, indent=1),
        pack_arrays(people_arrays(people)),
    )


def people_arrays(people: Sequence[Person]) -> dict[str, np.ndarray]:
    """The .npz arrays of one image's people (see `openhmr.batch.store`), N = len(people)."""

    def stack(name: str, shape: tuple[int, ...]) -> np.ndarray:
        values = [getattr(p, name) for p in people]
        values = [np.full(shape, np.nan) if v is None else np.asarray(v) for v in values]
        return np.stack(values).astype(np.float64) if values else np.zeros((0, *shape))

    return {
        "pose": stack("pose", (24, 3)),
        "betas": stack("betas", (10,)),
        "camera": stack("camera", (3,)),
        "translation": stack("translation", (3,)),
        "boxes": stack("bbox", (4,)),
        "keypoints2d": stack("keypoints2d", (19, 3)),
        "detected_keypoints": stack("detected_keypoints", (17, 3)),
        "detection_scores": np.array(
            [np.nan if p.detection_score is None else p.detection_score for p in people],
            dtype=np.float64,
        ),
    }
