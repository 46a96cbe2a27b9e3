"""TF.js reference outputs of Google's BlazePose GHUM graphs (heavy, full), for the parity tests
of their PyTorch import (tests/test_blazepose.py). Regenerate `tests/data/tfjs_blazepose_
{heavy,full}.npz` (about a minute of CPU time) with:

    cd tools/tfjs && npm ci && cd ../.. && .venv/bin/python tools/blazepose_tfjs_reference.py

The graphs run unchanged in Node through `tools/tfjs/run_graph.mjs` (the official
`@tensorflow/tfjs` 4.22.0, pure-JavaScript CPU backend), loading the model files in place from
`../shared/models/human-models-3.0.4/`. Inputs, 256 × 256 RGB uint8 (the network is fed
`uint8 / 255` in float32, 1 × 256 × 256 × 3):

- `input_0`: the bundled photo `src/openhmr/inference/assets/astronaut.jpg` letter-boxed;
- `input_1`, `input_2`: the synthetic scenes 0 and 1 of `tools/tfjs_reference.py` (a rendered
  open body model over a procedural background; no dataset pixels);
- `input_3`: a blank (black) crop, no person.

Each npz holds per input `i`: `input_i` (uint8, 1 × 256 × 256 × 3), `ld_3d_i` (1 × 195),
`world_3d_i` (1 × 117), `pose_flag_i` (1 × 1), `heatmaps_i` = the graph's heatmaps
(1 × 64 × 64 × 39) at every 4th row and column from 0 (1 × 16 × 16 × 39), `segmentation_i` =
its segmentation (1 × 256 × 256 × 1) at every 2nd row and column (1 × 128 × 128 × 1), all
float32; and `meta`: model file hashes, output node names, tfjs version, and `timing_ms` /
`cpu_ms` of the TF.js CPU backend on the photo (mean of the timed runs after a warm-up).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from tfjs_reference import (  # noqa: E402
    MODELS_DIR,
    PHOTO,
    _sha256,
    letterbox,
    run_tfjs_timed,
    synthetic_images,
)

OUT_DIR = ROOT / "tests" / "data"
OUTPUTS = {"heatmaps": "Identity:0", "segmentation": "Identity_1:0", "ld_3d": "Identity_2:0",
           "pose_flag": "Identity_3:0", "world_3d": "Identity_4:0"}  # fmt: skip
SUBSAMPLE = {"heatmaps": 4, "segmentation": 2}
REGENERATE = (
    "cd tools/tfjs && npm ci && cd ../.. && .venv/bin/python tools/blazepose_tfjs_reference.py"
)


def reference_inputs() -> list[tuple[str, np.ndarray]]:
    """(description, 256 × 256 × 3 uint8) per input (see the module docstring)."""
    photo = cv2.cvtColor(cv2.imread(str(PHOTO), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    inputs = [(f"{PHOTO.relative_to(ROOT)} letter-boxed to 256x256", letterbox(photo, 256)[0])]
    for k, (image, _) in enumerate(synthetic_images()[:2]):
        inputs.append((f"synthetic scene {k} of tools/tfjs_reference.py", image))
    inputs.append(("blank", np.zeros((256, 256, 3), np.uint8)))
    return inputs


def make_fixture(variant: str, models_dir: Path, repeat: int) -> dict[str, np.ndarray]:
    path = Path(models_dir) / f"blazepose-{variant}.json"
    fixture: dict[str, np.ndarray] = {}
    sources, timing = [], None
    names = list(OUTPUTS.values())
    for i, (source, image) in enumerate(reference_inputs()):
        x = (image.astype(np.float32) / np.float32(255))[None]
        first = i == 0  # timed: the photo
        outputs, timed = run_tfjs_timed(path, x, names, repeat=repeat if first else 0,
                                        warmup=1 if first else 0)  # fmt: skip
        fixture[f"input_{i}"] = image[None]
        for key, name in OUTPUTS.items():
            value = outputs[name].astype(np.float32)
            step = SUBSAMPLE.get(key)
            fixture[f"{key}_{i}"] = value[:, ::step, ::step] if step else value
        timing = timed or timing
        sources.append(source)
        print(f"{variant} input {i}: {source}, pose flag {fixture[f'pose_flag_{i}'].item():.3f}")
    meta = {
        "variant": variant,
        "model_json": f"human-models-3.0.4/{path.name}",
        "model_json_sha256": _sha256(path),
        "model_bin_sha256": _sha256(path.with_suffix(".bin")),
        "outputs": OUTPUTS,
        "subsample": SUBSAMPLE,
        "inputs": sources,
        "input_scale": "float32(uint8) / float32(255)",
        "tfjs_version": timing["tfjs_version"],
        "backend": timing["backend"],
        "node_version": timing["node_version"],
        "timing_ms": timing["mean_ms"],
        "cpu_ms": timing["mean_cpu_ms"],
        "timing_repeat": repeat,
        "regenerate": REGENERATE,
    }
    fixture["meta"] = np.array(json.dumps(meta))
    return fixture


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=["heavy", "full"])
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs on the photo")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for variant in args.variants:
        fixture = make_fixture(variant, args.models_dir, args.repeat)
        target = args.out / f"tfjs_blazepose_{variant}.npz"
        np.savez_compressed(target, **fixture)
        meta = json.loads(str(fixture["meta"]))
        print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB); TF.js "
              f"{meta['timing_ms']:.0f} ms/crop (CPU {meta['cpu_ms']:.0f} ms)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
