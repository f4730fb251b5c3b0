"""What a configuration names in the lightly location, checked before any work.

Prediction tasks (listed in tasks.json, with a valid schema), their scores and categories,
custom metadata keys (in the metadata schema, of the kind the strategy needs), and the files
`worker_config` points to (embeddings CSV, checkpoint, relevant filenames). Only the small
description files are read here; per-sample prediction and metadata files are read later, for
the samples of the run. Each problem names the config key and the file, with the closest valid
name where one is close. `read_relevant` then parses the relevant filenames file, once, for
`validate --lightly` and for the run alike.
"""

from __future__ import annotations

from lightly_ray.config.base import closest_key
from lightly_ray.config.run_config import PRETAGGING_TASK, RunConfig
from lightly_ray.config.selection import (
    LIGHTLY_METADATA_PREFIX,
    BalanceStrategy,
    EmbeddingsInput,
    MetadataInput,
    PredictionsInput,
    ScoresInput,
    StrategyConfig,
)
from lightly_ray.errors import InputFormatError, StorageError
from lightly_ray.formats.metadata_schema import METADATA_SCHEMA_FILE, MetadataField, read_metadata_schema
from lightly_ray.formats.prediction_schema import (
    TASKS_FILE,
    TaskSchema,
    TaskType,
    read_task_names,
    read_task_schema,
)
from lightly_ray.formats.pretag_schema import BUILT_IN_WEIGHTS, pretag_schema
from lightly_ray.formats.relevant_filenames import RelevantFilenames, read_relevant_filenames
from lightly_ray.preflight.torch_files import not_torch_file
from lightly_ray.selection.scorers import available_scores
from lightly_ray.storage import Location, relative_inside


def check_config_references(location: Location, config: RunConfig) -> list[str]:
    """Check every name the configuration gives for the lightly location.

    Args:
        location: The lightly location.
        config: A validated configuration.

    Returns:
        One message per problem, each starting with the config key; empty when all resolve.

    """
    problems: list[str] = []
    tasks = _TaskSchemas(location, problems)
    metadata = _MetadataSchema(location, problems)
    for index, entry in enumerate(config.selection_config.strategies):
        path = f"selection_config.strategies[{index}]"
        selection_input = entry.input
        if isinstance(selection_input, ScoresInput | PredictionsInput):
            schema = tasks.get(selection_input.task, f"{path}.input.task")
            if schema is not None:
                problems += _task_problems(entry, schema, path)
        elif isinstance(selection_input, EmbeddingsInput) and selection_input.task is not None:
            schema = tasks.get(selection_input.task, f"{path}.input.task")
            if schema is not None and schema.task_type not in _BOXED:
                problems.append(
                    f"{path}.input.task: task '{schema.task_name}' is {schema.task_type}; EMBEDDINGS "
                    "with a task embeds its objects, so it needs object-detection or "
                    "instance-segmentation boxes"
                )
        elif isinstance(selection_input, MetadataInput) and not selection_input.key.startswith(
            LIGHTLY_METADATA_PREFIX
        ):
            problems += metadata.check(selection_input.key, entry, f"{path}.input.key")
    worker = config.worker_config
    if worker.object_level.task_name is not None:
        schema = tasks.get(worker.object_level.task_name, "worker_config.object_level.task_name")
        if schema is not None and schema.task_type not in _BOXED:
            problems.append(
                f"worker_config.object_level.task_name: task '{schema.task_name}' is "
                f"{schema.task_type}; object level needs object-detection or instance-segmentation boxes"
            )
    for key, value in (
        ("worker_config.embeddings", worker.embeddings),
        ("worker_config.checkpoint", worker.checkpoint),
        ("worker_config.relevant_filenames_file", worker.relevant_filenames_file),
        (
            "lightly_config.pretagging.weights",
            config.lightly_config.pretagging.weights
            if worker.pretagging and config.lightly_config.pretagging.weights not in BUILT_IN_WEIGHTS
            else None,
        ),
    ):
        if value is not None:
            problems += _file_problems(location, value, key, torch_file=key in _TORCH_FILES)
    # The run reads every listed task and the metadata schema, used by the config or not.
    tasks.check_every_listed()
    metadata.check_file()
    return problems


