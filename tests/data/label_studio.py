"""Label Studio's documented import format, as a JSON Schema and checks against a labeling config.

From Label Studio's docs (labelstud.io/guide/tasks "Basic Label Studio JSON format" and
/guide/predictions "Import pre-annotated data"): an import file is a list of tasks; a task has a
`data` object whose keys are the labeling config's `$variables` and may have `predictions`, each
with `model_version`, an optional `score` and a `result` list of regions. A region names its
control (`from_name`), the object it labels (`to_name`), its `type` (the control's tag in lower
case) and a `value`: `{"choices": [...]}` for Choices, `{"x", "y", "width", "height" (percent of
the image, 0-100), "rotation", "rectanglelabels": [...]}` for RectangleLabels, optionally with
`original_width` / `original_height` in pixels and a `score`.

`check_against_config` does what Label Studio does when it imports: every `$variable` of the
config is in `data`, every region's control exists with that type and object, and its labels are
labels of that control. (Label Studio's SDK, `LabelInterface.validate_prediction`, checks the
same; it is not a test dependency because its OpenCV pin holds numpy below 2.3.)
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from typing import Any

_LABELS = {"type": "array", "minItems": 1, "items": {"type": "string"}}
_PERCENT = {"type": "number", "minimum": 0, "maximum": 100}
_REGION = {
    "type": "object",
    "required": ["from_name", "to_name", "type", "value"],
    "properties": {
        "id": {"type": "string"},
        "from_name": {"type": "string", "minLength": 1},
        "to_name": {"type": "string", "minLength": 1},
        "type": {"enum": ["choices", "rectanglelabels"]},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "original_width": {"type": "integer", "minimum": 1},
        "original_height": {"type": "integer", "minimum": 1},
        "image_rotation": {"type": "number"},
        "value": {"type": "object"},
    },
    "allOf": [
        {
            "if": {"properties": {"type": {"const": "choices"}}},
            "then": {
                "properties": {
                    "value": {
                        "required": ["choices"],
                        "properties": {
                            "choices": {"type": "array", "minItems": 1, "items": {"type": "string"}}
                        },
                    }
                }
            },
        },
        {
            "if": {"properties": {"type": {"const": "rectanglelabels"}}},
            "then": {
                "properties": {
                    "value": {
                        "required": ["x", "y", "width", "height", "rectanglelabels"],
                        "properties": {
                            **{
                                key: {"type": "number", "minimum": 0, "maximum": 100}
                                for key in ("x", "y", "width", "height")
                            },
                            "rotation": {"type": "number"},
                            "rectanglelabels": _LABELS,
                        },
                    }
                }
            },
        },
    ],
}

TASKS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "array",
    "items": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "id": {"type": "integer"},
            "data": {"type": "object", "minProperties": 1},
            "predictions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["result"],
                    "properties": {
                        "model_version": {"type": "string"},
                        "score": {"type": "number"},
                        "result": {"type": "array", "items": _REGION},
                    },
                },
            },
        },
    },
}


def check_against_config(tasks: list[dict[str, Any]], config: str) -> list[str]:
    """Problems Label Studio would find importing `tasks` into a project with `config`."""
    root = ElementTree.fromstring(config)
    variables = {
        element.get("value", "")[1:] for element in root.iter() if element.get("value", "").startswith("$")
    }
    controls = {}
    for element in root.iter():
        if element.tag in ("Choices", "RectangleLabels"):
            labels = {child.get("value") for child in element if child.tag in ("Choice", "Label")}
            controls[element.get("name")] = (element.tag.lower(), element.get("toName"), labels)
    problems = []
    for task in tasks:
        missing = variables - set(task["data"])
        if missing:
            problems.append(f"task {task.get('id')}: data lacks {sorted(missing)}")
        for prediction in task.get("predictions", []):
            for region in prediction["result"]:
                control = controls.get(region["from_name"])
                if control is None:
                    problems.append(f"task {task.get('id')}: no control named {region['from_name']}")
                    continue
                kind, to_name, labels = control
                chosen = region["value"].get(kind, [])
                if region["type"] != kind or region["to_name"] != to_name or not set(chosen) <= labels:
                    problems.append(f"task {task.get('id')}: region {region} does not fit control {control}")
    return problems
