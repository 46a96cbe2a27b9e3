"""For docs/data.md: a grid of a record index's crops and keypoints, to check it by eye.

Draw a grid of training crops with their keypoints, to check a record index by eye.

    python tools/show_crops.py INDEX.npz --out crops.png [--num 8] [--augment] [--seed 0]

Visible keypoints are drawn as dots (right side red, left side blue, centre/face green).
The output is for looking at; crops of licensed datasets stay out of the repository.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from openhmr.data.augment import AugmentConfig
from openhmr.data.dataset import RecordDataset
from openhmr.data.records import load_index

RIGHT, LEFT = {0, 1, 2, 6, 7, 8, 16, 18}, {3, 4, 5, 9, 10, 11, 15, 17}


def draw(sample: dict) -> np.ndarray:
    image = np.ascontiguousarray(sample["image"].numpy().transpose(1, 2, 0))
    for k, (x, y, v) in enumerate(sample["keypoints2d"].numpy()):
        if v > 0:
            color = (255, 0, 0) if k in RIGHT else (0, 0, 255) if k in LEFT else (0, 200, 0)
            centre = (int(np.rint((x + 1) * 112 - 0.5)), int(np.rint((y + 1) * 112 - 0.5)))
            cv2.circle(image, centre, 3, color, -1, lineType=cv2.LINE_AA)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index")
    parser.add_argument("--out", required=True)
    parser.add_argument("--num", type=int, default=8)
    parser.add_argument("--augment", action="store_true", help="apply training augmentation")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    index = load_index(args.index)
    dataset = RecordDataset(index, AugmentConfig() if args.augment else None, seed=args.seed)
    rows = np.random.default_rng(args.seed).choice(len(index), args.num, replace=False)
    grid = np.concatenate([draw(dataset[int(r)]) for r in rows], axis=1)
    cv2.imwrite(args.out, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out}: rows {sorted(rows.tolist())}")


if __name__ == "__main__":
    main()
