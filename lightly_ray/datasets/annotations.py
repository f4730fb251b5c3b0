"""The custom metadata and a prediction summary of each selected sample, as dataset columns.

A dataset's samples carry what the run knew about them beside their embedding and Lightly
metadata (FORMATS.md section 8), as two JSON string columns, so that runs with different
metadata schemas and prediction tasks can share one dataset:

- `metadata`: `{schema path: value}` of the custom metadata (`{}` without a schema);
- `predictions`: per task `{"n": predictions, "categories": {name: count}, "maxScore": ...}`
  (for classification the most probable category, with its probability as the score);
- `sequence`: with `selected_sequence_length`, the sequence the frame was selected in
  (`<run id>/<k>`, the k-th sequence of that run's sequence_information.json), else "".
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from lightly_ray.formats.prediction_items import Prediction, top_category
from lightly_ray.formats.prediction_schema import TaskSchema
from lightly_ray.selection.data import SelectionData
from lightly_ray.selection.input_values import metadata_column

ANNOTATION_COLUMNS = ("metadata", "predictions", "sequence")


def annotate(
    samples: pa.Table, data: SelectionData | None, sequences: dict[str, str] | None = None
) -> pa.Table:
    """`samples` (a `name` column) with the `metadata`, `predictions` and `sequence` columns added."""
    names = [str(name) for name in samples.column("name").to_pylist()]
    metadata = ["{}"] * len(names)
    predictions = ["{}"] * len(names)
    if data is not None and names:
        rows = [_row_of(name, data.names) for name in names]
        metadata = _metadata(rows, data)
        predictions = [_predictions(name, data) for name in names]
    sequence = [(sequences or {}).get(name, "") for name in names]
    return (
        samples.append_column("metadata", pa.array(metadata, pa.string()))
        .append_column("predictions", pa.array(predictions, pa.string()))
        .append_column("sequence", pa.array(sequence, pa.string()))
    )


def _row_of(name: str, names: Sequence[str]) -> int | None:
    """The row of `name` in the sorted, unique `names`, None when it is not there.

    A binary search per selected sample: a dict of every candidate's row would hold about 75
    bytes a candidate (150 MB at 2M) beside the matrix while the run publishes.
    """
    row = bisect_left(names, name)
    return row if row < len(names) and names[row] == name else None


def _metadata(rows: list[int | None], data: SelectionData) -> list[str]:
    if data.metadata is None or not data.metadata.fields:
        return ["{}"] * len(rows)
    columns = {
        item.path: metadata_column(item.path, f"metadata {item.path}", data)[1]
        for item in data.metadata.fields
    }
    return [
        json.dumps({path: _plain(values[row]) for path, values in columns.items()} if row is not None else {})
        for row in rows
    ]


def _predictions(name: str, data: SelectionData) -> str:
    summary: dict[str, Any] = {}
    for task, result in sorted(data.predictions.items()):
        found = result.for_sample(name)
        if found:
            summary[task] = _summary(result.schema, found)
    return json.dumps(summary, sort_keys=True)


def _summary(schema: TaskSchema, predictions: list[Prediction]) -> dict[str, Any]:
    categories: Counter[str] = Counter()
    scores = []
    for prediction in predictions:
        category, score = top_category(prediction, schema)
        categories[category] += 1
        if score is not None:
            scores.append(float(score))
    summary: dict[str, Any] = {"n": len(predictions), "categories": dict(sorted(categories.items()))}
    if scores:
        summary["maxScore"] = round(max(scores), 6)
    return summary


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


__all__ = ["ANNOTATION_COLUMNS", "annotate"]
