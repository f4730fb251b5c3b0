"""report.json's `objectLevel` (and `objectEmbeddings`) counts: boxes, crops cut, skipped boxes.

Crop counts only: the images the crops come from are counted in `datasetSizes`, what selection
did with the crops in `selection` (its unit is then `crops`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lightly_ray.pipeline.crops import BOX_INDEX, PARENT
from lightly_ray.pipeline.gather import GatheredSamples

SKIPPED_IN_REPORT = 50


def objects_report(
    task: str, n_boxes: int | None, n_samples_with_boxes: int, crops: GatheredSamples, padding: float
) -> dict[str, Any]:
    """The report's block on the crops: boxes, crops cut, boxes skipped (with their files).

    Args:
        task: The task whose boxes are cut.
        n_boxes: The task's boxes as read; None for the detector's (each found box is a crop row).
        n_samples_with_boxes: Samples with a box (0 for the detector's: counted from the crops).
        crops: The gathered crops, one row per box (cut, or skipped with its error).
        padding: `object_level.padding`.
    """
    skipped = np.flatnonzero(crops.errors != "")
    parents, boxes = crops.detections[PARENT], crops.detections[BOX_INDEX]
    n_boxes = len(crops.names) if n_boxes is None else n_boxes
    cut = int((crops.errors == "").sum())
    return {
        "task": task,
        "padding": padding,
        "nBoxes": n_boxes,
        "nCrops": cut,
        "nCandidates": int(crops.candidate.sum()),
        "nSkipped": len(skipped),
        # Boxes of images and frames that could not be decoded: no crop row at all.
        "nNotDecoded": max(0, n_boxes - cut - len(skipped)),
        "skipped": [
            {"file": str(parents[row]), "box": int(boxes[row]), "why": str(crops.errors[row])}
            for row in skipped[:SKIPPED_IN_REPORT]
        ],
        "nSamplesWithBoxes": n_samples_with_boxes or len(set(parents.tolist())),
    }


__all__ = ["SKIPPED_IN_REPORT", "objects_report"]
