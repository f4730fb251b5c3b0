"""Pretagging's pieces without a cluster: class mapping, box normalisation, files, detector input."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from lightly_ray.config.lightly import PretaggingConfig
from lightly_ray.errors import WeightsNotAvailableError
from lightly_ray.formats.pretag_predictions import parse_pretag_file
from lightly_ray.formats.pretag_schema import PRETAG_CLASSES, prediction_path, pretag_schema
from lightly_ray.models.detector import (
    COCO_LABELS,
    build_detector_state,
    build_network,
    coco_to_pretag,
    load_detector,
)
from lightly_ray.pipeline.detector_input import DetectorInputs
from lightly_ray.pipeline.pretag import draw_detections, seed_record, to_pretag


def test_the_seven_classes_are_torchvision_coco_labels() -> None:
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    names = FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"]
    for name in PRETAG_CLASSES:
        assert names[COCO_LABELS[name]] == name
    table = coco_to_pretag()
    assert sorted(PRETAG_CLASSES[index] for index in table[table >= 0]) == sorted(PRETAG_CLASSES)
    assert (table >= 0).sum() == 7
    assert [category.name for category in pretag_schema().categories] == list(PRETAG_CLASSES)


def test_detector_output_is_mapped_filtered_and_normalised() -> None:
    # A 200 x 100 (width x height) image; labels: person (1), airplane (5, dropped), truck (8),
    # car (3) below the threshold, and an index past the 91 COCO labels (dropped).
    boxes = np.array(
        [[10, 20, 50, 80], [0, 0, 10, 10], [150, 50, 210, 100], [1, 1, 2, 2], [3, 3, 4, 4]], dtype=np.float32
    )
    labels = np.array([1, 5, 8, 3, 95])
    scores = np.array([0.9, 0.99, 0.6, 0.2, 0.95], dtype=np.float32)
    kept_boxes, classes, kept_scores = to_pretag(boxes, labels, scores, height=100, width=200, threshold=0.5)
    assert [PRETAG_CLASSES[index] for index in classes] == ["person", "truck"]
    np.testing.assert_allclose(kept_boxes, [[0.05, 0.2, 0.25, 0.8], [0.75, 0.5, 1.0, 1.0]], atol=1e-6)
    np.testing.assert_allclose(kept_scores, [0.9, 0.6], atol=1e-6)
    empty = to_pretag(np.zeros((0, 4)), np.zeros(0), np.zeros(0), height=10, width=10, threshold=0.5)
    assert all(len(part) == 0 for part in empty)


def test_a_prediction_file_has_the_seed_format_and_reads_back() -> None:
    boxes = np.array([[0.869, 0.153, 0.885, 0.197], [0.231, 0.175, 0.291, 0.202]], dtype=np.float32)
    record = seed_record("sub/image_1.png", boxes, np.array([4, 2]), np.array([0.98452, 0.93231]))
    text = json.dumps(record)
    content = json.loads(text)
    assert list(content[0]) == ["filename", "boxes", "labels", "scores"]
    assert content[0]["filename"] == "sub/image_1.png"
    assert content[0]["labels"] == ["person", "car"]
    assert content[0]["boxes"][0] == pytest.approx([0.869, 0.153, 0.885, 0.197], abs=1e-6)
    assert prediction_path("sub/image_1.png") == ".lightly/predictions/lightly_pretagging/sub/image_1.json"
    assert (
        prediction_path("clips/a-007-mp4.png")
        == ".lightly/predictions/lightly_pretagging/clips/a-007-mp4.json"
    )
    predictions = parse_pretag_file(content, "sub/image_1.png")
    assert [(item.category_id, item.score) for item in predictions] == [
        (PRETAG_CLASSES.index("person"), pytest.approx(0.98452)),
        (PRETAG_CLASSES.index("car"), pytest.approx(0.93231)),
    ]
    in_pixels = parse_pretag_file(content, "sub/image_1.png", (1000, 500))
    assert in_pixels[1].bbox == pytest.approx((231.0, 87.5, 60.0, 13.5), abs=1e-3)
    with pytest.raises(ValueError, match="filename"):
        parse_pretag_file(content, "other.png")
    content[0]["labels"][0] = "airplane"
    with pytest.raises(ValueError, match="unknown labels"):
        parse_pretag_file(content, "sub/image_1.png")


def test_the_detector_input_keeps_the_aspect_ratio_in_a_padded_square() -> None:
    inputs = DetectorInputs(2, 64)
    wide = np.full((30, 120, 3), 200, dtype=np.uint8)
    small = np.full((10, 8, 3), 50, dtype=np.uint8)
    inputs.add(0, wide)
    inputs.add(1, small)
    columns = inputs.columns()
    assert columns["detect_shape"].tolist() == [[16, 64], [64, 51]]
    assert columns["detect_image"].shape == (2, 64, 64, 3)
    assert (columns["detect_image"][0, :16] == 200).all() and (columns["detect_image"][0, 16:] == 0).all()
    assert (columns["detect_image"][1, :, :51] == 50).all() and (
        columns["detect_image"][1, :, 51:] == 0
    ).all()


def test_random_weights_are_seeded_and_run_on_images_of_any_shape() -> None:
    settings = PretaggingConfig(weights="random", score_threshold=0.0, image_size=64)
    first = build_detector_state(settings, seed=3)
    again = build_detector_state(settings, seed=3)
    key = "roi_heads.box_predictor.cls_score.weight"
    np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first[key], build_detector_state(settings, seed=4)[key])
    network = load_detector(settings, first, torch.device("cpu"))
    with torch.inference_mode():
        outputs = network([torch.rand(3, 40, 64), torch.rand(3, 64, 20)])
    assert len(outputs) == 2
    for output in outputs:
        assert output["boxes"].shape[1] == 4 and len(output["boxes"]) <= 100


def test_a_checkpoint_must_fit_the_detector() -> None:
    settings = PretaggingConfig(weights="detector.pt", score_threshold=0.5, image_size=64)
    buffer = io.BytesIO()
    torch.save({"state_dict": {"module.conv.weight": torch.zeros(1)}}, buffer)
    with pytest.raises(WeightsNotAvailableError, match="does not fit torchvision's fasterrcnn_resnet50_fpn"):
        build_detector_state(settings, seed=1, checkpoint=buffer.getvalue())
    with pytest.raises(WeightsNotAvailableError, match="cannot be read as a torch checkpoint"):
        build_detector_state(settings, seed=1, checkpoint=b"not a checkpoint")
    buffer = io.BytesIO()
    torch.save(
        {"model": {f"module.{key}": value for key, value in build_network(settings).state_dict().items()}},
        buffer,
    )
    state = build_detector_state(settings, seed=1, checkpoint=buffer.getvalue())
    assert "roi_heads.box_predictor.bbox_pred.weight" in state


def test_debug_pictures_show_the_boxes() -> None:
    pixels = np.zeros((40, 80, 3), dtype=np.uint8)
    record = {"boxes": [[0.25, 0.25, 0.75, 0.75]], "labels": ["car"], "scores": [0.9]}
    picture = np.asarray(Image.open(io.BytesIO(draw_detections(pixels, record))))
    assert picture.shape == (40, 80, 3)
    assert picture[10, 20:60].any(), "the box's top edge is drawn"
    assert not picture[23:28, 25:55].any(), "inside the box stays as it was (below the label)"
