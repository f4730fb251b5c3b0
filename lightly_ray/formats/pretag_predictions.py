"""Task `lightly_pretagging`: the detector's predictions as an object-detection task of the run.

Selection reads them as it reads a user's detection task (SCORES, PREDICTIONS; object level
later): categories 0..6 are the seven classes of `models.detector.PRETAG_CLASSES`, boxes are
in pixels of the sample (`x, y, w, h`, as in `.lightly/predictions`). The samples this run ran
the detector on take their detections from the pipeline's columns; the others (embeddings
reused from an earlier run: a datapool's unchanged files, a resumed run's finished part) from
the files an earlier run wrote (`pretag.prediction_path`, the seed's format), read back here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from lightly_ray.formats.jsonfile import parse_json
from lightly_ray.formats.prediction_items import Prediction
from lightly_ray.formats.predictions import TaskPredictions
from lightly_ray.formats.pretag_schema import (
    PRETAG_BOXES,
    PRETAG_CLASSES,
    PRETAG_COUNT,
    PRETAG_FOLDER,
    PRETAG_LABELS,
    PRETAG_SCORES,
    prediction_path,
    pretag_schema,
)
from lightly_ray.formats.problems import FieldError, FormatProblem
from lightly_ray.sample_names import SampleNames
from lightly_ray.storage import Location

READ_THREADS = 16


def pretag_predictions(
    names: Sequence[str],
    gathered_names: SampleNames,
    detections: Mapping[str, np.ndarray],
    location: Location,
) -> TaskPredictions:
    """The `lightly_pretagging` task for `names` (the selection pool).

    Args:
        names: The samples that need predictions.
        gathered_names: The names of the gathered samples (rows of `detections`).
        detections: The gathered detector columns (`GatheredSamples.detections`).
        location: The lightly location, where earlier runs wrote their prediction files.

    Returns:
        Predictions by sample; a sample whose file is missing or unreadable is listed as a
        problem and has none.
    """
    result = TaskPredictions(schema=pretag_schema())
    rows = gathered_names.rows_of(names).tolist()  # looked up in Arrow: no dictionary of every name
    counts = detections.get(PRETAG_COUNT)
    missing = []
    for name, row in zip(names, rows, strict=True):
        if counts is None or row < 0 or counts[row] < 0:
            missing.append(name)
            continue
        found = int(counts[row])
        width, height = int(detections["width"][row]), int(detections["height"][row])
        result.predictions[name] = _predictions(
            detections[PRETAG_BOXES][row, :found],
            detections[PRETAG_LABELS][row, :found],
            detections[PRETAG_SCORES][row, :found],
            width,
            height,
        )
    result.n_files = len(names) - len(missing)
    if missing:
        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
            for name, read in zip(
                missing, pool.map(lambda item: _read(location, item), missing), strict=True
            ):
                if isinstance(read, FormatProblem):
                    result.problems.append(read)
                else:
                    result.predictions[name] = read
                    result.n_files += 1
    return result


def average_objects(predictions: TaskPredictions, names: Sequence[str]) -> float:
    """The mean number of detections per sample of `names` (0 for none)."""
    if not names:
        return 0.0
    return sum(len(predictions.for_sample(name)) for name in names) / len(names)


def parse_pretag_file(content: Any, name: str, size: tuple[int, int] | None = None) -> list[Prediction]:
    """The predictions of one file in the seed's format (boxes normalised).

    Args:
        content: The parsed file.
        name: The sample it must describe.
        size: The sample's (width, height): boxes are given in its pixels (`x, y, w, h`); None
            leaves them out.

    Raises:
        ValueError: When the content is not the seed's format for this sample.
    """
    if not isinstance(content, list) or len(content) != 1 or not isinstance(content[0], dict):
        raise ValueError("expected a list holding one object with filename, boxes, labels and scores")
    record = content[0]
    if record.get("filename") != name:
        raise ValueError(f"filename is {record.get('filename')!r}, expected {name!r}")
    boxes, labels, scores = record.get("boxes"), record.get("labels"), record.get("scores")
    if not (isinstance(boxes, list) and isinstance(labels, list) and isinstance(scores, list)):
        raise ValueError("boxes, labels and scores must be lists")
    if not len(boxes) == len(labels) == len(scores):
        raise ValueError("boxes, labels and scores must have the same length")
    unknown = sorted({str(label) for label in labels} - set(PRETAG_CLASSES))
    if unknown:
        raise ValueError(f"unknown labels {unknown}; expected some of {list(PRETAG_CLASSES)}")
    if size is None:
        return [
            Prediction(category_id=PRETAG_CLASSES.index(label), score=float(score))
            for label, score in zip(labels, scores, strict=True)
        ]
    if not all(isinstance(box, list) and len(box) == 4 for box in boxes):
        raise ValueError("each box must be [x1, y1, x2, y2], normalised")
    return _predictions(
        np.array(boxes, dtype=np.float64).reshape(-1, 4),
        np.array([PRETAG_CLASSES.index(label) for label in labels], dtype=np.int64),
        np.array(scores, dtype=np.float64),
        *size,
    )


def read_pretag_files(
    location: Location, names: Sequence[str], sizes: Sequence[tuple[int, int]]
) -> TaskPredictions | None:
    """The detector's prediction files of `names`, boxes in pixels of `sizes` (for exports).

    Returns:
        The predictions of the samples that have a file; None when pretagging never wrote one
        in this lightly location.
    """
    if next(iter(location.list_files(PRETAG_FOLDER)), None) is None:
        return None
    result = TaskPredictions(schema=pretag_schema())
    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        reads = pool.map(lambda item: _read(location, *item), zip(names, sizes, strict=True))
        for name, read in zip(names, reads, strict=True):
            if isinstance(read, FormatProblem):
                result.problems.append(read)
            else:
                result.predictions[name] = read
    result.n_files = len(result.predictions)
    return result


def _predictions(
    boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray, width: int, height: int
) -> list[Prediction]:
    scale = np.array([width, height, width, height], dtype=np.float64)
    pixels = boxes.astype(np.float64) * scale
    return [
        Prediction(
            category_id=int(label),
            score=float(score),
            bbox=(float(x1), float(y1), float(x2 - x1), float(y2 - y1)) if width and height else None,
        )
        for (x1, y1, x2, y2), label, score in zip(pixels, labels, scores, strict=True)
    ]


def _read(
    location: Location, name: str, size: tuple[int, int] | None = None
) -> list[Prediction] | FormatProblem:
    path = prediction_path(name)
    try:
        return parse_pretag_file(parse_json(location.read_bytes(path)), name, size)
    except FileNotFoundError:
        return FormatProblem(path, "", "no prediction file: the detector did not run on this sample")
    except FieldError as error:
        return FormatProblem(path, error.key, error.message)
    except (ValueError, OSError) as error:
        return FormatProblem(path, "", str(error))


__all__ = ["average_objects", "parse_pretag_file", "pretag_predictions", "read_pretag_files"]
