"""Training data: records, datasets, augmentation and unpaired mocap pose sources."""
