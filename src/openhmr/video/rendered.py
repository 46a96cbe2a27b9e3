"""Synthetic sequences (`openhmr.video.synthetic`) rendered to frames, for the real predictor.

Every frame shows all the sequence's people in one image through the sequence's pinhole camera
(its focal length, the principal point at the image centre), in one z-buffer, so nearer people
hide farther ones. Each person keeps clothing-like colours of their own over the clip, under
one random key and fill light, over one background made as `openhmr synth` makes them (a
region of an image from a folder, else a procedural texture); when the camera pans, the
background slides as a scene at infinity would. The bodies are the truth's: posed with the
body model the sequence was made with and placed so that their joints land on the truth's.

The frames are JPEG files (quality 92, as `synth` writes) ``frame_00000.jpg``, ... in a
folder that appears whole: they are written into a hidden folder beside it, renamed at the end.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from openhmr.body import BodyModel
from openhmr.body.parts import vertex_part_labels
from openhmr.errors import OpenHMRError
from openhmr.render import Mesh, composite, rasterize, render
from openhmr.synth.scene import background, clothing_colors, random_lights
from openhmr.video.synthetic import SyntheticSequence, box_area, box_intersection

JPEG_QUALITY = 92
JOINT_TOLERANCE_M = 1e-3  # rendered bodies' joints against the truth's


@dataclass(frozen=True)
class RenderedSequence:
    """A sequence's frames on disk and what each pixel shows.

    folder: the frames' folder; frames: the F files in order; person_map: (F, H, W) int8, the
    person each pixel shows (−1: background); silhouette_px: (P, F) pixels of each person's
    whole silhouette (rendered alone); silhouette_boxes: (P, F, 4) x0, y0, x1, y1 pixel edges
    of that silhouette (NaN when it has no pixel in the frame).
    """

    folder: Path
    frames: list[Path]
    person_map: np.ndarray
    silhouette_px: np.ndarray
    silhouette_boxes: np.ndarray

    def seen_share(self) -> np.ndarray:
        """(P, F) share of each person's silhouette visible in the frame (0 when none is)."""
        people = self.silhouette_px.shape[0]
        seen = np.stack([(self.person_map == p).sum(axis=(1, 2)) for p in range(people)])
        return seen / np.maximum(self.silhouette_px, 1)

    def visible(self, sequence: SyntheticSequence, hidden_share: float = 0.6) -> np.ndarray:
        """(P, F) bool: the person is in view as `sequence` counts it (over half of the true box
        in the frame) and less than hidden_share of their silhouette is hidden by nearer
        people. (The sequence's own `visible` judges by boxes, which overlap long before the
        bodies do: a person whose box is fully covered may show 95% of their silhouette.)"""
        width, height = sequence.size
        frame = np.array([0, 0, width, height])
        in_view = box_intersection(sequence.boxes, frame) / box_area(sequence.boxes) > 0.5
        return in_view & (self.seen_share() > 1.0 - hidden_share)


def frame_vertices(body: BodyModel, sequence: SyntheticSequence, frame: int) -> np.ndarray:
    """(P, V, 3) the people's camera-frame vertices at `frame`: posed by `body` and moved so
    their joints are the truth's (exact up to float precision for the body the sequence was
    made with; another body's joints land elsewhere: `OpenHMRError`)."""
    with torch.no_grad():
        out = body(
            torch.as_tensor(sequence.pose[:, frame], dtype=torch.float32),
            torch.as_tensor(sequence.betas, dtype=torch.float32),
        )
    joints = out.joints.double().numpy()  # P x J x 3
    truth = sequence.joints[:, frame]
    shift = truth[:, :1] - joints[:, :1]  # P x 1 x 3
    off = np.abs(joints + shift - truth).max() if joints.shape == truth.shape else math.inf
    if not off <= JOINT_TOLERANCE_M:
        raise OpenHMRError(
            f"render_sequence: expected the body model the sequence was made with (its joints "
            f"within {1000 * JOINT_TOLERANCE_M:g} mm of the truth's), got one {1000 * off:.1f} mm "
            "off"
        )
    return out.vertices.double().numpy() + shift


