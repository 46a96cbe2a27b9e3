"""Synthetic training/evaluation data with exact ground truth (see `generate`)."""

from openhmr.synth.generate import SynthConfig, generate
from openhmr.synth.poses import JOINT_LIMITS, sample_poses
from openhmr.synth.scene import SceneConfig

__all__ = ["JOINT_LIMITS", "SceneConfig", "SynthConfig", "generate", "sample_poses"]
