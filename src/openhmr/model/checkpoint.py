"""openhmr checkpoints: one ``.safetensors`` file holding the weights and, in its header, a JSON
record of what produced them (architecture, body model identity, config, training data,
metrics).  `load_checkpoint` also reads SPIN's ``model_checkpoint.pt``, HMR's TF checkpoint and
ImageNet ResNet-50 files, so every supported source loads through one call.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from openhmr.body import BodyModel
from openhmr.errors import OpenHMRError
from openhmr.files import atomic_path
from openhmr.model.discriminator import Discriminator
from openhmr.model.hmr import HMR, HMRConfig
from openhmr.model.import_spin import (
    is_spin_state_dict,
    load_imagenet_weights,
    spin_model,
    strip_module_prefix,
    torch_load_plain,
)
from openhmr.model.state import load_state_exactly

FORMAT = "openhmr-checkpoint/1"
RECORD_KEY = "openhmr"


@dataclass(frozen=True)
class Checkpoint:
    """model: `HMR` in eval mode; discriminator: `Discriminator` or None; record: the metadata
    (``format``, ``source``, ``architecture``, ``body_model``, ``config``, ``training_data``,
    ``metrics``)."""

    model: HMR
    discriminator: Discriminator | None
    record: dict[str, Any] = field(default_factory=dict)


def body_model_identity(body_model: BodyModel) -> dict[str, Any]:
    """Name, sizes and a content hash of a body model's template and skinning weights."""
    digest = hashlib.sha256()
    for tensor in (body_model.v_template, body_model.skinning_weights):
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return {
        "name": body_model.name,
        "num_vertices": body_model.num_vertices,
        "num_joints": body_model.num_joints,
        "num_betas": body_model.num_betas,
        "sha256": digest.hexdigest(),
    }


