"""HMR's factorized adversarial prior (``Discriminator_separable_rotations``): K + 2 = 25 linear
scores per body, for the least-squares GAN objective.

- pose: the 23 non-root rotation matrices (B, 23, 9) → a shared embedding 9 → 32 → 32 (ReLU
  after each; slim's two 1 × 1 convs) → 23 separate linear heads, one per joint;
- all joints: the 23 × 32 = 736 embeddings → FC 1024 → ReLU → FC 1024 → ReLU → 1;
- shape: β (10) → FC 10 → ReLU → FC 5 → ReLU → 1.

Output (B, 25) = [23 joint scores | all-joints score | shape score], as the released code.
"""

from __future__ import annotations

import torch
from torch import nn

from openhmr.errors import OpenHMRError

NUM_BODY_JOINTS = 23
EMBED_DIM = 32


def _linear(in_features: int, out_features: int) -> nn.Linear:
    layer = nn.Linear(in_features, out_features)
    nn.init.xavier_uniform_(layer.weight)  # slim's default initialisers
    nn.init.zeros_(layer.bias)
    return layer


class Discriminator(nn.Module):
    """forward(rotations (B, 23, 3, 3) or (B, 23, 9), betas (B, 10)) -> scores (B, 25)."""

    def __init__(self, num_betas: int = 10, hidden: int = 1024) -> None:
        super().__init__()
        self.num_betas = num_betas
        self.pose_embedding = nn.Sequential(
            _linear(9, EMBED_DIM), nn.ReLU(), _linear(EMBED_DIM, EMBED_DIM), nn.ReLU()
        )
        # 23 independent 32 -> 1 heads, stored together: joint j uses row j only
        self.joint_weight = nn.Parameter(torch.empty(NUM_BODY_JOINTS, EMBED_DIM))
        self.joint_bias = nn.Parameter(torch.zeros(NUM_BODY_JOINTS))
        bound = (6 / (EMBED_DIM + 1)) ** 0.5  # Glorot-uniform of each 32 -> 1 layer
        nn.init.uniform_(self.joint_weight, -bound, bound)
        self.all_joints = nn.Sequential(
            _linear(NUM_BODY_JOINTS * EMBED_DIM, hidden),
            nn.ReLU(),
            _linear(hidden, hidden),
            nn.ReLU(),
            _linear(hidden, 1),
        )
        self.shape = nn.Sequential(
            _linear(num_betas, 10), nn.ReLU(), _linear(10, 5), nn.ReLU(), _linear(5, 1)
        )

    def forward(self, rotations: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        batch = rotations.shape[0]
        if rotations.shape[1:] == (NUM_BODY_JOINTS, 3, 3):
            rotations = rotations.flatten(2)
        if rotations.shape[1:] != (NUM_BODY_JOINTS, 9) or betas.shape != (batch, self.num_betas):
            raise OpenHMRError(
                f"discriminator: expected rotations (B, 23, 3, 3) (root excluded) and betas "
                f"(B, {self.num_betas}), got {tuple(rotations.shape)} and {tuple(betas.shape)}"
            )
        embedding = self.pose_embedding(rotations)  # B x 23 x 32
        joint_scores = (embedding * self.joint_weight).sum(-1) + self.joint_bias  # B x 23
        all_score = self.all_joints(embedding.flatten(1))  # B x 1
        shape_score = self.shape(betas)  # B x 1
        return torch.cat([joint_scores, all_score, shape_score], dim=1)
