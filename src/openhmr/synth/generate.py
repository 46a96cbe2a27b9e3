"""The synthetic data generator: bodies (shape × pose) posed by the body model, rendered with
clothing-like colours over backgrounds, written as images plus a record index with exact 2D,
3D and SMPL ground truth.

Determinism: sample i draws only from a generator seeded by (seed, i), so the output does not
depend on the number of workers or on which samples already exist; a re-run fills in what is
missing (each sample's image and annotation are written atomically, the index last).

Keypoint visibility: a keypoint is visible when it projects inside the image onto the body's
rendered mask, no occluder covers it, and the visible surface there is either the keypoint's
own body part or lies less than `SELF_OCCLUSION_M` in front of it (joint centres sit inside
the limbs); otherwise another body part hides it.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from openhmr.body import load_body_model
from openhmr.body.model import BodyModel
from openhmr.body.parts import vertex_part_labels
from openhmr.checks import check_count, check_number
from openhmr.data.crop import box_from_keypoints
from openhmr.data.records import RecordIndex, save_index
from openhmr.errors import OpenHMRError
from openhmr.files import atomic_path, remove_empty_folders, writable_folder_error, write_npz
from openhmr.render import Mesh, render
from openhmr.synth.poses import sample_poses
from openhmr.synth.scene import (
    SceneConfig,
    background,
    clothing_colors,
    list_backgrounds,
    occluder_mask,
    place_body,
    random_lights,
    root_orientation,
)

SELF_OCCLUSION_M = 0.15
# which body part (PART_NAMES order) each cocoplus keypoint belongs to
KEYPOINT_PART = (5, 5, 5, 4, 4, 4, 3, 3, 3, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0)
BETA_CLIP = 2.5


@dataclass(frozen=True)
class SynthConfig:
    """What to generate. mocap: a pose-set `.npz` (see `openhmr mocap`) or None for the
    built-in sampler; backgrounds: an image folder or None for procedural textures."""

    out: str
    num: int
    seed: int = 0
    mocap: str | None = None
    backgrounds: str | None = None
    body_model: str = "open"
    parts: bool = False
    jpeg_quality: int = 92
    chunk: int = 32
    scene: SceneConfig = field(default_factory=SceneConfig)


class _Generator:
    """Per-process state: the body model, part labels, pose set, background list."""

    def __init__(self, config: SynthConfig) -> None:
        torch.set_num_threads(1)
        self.config = config
        self.model, self.backgrounds, self.poses = _load_inputs(config)
        self.parts = vertex_part_labels(self.model.data.weights)
        self.faces = self.model.faces.numpy()

    def body(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One sample's pose (24, 3), root in camera axes, and betas (10,)."""
        if self.poses is not None:
            pose = self.poses[rng.integers(len(self.poses))].copy()
        else:
            pose = sample_poses(1, rng)[0]
        pose[0] = root_orientation(rng, self.config.scene)
        betas = np.clip(rng.normal(0, 1, min(10, self.model.num_betas)), -BETA_CLIP, BETA_CLIP)
        return pose, betas

    def make(self, indices: list[int]) -> list[dict]:
        """Render and write samples `indices` (skipping complete ones); their annotations."""
        out = Path(self.config.out)
        todo = [i for i in indices if not _annotation_path(out, i).exists()]
        rngs = {i: np.random.default_rng([self.config.seed, i]) for i in todo}
        bodies = {i: self.body(rngs[i]) for i in todo}
        for i in todo:
            # one body per call: a batched matmul's last bits depend on the batch size, and
            # which samples share a batch depends on the chunking, workers and resumption
            with torch.no_grad():
                posed = self.model(
                    pose=torch.tensor(bodies[i][0][None], dtype=torch.float32),
                    betas=torch.tensor(bodies[i][1][None], dtype=torch.float32),
                )
            self._write(
                i,
                rngs[i],
                *bodies[i],
                posed.vertices[0].double().numpy(),
                posed.keypoints[0].double().numpy(),
            )
        return [dict(np.load(_annotation_path(out, i))) for i in indices]

    def _write(
        self,
        i: int,
        rng: np.random.Generator,
        pose: np.ndarray,
        betas: np.ndarray,
        vertices: np.ndarray,
        keypoints3d: np.ndarray,
    ) -> None:
        scene, size = self.config.scene, self.config.scene.image_size
        focal, translation = place_body(vertices, rng, scene)
        vertices, keypoints3d = vertices + translation, keypoints3d + translation
        colors = clothing_colors(rng)[self.parts]
        lights, ambient = random_lights(rng)
        rendering = render(
            [Mesh(vertices, self.faces, colors)],
            (size, size),
            focal,
            lights=lights,
            ambient=ambient,
        )
        image = background(rng, size, self.backgrounds).astype(np.float32)
        alpha = rendering.alpha[..., None]
        image = alpha * rendering.rgb * 255 + (1 - alpha) * image
        occluder = occluder_mask(rng, size, scene.occluder_prob)
        if occluder is not None:
            image[occluder] = rng.uniform(0, 255, 3)
        image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        part_map = np.where(
            rendering.triangle_id >= 0,
            self.parts[self.faces[np.maximum(rendering.triangle_id, 0), 0]] + 1,
            0,
        ).astype(np.uint8)
        keypoints2d = _project(keypoints3d, focal, size)
        keypoints2d[:, 2] = _visibility(
            keypoints2d, keypoints3d, rendering.depth, part_map, occluder
        )
        self._save(i, image, part_map, pose, betas, keypoints2d, keypoints3d, focal, translation)

    def _save(
        self,
        i: int,
        image: np.ndarray,
        part_map: np.ndarray,
        pose: np.ndarray,
        betas: np.ndarray,
        keypoints2d: np.ndarray,
        keypoints3d: np.ndarray,
        focal: float,
        translation: np.ndarray,
    ) -> None:
        out = Path(self.config.out)
        _write_image(
            out / "images" / _name(i, ".jpg"),
            image,
            [cv2.IMWRITE_JPEG_QUALITY, self.config.jpeg_quality],
        )
        if self.config.parts:
            _write_image(out / "parts" / _name(i, ".png"), part_map, [])
        joints = keypoints3d[:14] - keypoints3d[[2, 3]].mean(axis=0)
        annotation = {
            "pose": pose.reshape(72),
            "betas": betas,
            "keypoints2d": keypoints2d,
            "joints3d": np.concatenate([joints, np.ones((14, 1))], axis=1),
            "keypoints3d": keypoints3d,
            "focal": np.float64(focal),
            "translation": translation,
        }
        write_npz(_annotation_path(out, i), annotation, compress=False)


