"""Inference throughput: encoder (ResNet-50) + IEF regressor (T = 3) + body model, on CPU.

    python benchmarks/inference.py [--batches 1 32] [--repeats 5] [--backbone resnet50]

Backends: PyTorch eager, ``torch.compile`` (inductor, frozen weights) and ONNX Runtime (the
exported network; the body model then runs in PyTorch).  Prints images/second per backend and
batch, the machine's measured float32 matmul GFLOP/s, and the fraction of that matmul-bound
limit each result reaches: images/s × FLOPs per image / matmul FLOP/s, with FLOPs = 2 × the
multiply-adds of every conv and linear layer (counted here, ≈ 2 × 4.1 G for ResNet-50 at 224²).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, time_interleaved

from openhmr.body import BodyModel, load_body_model
from openhmr.model import HMR


def matmul_gflops(size: int = 2048, repeats: int = 10) -> float:
    """Best float32 GEMM rate (GFLOP/s) of this machine at the current thread count."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def count_flops(model: nn.Module, image_size: int = 224) -> float:
    """2 × multiply-adds of every conv and linear layer in one image's forward pass."""
    macs = 0

    def hook(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups * module.kernel_size[0]
            macs += output.numel() * per_output * module.kernel_size[1]
        elif isinstance(module, nn.Linear):
            macs += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model.regress(torch.zeros(1, 3, image_size, image_size))
    for h in handles:
        h.remove()
    return 2.0 * macs


def body_model() -> BodyModel:
    try:
        return load_body_model("open")
    except Exception:  # the bundled model is not built yet: a random SMPL-sized one
        from body_model import random_smpl_sized

        return BodyModel(random_smpl_sized())


def pose_bodies(model: HMR, params: torch.Tensor) -> torch.Tensor:
    """The final iteration's body from a parameter vector (B, P): vertices (B, V, 3)."""
    return model.decode(params).vertices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backbone", default="resnet50", choices=["resnet50", "resnet50_v2"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip", nargs="*", default=[], choices=["eager", "compile", "onnx"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = HMR(backbone=args.backbone, body_model=body_model()).eval()
    flops = count_flops(model)
    peak = matmul_gflops()
    print(machine())
    print(
        f"matmul (2048² float32): {peak:.1f} GFLOP/s; {args.backbone} + regressor: "
        f"{flops / 1e9:.2f} GFLOP per 224² image (2 × multiply-adds)"
    )
    print(f"body model: {model.body_model.name}, {model.body_model.num_vertices} vertices")

    backends = {}
    if "eager" not in args.skip:

        def eager(images: torch.Tensor) -> torch.Tensor:
            return pose_bodies(model, model.regress(images)[-1])

        backends["eager"] = eager
    if "compile" not in args.skip:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True  # fold BN into convs, pre-pack weights
        compiled = torch.compile(lambda images: model.regress(images)[-1])

        def compiled_fn(images: torch.Tensor) -> torch.Tensor:
            return pose_bodies(model, compiled(images))

        backends["compile"] = compiled_fn
    if "onnx" not in args.skip:
        import onnxruntime as ort

        from openhmr.model.export import export_onnx

        path = Path(tempfile.mkdtemp()) / "hmr.onnx"
        export_onnx(model, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        def onnx_fn(images: torch.Tensor) -> torch.Tensor:
            (params,) = session.run(None, {"images": images.numpy()})
            return pose_bodies(model, torch.from_numpy(params[:, -1]))

        backends["onnx"] = onnx_fn

    results = []
    for batch in args.batches:
        images = torch.rand(batch, 3, 224, 224) * 2 - 1
        start = time.perf_counter()
        with torch.no_grad():
            for fn in backends.values():
                fn(images)  # compile / warm up outside the timing
        print(f"batch {batch}: first calls (incl. compilation) {time.perf_counter() - start:.1f} s")
        with torch.no_grad():
            times = time_interleaved(
                {name: (lambda fn=fn, x=images: fn(x)) for name, fn in backends.items()},
                repeats=args.repeats,
                warmup=1,
            )
        results += [(batch, name, seconds) for name, seconds in times.items()]
    # the machine's best GEMM rate, before and after (other load only ever lowers it)
    peak = max(peak, matmul_gflops())
    print(f"matmul peak, best of before and after: {peak:.1f} GFLOP/s")
    print("\n| batch | backend | ms / batch | images / s | GFLOP/s | fraction of matmul peak |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for batch, name, seconds in results:
        rate = batch / seconds
        achieved = rate * flops / 1e9
        print(
            f"| {batch} | {name} | {seconds * 1e3:.1f} | {rate:.1f} | {achieved:.1f} | "
            f"{achieved / peak:.0%} |"
        )


if __name__ == "__main__":
    main()
