"""Everything a run reads beside the data: predictions and metadata, validated, with a report.

Partly invalid files are skipped and listed in the run's report; a task the configuration uses
must exist and have at least one valid file, otherwise the run fails before selection. Files of
input files the run does not select from (corrupt, duplicates, unchanged in a datapool rerun,
left out by the relevant filenames file) are neither read nor problems: the report counts them
by reason (`filesNotRead`), so that every file is counted once as valid, skipped or not read.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lightly_ray.config.run_config import PRETAGGING_TASK, RunConfig
from lightly_ray.config.selection import EmbeddingsInput, PredictionsInput, ScoresInput
from lightly_ray.errors import InputFormatError
from lightly_ray.formats.metadata import MetadataColumns, read_metadata
from lightly_ray.formats.prediction_schema import read_task_names
from lightly_ray.formats.predictions import TaskPredictions, read_task_predictions, require_predictions
from lightly_ray.formats.problems import FormatProblem
from lightly_ray.formats.sample_files import UnreadInputs
from lightly_ray.storage import Location

PROBLEMS_IN_REPORT = 100


@dataclass
class LightlyInputs:
    """Predictions per task and custom metadata of the run's samples.

    Attributes:
        predictions: By task name.
        metadata: Metadata columns (no columns without a metadata schema).
        notes: Things the report should say (e.g. a task that was not read and why).
        files: What the lightly location's files hold, when selection reads other inputs than
            these (object level: each crop's own box, which no file holds); `report` and
            `problem_count` describe these files, with this object's notes added. None when
            selection reads the files themselves.
    """

    predictions: dict[str, TaskPredictions] = field(default_factory=dict)
    metadata: MetadataColumns | None = None
    notes: list[str] = field(default_factory=list)
    files: LightlyInputs | None = None

    def report(self) -> dict[str, Any]:
        """The report.json block `inputs`: per task and for metadata, files read and problems."""
        if self.files is not None:
            described = self.files.report()
            return {**described, "notes": [*described["notes"], *self.notes]}
        predictions = {
            task: {
                "taskType": str(result.schema.task_type),
                "categories": list(result.schema.category_names),
                "files": result.n_files,
                "validFiles": result.n_valid_files,
                "filesNotRead": dict(sorted(result.not_read.items())),
                "samplesWithPredictions": len(result.predictions),
                **_problems_block(result.problems),
            }
            for task, result in self.predictions.items()
        }
        block: dict[str, Any] = {"predictions": predictions, "notes": list(self.notes)}
        if self.metadata is not None and self.metadata.fields:
            block["metadata"] = {
                "fields": [metadata_field.path for metadata_field in self.metadata.fields],
                "files": self.metadata.n_files,
                "filesRead": self.metadata.n_files_read,
                "filesSkipped": self.metadata.n_files_skipped,
                "filesNotRead": dict(sorted(self.metadata.not_read.items())),
                **_problems_block(self.metadata.problems),
            }
        return block

    def problem_count(self) -> int:
        """All problems found (skipped files and values)."""
        if self.files is not None:
            return self.files.problem_count()
        count = sum(len(result.problems) for result in self.predictions.values())
        return count + (len(self.metadata.problems) if self.metadata is not None else 0)


def read_lightly_inputs(
    location: Location,
    config: RunConfig,
    sample_names: Sequence[str],
    video_names: Sequence[str | None] | None = None,
    *,
    check: bool = True,
    elsewhere: Container[str] = (),
    already_read: Mapping[str, TaskPredictions] | None = None,
) -> LightlyInputs:
    """Read and validate `.lightly/predictions` and `.lightly/metadata` for the run's samples.

    Args:
        location: The lightly location.
        config: The run configuration (which tasks it uses).
        sample_names: The run's samples.
        video_names: Per sample, its video's name when it is a frame (its metadata inherits the
            video's), else None; None when no sample is a frame.
        check: Whether a task the configuration uses must be listed and have a valid file
            (False where the files are only described, as object level's report does).
        elsewhere: Stems of input files the run does not select from (`DatapoolPlan.other_files`,
            an `UnreadInputs` that names why): their prediction and metadata files are neither
            read nor reported, only counted by reason; with its relevant filenames filter,
            files of input files the filter leaves out are counted so too.
        already_read: Tasks read earlier in the run for other samples (object level's boxes),
            by name: their valid files are not fetched again (`read_task_predictions`).

    Returns:
        What was read, with the problems of skipped files.

    Raises:
        InputFormatError: When tasks.json or a listed task's schema or the metadata schema is
            invalid, or (with `check`) when the config uses a task that is not listed, or when a
            used task has no valid prediction file.
    """
    inputs = LightlyInputs()
    unread = UnreadInputs.of(elsewhere)
    names: set[str] | None = None  # made for the first task read (a set of 10M names is 500 MB)
    available = read_task_names(location)
    used = tasks_used_by(config) if check else set()
    for task in available:
        if task == PRETAGGING_TASK:
            inputs.notes.append(
                f"predictions of task '{PRETAGGING_TASK}' are written by pretagging in its own format; "
                "they are not read as an input task"
            )
            continue
        names = set(sample_names) if names is None else names
        earlier = (already_read or {}).get(task)
        schema = task if earlier is None else earlier.schema
        inputs.predictions[task] = read_task_predictions(
            location, schema, names, elsewhere=unread, already_read=earlier
        )
    missing = sorted(task for task in used - set(available) if task != PRETAGGING_TASK)
    if missing:
        listed = ", ".join(repr(task) for task in available) or "none"
        named = ", ".join(map(repr, missing))
        raise InputFormatError(
            f".lightly/predictions/tasks.json: the configuration uses task(s) {named}, "
            f"which are not listed; listed tasks: {listed}"
        )
    for task in sorted(used & set(inputs.predictions)):
        require_predictions(inputs.predictions[task])
    names = None  # the set of every name goes before the metadata is read
    if _ascending(sample_names):  # the pool's names are sorted: read as they are, not copied
        inputs.metadata = read_metadata(location, sample_names, video_names, elsewhere=unread)
        return inputs
    order = sorted(range(len(sample_names)), key=lambda row: sample_names[row])
    inputs.metadata = read_metadata(
        location,
        [sample_names[row] for row in order],
        None if video_names is None else [video_names[row] for row in order],
        elsewhere=unread,
    )
    return inputs


def _ascending(names: Sequence[str]) -> bool:
    """Whether `names` are in ascending order (one pass of C-level comparisons).

    The names are Python strings here: `sorted_lookup.is_sorted` checks Arrow arrays, and
    converting these for it would copy every name.
    """
    return all(map(operator.le, names, itertools.islice(names, 1, None)))


def tasks_used_by(config: RunConfig) -> set[str]:
    """Prediction tasks named by the configuration (selection inputs and object level)."""
    used = set()
    for entry in config.selection_config.strategies:
        task = (
            entry.input.task
            if isinstance(entry.input, (ScoresInput, PredictionsInput, EmbeddingsInput))
            else None
        )
        if task is not None:
            used.add(task)
    crop_task = config.crop_task()
    if crop_task is not None:
        used.add(crop_task)
    return used


def _problems_block(problems: list[FormatProblem]) -> dict[str, Any]:
    return {
        "nProblems": len(problems),
        "problems": [str(problem) for problem in problems[:PROBLEMS_IN_REPORT]],
    }
