"""Pose-network weight files (safetensors, float16): writing a converted state dict
(`save_weights`, used by the MoveNet and BlazePose converters) and loading one into its
module, checked name by name and shape by shape (`load_weights`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from openhmr.errors import OpenHMRError
from openhmr.files import atomic_path


def save_weights(
    state: dict[str, np.ndarray], out: str | Path, metadata: dict[str, str]
) -> dict[str, int]:
    """Write a converted state dict as float16 safetensors (atomically), with `metadata`;
    returns {"parameters": count, "bytes": file size}."""
    with atomic_path(out) as tmp:
        save_file({k: v.astype(np.float16) for k, v in state.items()}, str(tmp), metadata)
    return {
        "parameters": int(sum(v.size for v in state.values())),
        "bytes": Path(out).stat().st_size,
    }


def load_weights(net: torch.nn.Module, path: str | Path) -> None:
    """Load a converted weight file into `net` (float16 files become the module's dtype)."""
    path = Path(path)
    if not path.is_file():
        raise OpenHMRError(f"{path}: pose-network weight file not found (a broken install?)")
    try:
        arrays = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise OpenHMRError(f"{path}: not a readable safetensors weight file ({err})") from None
    expected = net.state_dict()
    unknown, missing = sorted(set(arrays) - set(expected)), sorted(set(expected) - set(arrays))
    if unknown or missing:
        raise OpenHMRError(
            f"{path}: weights do not fit {type(net).__name__} {getattr(net, 'variant', '')}: "
            f"unknown {unknown[:3]}, missing {missing[:3]}"
        )
    state = {}
    for name, value in arrays.items():
        if tuple(value.shape) != tuple(expected[name].shape):
            raise OpenHMRError(
                f"{path}: {name} has shape {value.shape}, expected {tuple(expected[name].shape)}"
            )
        state[name] = torch.from_numpy(value.astype(np.float32))
    net.load_state_dict(state)
