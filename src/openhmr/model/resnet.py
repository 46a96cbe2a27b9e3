"""ResNet-50 encoders, defined here (no torchvision): image (B, 3, H, W) -> φ (B, 8·4·width).

- `ResNetV1`: torchvision's ResNet-50 (stride on the 3 × 3 conv, "v1.5"), with torchvision's
  parameter names, so ImageNet files from torchvision (`resnet50-0676ba61.pth`,
  `resnet50-19c8e357.pth`) or timm load with ``strict=True``.
- `ResNetV2`: slim's pre-activation ``resnet_v2_50``, the encoder of the released HMR model:
  biased stem conv without BN, TF-"SAME" max pool, stride on the *last* unit of blocks 1–3,
  a shortcut conv on the pre-activated input only where the depth changes (a strided
  subsample otherwise), and a final BN + ReLU ("postnorm").  See docs/network.md for its
  names and the TF variable map.

`width` (64 for ResNet-50) scales every layer; tests use small widths.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from openhmr.errors import OpenHMRError

LAYERS_50 = (3, 4, 6, 3)
EXPANSION = 4


class Bottleneck(nn.Module):
    """torchvision's Bottleneck: 1×1 → 3×3 (stride) → 1×1, BN after each, projection shortcut."""

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = planes * EXPANSION
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNetV1(nn.Module):
    """ResNet-50 with torchvision's names (conv1, bn1, layer1–4, optional fc).

    forward: images (B, 3, H, W) -> φ (B, 32·width) after global average pooling (or logits
    (B, num_classes) from `classify`).  num_classes: add torchvision's ``fc`` head, so a full
    ImageNet state dict (fc included) loads with ``strict=True``.
    """

    def __init__(
        self,
        width: int = 64,
        layers: tuple[int, ...] = LAYERS_50,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = width
        for index, blocks in enumerate(layers):
            planes, stride = width * 2**index, 1 if index == 0 else 2
            units = []
            for unit in range(blocks):
                units.append(Bottleneck(channels, planes, stride if unit == 0 else 1))
                channels = planes * EXPANSION
            self.add_module(f"layer{index + 1}", nn.Sequential(*units))
        self.feature_dim = channels
        self.fc = nn.Linear(channels, num_classes) if num_classes else None
        _init_weights(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) -> φ (B, feature_dim)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(2, 3))

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) -> ImageNet logits (B, num_classes); needs ``num_classes``."""
        if self.fc is None:
            raise OpenHMRError("this ResNetV1 was built without a classifier (num_classes)")
        return self.fc(self(images))


def tf_same_max_pool(x: torch.Tensor, kernel: int = 3, stride: int = 2) -> torch.Tensor:
    """TensorFlow's ``max_pool2d(padding='SAME')``: pads the *end* of each axis more than the
    start (e.g. 0 before, 1 after for 3 × 3 / 2 on an even size).  x: (B, C, H, W)."""
    pads = []
    for size in (x.shape[3], x.shape[2]):  # F.pad order: last axis first
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    x = F.pad(x, pads, value=float("-inf"))
    return F.max_pool2d(x, kernel, stride)


class PreActBottleneck(nn.Module):
    """slim's ``bottleneck_v2``: preact = ReLU(BN(x)); shortcut = conv1×1(preact) (with bias,
    only where the depth changes) or x[..., ::s, ::s]; residual = conv3(ReLU(BN(conv2(ReLU(
    BN(conv1(preact))))))) with a biased conv3; output shortcut + residual."""

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = planes * EXPANSION
        self.stride = stride
        self.preact = nn.BatchNorm2d(in_channels)
        self.shortcut: nn.Conv2d | None = None
        if in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=stride)
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        # slim's conv2d_same pads (k-1)//2 before and after for stride 2 and "SAME" for
        # stride 1: both equal symmetric padding 1 for a 3 × 3 kernel
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = F.relu(self.preact(x))
        if self.shortcut is not None:
            shortcut = self.shortcut(preact)
        else:
            shortcut = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        out = F.relu(self.bn1(self.conv1(preact)))
        out = F.relu(self.bn2(self.conv2(out)))
        return shortcut + self.conv3(out)


class ResNetV2(nn.Module):
    """Pre-activation ResNet-v2-50 as slim's ``resnet_v2_50`` (the released HMR encoder).

    forward: images (B, 3, H, W) -> φ (B, 32·width) after postnorm and global average pooling.
    """

    def __init__(self, width: int = 64, layers: tuple[int, ...] = LAYERS_50) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3)
        channels = width
        for index, blocks in enumerate(layers):
            planes = width * 2**index
            # slim strides in the last unit of every block but the last
            stride = 2 if index < len(layers) - 1 else 1
            units = []
            for unit in range(blocks):
                units.append(
                    PreActBottleneck(channels, planes, stride if unit == blocks - 1 else 1)
                )
                channels = planes * EXPANSION
            self.add_module(f"layer{index + 1}", nn.Sequential(*units))
        self.postnorm = nn.BatchNorm2d(channels)
        self.feature_dim = channels
        _init_weights(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) -> φ (B, feature_dim)."""
        x = tf_same_max_pool(self.conv1(images))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return F.relu(self.postnorm(x)).mean(dim=(2, 3))


def _init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


BACKBONES = ("resnet50", "resnet50_v2")


def build_backbone(name: str = "resnet50", width: int = 64) -> ResNetV1 | ResNetV2:
    """`"resnet50"` (torchvision names) or `"resnet50_v2"` (slim's pre-activation v2)."""
    if name == "resnet50":
        return ResNetV1(width)
    if name == "resnet50_v2":
        return ResNetV2(width)
    raise OpenHMRError(f"backbone: expected one of {BACKBONES}, got {name!r}")