def read_relevant(location: Location, config: RunConfig) -> RelevantFilenames | None:
    """Parse the relevant filenames file a run reads, as the run reads it.

    The configured `worker_config.relevant_filenames_file` (a path relative to the lightly
    location, or a path or URL inside it), else `.lightly/relevant_filenames.txt` when present.
    Call it once `check_config_references` found no problem (which checks that a configured file
    exists).

    Args:
        location: The lightly location.
        config: A validated configuration.

    Returns:
        The parsed file, or None when none is configured and the default file does not exist.

    Raises:
        InputFormatError: Naming the file and its invalid lines.
        StorageError: When the configured path lies outside the lightly location.

    """
    configured = config.worker_config.relevant_filenames_file
    key = "worker_config.relevant_filenames_file"
    path = relative_inside(configured, location, key) if configured is not None else None
    return read_relevant_filenames(location, path)


class _TaskSchemas:
    """tasks.json and the schemas of the tasks the config names, read once each."""

    def __init__(self, location: Location, problems: list[str]) -> None:
        self.location = location
        self.problems = problems
        self.schemas: dict[str, TaskSchema | None] = {}
        self.names: list[str] | None = None
        self.unreadable = False

    def get(self, task: str, key: str) -> TaskSchema | None:
        if task == PRETAGGING_TASK:
            return pretag_schema()
        names = self._listed()
        if self.unreadable:
            return None
        if task not in names:
            close = closest_key(task, names)
            hint = f"; did you mean '{close}'?" if close else ""
            listed = ", ".join(names) if names else f"none, {TASKS_FILE} is missing or empty"
            self.problems.append(
                f"{key}: task '{task}' is not listed in {TASKS_FILE}{hint} (listed: {listed})"
            )
            return None
        return self._schema(task, key)

    def check_every_listed(self) -> None:
        """Read the schema of every task tasks.json lists that was not read for a config key."""
        for task in self._listed():
            if task not in self.schemas:
                self._schema(task, f"{TASKS_FILE} lists task '{task}', which the run reads")

    def _listed(self) -> list[str]:
        """The tasks tasks.json lists, read once (unreadable: none, and the problem said once)."""
        if self.names is None:
            try:
                self.names = read_task_names(self.location)
            except InputFormatError as error:
                self.names = []
                self.unreadable = True
                self.problems.append(str(error))  # once: no task can be looked up in it
        return self.names

    def _schema(self, task: str, said_as: str) -> TaskSchema | None:
        """A listed task's schema, read once; a problem with it starts with `said_as`."""
        if task not in self.schemas:
            try:
                self.schemas[task] = read_task_schema(self.location, task)
            except InputFormatError as error:
                self.schemas[task] = None
                self.problems.append(f"{said_as}: {error}")
        return self.schemas[task]


def _task_problems(entry: StrategyConfig, schema: TaskSchema, path: str) -> list[str]:
    selection_input = entry.input
    categories = list(schema.category_names)
    source = f"task '{schema.task_name}' ({schema.task_type.value})"
    if isinstance(selection_input, ScoresInput):
        scores = list(available_scores(schema.task_type))
        if selection_input.score not in scores:
            return [_unknown(f"{path}.input.score", "score", selection_input.score, scores, source)]
        return []
    problems = []
    if isinstance(selection_input, PredictionsInput):
        for category in selection_input.categories or []:
            if category not in categories:
                key = f"{path}.input.categories"
                problems.append(_unknown(key, "category", category, categories, source))
    strategy = entry.strategy
    if isinstance(strategy, BalanceStrategy) and strategy.distribution == "TARGET":
        for name in strategy.target or {}:
            if name not in categories:
                problems.append(_unknown(f"{path}.strategy.target", "class", name, categories, source))
    return problems


