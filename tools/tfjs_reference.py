"""TF.js reference outputs of Google's MoveNet graph models, for parity tests of their PyTorch
imports. Regenerate the fixtures `tests/data/tfjs_movenet_{thunder,lightning,multipose}.npz`
(about 4 minutes of CPU time, one core) with:

    cd tools/tfjs && npm ci && cd ../.. && .venv/bin/python tools/tfjs_reference.py

The original networks run unchanged in Node through `tools/tfjs/run_graph.mjs`: the official
`@tensorflow/tfjs` package (pinned in `tools/tfjs/package-lock.json`) on its pure-JavaScript
CPU backend (no native code), loading the model files in place from
`../shared/models/human-models-3.0.4/` (see `../shared/models/README.md`).

Inputs (uint8 RGB, 1 × H × W × 3, exactly as fed; the int32 model input is the same values):

- `input_0`: the bundled photo `src/openhmr/inference/assets/astronaut.jpg` letter-boxed onto
  the model's square input (scaled so its longer side fills it, centred, zero padding);
  MultiPose: `input_0` at 256 × 256 and `input_1` at 384 × 384.
- then three synthetic images rendered with `openhmr.render` (the open body model, poses from
  `openhmr.synth.sample_poses`, clothing colours, lights and a procedural background from
  `openhmr.synth.scene`; no dataset pixels): one person near-frontal, one turned away, two
  people side by side. They are rendered at 256 × 256 and letter-boxed like the photo.

Each npz holds `input_<i>` (uint8), `output_<i>` (float32, the model's `Identity:0`:
1 × 1 × 17 × 3 single-pose, 1 × 6 × 56 MultiPose), for the first image only the intermediates
`node_<key>` (float32, NHWC, see `INTERMEDIATES` for the key → node name table: the backbone end,
the FPN output, the head outputs before their sigmoid), `keypoints_<i>` for the synthetic
images (P × 17 × 2: the bodies' own COCO keypoints, y, x in [0, 1] of the input, from the
open model's keypoint regressor; a sanity aid, not MoveNet's definition), and `meta`, a JSON
string: model file hashes, node names, letter-box transforms (`scale`, `left`, `top`: input
pixel = source pixel × scale + offset), tfjs version, and `timing_ms` / `cpu_ms`: the mean
wall-clock / process CPU ms per image of the TF.js CPU backend (single-threaded), timed runs
after a warm-up, on the photo only (at each input size); other load on the machine inflates
the wall-clock figure, much less the CPU one.

`run_tfjs(model_json, image, node_names)` runs one image through Node for tests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from openhmr.body.keypoints import COCO17_NAMES

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "tools" / "tfjs" / "run_graph.mjs"
NODE_MODULES = ROOT / "tools" / "tfjs" / "node_modules" / "@tensorflow" / "tfjs"
MODELS_DIR = ROOT.parent / "shared" / "models" / "human-models-3.0.4"
PHOTO = ROOT / "src" / "openhmr" / "inference" / "assets" / "astronaut.jpg"
OUT_DIR = ROOT / "tests" / "data"
REGENERATE = "cd tools/tfjs && npm ci && cd ../.. && .venv/bin/python tools/tfjs_reference.py"

_FEATURES = "StatefulPartitionedCall/center_net_mobile_net_v2fpn_feature_extractor/model_1"
_SINGLE_HEADS = {
    "center": "StatefulPartitionedCall/center_0/conv2d_4/BiasAdd",
    "heatmap": "StatefulPartitionedCall/kpt_heatmap_0/conv2d_5/BiasAdd",
    "regress": "StatefulPartitionedCall/kpt_regress_0/conv2d_6/BiasAdd",
    "offset": "StatefulPartitionedCall/kpt_offset_0/conv2d_7/BiasAdd",
}
_MULTI_HEADS = {
    "center": "StatefulPartitionedCall/center_0/conv2d_4/BiasAdd",
    "box_scale": "StatefulPartitionedCall/box_scale_0/conv2d_5/BiasAdd",
    "box_offset": "StatefulPartitionedCall/box_offset_0/conv2d_6/BiasAdd",
    "heatmap": "StatefulPartitionedCall/kpt_heatmap_0/conv2d_7/BiasAdd",
    "regress": "StatefulPartitionedCall/kpt_regress_0/conv2d_8/BiasAdd",
    "offset": "StatefulPartitionedCall/kpt_offset_0/conv2d_9/BiasAdd",
}
# key → node name (TF.js fuses conv + bias (+ activation) into one node named after its last
# op: `out_relu/Relu6` and `re_lu_2/Relu` are after their activation, `*/BiasAdd` are logits)
INTERMEDIATES: dict[str, dict[str, str]] = {
    model: {
        "backbone": f"{_FEATURES}/model/out_relu/Relu6",
        "fpn": f"{_FEATURES}/re_lu_2/Relu",
        **(_MULTI_HEADS if model == "multipose" else _SINGLE_HEADS),
    }
    for model in ("thunder", "lightning", "multipose")
}
INPUT_SIZES = {"thunder": (256,), "lightning": (192,), "multipose": (256, 384)}
SYNTH_SIZE = 256


def model_json(model: str, models_dir: Path = MODELS_DIR) -> Path:
    """The model.json of `thunder`, `lightning` or `multipose`."""
    return Path(models_dir) / f"movenet-{model}.json"


def run_tfjs_timed(
    model_json: str | Path,
    image_uint8_nhwc: np.ndarray,
    node_names: list[str] | tuple[str, ...] = (),
    repeat: int = 1,
    warmup: int = 0,
) -> tuple[dict[str, np.ndarray], dict | None]:
    """Run the TF.js graph model on one 1 × H × W × 3 image through Node: {"output": the
    model's final output, node name: that node's output, ...} (float32; int32 for integer
    nodes) and the runner's timing record (None when repeat == 0). The run whose outputs are
    returned comes first and is not timed; then `warmup` untimed and `repeat` timed runs."""
    image = np.asarray(image_uint8_nhwc)
    if image.ndim != 4 or image.shape[0] != 1 or image.shape[3] != 3:
        raise ValueError(f"expected a 1 × H × W × 3 image, got shape {image.shape}")
    if image.dtype not in (np.uint8, np.int32, np.float32):
        raise ValueError(f"expected uint8, int32 or float32 pixels, got {image.dtype}")
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node (Node.js ≥ 18) is not on PATH")
    if not NODE_MODULES.is_dir():
        raise RuntimeError(f"@tensorflow/tfjs is not installed: run `npm ci` in {RUNNER.parent}")
    names = list(dict.fromkeys(node_names))
    with tempfile.TemporaryDirectory(prefix="tfjs_") as tmp:
        np.save(Path(tmp) / "input.npy", np.ascontiguousarray(image))
        out = Path(tmp) / "out"
        command = [node, str(RUNNER), "--model", str(model_json), "--input"]
        command += [str(Path(tmp) / "input.npy"), "--out", str(out)]
        command += ["--repeat", str(repeat), "--warmup", str(warmup)]
        for name in names:
            command += ["--node", name]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"run_graph.mjs failed ({done.returncode}):\n{done.stderr[-4000:]}")
        manifest = json.loads((out / "outputs.json").read_text())
        outputs = {}
        for k, entry in enumerate(manifest):
            array = np.load(out / entry["file"])
            if list(array.shape) != entry["shape"]:
                raise RuntimeError(f"{entry['name']}: shape {array.shape}, {entry['shape']} sent")
            outputs["output" if k == 0 else entry["name"]] = array
        timing_file = out / "timing.json"
        timing = json.loads(timing_file.read_text()) if timing_file.exists() else None
    return outputs, timing


def run_tfjs(
    model_json: str | Path,
    image_uint8_nhwc: np.ndarray,
    node_names: list[str] | tuple[str, ...] = (),
    repeat: int = 1,
) -> dict[str, np.ndarray]:
    """{"output": final output, node name: output, ...} of the TF.js model on one image (see
    `run_tfjs_timed`); with repeat > 0 also "timing_ms": the mean ms of `repeat` timed runs."""
    outputs, timing = run_tfjs_timed(model_json, image_uint8_nhwc, node_names, repeat)
    if timing is not None:
        outputs["timing_ms"] = np.float64(timing["mean_ms"])
    return outputs


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, dict]:
    """(size, size, 3) uint8: `image` scaled so its longer side is `size` (area filter when
    shrinking, bilinear when enlarging), centred, zero padding; and the transform."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nh, nw = min(size, round(h * scale)), min(size, round(w * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = image
    if (nh, nw) != (h, w):
        resized = cv2.resize(image, (nw, nh), interpolation=interpolation)
    top, left = (size - nh) // 2, (size - nw) // 2
    out = np.zeros((size, size, 3), np.uint8)
    out[top : top + nh, left : left + nw] = resized
    return out, {"source_hw": [h, w], "scale": scale, "left": left, "top": top}


