"""BlazePose GHUM (Bazarevsky et al. 2020; Google MediaPipe `pose_landmark`) heavy and full as
PyTorch modules, channels-first, batch norm folded into the biases as published.

Read from the published graphs (`tools/convert_posenet.py blazepose` maps them): a
MobileNetV2-style encoder (inverted residuals, ReLU6) from 256² to 8², lateral projections of
each resolution's last features, and three heads:

- heatmaps: a top-down decoder 8² → 64² (×2 bilinear upsampling, half-pixel centres, plus the
  lateral at each step), 1 × 1 to 39 maps, sigmoid;
- segmentation: from the 64² decoder output, up to 256² through BlazeBlocks (depthwise 3 × 3 +
  ReLU6, 1 × 1, residual, ReLU6), 3 × 3 to 1 map, sigmoid;
- regression: BlazeBlocks down to 2² (a stride-2 block adds the max-pooled input, its channels
  zero-padded), 2 × 2 convolutions to ld_3d (195), world_3d (117) and the pose flag (sigmoid).
  Heavy starts it from the 64² decoder output and adds the encoder's laterals at 32², 16², 8²;
  full starts it from the 8² bottleneck alone.

Strided depthwise convolutions in the encoder pad symmetrically (Keras ZeroPadding2D + VALID);
the regression's pad TF-SAME (after only), as in the graphs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from openhmr.errors import OpenHMRError
from openhmr.posenet import precision
from openhmr.posenet.layers import Conv2dSame, conv, conv_act

LANDMARKS = 39  # MediaPipe's 33 pose landmarks, then 6 auxiliary points
INPUT_SIZE = 256

# Encoder blocks by resolution: (hidden, out, kernel, stride) of each inverted residual; the
# first block at 128² has no expansion (hidden = its input).
ENCODERS = {
    "full": {
        128: ((24, 16, 3, 1),),
        64: ((64, 24, 3, 2), (144, 24, 3, 1)),
        32: ((144, 32, 5, 2), (192, 32, 5, 1)),
        16: ((192, 64, 3, 2), (384, 64, 3, 1), (384, 64, 3, 1), (384, 88, 5, 1),
             (528, 88, 5, 1), (528, 88, 5, 1)),
        8: ((528, 144, 5, 2),) + ((864, 144, 5, 1),) * 3,
    },
    "heavy": {
        128: ((24, 24, 3, 1),),
        64: ((96, 32, 3, 2), (128, 32, 3, 1), (192, 32, 3, 1), (192, 32, 3, 1)),
        32: ((192, 56, 5, 2),) + ((336, 56, 5, 1),) * 3,
        16: ((336, 112, 3, 2),) + ((672, 112, 3, 1),) * 5 + ((672, 160, 5, 1),)
            + ((960, 160, 5, 1),) * 5,
        8: ((960, 272, 5, 2),) + ((1632, 272, 5, 1),) * 7,
    },
}  # fmt: skip
BOTTLENECK = {"full": 864, "heavy": 1632}  # expansion 1 × 1 + depthwise 3 × 3 at 8²
# Regression stages: (channels, BlazeBlocks after the stride-2 one, lateral from the encoder).
REGRESSIONS = {
    "full": ((288, 4, False), (288, 5, False)),
    "heavy": ((96, 6, True), (192, 7, True), (288, 7, True), (288, 7, False), (288, 7, False)),
}
DECODER = 48  # heatmap decoder channels
SEGMENTATION = 8  # segmentation decoder channels
REGRESSION_INPUT = 288  # full: the bottleneck's regression lateral


class InvertedResidual(nn.Module):
    """expand 1 × 1 + ReLU6 (absent without expansion), depthwise k × k + ReLU6 (stride 2 pads
    k // 2 on every side), project 1 × 1 (linear), plus the input when the shape is kept (and
    `residual`)."""

    def __init__(self, in_ch: int, hidden: int, out_ch: int, kernel: int, stride: int,
                 expand: bool = True, residual: bool = True) -> None:  # fmt: skip
        super().__init__()
        self.expand = conv(in_ch, hidden) if expand else None
        self.depthwise = nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden)
        self.project = conv(hidden, out_ch)
        self.residual = residual and stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in, H, W) -> (B, out, H / stride, W / stride)."""
        y = conv_act(self.expand, x) if self.expand is not None else x
        y = self.project(conv_act(self.depthwise, y))
        return x + y if self.residual else y