class _MetadataSchema:
    """The custom metadata schema, read on first use."""

    def __init__(self, location: Location, problems: list[str]) -> None:
        self.location = location
        self.problems = problems
        self.fields: dict[str, MetadataField] | None = None

    def _read(self) -> str | None:
        """Read the schema on first use; the problem with it then, else None."""
        if self.fields is not None:
            return None
        try:
            self.fields = {item.path: item for item in read_metadata_schema(self.location) or []}
        except InputFormatError as error:
            self.fields = {}
            return str(error)
        return None

    def check(self, key: str, entry: StrategyConfig, config_key: str) -> list[str]:
        error = self._read()
        if error is not None:
            return [f"{config_key}: {error}"]
        assert self.fields is not None
        item = self.fields.get(key)
        if item is None:
            known = sorted(self.fields)
            if not known:
                return [
                    f"{config_key}: custom metadata key '{key}' needs {METADATA_SCHEMA_FILE}, which is "
                    f"missing or empty (computed keys start with '{LIGHTLY_METADATA_PREFIX}', "
                    "e.g. lightly.sharpness)"
                ]
            return [_unknown(config_key, "metadata key", key, known, METADATA_SCHEMA_FILE)]
        balance = isinstance(entry.strategy, BalanceStrategy)
        if balance and item.value_type.is_numeric:
            return [
                f"{config_key}: metadata '{key}' is {item.value_type.value} in {METADATA_SCHEMA_FILE}; "
                "BALANCE needs a categorical key (CATEGORICAL_STRING, CATEGORICAL_INT or CATEGORICAL_BOOLEAN)"
            ]
        if not balance and not item.value_type.is_numeric:
            return [
                f"{config_key}: metadata '{key}' is {item.value_type.value} in {METADATA_SCHEMA_FILE}; "
                f"{entry.strategy.type} needs a numeric key (NUMERIC_INT or NUMERIC_FLOAT); use BALANCE "
                "for categorical metadata"
            ]
        return []

    def check_file(self) -> None:
        """Read the schema, when no config key did: the run reads it whenever it is there."""
        error = self._read()
        if error is not None:
            self.problems.append(f"{error} (the run reads this file whenever it is there)")


_BOXED = (TaskType.OBJECT_DETECTION, TaskType.INSTANCE_SEGMENTATION)


_TORCH_FILES = ("worker_config.checkpoint", "lightly_config.pretagging.weights")


def _file_problems(location: Location, value: str, key: str, torch_file: bool = False) -> list[str]:
    try:
        relative = relative_inside(value, location, key)
        if location.exists(relative):
            return _torch_file_problems(location, relative, key) if torch_file else []
        # A folder (a run folder for its checkpoint): say so, with a file it holds.
        inside = next(iter(location.list_files(relative.rstrip("/"), include_hidden=True)), None)
    except StorageError as error:
        return [str(error)]
    if inside is not None:
        return [f"{key}: '{relative}' is a folder in the lightly location; name a file, e.g. '{inside.path}'"]
    return [f"{key}: '{relative}' does not exist in the lightly location '{location.url}'"]


def _torch_file_problems(location: Location, relative: str, key: str) -> list[str]:
    """A checkpoint that cannot be one torch wrote, found from its first and last bytes."""
    with location.open_read(relative) as stream:
        problem = not_torch_file(stream)
    if problem is None:
        return []
    return [
        f"{key}: '{relative}' in the lightly location {problem}; name a checkpoint written by "
        "torch.save (a lightly_ray run's checkpoint.ckpt, or a model's state dict)"
    ]


def _unknown(key: str, what: str, value: str, allowed: list[str], source: str) -> str:
    close = closest_key(value, allowed)
    hint = f"; did you mean '{close}'?" if close else ";"
    return f"{key}: unknown {what} '{value}' of {source}{hint} available: {', '.join(allowed) or 'none'}"
