"""MoveNet (Google, 2021) in PyTorch: a MobileNetV2 backbone, an FPN decoder to stride 4 and
CenterNet heads, imported from the published TF.js files (`openhmr.posenet.convert`).

    net = MoveNet.pretrained("thunder")                 # or "lightning"
    keypoints = net.keypoints(image, boxes)             # (N, 17, 3) x, y pixels, score
    people = MoveNet.pretrained("multipose").detect(image)

The network takes RGB 0–255 (any float dtype) and normalises it itself, as the graphs do;
batched, channels-first, differentiable to the decoded keypoints' offsets and scores.
Widths, measured from the files: Thunder alpha 1.75 (input 256), Lightning 1.0 (192),
MultiPose 1.5 (any size, multiple of 32). Keypoints in COCO order (`COCO_KEYPOINTS`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from openhmr.body.keypoints import COCO17_NAMES
from openhmr.errors import OpenHMRError
from openhmr.images import check_boxes, check_image
from openhmr.posenet import precision
from openhmr.posenet.decode import STRIDE, decode_multi, decode_single
from openhmr.posenet.image import fit_to_stride, letterbox, square_crops
from openhmr.posenet.layers import SeparableConv, conv
from openhmr.posenet.mobilenet import BackboneFeatures, MobileNetV2
from openhmr.posenet.weights import load_weights

ASSETS = Path(__file__).resolve().parent / "assets"
COCO_KEYPOINTS = COCO17_NAMES  # the output order
# The graphs' input normalisation, (x − 0) · float16(1 / 127.5) − 1.
INPUT_SCALE = 0.0078430176


ORIENTATIONS = (1, 2, 4)


def check_orientations(orientations: int) -> int:
    if orientations not in ORIENTATIONS:
        raise OpenHMRError(f"orientations: expected one of {ORIENTATIONS}, got {orientations!r}")
    return orientations


def turns_of(orientations: int) -> tuple[int, ...]:
    """Quarter turns (counter-clockwise, `torch.rot90` on (H, W)) read for `orientations`."""
    return {1: (0,), 2: (0, 2), 4: (0, 1, 2, 3)}[check_orientations(orientations)]


def turn_back(xy: torch.Tensor, turns: int) -> torch.Tensor:
    """xy (..., 2) in [−1, 1] of a crop turned by `turns` quarter turns (`torch.rot90`,
    dims (H, W)) -> the same points in the unturned crop's frame."""
    x, y = xy.unbind(-1)
    turned = {0: (x, y), 1: (-y, x), 2: (-x, -y), 3: (y, -x)}[turns % 4]
    return torch.stack(turned, dim=-1)


