"""Body model forward pass: openhmr's `BodyModel` against the smplx package's `lbs` on the same
tensors, in the same run.

    python benchmarks/body_model.py [--repeats 20] [--rounds 5] [--threads N] [--models smpl]
        [--backward]

Prints, per model and batch size, milliseconds per call (median; a forward pass, or with
--backward a forward and backward pass), bodies per second, the speed-up over smplx, the minor
page faults per call of each and the speed-up when each is timed on its own ("alone": openhmr
first, in a process where smplx has not yet run; see docs/benchmarks.md on the allocator), and
the largest vertex difference between the two (they must agree).
Each of --rounds rounds times both interleaved (--repeats calls each); the speed-up is the
median of the rounds' ratios, with their range, so that load from other processes on a shared
machine shows up as a wide range instead of one lucky or unlucky number.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, time_interleaved

from openhmr.body import BodyModel, read_body_model
from openhmr.body.io import BodyModelData
from openhmr.body.keypoints import COCOPLUS_NAMES, SMPL_JOINT_NAMES


def random_smpl_sized(seed: int = 0) -> BodyModelData:
    """A random model with official SMPL's sizes: 6890 vertices, 13776 faces, 10 betas,
    pose correctives, sparse joint regressor, skinning weights over ≤ 4 joints per vertex."""
    rng = np.random.default_rng(seed)
    num_v = 6890
    joint_regressor = rng.random((24, num_v)) * (rng.random((24, num_v)) < 0.01)
    joint_regressor[:, 0] += 1e-3
    joint_regressor /= joint_regressor.sum(1, keepdims=True)
    weights = np.zeros((num_v, 24))
    for j in range(4):
        weights[np.arange(num_v), rng.integers(0, 24, num_v)] += rng.random(num_v) + 0.1 * j
    weights /= weights.sum(1, keepdims=True)
    keypoints = np.zeros((19, num_v))
    keypoints[np.arange(19), rng.integers(0, num_v, 19)] = 1
    return BodyModelData(
        v_template=rng.normal(0, 0.3, (num_v, 3)),
        shapedirs=rng.normal(0, 0.01, (num_v, 3, 10)),
        posedirs=rng.normal(0, 0.005, (num_v, 3, 207)),
        joint_regressor=joint_regressor,
        weights=weights,
        parents=np.array(
            [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
        ),
        faces=rng.integers(0, num_v, (13776, 3)),
        keypoint_regressor=keypoints,
        keypoint_names=COCOPLUS_NAMES,
        joint_names=SMPL_JOINT_NAMES,
        meta={"name": "random SMPL-sized"},
    )


def smplx_forward(data: BodyModelData):
    """The smplx package's `lbs` (plus its keypoint regression) on the same float32 tensors."""
    from smplx.lbs import lbs, vertices2joints

    f32 = {"dtype": torch.float32}
    v_template = torch.tensor(data.v_template, **f32)
    shapedirs = torch.tensor(data.shapedirs, **f32)
    num_v = data.num_vertices
    posedirs = np.zeros((num_v, 3, 207)) if data.posedirs is None else data.posedirs
    posedirs = torch.tensor(posedirs.reshape(-1, 207).T, **f32)  # smplx's own reshaping
    joint_regressor = torch.tensor(data.joint_regressor, **f32)
    weights = torch.tensor(data.weights, **f32)
    parents = torch.tensor(data.parents, dtype=torch.long)
    keypoint_regressor = torch.tensor(data.keypoint_regressor, **f32)

    def forward(pose: torch.Tensor, betas: torch.Tensor):
        vertices, joints = lbs(
            betas,
            pose.flatten(1),
            v_template,
            shapedirs,
            posedirs,
            joint_regressor,
            parents,
            weights,
        )
        return vertices, joints, vertices2joints(keypoint_regressor, vertices)

    return forward


