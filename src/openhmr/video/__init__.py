"""Video: synthetic sequences with exact truth, tracking across frames, temporal smoothing,
and animation export (BVH, per-track .npz)."""