def most_confident_turn(
    keypoints: torch.Tensor, turns: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """keypoints (T, B, 17, 3): x, y in [−1, 1] of each crop turned by `turns[t]`, score ->
    the reading of highest mean score per crop, turned back (B, 17, 3), and which turn it
    was (B,)."""
    readings = torch.stack([
        torch.cat([turn_back(k[..., :2], t), k[..., 2:]], dim=-1)
        for k, t in zip(keypoints, turns, strict=True)
    ])  # fmt: skip
    best = readings[..., 2].mean(dim=-1).argmax(dim=0)
    return readings[best, torch.arange(best.shape[0], device=best.device)], best


@dataclass(frozen=True)
class MoveNetSpec:
    """One published network: backbone width, input side (None: any multiple of 32), and
    whether it has the multi-person box heads."""

    alpha: float
    input_size: int | None
    multi_person: bool


VARIANTS = {
    "thunder": MoveNetSpec(1.75, 256, False),
    "lightning": MoveNetSpec(1.0, 192, False),
    "multipose": MoveNetSpec(1.5, None, True),
}
HEAD_CHANNELS = {"centre": 1, "keypoint_heatmap": 17, "keypoint_regression": 34,
                 "keypoint_offset": 34, "box_scale": 2, "box_offset": 2}  # fmt: skip


class FPN(nn.Module):
    """Top-down decoder: lateral 1 × 1 convolutions, ×2 bilinear upsampling (half-pixel
    centres), sum, separable 3 × 3 + ReLU; strides 32 → 16 → 8 → 4, 64 → 32 → 24 channels."""

    def __init__(self, channels: dict[int, int]) -> None:
        super().__init__()
        self.lateral32 = conv(channels[32], 64)
        self.lateral16 = conv(channels[16], 64)
        self.smooth16 = SeparableConv(64, 32)
        self.lateral8 = conv(channels[8], 32)
        self.smooth8 = SeparableConv(32, 24)
        self.lateral4 = conv(channels[4], 24)
        self.smooth4 = SeparableConv(24, 24)

    def forward(self, features: BackboneFeatures) -> torch.Tensor:
        """features -> (B, 24, H / 4, W / 4)."""
        x = self.lateral32(features.stride32)
        x = self.smooth16(_upsample(x) + self.lateral16(features.stride16))
        x = self.smooth8(_upsample(x) + self.lateral8(features.stride8))
        return self.smooth4(_upsample(x) + self.lateral4(features.stride4))


def _upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class Head(nn.Module):
    """A CenterNet head: separable 3 × 3 (24 → 96) + ReLU, then 1 × 1 to its channels."""

    def __init__(self, out_ch: int) -> None:
        super().__init__()
        self.separable = SeparableConv(24, 96)
        self.output = conv(96, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 24, h, w) -> logits (B, out, h, w)."""
        return self.output(self.separable(x))


@dataclass(frozen=True)
class MoveNetOutput:
    """The network's maps: backbone features, the FPN output `pyramid` (B, 24, h, w) and the
    heads' raw outputs (before any sigmoid), each (B, C, h, w) with h = H / 4: centre (1),
    keypoint_heatmap (17), keypoint_regression and keypoint_offset (34: dy, dx per keypoint),
    box_scale and box_offset (2: y, x; MultiPose only, else None). The heads are float32;
    features and pyramid are in the dtype the network computed in (`openhmr.posenet.precision`)."""

    features: BackboneFeatures
    pyramid: torch.Tensor
    centre: torch.Tensor
    keypoint_heatmap: torch.Tensor
    keypoint_regression: torch.Tensor
    keypoint_offset: torch.Tensor
    box_scale: torch.Tensor | None = None
    box_offset: torch.Tensor | None = None


@dataclass(frozen=True)
class PoseDetections:
    """People found in one image, best first: boxes (N, 4) x, y, w, h pixels; scores (N,);
    keypoints (N, 17, 3) x, y pixels, score (COCO order)."""

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)


class MoveNet(nn.Module):
    """MoveNet `variant` ("thunder", "lightning" or "multipose"), untrained until weights are
    loaded; `MoveNet.pretrained(variant)` gives the published network. channels_last: run the
    network on channels-last tensors (the same values; on CPU Thunder runs 1.1x faster so at
    batch 1 and 1.6x at batch 16: `benchmarks/posenet_speed.py`, row "thunder_nchw")."""

    def __init__(self, variant: str = "thunder") -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise OpenHMRError(
                f"MoveNet variant: expected one of {sorted(VARIANTS)}, got {variant!r}"
            )
        self.variant = variant
        self.spec = VARIANTS[variant]
        self.backbone = MobileNetV2(self.spec.alpha)
        self.fpn = FPN(self.backbone.tap_channels())
        names = list(HEAD_CHANNELS)[: 6 if self.spec.multi_person else 4]
        self.heads = nn.ModuleDict({name: Head(HEAD_CHANNELS[name]) for name in names})
        self.channels_last = True

    @property
    def input_size(self) -> int:
        """The side the network was trained at (MultiPose: the default detection side)."""
        return self.spec.input_size or 256

    @classmethod
    def pretrained(cls, variant: str = "thunder", path: str | Path | None = None) -> MoveNet:
        """The published network, from the converted weights bundled with the package (or
        `path`, a file written by `openhmr.posenet.convert`), float32, in eval mode."""
        net = cls(variant)
        load_weights(net, path or ASSETS / f"movenet_{variant}.safetensors")
        return net.eval()

    def forward(self, images: torch.Tensor) -> MoveNetOutput:
        """images: (B, 3, H, W) RGB in 0–255, H and W multiples of 32 -> `MoveNetOutput`."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise OpenHMRError(f"MoveNet: expected images (B, 3, H, W), got {tuple(images.shape)}")
        if images.shape[2] % 32 or images.shape[3] % 32:
            raise OpenHMRError(
                "MoveNet: image height and width must be multiples of 32, "
                f"got {tuple(images.shape[2:])}"
            )
        x = images * INPUT_SCALE - 1.0
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        dtype = precision.compute_dtype()  # float32 (None) unless `posenet_precision` says
        if dtype is None:
            return self._layers(x)
        output = precision.reduced_twin(self, dtype)._layers(x.to(dtype))
        heads = {name: getattr(output, name) for name in self.heads}
        return dataclasses.replace(output, **precision.as_float32(heads))  # float32 to decode

    def _layers(self, x: torch.Tensor) -> MoveNetOutput:
        features = self.backbone(x)
        pyramid = self.fpn(features)
        return MoveNetOutput(features, pyramid, **{k: h(pyramid) for k, h in self.heads.items()})

    def decode_single(self, output: MoveNetOutput) -> torch.Tensor:
        """The person nearest the middle: (B, 17, 3) = x, y in input pixels, score."""
        grid = decode_single(
            output.centre, output.keypoint_heatmap, output.keypoint_regression,
            output.keypoint_offset,
        )  # fmt: skip
        # The single-pose graphs scale cells by float16(1 / h) (Lightning: 1/48 → 0.020828,
        # 0.025 % short) before the caller multiplies by the input side: kept for parity.
        h = output.keypoint_heatmap.shape[2]
        scale = float(np.float16(1.0 / h)) * h * STRIDE
        return torch.cat([grid[..., :2] * scale, grid[..., 2:]], dim=-1)

    def read_turned(self, crops: torch.Tensor, turns: tuple[int, ...] = (0,)) -> torch.Tensor:
        """Square crops (B, 3, S, S) read each of `turns` quarter turns up (`torch.rot90`, one
        network call) -> the single-pose keypoints (B, 17, 3) of the reading with the highest
        mean score, x, y in the unturned crop's pixels. MoveNet misses most people upside
        down; reading the turns finds them."""
        if turns == (0,):
            return self.decode_single(self(crops))
        stacked = torch.cat([torch.rot90(crops, t, dims=(2, 3)) for t in turns])
        size = crops.shape[-1]
        points = self.decode_single(self(stacked)).unflatten(0, (len(turns), -1))
        points = torch.cat([points[..., :2] * (2.0 / size) - 1.0, points[..., 2:]], dim=-1)
        best, _ = most_confident_turn(points, turns)
        return torch.cat([(best[..., :2] + 1.0) * (size / 2.0), best[..., 2:]], dim=-1)

    def decode_multi(
        self, output: MoveNetOutput
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Up to 6 people: keypoints (B, 6, 17, 3) x, y input pixels, score; boxes (B, 6, 4)
        x0, y0, x1, y1 input pixels; scores (B, 6)."""
        if output.box_scale is None:
            raise OpenHMRError(f"MoveNet {self.variant} has no multi-person heads")
        keypoints, boxes, scores = decode_multi(
            output.centre, output.keypoint_heatmap, output.keypoint_regression,
            output.keypoint_offset, output.box_scale, output.box_offset,
        )  # fmt: skip
        keypoints = torch.cat([keypoints[..., :2] * STRIDE, keypoints[..., 2:]], dim=-1)
        return keypoints, boxes * STRIDE, scores

    def _parameters_like(self) -> torch.Tensor:
        return next(self.parameters())

    @torch.no_grad()
    def keypoints(
        self,
        image: np.ndarray,
        boxes: np.ndarray,
        margin: float = 1.0,
        batch_size: int = 16,
        orientations: int = 1,
    ) -> np.ndarray:
        """One person per box: image (H, W, 3) uint8 RGB, boxes (N, 4) x, y, w, h pixels ->
        (N, 17, 3) float64 = x, y image pixels, score. Each box is made square about its
        centre (side = margin × its longer side) and resampled to the input size.
        orientations: read each crop 1, 2 or 4 ways up (`read_turned`)."""
        turns = turns_of(orientations)
        image = check_image(image)
        crops, to_image = self._crops(image, boxes, margin, self.input_size, "keypoints")
        out = [
            self.read_turned(batch, turns).double().cpu().numpy()
            for batch in self._batches(crops, batch_size)
        ]
        points = np.concatenate(out) if out else np.zeros((0, 17, 3))
        points[..., :2] = points[..., :2] * to_image[:, None, :1] + to_image[:, None, 1:]
        return points

    @torch.no_grad()
    def detect(
        self,
        image: np.ndarray,
        threshold: float = 0.2,
        size: int | None = None,
        square: bool = True,
    ) -> PoseDetections:
        """Everyone in `image` (H, W, 3) uint8 RGB (MultiPose): the image is scaled so its
        longer side is `size` (default `input_size`) -> `PoseDetections` of the people scoring
        at least `threshold`, best first. square: letter-boxed into a square (side `size`
        rounded up to a multiple of 32), else on a canvas of its own shape (each side rounded
        up to a multiple of 32: `fit_to_stride`; a 640 x 360 frame at 256 fills 256 x 160, 0.63
        of the square's pixels, at the same scale)."""
        image = check_image(image)
        if not self.spec.multi_person:
            raise OpenHMRError(f"MoveNet {self.variant} finds one person: use 'multipose'")
        check_size(size, "detect")
        side = int(np.ceil((size or self.input_size) / 32) * 32)
        if square:
            canvas, scale = letterbox(image, side)
        else:
            canvas, scale = fit_to_stride(image, size or self.input_size)
        like = self._parameters_like()
        batch = torch.from_numpy(canvas[None]).to(like.device).permute(0, 3, 1, 2).to(like.dtype)
        keypoints, corners, scores = (
            t[0].double().cpu().numpy() for t in self.decode_multi(self(batch))
        )
        return _people(keypoints, corners, scores, threshold, scale, np.zeros(2))

    @torch.no_grad()
    def detect_in_boxes(
        self,
        image: np.ndarray,
        boxes: np.ndarray,
        threshold: float = 0.2,
        size: int | None = None,
        margin: float = 1.0,
        batch_size: int = 8,
    ) -> list[PoseDetections]:
        """Everyone in a square crop about each box (MultiPose): image (H, W, 3) uint8 RGB,
        boxes (N, 4) x, y, w, h pixels; each crop is the square about the box's centre with
        side margin × its longer side, resampled to `size` (default `input_size`, rounded up
        to a multiple of 32), the crops read in batches -> per box, `PoseDetections` of the
        people scoring at least `threshold`, best first, in image pixels. Two people one
        mostly behind the other, found as one at the frame's scale, often come apart in a
        crop of the pair (docs/video.md, "Looking closer")."""
        image = check_image(image)
        if not self.spec.multi_person:
            raise OpenHMRError(f"MoveNet {self.variant} finds one person: use 'multipose'")
        check_size(size, "detect_in_boxes")
        side = int(np.ceil((size or self.input_size) / 32) * 32)
        crops, to_image = self._crops(image, boxes, margin, side, "detect_in_boxes")
        found = []
        for batch in self._batches(crops, batch_size):
            outputs = self.decode_multi(self(batch))
            found.extend(zip(*(t.double().cpu().numpy() for t in outputs), strict=True))
        return [
            _people(keypoints, corners, scores, threshold, 1.0 / a, np.array([bx, by]))
            for (keypoints, corners, scores), (a, bx, by) in zip(found, to_image, strict=True)
        ]

    def _crops(
        self, image: np.ndarray, boxes: np.ndarray, margin: float, side: int, caller: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """The checked boxes (N, 4) x, y, w, h made square about their centres (side margin ×
        the longer side) -> `square_crops` at `side` px: crops (N, side, side, 3) and their
        (N, 3) a, bx, by (image = a · crop + b)."""
        boxes = check_boxes(boxes, image.shape[1], image.shape[0])
        if not np.isfinite(margin) or margin <= 0:
            raise OpenHMRError(f"MoveNet {caller}: margin must be > 0, got {margin}")
        centres, sides = boxes[:, :2] + boxes[:, 2:] / 2, boxes[:, 2:] * margin
        return square_crops(image, np.concatenate([centres - sides / 2, sides], axis=1), side)

    def _batches(self, crops: np.ndarray, batch_size: int) -> Iterator[torch.Tensor]:
        """Crops (N, S, S, 3) uint8 -> (B, 3, S, S) tensors of at most batch_size, on the
        network's device and dtype."""
        like = self._parameters_like()
        for start in range(0, len(crops), batch_size):
            batch = torch.from_numpy(crops[start : start + batch_size]).to(like.device)
            yield batch.permute(0, 3, 1, 2).to(like.dtype)


def check_size(size: int | None, caller: str) -> None:
    """A MultiPose input side: None (the network's own) or a whole number ≥ 32."""
    if size is not None and not (isinstance(size, int) and size >= 32):
        raise OpenHMRError(f"MoveNet {caller}: size must be a whole number >= 32, got {size!r}")


def _people(
    keypoints: np.ndarray,
    corners: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    scale: float | np.ndarray,
    offset: np.ndarray,
) -> PoseDetections:
    """One input's decoded people (keypoints (6, 17, 3), corners (6, 4) x0, y0, x1, y1 and
    scores (6,), input pixels) -> those scoring at least threshold, best first, in image
    pixels: image = input / scale + offset (scale: one or x, y)."""
    keep = np.flatnonzero(scores >= threshold)
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (2,))  # x, y
    keypoints, corners = keypoints[keep], corners[keep] / np.tile(scale, 2) + np.tile(offset, 2)
    keypoints[..., :2] = keypoints[..., :2] / scale + offset
    boxes = np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], axis=1)
    return PoseDetections(boxes, scores[keep], keypoints)
