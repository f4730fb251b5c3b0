"""Detector weights that find objects in any image: random weights whose classifier says "car"."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from lightly_ray.config.lightly import PretaggingConfig
from lightly_ray.models.detector import COCO_LABELS, build_network


def car_checkpoint(path: Path, settings: dict[str, Any]) -> None:
    """Write seeded random detector weights whose classifier scores every proposal as a car."""
    torch.manual_seed(0)
    state = build_network(PretaggingConfig(**settings)).state_dict()
    bias = state["roi_heads.box_predictor.cls_score.bias"]
    bias.zero_()
    bias[COCO_LABELS["car"]] = 20.0
    buffer = io.BytesIO()
    torch.save({"state_dict": state}, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
