"""For docs/fitting.md (its commands): the COCO-17 calibration behind fit/keypoints.py.

Calibrate where COCO-17 keypoints sit on the body: a pose network's COCO keypoints against
reference keypoints of the same people, per joint, in the body's own 2D frame.

    python tools/calibrate_coco.py runs/synth_calib/synth.npz \
        --keypoints runs/synth_calib/movenet_thunder.npz [--fit-rows 300] [--out report.json]

Reference: the index's cocoplus keypoints — on a synthetic split the body model's own keypoints
projected exactly (what the fit needs: COCO points in terms of the body), on LSP the annotated
LSP joints (a cross-check: COCO against LSP conventions).  Keypoints: (N, 17, 3) in image
pixels for the same rows (tools/movenet_tfjs.py, or any pose network's output).

Model, per side, for a COCO joint J with reference point P_J (its cocoplus namesake):

    COCO_J = P_J + a · (P_along − P_J) + b · (P_J − P_other)

where, for hips, P_along is the same side's shoulder and P_other the other hip (a > 0: towards the
shoulder, b > 0: outwards); for shoulders, P_along is the same side's hip (a > 0: down) and
P_other the other shoulder.  Projection is linear, so (a, b) found in 2D hold for the 3D
affine combination (`openhmr.fit.keypoints.coco17_matrix`).  Least squares over both sides of
the first --fit-rows rows (keypoints with score ≥ --min-score, on the right side: nearer their
own reference than the other side's), trimmed twice at 3 × the median residual; errors of every
COCO joint on the remaining rows, as a fraction of the torso (reference shoulder centre to hip
centre), before and after.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from openhmr.body.keypoints import COCOPLUS_NAMES
from openhmr.data.records import load_index
from openhmr.files import atomic_path
from openhmr.fit.keypoints import COCO17_NAMES

PAIRS = {  # joint: (towards, other side) as name templates for the same side S / other side O
    "hip": ("S_shoulder", "O_hip"),
    "shoulder": ("S_hip", "O_shoulder"),
}


def reference(index_keypoints: np.ndarray, name: str) -> np.ndarray:
    return index_keypoints[:, COCOPLUS_NAMES.index(name), :2]


def torso(index_keypoints: np.ndarray) -> np.ndarray:
    shoulders = (
        reference(index_keypoints, "left_shoulder") + reference(index_keypoints, "right_shoulder")
    ) / 2
    hips = (reference(index_keypoints, "left_hip") + reference(index_keypoints, "right_hip")) / 2
    return np.linalg.norm(shoulders - hips, axis=1)


def design(index_keypoints: np.ndarray, joint: str, side: str) -> tuple[np.ndarray, np.ndarray]:
    """Reference point P (N, 2) and the two directions (N, 2, 2): along − P, P − other."""
    other = "right" if side == "left" else "left"
    towards, across = (t.replace("S_", f"{side}_").replace("O_", f"{other}_") for t in PAIRS[joint])
    point = reference(index_keypoints, f"{side}_{joint}")
    along = reference(index_keypoints, towards) - point
    out = point - reference(index_keypoints, across)
    return point, np.stack([along, out], axis=-1)


def usable(observed: np.ndarray, truth: np.ndarray, joint: str, side: str, min_score: float):
    """Rows where the network found the joint confidently and on the right side."""
    other = "right" if side == "left" else "left"
    own = observed[:, COCO17_NAMES.index(f"{side}_{joint}")]
    near_own = np.linalg.norm(own[:, :2] - reference(truth, f"{side}_{joint}"), axis=1)
    near_other = np.linalg.norm(own[:, :2] - reference(truth, f"{other}_{joint}"), axis=1)
    valid = truth[:, COCOPLUS_NAMES.index(f"{side}_{joint}"), 2] > 0
    return (own[:, 2] >= min_score) & (near_own < near_other) & valid


def fit_joint(observed, truth, rows, joint: str, min_score: float) -> dict[str, object]:
    systems, targets, scales = [], [], []
    for side in ("left", "right"):
        ok = usable(observed, truth, joint, side, min_score)[rows]
        point, directions = design(truth[rows], joint, side)
        coco = observed[rows, COCO17_NAMES.index(f"{side}_{joint}"), :2]
        systems.append(directions[ok])
        targets.append((coco - point)[ok])
        scales.append(torso(truth[rows])[ok])
    a_matrix = np.concatenate(systems)  # M x 2 x 2
    target = np.concatenate(targets)  # M x 2
    scale = np.concatenate(scales)
    keep = np.ones(len(target), bool)
    for _ in range(3):
        coefficients, *_ = np.linalg.lstsq(
            a_matrix[keep].reshape(-1, 2), target[keep].reshape(-1), rcond=None
        )
        residual = np.linalg.norm(target - a_matrix @ coefficients, axis=1) / scale
        keep = residual < 3 * np.median(residual)
    return {
        "along": float(coefficients[0]),
        "out": float(coefficients[1]),
        "samples": len(target),
        "kept": int(keep.sum()),
    }


def joint_errors(observed, truth, rows, coefficients: dict, min_score: float) -> dict:
    """Mean and median distance / torso for every COCO joint (kept calibration applied)."""
    scale = torso(truth[rows])
    table = {}
    for name in COCO17_NAMES:
        side, _, joint = name.partition("_")
        if joint not in ("hip", "shoulder", "eye", "ear", "elbow", "wrist", "knee", "ankle"):
            side, joint = "", name
        ok = (observed[rows, COCO17_NAMES.index(name), 2] >= min_score) & (
            truth[rows, COCOPLUS_NAMES.index(name), 2] > 0
        )
        if side and joint in PAIRS:
            ok &= usable(observed, truth, joint, side, min_score)[rows]
        point = reference(truth[rows], name)
        seen = observed[rows, COCO17_NAMES.index(name), :2]
        entry = {"count": int(ok.sum())}
        before = np.linalg.norm(seen - point, axis=1)[ok] / scale[ok]
        entry["mean_before"], entry["median_before"] = (
            float(before.mean()),
            float(np.median(before)),
        )
        if side and joint in coefficients:
            _, directions = design(truth[rows], joint, side)
            c = coefficients[joint]
            mapped = point + directions @ np.array([c["along"], c["out"]])
            after = np.linalg.norm(seen - mapped, axis=1)[ok] / scale[ok]
            entry["mean_after"], entry["median_after"] = (
                float(after.mean()),
                float(np.median(after)),
            )
        table[name] = entry
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", help="record index whose keypoints2d are the reference")
    parser.add_argument("--keypoints", required=True, help=".npz with keypoints (N, 17, 3)")
    parser.add_argument("--fit-rows", type=int, help="rows used to fit (default: 3/4)")
    parser.add_argument("--min-score", type=float, default=0.3)
    parser.add_argument("--out", help="JSON report")
    args = parser.parse_args()

    index = load_index(args.index, check_images=False)
    with np.load(args.keypoints) as data:
        observed = np.asarray(data["keypoints"], np.float64)
    truth = np.asarray(index.keypoints2d[: len(observed)], np.float64)
    count = len(observed)
    split = args.fit_rows or (3 * count) // 4
    fit_rows, check_rows = np.arange(split), np.arange(split, count)
    coefficients = {j: fit_joint(observed, truth, fit_rows, j, args.min_score) for j in PAIRS}
    report = {
        "index": args.index,
        "keypoints": args.keypoints,
        "rows": {"fit": int(split), "check": int(count - split)},
        "min_score": args.min_score,
        "coefficients": coefficients,
        "errors_on_check_rows": joint_errors(
            observed, truth, check_rows, coefficients, args.min_score
        ),
    }
    print(json.dumps(report, indent=1))
    if args.out:
        with atomic_path(args.out) as tmp:
            tmp.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
