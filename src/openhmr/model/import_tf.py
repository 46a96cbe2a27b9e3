"""The original HMR TensorFlow checkpoint (``model.ckpt-667589``) -> `HMR` (+ `Discriminator`).

Reading the file needs ``tensorflow`` (extra ``openhmr[tf]``); the name map and layout
conversion are pure numpy and need nothing.  Map (docs/network.md has the full table):

    resnet_v2_50/conv1/{weights,biases}                       -> encoder.conv1.{weight,bias}
    resnet_v2_50/block{b}/unit_{u}/bottleneck_v2/preact/*     -> encoder.layer{b}.{u-1}.preact.*
        .../shortcut/{weights,biases}                         -> ....shortcut.{weight,bias}
        .../conv{1,2}/weights, .../conv{1,2}/BatchNorm/*      -> ....conv{1,2}.weight, bn{1,2}.*
        .../conv3/{weights,biases}                            -> ....conv3.{weight,bias}
    resnet_v2_50/postnorm/*                                   -> encoder.postnorm.*
    3D_module/fc{1,2,3}/{weights,biases}                      -> regressor.fc{1,2,3}.*
    mean_param (1, 85)                                        -> regressor.mean_theta
    D/D_conv{1,2}/*  D/pose_out_j{i}/*  D/D_alljoints_{fc1,fc2,out}/*
    D/shape_fc1/shape_fc1_{1,2}/*  D/shape_final/*            -> Discriminator

BatchNorm gamma/beta/moving_mean/moving_variance -> weight/bias/running_mean/running_var.
Conv kernels (kh, kw, in, out) -> (out, in, kh, kw); dense kernels (in, out) -> (out, in).
Optimizer state (``*/Adam``, ``*/Adam_1``, ``beta{1,2}_power``) and ``global_step`` are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from openhmr.errors import OpenHMRError
from openhmr.model.discriminator import NUM_BODY_JOINTS, Discriminator
from openhmr.model.hmr import HMR
from openhmr.model.resnet import LAYERS_50
from openhmr.model.state import load_state_exactly

BN_NAMES = {
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}
SKIPPED_SUFFIXES = ("/Adam", "/Adam_1", "/ExponentialMovingAverage")
SKIPPED_NAMES = ("beta1_power", "beta2_power", "global_step")


def _bn(tf_scope: str, ours: str) -> dict[str, tuple[str, str]]:
    return {f"{tf_scope}/{k}": (f"{ours}.{v}", "vector") for k, v in BN_NAMES.items()}


def _dense(tf_scope: str, ours: str, kind: str = "dense") -> dict[str, tuple[str, str]]:
    return {
        f"{tf_scope}/weights": (f"{ours}.weight", kind),
        f"{tf_scope}/biases": (f"{ours}.bias", "vector"),
    }


def hmr_tf_name_map(layers: tuple[int, ...] = LAYERS_50) -> dict[str, tuple[str, str]]:
    """TF variable name -> (our key, conversion kind) for the encoder and regressor; keys are
    prefixed ``model.``.  Kinds: "conv", "dense", "pointwise", "vector", "copy", "row"."""
    names: dict[str, tuple[str, str]] = {
        "resnet_v2_50/conv1/weights": ("encoder.conv1.weight", "conv"),
        "resnet_v2_50/conv1/biases": ("encoder.conv1.bias", "vector"),
        **_bn("resnet_v2_50/postnorm", "encoder.postnorm"),
        "mean_param": ("regressor.mean_theta", "copy"),
    }
    for block, units in enumerate(layers, start=1):
        for unit in range(1, units + 1):
            tf_unit = f"resnet_v2_50/block{block}/unit_{unit}/bottleneck_v2"
            ours = f"encoder.layer{block}.{unit - 1}"
            names.update(_bn(f"{tf_unit}/preact", f"{ours}.preact"))
            if unit == 1:  # the depth changes in every block's first unit
                names[f"{tf_unit}/shortcut/weights"] = (f"{ours}.shortcut.weight", "conv")
                names[f"{tf_unit}/shortcut/biases"] = (f"{ours}.shortcut.bias", "vector")
            for conv in (1, 2):
                names[f"{tf_unit}/conv{conv}/weights"] = (f"{ours}.conv{conv}.weight", "conv")
                names.update(_bn(f"{tf_unit}/conv{conv}/BatchNorm", f"{ours}.bn{conv}"))
            names[f"{tf_unit}/conv3/weights"] = (f"{ours}.conv3.weight", "conv")
            names[f"{tf_unit}/conv3/biases"] = (f"{ours}.conv3.bias", "vector")
    for fc in (1, 2, 3):
        names.update(_dense(f"3D_module/fc{fc}", f"regressor.fc{fc}"))
    return {k: (f"model.{v[0]}", v[1]) for k, v in names.items()}


def discriminator_tf_name_map() -> dict[str, tuple[str, str]]:
    """TF variable name -> (our key, kind) for ``Discriminator_separable_rotations`` (scope D);
    keys prefixed ``discriminator.``.  Per-joint heads go to row i of ``joint_weight/bias``."""
    names: dict[str, tuple[str, str]] = {
        **_dense("D/D_conv1", "pose_embedding.0", "pointwise"),
        **_dense("D/D_conv2", "pose_embedding.2", "pointwise"),
        **_dense("D/D_alljoints_fc1", "all_joints.0"),
        **_dense("D/D_alljoints_fc2", "all_joints.2"),
        **_dense("D/D_alljoints_out", "all_joints.4"),
        **_dense("D/shape_fc1/shape_fc1_1", "shape.0"),
        **_dense("D/shape_fc1/shape_fc1_2", "shape.2"),
        **_dense("D/shape_final", "shape.4"),
    }
    for joint in range(NUM_BODY_JOINTS):
        names[f"D/pose_out_j{joint}/weights"] = (f"joint_weight.{joint}", "row")
        names[f"D/pose_out_j{joint}/biases"] = (f"joint_bias.{joint}", "row")
    return {k: (f"discriminator.{v[0]}", v[1]) for k, v in names.items()}


def _convert(value: np.ndarray, kind: str) -> torch.Tensor:
    value = np.asarray(value, dtype=np.float32)
    if kind == "conv":  # (kh, kw, in, out) -> (out, in, kh, kw); 1 x 1 convs as dense layers
        value = value.transpose(3, 2, 0, 1)
    elif kind == "dense":  # (in, out) -> (out, in)
        value = value.T
    elif kind == "pointwise":  # a 1 x 1 conv (1, 1, in, out) as a dense layer (out, in)
        value = value.reshape(value.shape[-2], value.shape[-1]).T
    elif kind == "row":
        value = value.reshape(-1)
    return torch.from_numpy(np.ascontiguousarray(value))


def is_skipped(name: str) -> bool:
    return name.endswith(SKIPPED_SUFFIXES) or name in SKIPPED_NAMES


def tf_to_openhmr(
    variables: Mapping[str, np.ndarray],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """HMR's TF variables -> (`HMR(backbone="resnet50_v2")` state dict, `Discriminator` state
    dict, empty when the file has no ``D/`` scope).  Raises `OpenHMRError` naming variables that
    map to nothing."""
    name_map = {**hmr_tf_name_map(), **discriminator_tf_name_map()}
    model: dict[str, torch.Tensor] = {}
    disc: dict[str, torch.Tensor] = {}
    rows: dict[str, dict[int, torch.Tensor]] = {}
    unknown = []
    for name, value in variables.items():
        if is_skipped(name):
            continue
        if name not in name_map:
            unknown.append(name)
            continue
        key, kind = name_map[name]
        tensor = _convert(value, kind)
        part, key = key.split(".", 1)
        if kind == "row":
            stem, index = key.rsplit(".", 1)
            rows.setdefault(stem, {})[int(index)] = tensor
        else:
            (model if part == "model" else disc)[key] = tensor
    if unknown:
        raise OpenHMRError(f"HMR TF checkpoint: variables that map to nothing: {unknown[:10]}")
    for stem, parts in rows.items():
        if sorted(parts) != list(range(NUM_BODY_JOINTS)):
            raise OpenHMRError(f"HMR TF checkpoint: D/pose_out_j* incomplete for {stem}")
        stacked = torch.stack([parts[i] for i in range(NUM_BODY_JOINTS)])
        disc[stem] = stacked.reshape(NUM_BODY_JOINTS, -1).squeeze(-1)
    return model, disc


def read_tf_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every variable of a TF checkpoint (prefix ``model.ckpt-667589`` or its directory) as numpy.
    Needs ``tensorflow``."""
    try:
        import tensorflow as tf
    except ImportError:
        raise OpenHMRError(
            "reading a TensorFlow checkpoint needs tensorflow: pip install 'openhmr[tf]'"
        ) from None
    path = Path(path)
    prefix = tf.train.latest_checkpoint(str(path)) if path.is_dir() else str(path)
    if prefix is None or not Path(f"{prefix}.index").is_file():
        raise OpenHMRError(f"{path}: not a TensorFlow checkpoint (no {path}.index)")
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def tf_model(variables: Mapping[str, np.ndarray]) -> tuple[HMR, Discriminator | None]:
    """`HMR` (resnet50_v2, HMR head, pixels in [−1, 1]) and the `Discriminator` when present,
    from HMR's TF variables; every network parameter must come from the file."""
    model_state, disc_state = tf_to_openhmr(variables)
    model = HMR(backbone="resnet50_v2", head="hmr", normalization="symmetric")
    load_state_exactly(model, model_state, "HMR TF checkpoint")
    discriminator = None
    if disc_state:
        discriminator = Discriminator()
        load_state_exactly(discriminator, disc_state, "HMR TF checkpoint (discriminator)")
    return model.eval(), discriminator


def load_tf_checkpoint(path: str | os.PathLike) -> tuple[HMR, Discriminator | None]:
    """HMR's released ``model.ckpt-667589`` -> (`HMR`, `Discriminator` or None)."""
    return tf_model(read_tf_checkpoint(path))
