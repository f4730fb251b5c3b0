"""Embedding backbones, checkpoints and (later) the detector and training."""
