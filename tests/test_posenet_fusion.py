"""The pose networks' fused convolution + activation (`openhmr.posenet.layers.conv_act`):
the same outputs as the convolution and the activation run apart (torch's own ops, the
reference), in float32 and bfloat16, for every network that uses it; the unfused path where
gradients are wanted."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from openhmr.posenet import BlazePose, MoveNet, layers
from openhmr.posenet.precision import posenet_precision


def tensors(output) -> list[torch.Tensor]:
    """Every tensor of a network's output dataclass (nested dataclasses and dicts too)."""
    if torch.is_tensor(output):
        return [output]
    if dataclasses.is_dataclass(output):
        output = [getattr(output, f.name) for f in dataclasses.fields(output)]
    elif isinstance(output, dict):
        output = list(output.values())
    elif not isinstance(output, (list, tuple)):
        return []
    return [t for value in output for t in tensors(value)]


@pytest.fixture(scope="module")
def networks():
    g = torch.Generator().manual_seed(0)
    square, wide = torch.rand(2, 3, 256, 256, generator=g), torch.rand(1, 3, 224, 384, generator=g)
    return {
        "thunder": (MoveNet.pretrained("thunder"), 255 * square),
        "multipose": (MoveNet.pretrained("multipose"), 255 * wide),
        "blazepose": (BlazePose.pretrained("heavy"), square),
    }


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name", ["thunder", "multipose", "blazepose"])
def test_fused_activations_give_the_separate_ops_outputs(
    networks, name, dtype, threads, monkeypatch
):
    """Equal up to the order of float32 sums: the fused kernel may add in another order
    (at 1 thread on this machine BlazePose's outputs moved up to 4e-4 of their range; at 2,
    and in bfloat16, not at all)."""
    net, images = networks[name]
    outputs = {}
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for fuse in (False, True):
            monkeypatch.setattr(layers, "FUSE_ACTIVATIONS", fuse)
            with torch.inference_mode(), posenet_precision(dtype):
                outputs[fuse] = tensors(net(images))
    finally:
        torch.set_num_threads(previous)
    assert len(outputs[True]) == len(outputs[False]) > 3
    for fused, apart in zip(outputs[True], outputs[False], strict=True):
        scale = float(apart.abs().max())
        torch.testing.assert_close(fused, apart, rtol=0, atol=2e-3 * scale + 1e-6)


def test_one_fused_layer_against_torch_and_the_gradient_path():
    """A strided SAME depthwise layer and a 1 x 1 layer: conv_act equals torch's conv + clamp
    (the fused op in inference, the separate ops with gradients, which then flow)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 8, 15, 16, generator=g)
    strided = layers.depthwise(8, stride=2)
    pointwise = layers.conv(8, 12)
    for layer in (strided, pointwise):
        torch.nn.init.normal_(layer.weight, generator=g)
        with torch.no_grad():
            raw = F.conv2d(
                layer.pad(x), layer.weight, layer.bias, layer.stride, layer.padding, 1, layer.groups
            )
            assert (raw < 0).any() and (raw > 6).any()  # both clamps matter
            torch.testing.assert_close(layers.conv_act(layer, x), raw.clamp(0, 6))
            torch.testing.assert_close(layers.conv_act(layer, x, "relu"), raw.clamp_min(0))
    wanted = x.clone().requires_grad_(True)
    out = layers.conv_act(pointwise, wanted)
    out.sum().backward()
    assert wanted.grad is not None and wanted.grad.abs().sum() > 0