class Lateral(nn.Module):
    """depthwise 3 × 3 + ReLU6, 1 × 1 + ReLU6: a resolution's features into a decoder."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.depthwise = _depthwise(in_ch)
        self.pointwise = conv(in_ch, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in, H, W) -> (B, out, H, W)."""
        return conv_act(self.pointwise, conv_act(self.depthwise, x))


def _depthwise(channels: int, stride: int = 1) -> Conv2dSame:
    return Conv2dSame(channels, channels, 3, stride=stride, groups=channels)


class BlazeBlock(nn.Module):
    """ReLU6(shortcut + 1 × 1(ReLU6(depthwise 3 × 3(x)))); at stride 2 (TF SAME padding) the
    shortcut is the 2 × 2 max-pooled input, its channels zero-padded to `out_ch`."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.depthwise = _depthwise(in_ch, stride)
        self.pointwise = conv(in_ch, out_ch)
        self.stride = stride
        self.extra_channels = out_ch - in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in, H, W) -> (B, out, H / stride, W / stride)."""
        y = self.pointwise(conv_act(self.depthwise, x))
        shortcut = F.max_pool2d(x, 2) if self.stride == 2 else x
        if self.extra_channels:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.extra_channels))
        return F.relu6(shortcut + y, inplace=True)


def _upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


@dataclass(frozen=True)
class BlazePoseOutput:
    """The network's outputs for crops (B, 3, 256, 256), as the graphs give them:
    ld_3d (B, 39, 5) = x, y in crop pixels (0–256), z (crop pixel scale, about the hips),
    visibility and presence logits; world_3d (B, 39, 3) metres about the hip midpoint
    (x right, y down, z away from the camera, as MediaPipe); segmentation (B, 256, 256) person
    probability (the graph's sigmoid); heatmaps (B, 39, 64, 64) sigmoid; pose_flag (B,) the
    probability that a person is in the crop. segmentation and heatmaps are None when the
    network ran with dense=False."""

    ld_3d: torch.Tensor
    world_3d: torch.Tensor
    segmentation: torch.Tensor | None
    heatmaps: torch.Tensor | None
    pose_flag: torch.Tensor


class Encoder(nn.Module):
    """Stem (3 × 3 stride 2 + ReLU6) then inverted residuals 128² → 8², then the bottleneck
    (1 × 1 expansion + ReLU6, depthwise 3 × 3 + ReLU6). Returns each resolution's last
    features and the bottleneck's."""

    def __init__(self, stages: dict[int, tuple], bottleneck: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 24, 3, 2, 1)
        in_ch, stage_modules = 24, {}
        for side, blocks in stages.items():
            layers = []
            for i, (hidden, out_ch, kernel, stride) in enumerate(blocks):
                first = side == 128 and i == 0
                layers.append(InvertedResidual(in_ch, hidden, out_ch, kernel, stride,
                                               expand=not first, residual=not first))  # fmt: skip
                in_ch = out_ch
            stage_modules[str(side)] = nn.Sequential(*layers)
        self.stages = nn.ModuleDict(stage_modules)
        self.expand = conv(in_ch, bottleneck)
        self.depthwise = _depthwise(bottleneck)
        self.channels = {int(s): m[-1].project.out_channels for s, m in self.stages.items()}

    def forward(self, x: torch.Tensor) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
        """x: (B, 3, 256, 256) in [0, 1] -> ({side: (B, C, side, side)}, (B, C8, 8, 8))."""
        x = conv_act(self.stem, x)
        features = {}
        for side, stage in self.stages.items():
            x = stage(x)
            features[int(side)] = x
        top = conv_act(self.depthwise, conv_act(self.expand, x))
        return features, top


# Variants that follow `posenet_precision`: in bfloat16 heavy's world landmarks move a median
# 1.5–3.3 cm on the test photos; full's move 14 cm on the photo, so full stays in float32.
REDUCED_PRECISION_VARIANTS = frozenset({"heavy"})