def save_checkpoint(
    path: str | os.PathLike,
    model: HMR,
    discriminator: Discriminator | None = None,
    *,
    config: dict[str, Any] | None = None,
    training_data: dict[str, Any] | list[Any] | None = None,
    metrics: dict[str, Any] | None = None,
    body_model: BodyModel | dict[str, Any] | None = None,
    half: bool = False,
) -> Path:
    """Write weights + record atomically to ``path`` (``.safetensors``).  config,
    training_data, metrics: anything JSON-serialisable; body_model: the model used in
    training (default: ``model.body_model``) or an identity dict; half: store floating-point
    tensors as float16 (half the size; loading casts them back to the network's float32)."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise OpenHMRError(f"checkpoint: expected a .safetensors path, got {path}")
    body_model = model.body_model if body_model is None else body_model
    identity = body_model_identity(body_model) if isinstance(body_model, BodyModel) else body_model
    record = {
        "format": FORMAT,
        "architecture": model.config.to_dict(),
        "body_model": identity,
        "config": config or {},
        "training_data": training_data or {},
        "metrics": metrics or {},
        "has_discriminator": discriminator is not None,
        "dtype": "float16" if half else "float32",
    }
    try:
        header = {RECORD_KEY: json.dumps(record)}
    except TypeError as err:
        raise OpenHMRError(f"checkpoint record: not JSON-serialisable ({err})") from None
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if discriminator is not None:
        tensors.update({f"discriminator.{k}": v for k, v in discriminator.state_dict().items()})
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    if half:
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return path


def _networks(
    architecture: HMRConfig,
    tensors: dict[str, torch.Tensor],
    path: Path,
    body_model: BodyModel | None,
) -> tuple[HMR, Discriminator | None]:
    """The network (and the discriminator, when the file has one) from tensors named
    ``model.<key>`` / ``discriminator.<key>``; any other name is an error."""
    # the file's weights replace the encoder's pretrained ones: do not read those first
    model = HMR.from_config(architecture, body_model=body_model, pretrained_encoder=False)
    parts: dict[str, dict[str, torch.Tensor]] = {"model": {}, "discriminator": {}}
    for key, value in tensors.items():
        part, name = key.split(".", 1)
        if part not in parts:
            raise OpenHMRError(f"{path}: unexpected tensor {key!r}")
        parts[part][name] = value
    load_state_exactly(model, parts["model"], str(path))
    discriminator = None
    if parts["discriminator"]:
        discriminator = Discriminator()
        load_state_exactly(discriminator, parts["discriminator"], f"{path} (discriminator)")
    return model, discriminator


def _load_safetensors(path: Path, body_model: BodyModel | None) -> Checkpoint:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    except Exception as err:
        raise OpenHMRError(f"{path}: not a readable safetensors file ({err})") from None
    if RECORD_KEY not in header:
        raise OpenHMRError(f"{path}: a safetensors file without an openhmr record")
    record = json.loads(header[RECORD_KEY])
    if record.get("format") != FORMAT:
        raise OpenHMRError(f"{path}: expected format {FORMAT}, got {record.get('format')!r}")
    model, discriminator = _networks(HMRConfig(**record["architecture"]), tensors, path, body_model)
    return Checkpoint(model.eval(), discriminator, {**record, "source": "openhmr"})


def _from_training_state(path: Path, data: dict, body_model: BodyModel | None) -> Checkpoint:
    """A Lightning checkpoint written by `openhmr train`: the network's and discriminator's
    weights under ``model.`` / ``discriminator.``, the run's config in its hyper-parameters."""
    config = data["hyper_parameters"].get("config")
    if not isinstance(config, dict) or "model" not in config:
        raise OpenHMRError(f"{path}: a Lightning checkpoint, but not one written by openhmr train")
    model_section = config["model"]
    architecture = HMRConfig(
        **{k: model_section[k] for k in HMRConfig.__dataclass_fields__ if k in model_section}
    )
    model, discriminator = _networks(architecture, data["state_dict"], path, body_model)
    # Lightning's global_step counts every optimiser's steps; the discriminator's only with a prior
    per_step = 2 if config.get("optim", {}).get("adversarial", True) else 1
    record = {
        "source": "openhmr-training",
        "architecture": model.config.to_dict(),
        "config": config,
        "metrics": {"steps": int(data.get("global_step", 0)) // per_step},
    }
    return Checkpoint(model.eval(), discriminator, record)


def _is_tf_checkpoint(path: Path) -> bool:
    return (
        Path(f"{path}.index").is_file()
        or path.suffix == ".index"
        or (path.is_dir() and (path / "checkpoint").is_file())
    )


def load_checkpoint(path: str | os.PathLike, body_model: BodyModel | None = None) -> Checkpoint:
    """Load any supported checkpoint into an `HMR` (eval mode):

    - ``*.safetensors``: openhmr's own (weights + record);
    - ``*.ckpt``: a resume point of `openhmr train` (``<out>/checkpoints/``), Lightning's file;
    - ``*.pt`` / ``*.pth``: SPIN's ``model_checkpoint.pt`` (head "spin"), or a torchvision /
      timm ImageNet ResNet-50 (encoder only; the regressor keeps its initialisation);
    - a TF checkpoint prefix (``model.ckpt-667589``, beside its ``.index``) or its directory:
      the original HMR model (needs tensorflow).

    body_model: attached to the network so its outputs carry vertices and keypoints.
    """
    path = Path(path)
    if _is_tf_checkpoint(path):
        from openhmr.model.import_tf import load_tf_checkpoint

        model, discriminator = load_tf_checkpoint(
            path.with_suffix("") if path.suffix == ".index" else path
        )
        model.body_model = body_model
        record = {"source": "hmr-tensorflow", "architecture": model.config.to_dict()}
        return Checkpoint(model, discriminator, record)
    if not path.is_file():
        raise OpenHMRError(f"checkpoint: no such file {path}")
    if path.suffix == ".safetensors":
        return _load_safetensors(path, body_model)
    data = torch_load_plain(path)
    if isinstance(data, dict) and "state_dict" in data and "hyper_parameters" in data:
        return _from_training_state(path, data, body_model)
    state = data.get("model", data) if isinstance(data, dict) else None
    if isinstance(state, dict) and is_spin_state_dict(strip_module_prefix(state)):
        model = spin_model(state)
        model.body_model = body_model
        return Checkpoint(model, None, {"source": "spin", "architecture": model.config.to_dict()})
    if isinstance(data, dict) and "layer4.2.conv3.weight" in strip_module_prefix(data):
        model = HMR(backbone="resnet50", normalization="imagenet", body_model=body_model)
        load_imagenet_weights(model.encoder, data)
        record = {"source": "imagenet", "architecture": model.config.to_dict()}
        return Checkpoint(model.eval(), None, record)
    raise OpenHMRError(
        f"{path}: not a checkpoint openhmr knows (openhmr .safetensors, SPIN "
        "model_checkpoint.pt, ImageNet ResNet-50 .pth, or HMR's TF model.ckpt-*)"
    )


def trained_body_model(path: str | os.PathLike) -> str:
    """The bundled body model a checkpoint was trained with, by name ("open", or
    "open-annotated" whose keypoints sit where annotators put them): read from an openhmr
    file's record or a training checkpoint's config.  Anything else (another body model
    file, other formats) gives "open"."""
    from openhmr.body.io import BUNDLED_MODELS

    path = Path(path)
    name = None
    if path.suffix == ".safetensors" and path.is_file():
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                record = json.loads((handle.metadata() or {}).get(RECORD_KEY, "{}"))
        except Exception:  # unreadable: load_checkpoint says why
            record = {}
        name = (record.get("body_model") or {}).get("name")
        name = name or ((record.get("config") or {}).get("model") or {}).get("body_model")
    elif path.suffix == ".ckpt" and path.is_file():
        data = torch_load_plain(path)
        config = (
            (data.get("hyper_parameters") or {}).get("config") if isinstance(data, dict) else None
        )
        name = ((config or {}).get("model") or {}).get("body_model")
    return name if isinstance(name, str) and name in BUNDLED_MODELS else "open"
