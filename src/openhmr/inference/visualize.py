"""Overlays: every person's shaded mesh over the original image with the full-image pinhole
camera (the one `Predictor` returns), the 2D keypoints on top, and a side view."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from openhmr.inference.predictor import Person
from openhmr.render import Mesh, Rendering, composite, project_points, render

# cocoplus limbs (PAPER.md order): legs, arms, neck to head, face
SKELETON = (
    (0, 1), (1, 2), (3, 4), (4, 5), (6, 7), (7, 8), (9, 10), (10, 11),
    (2, 8), (3, 9), (2, 3), (8, 12), (9, 12), (12, 13), (12, 14),
    (14, 15), (14, 16), (15, 17), (16, 18),
)  # fmt: skip
PALETTE = np.array([[0.65, 0.74, 0.86], [0.9, 0.62, 0.5], [0.62, 0.84, 0.62], [0.86, 0.78, 0.52]])
SIDE_BACKGROUND = 255


def person_color(index: int) -> np.ndarray:
    """Mesh colour (3,) in [0, 1] of the index-th person."""
    return PALETTE[index % len(PALETTE)]


def _meshes(people: Sequence[Person], faces: np.ndarray, side: bool = False) -> list[Mesh]:
    meshes = []
    for index, person in enumerate(people):
        vertices = np.asarray(person.vertices, dtype=np.float64)
        if side:  # turn 90° about the vertical through the body's centre (seen from its left)
            centre = vertices.mean(axis=0)
            offset = vertices - centre
            vertices = centre + np.stack([-offset[:, 2], offset[:, 1], offset[:, 0]], axis=1)
        meshes.append(Mesh(vertices, faces, person_color(index)))
    return meshes


def render_people(
    image_size: tuple[int, int],
    people: Sequence[Person],
    faces: np.ndarray,
    side: bool = False,
    supersample: int = 1,
) -> Rendering:
    """`Rendering` (H, W) of all people with their shared full-image camera."""
    first = people[0]
    return render(
        _meshes(people, faces, side),
        image_size,
        first.focal_length,
        tuple(np.asarray(first.principal_point, dtype=np.float64)),
        supersample=supersample,
    )


def render_over(
    image: np.ndarray,
    people: Sequence[Person],
    faces: np.ndarray,
    side: bool = False,
    supersample: int = 1,
) -> np.ndarray:
    """Composite the people's rendering over a copy of image (H, W, 3), rasterizing only the
    window that their projected vertices cover (the same pixels as a full-frame rendering,
    at a fraction of the cost on large images)."""
    out = image.copy()
    meshes = _meshes(people, faces, side)
    focal = people[0].focal_length
    principal = np.asarray(people[0].principal_point, dtype=np.float64)
    points = np.concatenate([m.vertices for m in meshes])
    points = points[points[:, 2] > 1e-3]  # the rasterizer drops what is nearer
    if not len(points):
        return out
    pixels = project_points(points, (focal, focal), tuple(principal))
    height, width = image.shape[:2]
    low = np.clip(np.floor(pixels.min(axis=0)).astype(np.int64) - 1, 0, [width, height])
    high = np.clip(np.ceil(pixels.max(axis=0)).astype(np.int64) + 1, 0, [width, height])
    if (high <= low).any():
        return out
    window = (slice(low[1], high[1]), slice(low[0], high[0]))
    rendering = render(
        meshes,
        (int(high[1] - low[1]), int(high[0] - low[0])),
        focal,
        tuple(principal - low),
        supersample=supersample,
    )
    out[window] = composite(image[window], rendering)
    return out


def draw_keypoints(image: np.ndarray, keypoints2d: np.ndarray, radius: float = 3.0) -> None:
    """Draw cocoplus keypoints (19, 3) x, y, confidence (continuous pixels) and the skeleton
    onto an RGB uint8 image (H, W, 3), in place."""
    shift = 4  # OpenCV's sub-pixel drawing: coordinates in 1/16 px, pixel centres at integers
    points = np.rint((keypoints2d[:, :2] - 0.5) * (1 << shift)).astype(np.int64)
    points = np.clip(points, -(1 << 28), 1 << 28)
    visible = keypoints2d[:, 2] > 0
    thickness = max(1, round(radius / 2))
    for a, b in SKELETON:
        if visible[a] and visible[b]:
            cv2.line(image, points[a], points[b], (255, 220, 0), thickness, cv2.LINE_AA, shift)
    for index in np.flatnonzero(visible):
        cv2.circle(
            image,
            points[index],
            round(radius * (1 << shift)),
            (230, 40, 40),
            -1,
            cv2.LINE_AA,
            shift,
        )


def overlay_image(
    image: np.ndarray,
    people: Sequence[Person],
    faces: np.ndarray,
    keypoints: bool = True,
    supersample: int = 1,
) -> np.ndarray:
    """The shaded meshes of all people over the image (and their 2D keypoints): (H, W, 3)."""
    if not people:
        return image.copy()
    out = render_over(image, people, faces, supersample=supersample)
    if keypoints:
        radius = max(2.0, max(image.shape[:2]) / 250)
        for person in people:
            draw_keypoints(out, person.keypoints2d, radius)
    return out


def side_view_image(
    image_size: tuple[int, int],
    people: Sequence[Person],
    faces: np.ndarray,
    supersample: int = 1,
) -> np.ndarray:
    """Each person turned 90° about their own vertical axis, on white: (H, W, 3) uint8."""
    background = np.full((*image_size, 3), SIDE_BACKGROUND, np.uint8)
    if not people:
        return background
    return render_over(background, people, faces, side=True, supersample=supersample)
