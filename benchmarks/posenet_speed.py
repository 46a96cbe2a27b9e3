"""MoveNet speed beside the paper's ResNet-50 encoder, in one run: ms per image.

    .venv/bin/python benchmarks/posenet_speed.py [--batches 1 16] [--repeats 5] [--threads 2]
        [--skip onnx] [--tfjs]

Rows: MoveNet Thunder (256²), Lightning (192²), MultiPose (256²) — the network to its head
maps, no decoding; they run channels-last (`MoveNet.channels_last`), and "thunder_nchw" is
Thunder on PyTorch's default contiguous layout — and the HMR encoder ResNet-50 (224², to its
pooled features), each at batch 1 and 16: forward (no_grad), forward + backward (sum of the
outputs), and ONNX Runtime forward. Ratios are against ResNet-50's time in the same mode and
batch. TF.js's own CPU time (the published graph, batch 1, one thread, decoding included)
comes from the fixtures' metadata, or is measured now with --tfjs (needs `npm ci` in
tools/tfjs).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, time_interleaved

from openhmr.model.resnet import build_backbone
from openhmr.posenet import MoveNet

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"thunder": 256, "lightning": 192, "multipose": 256, "resnet50": 224}


def networks() -> dict[str, tuple[torch.nn.Module, int]]:
    nets = {v: (MoveNet.pretrained(v), SIZES[v]) for v in ("thunder", "lightning", "multipose")}
    nets["thunder_nchw"] = (MoveNet.pretrained("thunder"), SIZES["thunder"])
    nets["thunder_nchw"][0].channels_last = False  # the default layout, for comparison
    nets["resnet50"] = (build_backbone("resnet50").eval(), SIZES["resnet50"])
    return nets


def _outputs(net: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    out = net(x)
    if isinstance(out, torch.Tensor):
        return [out]
    return [out.centre, out.keypoint_heatmap, out.keypoint_regression, out.keypoint_offset]


def eager_functions(nets, batch: int) -> dict[str, dict]:
    forward, backward = {}, {}
    for name, (net, size) in nets.items():
        x = torch.rand(batch, 3, size, size) * 255

        def fwd(net=net, x=x):
            with torch.no_grad():
                _outputs(net, x)

        def fwd_bwd(net=net, x=x):
            net.zero_grad(set_to_none=True)
            sum(o.sum() for o in _outputs(net, x)).backward()

        forward[name], backward[name] = fwd, fwd_bwd
    return {"forward": forward, "forward+backward": backward}


def onnx_functions(nets, batch: int, folder: Path) -> dict[str, object]:
    import onnxruntime as ort

    from openhmr.onnx_export import write_onnx
    from openhmr.posenet.export import export_movenet_onnx

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    functions = {}
    for name, (net, size) in nets.items():
        path = folder / f"{name}.onnx"
        if not path.exists():
            if name == "resnet50":
                write_onnx(net, torch.zeros(2, 3, size, size), path, "images", ["features"])
            else:
                export_movenet_onnx(net, path, size)
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed = {
            session.get_inputs()[0].name: np.random.rand(batch, 3, size, size).astype(np.float32)
        }
        functions[name] = lambda s=session, f=feed: s.run(None, f)
    return functions


def tfjs_ms(measure: bool) -> dict[str, float]:
    """TF.js CPU ms per image (batch 1) per network, from the fixtures or measured now."""
    out = {}
    for variant in ("thunder", "lightning", "multipose"):
        with np.load(ROOT / f"tests/data/tfjs_movenet_{variant}.npz") as npz:
            meta = json.loads(str(npz["meta"]))
            image = npz["input_0"]
        if measure:
            sys.path.insert(0, str(ROOT / "tools"))
            from tfjs_reference import MODELS_DIR, run_tfjs_timed

            _, timing = run_tfjs_timed(MODELS_DIR / f"movenet-{variant}.json", image, [], 3, 1)
            out[variant] = float(timing.get("cpu_ms", timing["mean_ms"]))
        else:
            cpu = meta.get("cpu_ms") or meta.get("timing_ms")
            out[variant] = float(next(iter(cpu.values())))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], choices=["onnx", "backward"])
    parser.add_argument("--tfjs", action="store_true", help="measure TF.js now (node)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine())
    nets = networks()
    folder = Path(tempfile.mkdtemp(prefix="posenet_onnx_"))
    for batch in args.batches:
        modes = eager_functions(nets, batch)
        if "backward" in args.skip:
            modes.pop("forward+backward")
        if "onnx" not in args.skip:
            modes["onnxruntime"] = onnx_functions(nets, batch, folder)
        for mode, functions in modes.items():
            seconds = time_interleaved(functions, repeats=args.repeats, warmup=1)
            base = seconds["resnet50"]
            cells = [
                f"{n} {1000 * s / batch:7.1f} ms ({s / base:.2f}x)" for n, s in seconds.items()
            ]
            print(f"batch {batch:>2} {mode:<17} " + " | ".join(cells))
    label = "measured now" if args.tfjs else "from the fixtures' metadata"
    times = ", ".join(f"{k} {v:.0f} ms" for k, v in tfjs_ms(args.tfjs).items())
    print(f"TF.js 4.22 CPU backend, batch 1, one thread ({label}): {times}")


if __name__ == "__main__":
    main()
