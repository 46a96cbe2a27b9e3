"""Body models: SMPL-format linear blend skinning, model-file loading, keypoint sets."""

from openhmr.body.io import BodyModelData, read_body_model, write_body_model
from openhmr.body.keypoints import COCOPLUS_NAMES, SMPL_JOINT_NAMES, SMPL_PARENTS
from openhmr.body.model import BodyModel, BodyOutput, load_body_model

__all__ = [
    "COCOPLUS_NAMES",
    "SMPL_JOINT_NAMES",
    "SMPL_PARENTS",
    "BodyModel",
    "BodyModelData",
    "BodyOutput",
    "load_body_model",
    "read_body_model",
    "write_body_model",
]
