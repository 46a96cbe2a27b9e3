"""MoveNet's decoding, as its published graphs compute it, batched and in torch.

Grid coordinates: cell (row i, column j) of the stride-4 head maps; a keypoint at grid
(y, x) lies at input pixel (4y, 4x) — the graphs scale by 1 / grid size, not by (size − 1).

Single pose (Thunder, Lightning), per image:
1. person centre = argmax of sigmoid(centre) · 1 / (d + 1.8), d the distance in cells from
   the grid's middle cell (H/2, W/2): the person nearest the middle wins;
2. regressed keypoints r_k = centre + regression[centre] (17 × (dy, dx));
3. per keypoint, cell = argmax of sigmoid(heatmap_k) / (|cell − r_k| + 1.8);
4. keypoint = cell + offset_k[cell], score = sigmoid(heatmap_k)[cell].

Multi pose (MultiPose Lightning), per image:
1. centres: sigmoid(centre) kept where it equals its 5 × 5 max (|c − maxpool| < 1e-6), the
   top 6 by score;
2. each centre's box: centre + box_offset ± max(box_scale, 0) / 2, clipped to the grid;
3. r_k = centre + regression[centre]; per person and keypoint, weighted heat
   w = sigmoid(heatmap_k) · exp(−|cell − r_k|² / (0.3 · min(H, W))) inside the person's box,
   0 outside; cell = argmax of w; keypoint = cell + offset_k[cell]; its score = the max over
   the 6 people of w at that cell;
4. person score = centre score · mean of its keypoint scores above 0.127 (0 when none is).

The float constants are those of the published files (float16: 1.8 → 1.7998, 1e-6 →
1.0133e-6, 0.3 → 0.30005, 0.127 → 0.12695).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CENTRE_DISTANCE_BIAS = 1.7998046875  # float16(1.8)
KEYPOINT_DISTANCE_BIAS = 1.7998046875
PEAK_TOLERANCE = 1.0132789611816406e-06  # float16(1e-6)
GAUSSIAN_SCALE = 0.300048828125  # float16(0.3)
KEYPOINT_THRESHOLD = 0.126953125  # float16(0.127)
MAX_PEOPLE = 6
STRIDE = 4


def _grid(height: int, width: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column index maps (H, W) as floats."""
    rows = torch.arange(height, device=like.device, dtype=like.dtype)
    cols = torch.arange(width, device=like.device, dtype=like.dtype)
    return torch.meshgrid(rows, cols, indexing="ij")


