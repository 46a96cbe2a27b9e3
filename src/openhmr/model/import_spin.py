"""SPIN's released checkpoint (``model_checkpoint.pt``) and ImageNet ResNet-50 files.

SPIN (Kolotouros et al., ICCV 2019) saves ``{"model": state_dict, "optimizer": ..., ...}``
whose state dict is torchvision's ResNet-50 names (``conv1.weight``, ``bn1.*``,
``layer1.0.conv1.weight`` …, no ``fc``) plus its head (``fc1``, ``fc2``, ``decpose`` 144,
``decshape`` 10, ``deccam`` 3) and buffers ``init_pose`` (1, 144), ``init_shape`` (1, 10),
``init_cam`` (1, 3).  The map is a prefix: backbone keys -> ``encoder.<key>``, head keys ->
``regressor.<key>``; `HMR(head="spin", normalization="imagenet")` then computes SPIN's
forward exactly (see docs/network.md).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from openhmr.errors import OpenHMRError
from openhmr.files import describe_file
from openhmr.model.hmr import HMR
from openhmr.model.resnet import ResNetV1
from openhmr.model.state import load_state_exactly

SPIN_HEAD_KEYS = ("fc1.", "fc2.", "decpose.", "decshape.", "deccam.", "init_")
BACKBONE_PREFIXES = ("conv1.", "bn1.", "layer1.", "layer2.", "layer3.", "layer4.")


def torch_load_plain(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise OpenHMRError(f"checkpoint: no such file {path}")
    kind = describe_file(path)
    if kind not in ("a zip archive", "a Python pickle"):  # torch.save's two formats
        raise OpenHMRError(
            f"{path}: expected a checkpoint (openhmr .safetensors, or a torch .pt/.pth/.ckpt), "
            f"found {kind}"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's several lines of advice: say it in one
        raise OpenHMRError(
            f"{path}: the torch file holds Python objects besides tensors, which openhmr never "
            "unpickles; expected plain tensors (a state dict)"
        ) from None
    except Exception as err:  # not a torch file after all (a truncated or foreign zip, ...)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise OpenHMRError(f"{path}: not a readable torch checkpoint ({first})") from None


def strip_module_prefix(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k.removeprefix("module."): v for k, v in state.items()}


def is_spin_state_dict(state: Mapping[str, Any]) -> bool:
    return "decpose.weight" in state and "init_pose" in state


def spin_to_openhmr(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """SPIN ``model`` state dict -> `HMR(head="spin")` state dict (a pure key map).
    Raises `OpenHMRError` naming any key that belongs to neither part."""
    out, unknown = {}, []
    for key, value in strip_module_prefix(state).items():
        if key.startswith(SPIN_HEAD_KEYS):
            out[f"regressor.{key}"] = value
        elif key.startswith(BACKBONE_PREFIXES):
            out[f"encoder.{key}"] = value
        else:
            unknown.append(key)
    if unknown:
        raise OpenHMRError(f"SPIN checkpoint: keys that map to nothing: {unknown[:10]}")
    return out


def spin_model(state: Mapping[str, torch.Tensor]) -> HMR:
    """`HMR` with SPIN's head, its ImageNet normalisation and the given SPIN state dict."""
    model = HMR(backbone="resnet50", head="spin", normalization="imagenet")
    load_state_exactly(model, spin_to_openhmr(state), "SPIN checkpoint")
    return model.eval()


def load_spin_checkpoint(path: str | os.PathLike) -> HMR:
    """SPIN's ``model_checkpoint.pt`` (or a bare SPIN state dict) -> `HMR` in eval mode."""
    data = torch_load_plain(path)
    state = data.get("model", data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or not is_spin_state_dict(strip_module_prefix(state)):
        raise OpenHMRError(
            f"{path}: expected SPIN's checkpoint (a 'model' state dict with decpose/init_pose)"
        )
    return spin_model(state)


def spin_mean_params(path: str | os.PathLike) -> torch.Tensor:
    """SPIN's ``smpl_mean_params.npz`` (pose (144,) 6D, shape (10,), cam (3,)) -> Θ_0 (157,)
    in `SpinRegressor`'s layout [pose | shape | cam]."""
    import numpy as np

    try:
        with np.load(path) as data:
            parts = [np.asarray(data[k], dtype=np.float32).reshape(-1) for k in ("pose", "shape")]
            parts.append(np.asarray(data["cam"], dtype=np.float32).reshape(-1))
    except (OSError, KeyError, ValueError) as err:
        raise OpenHMRError(f"{path}: expected an npz with pose, shape, cam ({err})") from None
    mean = torch.from_numpy(np.concatenate(parts))
    if mean.shape != (157,):
        raise OpenHMRError(f"{path}: expected 144 + 10 + 3 values, got {mean.shape[0]}")
    return mean


def load_imagenet_weights(backbone: ResNetV1, path_or_state: str | os.PathLike | Mapping) -> None:
    """Load a torchvision / timm ImageNet ResNet-50 file (``resnet50-0676ba61.pth``,
    ``resnet50-19c8e357.pth``) into a `ResNetV1`; its classifier ``fc.*`` is dropped unless the
    backbone has one.  Every other key must match exactly."""
    if isinstance(path_or_state, Mapping):
        state = dict(path_or_state)
    else:
        state = torch_load_plain(path_or_state)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        raise OpenHMRError("ImageNet weights: expected a state dict")
    state = strip_module_prefix(state)
    if backbone.fc is None:
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    load_state_exactly(backbone, state, "ImageNet ResNet-50 weights")
