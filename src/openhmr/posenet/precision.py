"""The pose networks' arithmetic: float32, or bfloat16 where the CPU computes it natively.

MoveNet and BlazePose run in the dtype that `posenet_precision` sets for the calls inside it
(a context variable: each thread and task has its own), on a copy of their weights in that
dtype (`reduced_twin`), and hand back float32 outputs, so decoding and everything after them
stay float32. Outside such a block they run in float32, as the TF.js parity tests check them.

On a CPU with AMX or AVX-512 BF16, bfloat16 runs Thunder 2x and BlazePose heavy 1.4x faster
at two crops a call; the default model's held-out LSP PCK@0.2 moves from 52.5% to 52.6%, its
CMU-render PA-MPJPE from 70.1 to 71.3 mm (docs/posenet.md, "Precision"). Results are the same
whatever the batch size or thread count, so a batch run still equals the demo on the same
images.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import torch
from torch import nn

from openhmr.errors import OpenHMRError

PRECISIONS = ("auto", "float32", "bfloat16")
# CPU flags (Linux /proc/cpuinfo) of a native bfloat16 dot product: AMX tiles or AVX-512 BF16
NATIVE_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})

_DTYPE: ContextVar[torch.dtype | None] = ContextVar("openhmr_posenet_dtype", default=None)


def native_bfloat16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes bfloat16 natively (`NATIVE_BF16_FLAGS` in cpuinfo's flags);
    False where the file is missing or unreadable (not Linux)."""
    return _has_flags(str(cpuinfo))


@functools.cache
def _has_flags(cpuinfo: str) -> bool:
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(NATIVE_BF16_FLAGS & set(line.partition(":")[2].split()))
    return False


def resolve_precision(name: str, device: str | torch.device = "cpu") -> torch.dtype | None:
    """A `PRECISIONS` name -> the dtype the pose networks compute in (None: float32).
    "auto": bfloat16 on a CPU device where `native_bfloat16`, else float32."""
    if name not in PRECISIONS:
        raise OpenHMRError(f"precision: expected one of {', '.join(PRECISIONS)}, got {name!r}")
    if name == "bfloat16":
        return torch.bfloat16
    if name == "auto" and torch.device(device).type == "cpu" and native_bfloat16():
        return torch.bfloat16
    return None


def precision_name(dtype: torch.dtype | None) -> str:
    """What `resolve_precision` gave, by name: "float32" or "bfloat16"."""
    return "float32" if dtype is None else str(dtype).removeprefix("torch.")


@contextlib.contextmanager
def posenet_precision(dtype: torch.dtype | None) -> Iterator[None]:
    """The pose networks called inside compute in dtype (None: float32)."""
    token = _DTYPE.set(dtype)
    try:
        yield
    finally:
        _DTYPE.reset(token)


def compute_dtype() -> torch.dtype | None:
    """The dtype `posenet_precision` set here (None: float32)."""
    return _DTYPE.get()


def reduced_twin(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A copy of module with its weights in dtype, made on first use and kept beside it (out
    of its state dict), remade when the module's weights change: replaced, moved or written
    in place (their version counters). Casting weights on every call instead (autocast's own
    cache lasts one region) costs Thunder 20% of its bfloat16 time."""
    key = tuple(
        (p.data_ptr(), p.device, -1 if p.is_inference() else p._version)  # no counter there
        for p in module.parameters()
    )
    twins = module.__dict__.setdefault("_reduced_twins", {})
    if dtype not in twins or twins[dtype][0] != key:
        kept = module.__dict__.pop("_reduced_twins")
        try:
            twin = copy.deepcopy(module).to(dtype).requires_grad_(False)
        finally:
            module.__dict__["_reduced_twins"] = kept
        twins[dtype] = (key, twin)
    return twins[dtype][1]


def as_float32(value: Any) -> Any:
    """value with every floating tensor in it (dataclass fields, dicts, lists and tuples
    included) turned float32; other values unchanged."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: as_float32(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    if isinstance(value, dict):
        return {k: as_float32(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(as_float32(v) for v in value)
    return value