def alone(fn, calls: int = 20) -> tuple[float, float]:
    """fn timed on its own after warm-up: (minor page faults per call, median seconds per call);
    faults are NaN where `resource` is missing."""
    try:
        import resource
    except ImportError:  # Windows has no resource module
        resource = None
    for _ in range(3):
        fn()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt if resource else 0
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    if resource is None:
        return float("nan"), statistics.median(seconds)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    return faults / calls, statistics.median(seconds)


def calls(model: BodyModel, reference, pose, betas, backward: bool):
    """The two timed calls: forward passes, or forward + backward of Σ v² to the pose (what
    fitting and training run)."""
    if not backward:
        return lambda: model(pose=pose, betas=betas), lambda: reference(pose, betas)

    def ours():
        model(
            pose=pose.clone().requires_grad_(True), betas=betas
        ).vertices.square().sum().backward()

    def theirs():
        reference(pose.clone().requires_grad_(True), betas)[0].square().sum().backward()

    return ours, theirs


def bench_model(
    data: BodyModelData, batch: int, repeats: int, rounds: int, backward: bool = False
) -> dict[str, float]:
    model = BodyModel(data).eval()
    reference = smplx_forward(data)
    generator = torch.Generator().manual_seed(batch)
    pose = 0.4 * torch.randn(batch, 24, 3, generator=generator)
    betas = torch.randn(batch, 10, generator=generator)
    ours_call, smplx_call = calls(model, reference, pose, betas, backward)
    with torch.inference_mode(not backward):
        # openhmr alone first: smplx's larger temporaries raise glibc's mmap threshold for the
        # rest of the process, which would hide what openhmr does in a process of its own
        ours_alone = alone(ours_call)
        smplx_alone = alone(smplx_call)
        ours = model(pose=pose, betas=betas)
        theirs = reference(pose, betas)
        difference = float((ours.vertices - theirs[0]).abs().max())
        per_round = [
            time_interleaved({"openhmr": ours_call, "smplx": smplx_call}, repeats=repeats)
            for _ in range(rounds)
        ]
    ratios = [t["smplx"] / t["openhmr"] for t in per_round]
    return {
        "ours_ms": 1e3 * statistics.median(t["openhmr"] for t in per_round),
        "smplx_ms": 1e3 * statistics.median(t["smplx"] for t in per_round),
        "speedup": statistics.median(ratios),
        "low": min(ratios),
        "high": max(ratios),
        "ours_faults": ours_alone[0],
        "smplx_faults": smplx_alone[0],
        "alone_speedup": smplx_alone[1] / ours_alone[1],
        "difference": difference,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per case and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of interleaved timing")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--backward", action="store_true", help="time forward + backward to the pose"
    )
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument(
        "--models", nargs="+", choices=["open", "smpl"], default=["open", "smpl"],
        help="which models, in this order (the allocator's state carries over between them)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {machine()}")
    build = {
        "open": ("open", lambda: read_body_model("open")),
        "smpl": ("random SMPL-sized", random_smpl_sized),
    }
    models = {build[key][0]: build[key][1]() for key in args.models}
    header = (
        f"{'model':<18} {'V':>6} {'batch':>5} {'openhmr ms':>11} {'smplx ms':>9} "
        f"{'bodies/s':>9} {'speed-up':>8} {'range':>11} {'faults/call':>12} {'alone':>6} "
        f"{'max |Δv| m':>11}"
    )
    print(header)
    for name, data in models.items():
        for batch in args.batches:
            r = bench_model(data, batch, args.repeats, args.rounds, args.backward)
            print(
                f"{name:<18} {data.num_vertices:>6} {batch:>5} {r['ours_ms']:>11.2f} "
                f"{r['smplx_ms']:>9.2f} {batch / r['ours_ms'] * 1e3:>9.0f} "
                f"{r['speedup']:>7.2f}x {r['low']:>5.2f}-{r['high']:.2f}x "
                f"{r['ours_faults']:>5.0f} / {r['smplx_faults']:<5.0f} {r['alone_speedup']:>5.2f}x "
                f"{r['difference']:>11.2e}"
            )


if __name__ == "__main__":
    main()
