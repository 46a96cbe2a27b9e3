"""Random scene parts for synthetic samples: camera and body placement, clothing colours,
lights, backgrounds, occluders. Every function draws only from the generator it is given."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from openhmr.body.parts import PART_NAMES
from openhmr.errors import OpenHMRError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SKIN_TONES = np.array(
    [
        [0.98, 0.84, 0.72],
        [0.92, 0.74, 0.6],
        [0.8, 0.6, 0.45],
        [0.64, 0.45, 0.32],
        [0.45, 0.3, 0.2],
        [0.3, 0.2, 0.14],
    ]
)


@dataclass(frozen=True)
class SceneConfig:
    """Ranges of the random scene. person_px: target body height in pixels (the paper's
    ~150 px in a 224 crop) with relative jitter; focal_px: focal length range; yaw over 360°,
    pitch/roll standard deviations (degrees, clipped at 2σ); centre_jitter_px; occluder_prob."""

    image_size: int = 224
    person_px: float = 150.0
    person_jitter: float = 0.12
    focal_px: tuple[float, float] = (300.0, 1200.0)
    pitch_deg: float = 10.0
    roll_deg: float = 8.0
    centre_jitter_px: float = 8.0
    occluder_prob: float = 0.25

    @classmethod
    def sized(cls, image_size: int, **options: float) -> SceneConfig:
        """The defaults at another image side: the person scales with it (150 px at 224)."""
        return cls(image_size=image_size, person_px=150.0 * image_size / 224, **options)


def root_orientation(rng: np.random.Generator, config: SceneConfig) -> np.ndarray:
    """Axis-angle (3,) of the root in camera axes (x right, y down, z forward): the body turned
    by a uniform yaw about the vertical, a little pitch and roll, facing the camera at yaw 0."""
    yaw = rng.uniform(0.0, 2 * math.pi)
    pitch = np.clip(rng.normal(0.0, config.pitch_deg), -2 * config.pitch_deg, 2 * config.pitch_deg)
    roll = np.clip(rng.normal(0.0, config.roll_deg), -2 * config.roll_deg, 2 * config.roll_deg)
    turn = Rotation.from_euler("YXZ", [yaw, math.radians(pitch), math.radians(roll)])
    upright = Rotation.from_rotvec([math.pi, 0.0, 0.0])  # SMPL's y up, +z facing → camera axes
    return (turn * upright).as_rotvec()


def place_body(
    vertices: np.ndarray,
    rng: np.random.Generator,
    config: SceneConfig,
) -> tuple[float, np.ndarray]:
    """Focal length and translation (3,) putting camera-axes vertices (V, 3) in view: the body's
    longest image-plane extent becomes ~person_px pixels, its box centre near the image
    centre."""
    focal = rng.uniform(*config.focal_px)
    target_px = config.person_px * (1.0 + rng.uniform(-1, 1) * config.person_jitter)
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    extent = max(float((high[:2] - low[:2]).max()), 0.3)
    centre = (low + high) / 2  # the body box's centre goes to depth z, near the image centre
    z = focal * extent / target_px
    shift_px = rng.uniform(-1, 1, 2) * config.centre_jitter_px
    translation = np.array([*(shift_px * z / focal - centre[:2]), z - centre[2]])
    return float(focal), translation


def clothing_colors(rng: np.random.Generator) -> np.ndarray:
    """(6, 3) RGB in [0, 1] per body part (order of `PART_NAMES`): skin on the head, a top on
    the torso (and on the arms unless short-sleeved), trousers or shorts on the legs."""
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.9, 1.05)
    top = _fabric(rng)
    bottom = _fabric(rng)
    arms = skin if rng.random() < 0.35 else top * rng.uniform(0.9, 1.1)
    legs = skin if rng.random() < 0.2 else bottom
    colors = {
        "head": skin,
        "torso": top,
        "left_arm": arms,
        "right_arm": arms,
        "left_leg": legs,
        "right_leg": legs,
    }
    return np.clip(np.array([colors[name] for name in PART_NAMES]), 0.0, 1.0)


def _fabric(rng: np.random.Generator) -> np.ndarray:
    hue = rng.uniform(0, 180)
    saturation = rng.uniform(0, 200)
    value = rng.uniform(40, 250)
    hsv = np.uint8([[[hue, saturation, value]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0] / 255.0


def random_lights(rng: np.random.Generator) -> tuple[list, float]:
    """A key light from the camera's side of the body plus a weaker fill; and the ambient."""
    key = np.array([rng.uniform(-1, 1), rng.uniform(-1, 0.3), -1.0])
    fill = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-1, 1)])
    lights = [(tuple(key), rng.uniform(0.5, 0.85)), (tuple(fill), rng.uniform(0.1, 0.3))]
    return lights, float(rng.uniform(0.15, 0.35))


