"""For docs/fitting.md (its commands): TF.js MoveNet's keypoints on a record index.

MoveNet (the original TF.js graph model, run by node + @tensorflow/tfjs) on every row of a
record index: COCO-17 keypoints in image pixels, for calibrating and checking the fitting
stage before (and independently of) openhmr's PyTorch import of MoveNet.

    npm install --prefix /tmp/tfjs @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0
    python tools/movenet_tfjs.py runs/synth_calib/synth.npz --out runs/synth_calib/movenet.npz \
        --node-modules /tmp/tfjs/node_modules \
        --model ../shared/models/human-models-3.0.4/movenet-thunder.json

Each row's crop is the index's box (centre, side 200 · scale, the person ~150 px of 224),
resized to the model's input (256 for Thunder, 192 for Lightning).  Output npz: keypoints
(N, 17, 3) x, y in image pixels (continuous: pixel j covers [j, j + 1)) and score; layout
"coco17"; the model path.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from openhmr.data.crop import crop_matrix, warp_image
from openhmr.data.records import load_index
from openhmr.files import write_npz
from openhmr.inference.predictor import load_image

RUNNER = Path(__file__).with_suffix(".mjs")


def input_size(model: Path) -> int:
    """The graph's input side (from its first Placeholder's shape)."""
    topology = json.loads(model.read_text())["modelTopology"]
    for node in topology["node"]:
        if node["op"] == "Placeholder":
            dims = node["attr"]["shape"]["shape"]["dim"]
            sizes = [int(d["size"]) for d in dims if int(d["size"]) > 3]
            if sizes:
                return sizes[0]
    return 256


def run(index_path: str, model: Path, node_modules: Path, rows: slice | None = None) -> np.ndarray:
    index = load_index(index_path)
    if rows is not None:
        index = index.subset(rows)
    size = input_size(model)
    crops, inverses = [], []
    for row in range(len(index)):
        image = load_image(index.image_root / str(index.imgname[row]))
        matrix = crop_matrix(index.center[row], float(index.scale[row]), size)
        crops.append(warp_image(image, matrix, size))
        linear = np.linalg.inv(matrix[:, :2])
        inverses.append(np.concatenate([linear, -(linear @ matrix[:, 2])[:, None]], axis=1))
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "crops.npy", np.stack(crops))
        env = {**os.environ, "NODE_PATH": str(node_modules)}
        # node resolves packages from the script's folder: run a copy beside node_modules
        script = node_modules.parent / "openhmr_movenet_tfjs.mjs"
        script.write_text(RUNNER.read_text())
        subprocess.run(
            ["node", str(script), str(model), f"{tmp}/crops.npy", f"{tmp}/out.npy"],
            check=True,
            env=env,
        )
        raw = np.load(Path(tmp) / "out.npy").astype(np.float64)  # N x 17 x (y, x, score)
    crop_xy = raw[..., [1, 0]] * size
    image_xy = np.einsum("nij,nkj->nki", np.stack(inverses)[:, :, :2], crop_xy)
    image_xy += np.stack(inverses)[:, None, :, 2]
    return np.concatenate([image_xy, raw[..., 2:3]], axis=-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index")
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", required=True, type=Path, help="movenet-*.json")
    parser.add_argument("--node-modules", required=True, type=Path)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int)
    args = parser.parse_args()
    rows = slice(args.first, None if args.count is None else args.first + args.count)
    keypoints = run(args.index, args.model.resolve(), args.node_modules.resolve(), rows)
    write_npz(
        args.out,
        {
            "keypoints": keypoints.astype(np.float32),
            "layout": np.array("coco17"),
            "model": np.array(str(args.model)),
            "index": np.array(str(args.index)),
            "first": np.array(args.first),
        },
    )
    print(f"wrote {args.out}: {len(keypoints)} rows")


if __name__ == "__main__":
    main()
