"""Reading the per-sample prediction files of one task.

Files live at `.lightly/predictions/<task>/<sample path without extension>.json` (frames of
videos by frame name: `clips/a-000-mp4.json` for `clips/a-000-mp4.png`). Semantics:

- A sample without a prediction file has no predictions (an empty list), not an error.
- An invalid file is skipped and reported as a `FormatProblem`; so is a file whose `file_name`
  escapes the input root or names no known input sample.
- A file of an input file the run does not select from (corrupt, a duplicate, unchanged in a
  datapool rerun, left out by relevant filenames: `sample_files.UnreadInputs`) is not read and
  not reported, only counted by reason (`not_read`). So every file is valid, a problem or not
  read: `n_files == n_valid_files + len(problems) + sum(not_read.values())`.
- A task whose files are all missing or invalid is usable by nobody: `require_predictions`
  raises `InputFormatError` for it, and the caller calls it for the tasks the run uses.

The task folder is listed once and only files whose stem belongs to a known sample are read
(in a thread pool, as object stores answer each read slowly), so the work is linear in the
number of files. A task read earlier in the run (object level's boxes) lends its valid files'
contents to a second read for other samples (the report's), so that no file is fetched twice.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa

from lightly_ray.errors import InputFormatError
from lightly_ray.formats.jsonfile import parse_json
from lightly_ray.formats.prediction_items import Prediction, parse_prediction_file
from lightly_ray.formats.prediction_schema import TaskSchema, read_task_schema, task_folder
from lightly_ray.formats.problems import FieldError, FormatProblem, summarize_problems
from lightly_ray.formats.sample_files import index_by_stem, list_sample_files, split_known_files, stem
from lightly_ray.storage import Location

DEFAULT_READ_THREADS = 16


@dataclass
class TaskPredictions:
    """The valid predictions of one task.

    Attributes:
        schema: The task's schema.
        predictions: Predictions by sample name, for samples with a valid file.
        problems: One entry per skipped file.
        n_files: Number of per-sample files found in the task folder.
        not_read: Files of input files the run does not select from, by reason
            (`sample_files.UnreadInputs`): neither read nor problems.

    """

    schema: TaskSchema
    predictions: dict[str, list[Prediction]] = field(default_factory=dict)
    problems: list[FormatProblem] = field(default_factory=list)
    n_files: int = 0
    not_read: dict[str, int] = field(default_factory=dict)

    @property
    def task_name(self) -> str:
        """The task's name."""
        return self.schema.task_name

    @property
    def n_valid_files(self) -> int:
        """Number of files read without problems."""
        return len(self.predictions)

    def for_sample(self, name: str) -> list[Prediction]:
        """The predictions of a sample; an empty list when it has no (valid) file."""
        return self.predictions.get(name, [])

    def to_table(self) -> pa.Table:
        """The predictions as a table, one row per prediction.

        Columns: `sample`, `category_id`, `score`, `probabilities`, `bbox`, `segmentation` and
        `keypoints`, null where the task type has no such field.
        """
        columns: dict[str, list[object]] = {
            "sample": [],
            "category_id": [],
            "score": [],
            "probabilities": [],
            "bbox": [],
            "segmentation": [],
            "keypoints": [],
        }
        for name, predictions in self.predictions.items():
            for prediction in predictions:
                columns["sample"].append(name)
                columns["category_id"].append(prediction.category_id)
                columns["score"].append(prediction.score)
                columns["probabilities"].append(prediction.probabilities)
                columns["bbox"].append(prediction.bbox)
                columns["segmentation"].append(prediction.segmentation)
                columns["keypoints"].append(prediction.keypoints)
        schema = pa.schema(
            [
                pa.field("sample", pa.string()),
                pa.field("category_id", pa.int64()),
                pa.field("score", pa.float64()),
                pa.field("probabilities", pa.list_(pa.float64())),
                pa.field("bbox", pa.list_(pa.float64(), 4)),
                pa.field("segmentation", pa.list_(pa.int64())),
                pa.field("keypoints", pa.list_(pa.float64())),
            ]
        )
        return pa.table(columns, schema=schema)


