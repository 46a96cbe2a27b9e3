"""openhmr: End-to-end Recovery of Human Shape and Pose (Kanazawa et al., CVPR 2018) in PyTorch."""

from openhmr.body import BodyModel, BodyOutput, load_body_model
from openhmr.errors import OpenHMRError

__version__ = "0.1.0"
__all__ = ["BodyModel", "BodyOutput", "OpenHMRError", "__version__", "load_body_model"]
