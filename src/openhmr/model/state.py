"""Loading a state dict into a module with one clear error (no model imports: every
loader of the model package, the root reader's included, can use it)."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from openhmr.errors import OpenHMRError


def load_state_exactly(
    module: torch.nn.Module, state: Mapping[str, torch.Tensor], what: str
) -> None:
    """load_state_dict(strict) with one clear error listing missing / extra / misshapen keys."""
    own = module.state_dict()
    # files from before PyTorch 0.4.1 (e.g. resnet50-19c8e357.pth) have no BN step counters
    state = {
        **{k: torch.zeros((), dtype=torch.long) for k in own if k.endswith("num_batches_tracked")},
        **state,
    }
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    shapes = [
        f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or extra or shapes:
        raise OpenHMRError(
            f"{what}: does not match the network: missing {missing[:8]}, unexpected "
            f"{extra[:8]}, wrong shapes {sorted(shapes)[:8]}"
        )
    module.load_state_dict(state, strict=True)