def read_task_predictions(
    location: Location,
    task: str | TaskSchema,
    sample_names: Collection[str] | None = None,
    *,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
    threads: int = DEFAULT_READ_THREADS,
    elsewhere: Container[str] = (),
    already_read: TaskPredictions | None = None,
) -> TaskPredictions:
    """Read every prediction file of one task, skipping and reporting invalid ones.

    Args:
        location: The lightly location.
        task: The task name (its schema is read) or its schema.
        sample_names: The input samples (images and frame names). Files matching none of them
            are reported and not read. None accepts any `file_name`.
        image_sizes: (width, height) by sample name, where known, to check segmentations.
        threads: Files read concurrently.
        elsewhere: Stems of input files the run does not select from (an
            `sample_files.UnreadInputs` names why): their prediction files are neither read nor
            reported, only counted in `not_read`.
        already_read: This task as read earlier in the run from the same location, for other
            samples: the files it holds as valid are taken from it instead of read again (not
            with `image_sizes`). What is reported (files matching no sample here, invalid
            files) is as without it.

    Returns:
        The task's valid predictions and the problems of the skipped files.

    Raises:
        InputFormatError: When the task's schema is missing or invalid.

    """
    schema = task if isinstance(task, TaskSchema) else read_task_schema(location, task)
    folder = task_folder(schema.task_name)
    files = list_sample_files(location, folder, skip=("schema.json",))
    result = TaskPredictions(schema=schema, n_files=len(files))
    names = (
        sample_names
        if sample_names is None or isinstance(sample_names, set | frozenset)
        else set(sample_names)
    )
    to_read: list[tuple[str, str]] = []
    if names is None:
        to_read = sorted((path, file_stem) for file_stem, path in files.items())
    else:
        split = split_known_files(
            files, index_by_stem(names), "an input sample", nobody="no input sample", elsewhere=elsewhere
        )
        to_read, result.not_read = split.to_read, split.not_read
        result.problems += split.problems

    # Reused only where this read checks no more than the earlier one (which had no image sizes).
    known = already_read.predictions if already_read is not None and image_sizes is None else {}
    earlier = {stem(name): name for name in known}

    def load(item: tuple[str, str]) -> tuple[str, list[Prediction]] | FormatProblem:
        path, file_stem = item
        if file_stem in earlier:  # a valid file names one sample: its stem says which
            name = earlier[file_stem]
            if names is None or name in names:
                return name, known[name]
        try:
            data = parse_json(location.read_bytes(path))
            name, predictions = parse_prediction_file(data, file_stem, schema, image_sizes)
        except FieldError as error:
            return error.to_problem(path)
        except FileNotFoundError:
            return FormatProblem(
                file=path, key="", message="expected a file, but it disappeared while reading"
            )
        if names is not None and name not in names:
            return FormatProblem(
                file=path,
                key="file_name",
                message=f"expected the name of an input sample, got '{name}' which is not in the input",
            )
        return name, predictions

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for outcome in pool.map(load, to_read):
            if isinstance(outcome, FormatProblem):
                result.problems.append(outcome)
            else:
                result.predictions[outcome[0]] = outcome[1]
    result.problems.sort(key=lambda problem: problem.file)
    return result


def require_predictions(predictions: TaskPredictions) -> None:
    """Fail when a task the run uses has no valid prediction file at all.

    Args:
        predictions: The output of `read_task_predictions`.

    Raises:
        InputFormatError: When every file of the task is missing or invalid.

    """
    if predictions.n_valid_files > 0:
        return
    folder = task_folder(predictions.task_name)
    if predictions.n_files == 0:
        raise InputFormatError(
            f"{folder}/: expected prediction files of task '{predictions.task_name}', which the run uses, "
            "but the folder holds none"
        )
    raise InputFormatError(
        f"{folder}/: expected at least one valid prediction file of task '{predictions.task_name}', "
        f"which the run uses, got {predictions.n_files} files that are all invalid or match no input "
        f"sample:\n{summarize_problems(predictions.problems)}"
    )