def list_backgrounds(folder: str | Path | None) -> list[Path]:
    """Image files in `folder` (sorted, recursive); [] for None."""
    if folder is None:
        return []
    folder = Path(folder)
    if not folder.is_dir():
        raise OpenHMRError(f"backgrounds folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise OpenHMRError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
    return files


def background(rng: np.random.Generator, size: int, files: list[Path]) -> np.ndarray:
    """(size, size, 3) uint8: a random region of a random file, or a procedural texture."""
    if files:
        image = cv2.imread(str(files[rng.integers(len(files))]), cv2.IMREAD_COLOR)
        if image is not None:
            return _random_region(rng, cv2.cvtColor(image, cv2.COLOR_BGR2RGB), size)
    return procedural_background(rng, size)


def _random_region(rng: np.random.Generator, image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    side = int(min(h, w) * rng.uniform(0.4, 1.0))
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    region = image[y : y + side, x : x + side]
    if rng.random() < 0.5:
        region = region[:, ::-1]
    return cv2.resize(np.ascontiguousarray(region), (size, size), interpolation=cv2.INTER_AREA)


def procedural_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A gradient between two colours, smooth noise, and a few random shapes and lines."""
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:size, 0:size] / size
    t = np.clip((xs - 0.5) * math.cos(angle) + (ys - 0.5) * math.sin(angle) + 0.5, 0, 1)
    image = a * (1 - t[..., None]) + b * t[..., None]
    noise = cv2.resize(
        rng.normal(0, 1, (size // 8, size // 8, 3)), (size, size), interpolation=cv2.INTER_CUBIC
    )
    image = np.clip(image + noise * rng.uniform(5, 40), 0, 255).astype(np.uint8)
    for _ in range(rng.integers(2, 9)):
        color = tuple(int(c) for c in rng.uniform(0, 255, 3))
        p = rng.integers(0, size, 4)
        kind = rng.integers(3)
        if kind == 0:
            cv2.rectangle(image, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), color, -1)
        elif kind == 1:
            cv2.circle(image, (int(p[0]), int(p[1])), int(rng.integers(4, size // 4)), color, -1)
        else:
            cv2.line(
                image,
                (int(p[0]), int(p[1])),
                (int(p[2]), int(p[3])),
                color,
                int(rng.integers(1, 6)),
            )
    return image


def occluder_mask(rng: np.random.Generator, size: int, prob: float) -> np.ndarray | None:
    """(size, size) bool of a random box or ellipse over the central region, or None."""
    if rng.random() >= prob:
        return None
    mask = np.zeros((size, size), np.uint8)
    cx, cy = rng.uniform(0.25, 0.75, 2) * size
    w, h = rng.uniform(0.1, 0.35, 2) * size
    if rng.random() < 0.5:
        cv2.rectangle(
            mask, (int(cx - w / 2), int(cy - h / 2)), (int(cx + w / 2), int(cy + h / 2)), 1, -1
        )
    else:
        cv2.ellipse(
            mask,
            (int(cx), int(cy)),
            (int(w / 2), int(h / 2)),
            float(rng.uniform(0, 180)),
            0,
            360,
            1,
            -1,
        )
    return mask.astype(bool)
