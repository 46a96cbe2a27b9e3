"""For docs/fitting.md (its commands): the before/after pictures in docs/images.

Before/after pictures of the fitting stage for docs/fitting.md: per person, the photo with the
2D keypoints that were fitted, the regressor's mesh over it, and the refined mesh over it.

    python tools/fit_pictures.py --checkpoint default --photo-keypoints default \
        --synthetic runs/synth_fit_sampler_ann/synth.npz --synthetic-keypoints default \
        --rows 0,1,2,3 --out docs/images

Keypoints: "default" for what `openhmr demo --refine` fits (`Predictor(refine=True)`'s default
source: Thunder's and BlazePose's 2D averaged, BlazePose's world landmarks and mask; the panels
show the 2D targets it used), "movenet" for openhmr.MoveNet's alone, or an .npz with
``keypoints`` (rows, K, 3) in image pixels (the bundled photo: one row for its bundled box; a
synthetic split: one per index row), e.g. from tools/movenet_tfjs.py.  Writes fit_astronaut.png
and fit_synthetic.png (one row of three panels per person; rows of a synthetic split are derived
from no dataset's pixels).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from openhmr.body import load_body_model
from openhmr.data.records import load_index
from openhmr.evaluate.refine import person_boxes
from openhmr.files import atomic_path
from openhmr.fit.keypoints import read_keypoints
from openhmr.fit.sources import keypoint_source
from openhmr.inference.command import EXAMPLE_BOX, EXAMPLE_IMAGE
from openhmr.inference.predictor import Predictor, load_image, resolve_checkpoint
from openhmr.inference.visualize import overlay_image
from openhmr.model import load_checkpoint
from openhmr.model.checkpoint import trained_body_model

COCO17_SKELETON = (
    (5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16),
    (5, 6), (11, 12), (5, 11), (6, 12), (0, 1), (0, 2), (1, 3), (2, 4),
)  # fmt: skip
MIN_SCORE = 0.2


def draw_input(image: np.ndarray, keypoints: np.ndarray, layout: str) -> np.ndarray:
    """The fitted 2D keypoints (green; skeleton for COCO-17) over a copy of the image."""
    out = image.copy()
    radius = max(2, round(max(image.shape[:2]) / 150))
    seen = keypoints[:, 2] >= MIN_SCORE
    point = [tuple(int(v) for v in np.rint(p[:2] - 0.5)) for p in keypoints]
    if layout == "coco17":
        for a, b in COCO17_SKELETON:
            if seen[a] and seen[b]:
                cv2.line(out, point[a], point[b], (40, 200, 90), max(1, radius // 2), cv2.LINE_AA)
    for k in np.flatnonzero(seen):
        cv2.circle(out, point[k], radius, (20, 120, 40), -1, cv2.LINE_AA)
    return out


def panels(predictor, plain, image, box, keypoints: np.ndarray | None) -> np.ndarray:
    """Input keypoints | regressor's mesh | refined mesh, side by side (keypoints None: the
    predictor's own source, and the panels show the targets it fitted)."""
    before = plain(image, boxes=box[None])
    if keypoints is None:
        after = predictor(image, boxes=box[None])
        read, layout = after[0].fit.keypoints[None], after[0].fit.layout
    else:
        read, layout = read_keypoints(keypoints[None])
        after = predictor(image, boxes=box[None], keypoints=read)
    faces = predictor.faces
    fit = after[0].fit
    print(
        f"  keypoints used {fit.keypoints_used}, error {fit.initial_error_px:.1f} -> "
        f"{fit.error_px:.1f} px, {fit.iterations} iterations, refined {fit.refined}"
    )
    row = [
        draw_input(image, read[0], layout),
        overlay_image(image, before, faces, supersample=2),
        draw_input(overlay_image(image, after, faces, supersample=2), read[0], layout),
    ]
    return np.concatenate(row, axis=1)


def keypoints_for(spec: str, image: np.ndarray, boxes: np.ndarray) -> np.ndarray | None:
    if spec == "default":
        return None
    if spec == "movenet":
        return np.asarray(keypoint_source("movenet")(image, boxes), np.float64)
    with np.load(spec) as data:
        return np.asarray(data["keypoints"], np.float64)


def write_png(path: Path, image: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="default")
    parser.add_argument("--discriminator", help="checkpoint whose discriminator is the prior")
    parser.add_argument(
        "--photo-keypoints", help="default, movenet or .npz (1, K, 3) for the bundled photo"
    )
    parser.add_argument("--synthetic", help="a synthetic split's index")
    parser.add_argument("--synthetic-keypoints", help="default, movenet or .npz (rows, K, 3)")
    parser.add_argument("--rows", default="0,1,2,3")
    parser.add_argument(
        "--zoom", type=float, default=1.5, help="synthetic images enlarged this much (224 px)"
    )
    parser.add_argument(
        "--photo-scale", type=float, default=0.75, help="the photo's panels shrunk this much"
    )
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)

    body = load_body_model(trained_body_model(resolve_checkpoint(args.checkpoint)))
    checkpoint = load_checkpoint(resolve_checkpoint(args.checkpoint), body_model=body)
    discriminator = checkpoint.discriminator
    if args.discriminator:
        discriminator = load_checkpoint(args.discriminator, body_model=body).discriminator
    plain = Predictor(checkpoint.model)
    predictor = Predictor(checkpoint.model, refine=True, discriminator=discriminator)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.photo_keypoints:
        print("bundled photo")
        image = load_image(EXAMPLE_IMAGE)
        box = np.array(EXAMPLE_BOX)
        found = keypoints_for(args.photo_keypoints, image, box[None])
        keypoints = None if found is None else found[0]
        picture = panels(predictor, plain, image, box, keypoints)
        picture = cv2.resize(
            picture, None, fx=args.photo_scale, fy=args.photo_scale, interpolation=cv2.INTER_AREA
        )
        write_png(args.out / "fit_astronaut.png", picture)
    if args.synthetic:
        index = load_index(args.synthetic)
        boxes = person_boxes(index)
        rows = [int(r) for r in args.rows.split(",")]
        grid = []
        for row in rows:
            print(f"synthetic row {row}")
            image = load_image(index.image_root / str(index.imgname[row]))
            found = keypoints_for(args.synthetic_keypoints, image, boxes[row : row + 1])
            if found is None:
                keypoints = None
            else:
                keypoints = found[0] if args.synthetic_keypoints == "movenet" else found[row]
                keypoints = keypoints.copy()
                keypoints[:, :2] *= args.zoom
            # enlarged for viewing: the image, its keypoints and box scaled alike
            zoom = args.zoom
            image = cv2.resize(image, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
            grid.append(panels(predictor, plain, image, boxes[row] * zoom, keypoints))
        write_png(args.out / "fit_synthetic.png", np.concatenate(grid, axis=0))


if __name__ == "__main__":
    main()