def _root(yaw_deg: float, pitch_deg: float = 0.0) -> np.ndarray:
    """Axis-angle root in camera axes: upright, facing the camera at yaw 0 (as in
    `openhmr.synth.scene.root_orientation`)."""
    from scipy.spatial.transform import Rotation

    turn = Rotation.from_euler("YXZ", [math.radians(yaw_deg), math.radians(pitch_deg), 0.0])
    return (turn * Rotation.from_rotvec([math.pi, 0.0, 0.0])).as_rotvec()


# per scene: (yaw in degrees, pose-angle scale, body height in px, box centre x in px) per body
SCENES = (
    ((15.0, 0.6, 215.0, 128.0),),
    ((150.0, 1.0, 200.0, 128.0),),
    ((-25.0, 0.8, 165.0, 72.0), (30.0, 0.8, 180.0, 186.0)),
)


def synthetic_images(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rendered people over procedural backgrounds (see `SCENES`): (SYNTH_SIZE², 3) uint8 and
    (P, 17, 2) COCO keypoints y, x in [0, 1], per scene."""
    import torch

    from openhmr.body import COCOPLUS_NAMES, load_body_model
    from openhmr.body.parts import vertex_part_labels
    from openhmr.render import Mesh, render
    from openhmr.synth import sample_poses
    from openhmr.synth.scene import clothing_colors, procedural_background, random_lights

    body = load_body_model("open")
    parts = vertex_part_labels(body.data.weights)
    faces = body.faces.numpy()
    coco = [COCOPLUS_NAMES.index(name) for name in COCO17_NAMES]
    size, focal = SYNTH_SIZE, 600.0
    scenes = []
    for s, people in enumerate(SCENES):
        rng = np.random.default_rng([seed, s])
        meshes, keypoints = [], []
        for yaw, amount, height_px, centre_x in people:
            pose = sample_poses(1, rng)[0] * amount
            pose[0] = _root(yaw)
            betas = np.clip(rng.normal(0, 1, 10), -2, 2)
            with torch.no_grad():
                posed = body(
                    pose=torch.tensor(pose[None], dtype=torch.float32),
                    betas=torch.tensor(betas[None], dtype=torch.float32),
                )
            vertices = posed.vertices[0].double().numpy()
            points = posed.keypoints[0].double().numpy()[coco]
            low, high = vertices.min(axis=0), vertices.max(axis=0)
            z = focal * (high[1] - low[1]) / height_px  # height in pixels at the box's depth
            centre = (low + high) / 2
            shift = (np.array([centre_x, size / 2]) - size / 2) * z / focal
            translation = np.array([*(shift - centre[:2]), z - centre[2]])
            meshes.append(Mesh(vertices + translation, faces, clothing_colors(rng)[parts]))
            points = points + translation
            xy = focal * points[:, :2] / points[:, 2:3] + size / 2
            keypoints.append(xy[:, ::-1] / size)
        lights, ambient = random_lights(rng)
        rendering = render(
            meshes, (size, size), focal, supersample=3, lights=lights, ambient=ambient
        )
        alpha = rendering.alpha[..., None]
        image = alpha * rendering.rgb * 255 + (1 - alpha) * procedural_background(rng, size)
        scenes.append((np.clip(np.rint(image), 0, 255).astype(np.uint8), np.stack(keypoints)))
    return scenes


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_fixture(
    model: str,
    photo: np.ndarray,
    synth: list[tuple[np.ndarray, np.ndarray]],
    models_dir: Path,
    repeat: int,
) -> dict[str, np.ndarray]:
    """The npz contents for one model (see the module docstring)."""
    path = model_json(model, models_dir)
    sources, inputs, boxes, keypoints = [], [], [], {}
    for size in INPUT_SIZES[model]:
        image, box = letterbox(photo, size)
        sources.append(f"{PHOTO.relative_to(ROOT)} at {size}x{size}")
        inputs.append(image)
        boxes.append(box)
    for k, (image, points) in enumerate(synth):
        small, box = letterbox(image, INPUT_SIZES[model][0])
        keypoints[f"keypoints_{len(inputs)}"] = points.astype(np.float32)
        sources.append(f"synthetic scene {k} (SCENES[{k}], seed 0)")
        inputs.append(small)
        boxes.append(box)
    nodes = INTERMEDIATES[model]
    fixture: dict[str, np.ndarray] = {}
    timing_ms, cpu_ms, timing = {}, {}, None
    for i, image in enumerate(inputs):
        batch = image[None]
        timed = i < len(INPUT_SIZES[model])  # the photo at each input size
        names = list(nodes.values()) if i == 0 else []
        outputs, timing_i = run_tfjs_timed(
            path, batch, names, repeat=repeat if timed else 0, warmup=1 if timed else 0
        )
        fixture[f"input_{i}"] = batch
        fixture[f"output_{i}"] = outputs["output"].astype(np.float32)
        for key, name in nodes.items():
            if i == 0:
                fixture[f"node_{key}"] = outputs[name].astype(np.float32)
        if timing_i is not None:
            timing = timing_i
            size = f"{image.shape[0]}x{image.shape[1]}"
            timing_ms[size] = timing_i["mean_ms"]
            cpu_ms[size] = timing_i["mean_cpu_ms"]
        print(f"{model} input {i} {batch.shape}: {sources[i]}", flush=True)
    fixture.update(keypoints)
    meta = {
        "model": model,
        "model_json": f"human-models-3.0.4/{path.name}",
        "model_json_sha256": _sha256(path),
        "model_bin_sha256": _sha256(path.with_suffix(".bin")),
        "output_node": "Identity:0",
        "nodes": nodes,
        "node_shapes": {k: list(fixture[f"node_{k}"].shape) for k in nodes},
        "inputs": sources,
        "letterbox": boxes,
        "keypoint_names": list(COCO17_NAMES),
        "tfjs_version": timing["tfjs_version"] if timing else None,
        "backend": timing["backend"] if timing else None,
        "timing_ms": timing_ms,
        "cpu_ms": cpu_ms,
        "node_version": timing["node_version"] if timing else None,
        "timing_repeat": repeat,
        "regenerate": REGENERATE,
    }
    fixture["meta"] = np.array(json.dumps(meta))
    return fixture


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(INPUT_SIZES), choices=list(INPUT_SIZES))
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per timed input")
    args = parser.parse_args(argv)
    photo = cv2.cvtColor(cv2.imread(str(PHOTO), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    synth = synthetic_images()
    args.out.mkdir(parents=True, exist_ok=True)
    for model in args.models:
        fixture = make_fixture(model, photo, synth, args.models_dir, args.repeat)
        target = args.out / f"tfjs_movenet_{model}.npz"
        np.savez_compressed(target, **fixture)
        meta = json.loads(str(fixture["meta"]))
        print(
            f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB); "
            f"TF.js ms/image: {meta['timing_ms']} (CPU ms: {meta['cpu_ms']})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
