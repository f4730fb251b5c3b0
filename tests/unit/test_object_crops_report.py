"""report.json's objectLevel: every box is cut, skipped, or on an image not decoded (object_crops.py)."""

from __future__ import annotations

import numpy as np

from lightly_ray.pipeline.crops import BOX_INDEX, PARENT
from lightly_ray.pipeline.gather import GatheredSamples
from lightly_ray.report.object_crops import objects_report


def test_boxes_of_images_that_were_not_decoded_are_counted() -> None:
    crops = GatheredSamples.of_matrix(["a-0.png", "a-1.png", "b-0.png"], np.eye(3, dtype=np.float32))
    crops.detections = {PARENT: np.array(["a.png", "a.png", "b.png"], dtype=object), BOX_INDEX: np.arange(3)}
    crops.errors = np.array(["", "the box has no area", ""], dtype=object)
    # 5 boxes read for the decoded samples; broken.png's 2 gave no row: it could not be decoded.
    block = objects_report("cars", 5, 3, crops, 0.1)
    assert (block["nBoxes"], block["nCrops"], block["nSkipped"], block["nNotDecoded"]) == (5, 2, 1, 2)
    detector = objects_report("lightly_pretagging", None, 0, crops, 0.0)  # one row per found box
    assert detector["nNotDecoded"] == 0 and detector["nBoxes"] == 3