def _load_inputs(config: SynthConfig) -> tuple[BodyModel, list[Path], np.ndarray | None]:
    """The body model, the background files and the pose set's poses (N, 24, 3) or None."""
    poses = None
    if config.mocap is not None:
        from openhmr.data.mocap import load_pose_set

        poses = load_pose_set(config.mocap).poses.reshape(-1, 24, 3)
    backgrounds = list_backgrounds(config.backgrounds)
    return load_body_model(config.body_model), backgrounds, poses


def check_config(config: SynthConfig) -> None:
    """Refuse settings that cannot make a data set, before anything is written."""
    check_count("--num", config.num)
    check_count("seed", config.seed, minimum=0)
    check_count("image size", config.scene.image_size, minimum=64)
    check_number("occluder probability", config.scene.occluder_prob, minimum=0, maximum=1)
    check_number("person size in pixels", config.scene.person_px, above=0)
    problem = writable_folder_error(config.out)
    if problem:
        raise OpenHMRError(f"synthetic data folder {config.out}: {problem}")


def _name(i: int, suffix: str) -> str:
    return f"{i:07d}{suffix}"


def _annotation_path(out: Path, i: int) -> Path:
    return out / "annotations" / _name(i, ".npz")


def _write_image(path: Path, image: np.ndarray, params: list[int]) -> None:
    data = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(path.suffix, data, params)
    if not ok:
        raise OpenHMRError(f"could not encode {path}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded.tobytes())


def _project(points: np.ndarray, focal: float, size: int) -> np.ndarray:
    """Camera-frame (K, 3) → (K, 3) pixels x, y (principal point at the image centre), 1."""
    xy = focal * points[:, :2] / points[:, 2:3] + size / 2
    return np.concatenate([xy, np.ones((len(points), 1))], axis=1)


def _visibility(
    keypoints2d: np.ndarray,
    keypoints3d: np.ndarray,
    depth: np.ndarray,
    part_map: np.ndarray,
    occluder: np.ndarray | None,
) -> np.ndarray:
    size = depth.shape[0]
    col = np.floor(keypoints2d[:, 0]).astype(int)
    row = np.floor(keypoints2d[:, 1]).astype(int)
    inside = (col >= 0) & (col < size) & (row >= 0) & (row < size)
    col, row = col.clip(0, size - 1), row.clip(0, size - 1)
    on_body = part_map[row, col] > 0
    own_part = part_map[row, col] == np.asarray(KEYPOINT_PART) + 1
    unhidden = depth[row, col] > keypoints3d[:, 2] - SELF_OCCLUSION_M
    free = np.ones(len(col), bool) if occluder is None else ~occluder[row, col]
    return (inside & on_body & (own_part | unhidden) & free).astype(np.float64)


def _worker_init(config: SynthConfig) -> None:
    global _WORKER
    import numba

    numba.set_num_threads(1)
    _WORKER = _Generator(config)


def _worker_make(indices: list[int]) -> list[dict]:
    return _WORKER.make(indices)


def generate(config: SynthConfig, workers: int = 1, progress: bool = True) -> Path:
    """Generate `config.num` samples under `config.out` (images/, annotations/, optional
    parts/) and write the index `<out>/synth.npz`; returns its path."""
    check_config(config)
    # read every input before the first folder or progress bar: a bad one is one clear error
    generator = _Generator(config) if workers <= 1 else None
    if generator is None:
        _load_inputs(config)
    out = Path(config.out)
    folders = [out / f for f in ("images", "annotations") + (("parts",) if config.parts else ())]
    made = [f for f in (*folders, *out.parents, out) if not f.exists()]
    try:
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        annotations = _make_all(config, generator, workers, progress)
    except BaseException:
        remove_empty_folders(made)
        raise
    return _write_index(config, annotations)


def _make_all(
    config: SynthConfig, generator: _Generator | None, workers: int, progress: bool
) -> list[dict]:
    chunks = [
        list(range(s, min(s + config.chunk, config.num)))
        for s in range(0, config.num, config.chunk)
    ]
    annotations: list[dict] = []
    with tqdm(total=config.num, unit="sample", desc="synth", disable=not progress) as bar:
        if generator is not None:
            for chunk in chunks:
                annotations += generator.make(chunk)
                bar.update(len(chunk))
        else:
            context = multiprocessing.get_context("spawn")
            with context.Pool(workers, initializer=_worker_init, initargs=(config,)) as pool:
                for result in pool.imap(_worker_make, chunks):
                    annotations += result
                    bar.update(len(result))
    return annotations


def _write_index(config: SynthConfig, annotations: list[dict]) -> Path:
    out = Path(config.out)
    stack = {key: np.stack([a[key] for a in annotations]) for key in annotations[0]}
    boxes = [
        box_from_keypoints(k, person_px=150.0)
        if (k[:, 2] > 0).sum() >= 2
        else ((k[:, :2].min(0) + k[:, :2].max(0)) / 2, 224 / 200)
        for k in stack["keypoints2d"]
    ]
    settings = {k: v for k, v in asdict(config).items() if k not in ("out", "chunk")}
    meta = {"dataset": "synthetic", "version": "1", "config": _jsonable(settings)}
    index = RecordIndex(
        imgname=np.array([_name(i, ".jpg") for i in range(config.num)]),
        center=np.array([c for c, _ in boxes]),
        scale=np.array([s for _, s in boxes]),
        keypoints2d=stack["keypoints2d"],
        image_root=out / "images",
        joints3d=stack["joints3d"],
        pose=stack["pose"],
        betas=stack["betas"],
        has_smpl=np.ones(config.num, bool),
        meta=meta,
        extras={
            "focal": stack["focal"],
            "translation": stack["translation"],
            "keypoints3d": stack["keypoints3d"],
        },
    )
    path = out / "synth.npz"
    save_index(path, index)
    return path


def _jsonable(value: object) -> object:
    return json.loads(
        json.dumps(value, default=lambda v: os.fspath(v) if isinstance(v, os.PathLike) else str(v))
    )
