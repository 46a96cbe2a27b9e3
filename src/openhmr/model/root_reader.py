"""A root reader: the body's root rotation read from φ by a small network of its own, for the
regressor to start from (`HMRConfig.root_start`).

The heads of the default model read the root at 13.5° median on CMU renders, though a small
network on the same φ, trained on the root alone, reads it at 11.2° (docs/default_model.md,
"v9 candidates"). Swapping such a root into the heads' Θ afterwards breaks the body's fit to
the photo: pose and camera go with the head's own root. With `root_start`, Θ₀'s root is the
reader's (every other parameter the mean's), so each IEF step refines pose and camera from it.
The reader is trained beforehand on the root alone (`fit_root_reader`,
`tools/train_root_reader.py`) and stays frozen while the heads train.
"""

from __future__ import annotations

import torch
from torch import nn

from openhmr.errors import OpenHMRError
from openhmr.geometry.rotations import matrix_to_axis_angle, rotation_6d_to_matrix
from openhmr.model.state import load_state_exactly


class RootReader(nn.Module):
    """φ (B, D) -> the root's rotation (B, 3, 3): standardised φ (buffers `mean`, `scale`,
    set from the training features), FC hidden → hidden → 6 (ReLU, dropout), Gram–Schmidt of
    the 6D (`rotation_6d_to_matrix`, columns)."""

    def __init__(self, feature_dim: int, hidden: int = 1024, dropout: float = 0.2) -> None:
        super().__init__()
        if feature_dim < 1 or hidden < 1:
            raise OpenHMRError(f"root reader: expected sizes ≥ 1, got {feature_dim}, {hidden}")
        self.register_buffer("mean", torch.zeros(feature_dim))
        self.register_buffer("scale", torch.ones(feature_dim))
        self.net = nn.Sequential(
            nn.Linear(feature_dim, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 6),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim != 2 or features.shape[1] != self.mean.shape[0]:
            raise OpenHMRError(
                f"root reader: expected φ (B, {self.mean.shape[0]}), got {tuple(features.shape)}"
            )
        x = (features.to(self.mean.dtype) - self.mean) / self.scale
        return rotation_6d_to_matrix(self.net(x))

    def axis_angle(self, features: torch.Tensor) -> torch.Tensor:
        """φ (B, D) -> the root as axis-angle (B, 3), Θ's layout."""
        return matrix_to_axis_angle(self(features))


def chordal_loss(
    predicted: torch.Tensor, truth: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Weighted mean of ‖R − R̂‖²_F = 2 (3 − tr(Rᵀ R̂)) over rotations (B, 3, 3)."""
    distance = 2.0 * (3.0 - (predicted * truth).sum(dim=(-2, -1)))
    if weights is None:
        return distance.mean()
    return (weights * distance).sum() / weights.sum().clamp(min=1e-12)


def fit_root_reader(
    reader: RootReader,
    features: torch.Tensor,
    rotations: torch.Tensor,
    weights: torch.Tensor | None = None,
    epochs: int = 40,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
) -> list[float]:
    """Train `reader` in place on φ (N, D) and the true roots (N, 3, 3) (per-row weights
    (N,), default 1): its standardisation from φ, then AdamW (weight decay 1e-4) on
    `chordal_loss` with a one-cycle rate schedule. Returns each epoch's mean loss; leaves the
    reader in eval mode."""
    from tqdm import tqdm

    if features.ndim != 2 or rotations.shape != (len(features), 3, 3):
        raise OpenHMRError(
            f"root reader: expected φ (N, D) and rotations (N, 3, 3), got "
            f"{tuple(features.shape)} and {tuple(rotations.shape)}"
        )
    if len(features) == 0:
        raise OpenHMRError("root reader: no training rows")
    weights = torch.ones(len(features)) if weights is None else weights.float()
    features, rotations = features.float(), rotations.float()
    with torch.no_grad():
        reader.mean.copy_(features.mean(0))
        reader.scale.copy_(features.std(0).clamp(min=1e-3))
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.AdamW(reader.parameters(), learning_rate, weight_decay=1e-4)
    steps = epochs * ((len(features) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, learning_rate, total_steps=steps)
    history = []
    reader.train()
    for _ in tqdm(range(epochs), desc="root reader", unit="epoch", disable=not progress):
        order = torch.randperm(len(features), generator=generator)
        total, count = 0.0, 0
        for start in range(0, len(features), batch_size):
            rows = order[start : start + batch_size]
            loss = chordal_loss(reader(features[rows]), rotations[rows], weights[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(rows)
            count += len(rows)
        history.append(total / count)
    reader.eval()
    return history


def save_root_reader(path, reader: RootReader) -> None:
    """The reader's weights and standardisation as a `.safetensors` file, written atomically."""
    from safetensors.torch import save_file

    from openhmr.files import atomic_path

    tensors = {k: v.detach().contiguous() for k, v in reader.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))


def load_root_reader_into(reader: RootReader, path) -> RootReader:
    """Read `save_root_reader`'s file into `reader` (same feature size and width); one
    `OpenHMRError` naming the file when it is missing or holds other tensors."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError, ValueError) as err:
        raise OpenHMRError(f"root reader {path}: cannot read it ({err})") from None
    load_state_exactly(reader, tensors, f"root reader {path}")
    return reader