class BlazePoseNet(nn.Module):
    """BlazePose GHUM `variant` ("heavy" or "full"), untrained until weights are loaded
    (`openhmr.posenet.blazepose.BlazePose.pretrained` loads the published ones)."""

    def __init__(self, variant: str = "heavy") -> None:
        super().__init__()
        if variant not in ENCODERS:
            raise OpenHMRError(
                f"BlazePose variant: expected one of {sorted(ENCODERS)}, got {variant!r}"
            )
        self.variant = variant
        self.channels_last = True  # the same values, about 1.3x faster on CPU (docs/posenet.md)
        self.encoder = Encoder(ENCODERS[variant], BOTTLENECK[variant])
        channels, top = self.encoder.channels, BOTTLENECK[variant]
        regression = REGRESSIONS[variant]
        self.heavy_regression = variant == "heavy"
        # Laterals, in the order the converter fills them.
        self.lateral_segmentation = Lateral(channels[128], SEGMENTATION)
        self.lateral_heatmap = nn.ModuleDict(
            {str(s): Lateral(channels[s], DECODER) for s in (64, 32, 16)}
        )
        self.top_heatmap = Lateral(top, DECODER)
        # Heavy adds laterals after its 32² and 16² stages (and the top's after the 8² one).
        lateral_widths = {32: regression[0][0], 16: regression[1][0]} if regression[0][2] else {}
        self.lateral_regression = nn.ModuleDict(
            {str(s): Lateral(channels[s], width) for s, width in lateral_widths.items()}
        )
        self.top_regression = Lateral(top, REGRESSION_INPUT)
        self.heatmap = conv(DECODER, LANDMARKS)
        self.segmentation_in = Lateral(DECODER, SEGMENTATION)
        self.segmentation_blocks = nn.ModuleList(
            [BlazeBlock(SEGMENTATION, SEGMENTATION) for _ in range(4)]
        )
        self.segmentation = nn.Conv2d(SEGMENTATION, 1, 3, padding=1)
        in_ch = DECODER if self.heavy_regression else REGRESSION_INPUT
        stages = []
        for out_ch, repeats, _ in regression:
            blocks = [BlazeBlock(in_ch, out_ch, stride=2)]
            blocks += [BlazeBlock(out_ch, out_ch) for _ in range(repeats)]
            stages.append(nn.Sequential(*blocks))
            in_ch = out_ch
        self.regression = nn.ModuleList(stages)
        self.ld_3d = nn.Conv2d(in_ch, LANDMARKS * 5, 2)
        self.world_3d = nn.Conv2d(in_ch, LANDMARKS * 3, 2)
        self.pose_flag = nn.Conv2d(in_ch, 1, 2)

    def forward(self, images: torch.Tensor, dense: bool = True) -> BlazePoseOutput:
        """images: (B, 3, 256, 256) RGB in [0, 1] -> `BlazePoseOutput`; dense=False skips the
        heatmaps and the segmentation (their heads only; the landmarks are the same)."""
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        dtype = precision.compute_dtype()  # float32 (None) unless `posenet_precision` says
        if dtype is None or self.variant not in REDUCED_PRECISION_VARIANTS:
            return self._layers(images, dense)
        output = precision.reduced_twin(self, dtype)._layers(images.to(dtype), dense)
        return precision.as_float32(output)

    def _layers(self, images: torch.Tensor, dense: bool) -> BlazePoseOutput:
        features, top = self.encoder(images)
        x = self.top_heatmap(top)  # B x 48 x 8 x 8
        for side in (16, 32, 64):
            x = _upsample(x) + self.lateral_heatmap[str(side)](features[side])
        heatmaps = torch.sigmoid(self.heatmap(x)) if dense else None  # B x 39 x 64 x 64
        segmentation = self._segment(x, features[128]) if dense else None
        regression_top = self.top_regression(top)  # B x 288 x 8 x 8
        r = x if self.heavy_regression else regression_top
        side = r.shape[-1]
        for stage in self.regression:
            r, side = stage(r), side // 2
            if str(side) in self.lateral_regression:
                r = r + self.lateral_regression[str(side)](features[side])
            elif self.heavy_regression and side == 8:
                r = r + regression_top
        batch = images.shape[0]
        return BlazePoseOutput(
            ld_3d=self.ld_3d(r).reshape(batch, LANDMARKS, 5),
            world_3d=self.world_3d(r).reshape(batch, LANDMARKS, 3),
            segmentation=segmentation,
            heatmaps=heatmaps,
            pose_flag=torch.sigmoid(self.pose_flag(r)).reshape(batch),
        )

    def _segment(self, decoded: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """decoded (B, 48, 64, 64), skip (B, C, 128, 128) -> (B, 256, 256) probability."""
        s = _upsample(self.segmentation_in(decoded)) + self.lateral_segmentation(skip)
        s = self.segmentation_blocks[1](self.segmentation_blocks[0](s))
        s = self.segmentation_blocks[3](self.segmentation_blocks[2](_upsample(s)))
        return torch.sigmoid(self.segmentation(s))[:, 0]
