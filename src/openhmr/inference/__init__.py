"""Image → mesh for users: prediction, detection, export."""

from openhmr.inference.export import write_obj

__all__ = ["write_obj"]
