"""Training: the paper's adversarial loop on Lightning (one CPU to many GPUs)."""

from openhmr.train.config import TrainConfig, load_config
from openhmr.train.run import train

__all__ = ["TrainConfig", "load_config", "train"]