def centre_weights(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """1 / (distance to the middle cell + 1.8), rounded through float16 as the graphs store it:
    (H, W)."""
    rows, cols = _grid(height, width, like)
    distance = torch.sqrt((rows - height // 2) ** 2 + (cols - width // 2) ** 2)
    weights = 1.0 / (distance.float() + 1.8)
    return weights.half().to(like.dtype)


def _gather_cells(maps: torch.Tensor, flat_index: torch.Tensor) -> torch.Tensor:
    """maps (B, C, H, W), flat_index (B, N) of cells -> (B, N, C)."""
    b, c = maps.shape[:2]
    flat = maps.reshape(b, c, -1)
    return flat.gather(2, flat_index[:, None, :].expand(b, c, flat_index.shape[1])).transpose(1, 2)


def _split_index(flat_index: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.div(flat_index, width, rounding_mode="floor")
    return rows, flat_index - rows * width


def decode_single(
    centre: torch.Tensor, heatmap: torch.Tensor, regression: torch.Tensor, offset: torch.Tensor
) -> torch.Tensor:
    """Head logits (centre (B, 1, h, w), heatmap (B, 17, h, w); regression and offset
    (B, 34, h, w) channels (dy, dx) per keypoint) -> keypoints (B, 17, 3) = x, y in grid cells,
    score. Differentiable in the offsets and scores (the argmax choices are not)."""
    b, k, h, w = heatmap.shape
    weighted = torch.sigmoid(centre[:, 0]) * centre_weights(h, w, centre)
    peak = weighted.reshape(b, -1).argmax(dim=1, keepdim=True)  # B x 1
    cy, cx = _split_index(peak, w)
    reg = _gather_cells(regression, peak)[:, 0].reshape(b, k, 2)  # B x 17 x (dy, dx)
    ry, rx = cy + reg[..., 0], cx + reg[..., 1]  # B x 17
    rows, cols = _grid(h, w, heatmap)
    distance = torch.sqrt(
        (rows - ry[..., None, None]) ** 2 + (cols - rx[..., None, None]) ** 2
    )  # B x 17 x h x w
    heat = torch.sigmoid(heatmap)
    cell = (heat / (distance + KEYPOINT_DISTANCE_BIAS)).reshape(b, k, -1).argmax(dim=2)
    ky, kx = _split_index(cell, w)  # B x 17
    score = heat.reshape(b, k, -1).gather(2, cell[..., None])[..., 0]
    offsets = offset.reshape(b, k, 2, h * w).gather(3, cell[:, :, None, None].expand(b, k, 2, 1))
    y = ky + offsets[:, :, 0, 0]
    x = kx + offsets[:, :, 1, 0]
    return torch.stack([x, y, score], dim=-1)


def decode_multi(
    centre: torch.Tensor,
    heatmap: torch.Tensor,
    regression: torch.Tensor,
    offset: torch.Tensor,
    box_scale: torch.Tensor,
    box_offset: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MultiPose head logits (centre (B, 1, h, w), heatmap (B, 17, h, w), regression and
    offset (B, 34, h, w), box_scale and box_offset (B, 2, h, w), (dy, dx) / (h, w) order) ->
    keypoints (B, 6, 17, 3) = x, y in grid cells, score; boxes (B, 6, 4) = x0, y0, x1, y1 in
    grid cells; scores (B, 6), best centre first."""
    b, k, h, w = heatmap.shape
    centre = torch.sigmoid(centre)
    pooled = F.max_pool2d(F.pad(centre, (2, 2, 2, 2), value=float("-inf")), 5, stride=1)
    peaks = centre * ((centre - pooled).abs() < PEAK_TOLERANCE)
    # A stable sort: equal scores keep the lower cell first, as TF's TopK does.
    centre_score, index = peaks.reshape(b, -1).sort(dim=1, descending=True, stable=True)
    centre_score, index = centre_score[:, :MAX_PEOPLE], index[:, :MAX_PEOPLE]  # B x 6
    cy, cx = _split_index(index, w)
    cy, cx = cy.to(heatmap.dtype), cx.to(heatmap.dtype)
    size = _gather_cells(box_scale, index).clamp(min=0)  # B x 6 x (h, w)
    shift = _gather_cells(box_offset, index)
    by, bx = cy + shift[..., 0], cx + shift[..., 1]
    y0 = (by - size[..., 0] / 2).clamp(0, h)
    x0 = (bx - size[..., 1] / 2).clamp(0, w)
    y1 = (by + size[..., 0] / 2).clamp(0, h)
    x1 = (bx + size[..., 1] / 2).clamp(0, w)
    reg = _gather_cells(regression, index).reshape(b, MAX_PEOPLE, k, 2)
    ry, rx = cy[..., None] + reg[..., 0], cx[..., None] + reg[..., 1]  # B x 6 x 17
    rows, cols = _grid(h, w, heatmap)
    squared = (rows - ry[..., None, None]) ** 2 + (cols - rx[..., None, None]) ** 2
    gaussian = torch.exp(-squared / (min(h, w) * GAUSSIAN_SCALE))  # B x 6 x 17 x h x w
    inside = (
        (rows >= y0[..., None, None])
        & (rows < y1[..., None, None])
        & (cols >= x0[..., None, None])
        & (cols < x1[..., None, None])
    )  # B x 6 x h x w
    weighted = torch.sigmoid(heatmap)[:, None] * gaussian * inside[:, :, None]
    cell = weighted.reshape(b, MAX_PEOPLE, k, -1).argmax(dim=3)  # B x 6 x 17
    best = weighted.amax(dim=1).reshape(b, k, -1)  # B x 17 x hw: max over people
    score = best[:, None].expand(b, MAX_PEOPLE, k, h * w).gather(3, cell[..., None])[..., 0]
    ky, kx = _split_index(cell, w)
    offsets = offset.reshape(b, 1, k, 2, h * w).expand(b, MAX_PEOPLE, k, 2, h * w)
    picked = offsets.gather(4, cell[..., None, None].expand(b, MAX_PEOPLE, k, 2, 1))[..., 0]
    keypoints = torch.stack([kx + picked[..., 1], ky + picked[..., 0], score], dim=-1)
    confident = score > KEYPOINT_THRESHOLD
    mean_score = (score * confident).sum(-1) / confident.sum(-1).clamp(min=1)
    boxes = torch.stack([x0, y0, x1, y1], dim=-1)
    return keypoints, boxes, centre_score * mean_score