def _background_strip(
    rng: np.random.Generator, width: int, height: int, extra: int, files: list[Path]
) -> np.ndarray:
    """(height, width + extra, 3) uint8: the middle rows of a square `synth` background."""
    side = max(width + extra, height)
    square = background(rng, side, files)
    top = (side - height) // 2
    return np.ascontiguousarray(square[top : top + height, : width + extra])


def _pan_offsets(sequence: SyntheticSequence) -> np.ndarray:
    """(F,) column of the background strip at each frame's left edge: a point at infinity
    straight ahead at yaw 0 moves to x = cx + f tan(yaw)."""
    yaw = np.zeros(sequence.num_frames) if sequence.camera_yaw is None else sequence.camera_yaw
    shift = sequence.focal * np.tan(yaw)
    return np.rint(shift.max() - shift).astype(np.int64)


def _silhouette(
    vertices: np.ndarray, faces: np.ndarray, sequence: SyntheticSequence, supersample: int
) -> np.ndarray:
    """(H, W) bool: pixels one body covers alone, sampled where `render` takes its mesh ids
    (the centre sample of k × k)."""
    width, height = sequence.size
    k = supersample
    fragments = rasterize(
        vertices,
        faces,
        (height * k, width * k),
        sequence.focal * k,
        (width * k / 2, height * k / 2),
    )
    return fragments.mask[k // 2 :: k, k // 2 :: k]


def _new_folder(folder: Path) -> Path:
    """The hidden folder to write into, after checking `folder` can be made whole later."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise OpenHMRError(f"render_sequence: expected a new or empty folder, got {folder}")
    partial = folder.parent / f".{folder.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
    except OSError as error:
        raise OpenHMRError(f"render_sequence: cannot make {partial}: {error}") from error
    return partial


def render_sequence(
    sequence: SyntheticSequence,
    body: BodyModel,
    folder: str | os.PathLike,
    rng: np.random.Generator,
    backgrounds: list[Path] | None = None,
    supersample: int = 2,
) -> RenderedSequence:
    """Render every frame of `sequence` (module docstring) into `folder` (new or empty).

    body: the body model the sequence was made with; rng: the colours, light and background;
    backgrounds: image files for the background (`openhmr.synth.scene.list_backgrounds`), or
    None for a procedural one; supersample: k × k samples per pixel (smooth edges)."""
    folder = Path(folder)
    width, height = sequence.size
    faces = body.faces.numpy()
    parts = vertex_part_labels(body.data.weights)
    colors = [clothing_colors(rng)[parts] for _ in range(sequence.num_people)]
    lights, ambient = random_lights(rng)
    offsets = _pan_offsets(sequence)
    strip = _background_strip(rng, width, height, int(offsets.max()), backgrounds or [])
    people, frames = sequence.num_people, sequence.num_frames
    person_map = np.full((frames, height, width), -1, np.int8)
    silhouette_px = np.zeros((people, frames), np.int64)
    silhouette_boxes = np.full((people, frames, 4), np.nan)
    partial = _new_folder(folder)
    names = []
    try:
        for f in range(frames):
            vertices = frame_vertices(body, sequence, f)
            meshes = [Mesh(v, faces, c) for v, c in zip(vertices, colors, strict=True)]
            rendering = render(
                meshes, (height, width), sequence.focal, None, supersample,
                lights=lights, ambient=ambient,
            )  # fmt: skip
            scene = strip[:, offsets[f] : offsets[f] + width]
            image = composite(scene, rendering)
            person_map[f] = rendering.mesh_id
            for p in range(people):
                mask = _silhouette(vertices[p], faces, sequence, supersample)
                silhouette_px[p, f] = mask.sum()
                if mask.any():
                    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
                    silhouette_boxes[p, f] = cols[0], rows[0], cols[-1] + 1, rows[-1] + 1
            names.append(f"frame_{f:05d}.jpg")
            ok, data = cv2.imencode(
                ".jpg",
                cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY],
            )
            if not ok:
                raise OpenHMRError(f"render_sequence: OpenCV could not encode frame {f}")
            (partial / names[-1]).write_bytes(data.tobytes())
        if folder.is_dir():
            folder.rmdir()  # empty (checked above)
        partial.rename(folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return RenderedSequence(
        folder, [folder / n for n in names], person_map, silhouette_px, silhouette_boxes
    )
