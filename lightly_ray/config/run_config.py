"""The whole configuration of a run, and its loading from files, dicts and dotted overrides."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from lightly_ray.config.base import StrictModel, closest_key
from lightly_ray.config.lightly import LightlyConfig
from lightly_ray.config.overrides import BLOCKS, apply_override
from lightly_ray.config.resources import ResourcesConfig
from lightly_ray.config.selection import SelectionConfig
from lightly_ray.config.worker import WorkerConfig
from lightly_ray.errors import ConfigError

PRETAGGING_TASK = "lightly_pretagging"
_UNION_TAGS = {
    "EMBEDDINGS",
    "SCORES",
    "PREDICTIONS",
    "METADATA",
    "RANDOM",
    "DIVERSITY",
    "WEIGHTS",
    "THRESHOLD",
    "BALANCE",
    "SIMILARITY",
    "TYPICALITY",
}


class RunConfig(StrictModel):
    """The three config blocks of a run, with the keys of the Lightly Worker.

    Example:
        >>> config = RunConfig.model_validate({
        ...     "selection_config": {
        ...         "n_samples": 50,
        ...         "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
        ...     }
        ... })
        >>> config.lightly_config.model.name
        'resnet-18'

    """

    worker_config: WorkerConfig = Field(default_factory=WorkerConfig)
    selection_config: SelectionConfig
    lightly_config: LightlyConfig = Field(default_factory=LightlyConfig)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)

    def crop_task(self) -> str | None:
        """The detection task whose boxes the run cuts into crops, or None.

        `worker_config.object_level.task_name` (the crops are the candidates), else the `task`
        of an EMBEDDINGS input (the crops' embeddings steer the selection of their images).
        """
        if self.worker_config.object_level.task_name is not None:
            return self.worker_config.object_level.task_name
        tasks = object_embedding_tasks(self)
        return tasks[0] if tasks else None

    @model_validator(mode="after")
    def _no_impossible_combinations(self) -> RunConfig:
        worker = self.worker_config
        if worker.enable_training and worker.use_datapool:
            raise ValueError(
                "worker_config.enable_training and worker_config.use_datapool cannot be combined: a "
                "datapool keeps the embeddings of earlier runs, which a newly trained model would not match"
            )
        if worker.training.task_name is not None and not worker.enable_training:
            raise ValueError(
                "worker_config.training.task_name names what training runs on, but "
                "worker_config.enable_training is false: set it to true, or remove training.task_name"
            )
        if worker.embeddings is not None:
            for key, on in (
                ("worker_config.enable_training", worker.enable_training),
                ("worker_config.checkpoint", worker.checkpoint is not None),
            ):
                if on:
                    raise ValueError(
                        f"worker_config.embeddings replaces the model, so {key} would be ignored: "
                        "set one of them"
                    )
        keys = [] if worker.pretagging else _pretagging_task_keys(self)
        if keys:
            raise ValueError(
                f"{' and '.join(keys)} name{'s' if len(keys) == 1 else ''} '{PRETAGGING_TASK}', whose "
                "predictions come from pretagging: set worker_config.pretagging=true, or name a "
                "prediction task of your own"
            )
        crops_inputs = _inputs_not_on_crops(self)
        if crops_inputs:
            raise ValueError(
                "with worker_config.object_level.task_name, selection runs over the crops of that "
                "task, which have its predictions and Lightly metadata only: " + "; ".join(crops_inputs)
            )
        length = worker.selected_sequence_length
        n_samples = self.selection_config.n_samples
        if length is not None and n_samples is not None and n_samples % length:
            raise ValueError(
                f"selection_config.n_samples ({n_samples}) must be a multiple of "
                f"worker_config.selected_sequence_length ({length}): whole sequences are selected"
            )
        return self


def object_embedding_tasks(config: RunConfig) -> list[str]:
    """The tasks of the EMBEDDINGS inputs with `task`, in strategy order, each once."""
    found: list[str] = []
    for entry in config.selection_config.strategies:
        task = getattr(entry.input, "task", None)
        if getattr(entry.input, "type", "") == "EMBEDDINGS" and task is not None and task not in found:
            found.append(task)
    return found


def _inputs_not_on_crops(config: RunConfig) -> list[str]:
    """With object level, the strategy inputs crops do not have (other tasks, custom metadata)."""
    task = config.worker_config.object_level.task_name
    if task is None:
        return []
    found = []
    for index, entry in enumerate(config.selection_config.strategies):
        chosen = entry.input
        kind = getattr(chosen, "type", "")
        named = getattr(chosen, "task", None)
        if kind in ("SCORES", "PREDICTIONS") and named != task:
            found.append(
                f"selection_config.strategies[{index}].input.task is '{named}', not "
                f"worker_config.object_level.task_name '{task}' (check both for a typo: one task's "
                "crops have that task's predictions only)"
            )
        if kind == "EMBEDDINGS" and named is not None:
            found.append(
                f"selection_config.strategies[{index}].input.task '{named}' selects images by their "
                "objects, and here the objects are the candidates (drop the input's task)"
            )
        key = getattr(chosen, "key", None)
        if kind == "METADATA" and key is not None and not str(key).startswith("lightly."):
            found.append(
                f"selection_config.strategies[{index}].input.key '{key}' is image metadata "
                "(crops have lightly.* keys only)"
            )
    return found


def _pretagging_task_keys(config: RunConfig) -> list[str]:
    """The config keys that name the built-in detector's task."""
    keys = [
        f"selection_config.strategies[{index}].input.task"
        for index, entry in enumerate(config.selection_config.strategies)
        if getattr(entry.input, "task", None) == PRETAGGING_TASK
    ]
    if config.worker_config.object_level.task_name == PRETAGGING_TASK:
        keys.append("worker_config.object_level.task_name")
    return keys


def load_config(
    source: str | Path | Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
    *,
    worker_config: Mapping[str, Any] | None = None,
    selection_config: Mapping[str, Any] | None = None,
    lightly_config: Mapping[str, Any] | None = None,
    resources: Mapping[str, Any] | None = None,
) -> RunConfig:
    """Load and validate a run configuration.

    Args:
        source: A YAML or JSON file, or a dict with the keys worker_config, selection_config and
            lightly_config. None starts from the defaults.
        overrides: Dotted `key=value` assignments applied after the source, e.g.
            `object_level.task_name=vehicles` or `selection_config.n_samples=10`. A key without
            its block name is looked up in the block that has it.
        worker_config: Replaces the source's worker_config block when given.
        selection_config: Replaces the source's selection_config block when given.
        lightly_config: Replaces the source's lightly_config block when given.
        resources: Replaces the source's resources block (lightly_ray's stage resources) when given.

    Returns:
        The validated configuration with every default filled in.

    Raises:
        ConfigError: Listing every problem with its key path and what is allowed.

    """
    origin = str(source) if isinstance(source, (str, Path)) else None
    raw = _read_source(source)
    for name, block in zip(BLOCKS, (worker_config, selection_config, lightly_config, resources), strict=True):
        if block is not None:
            raw[name] = copy.deepcopy(dict(block))
    problems: list[str] = []
    overridden: dict[tuple[int | str, ...], str] = {}
    for assignment in overrides:  # every override's problem is listed, with the file's
        try:
            overridden[apply_override(raw, assignment)] = assignment
        except ConfigError as error:
            problems += error.problems
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as error:
        problems += format_validation_error(error, overridden)
    if problems:
        from_file = origin is not None and any(not problem.startswith("override '") for problem in problems)
        raise ConfigError(problems, source=origin if from_file else None)
    return config


def format_validation_error(
    error: ValidationError, overridden: Mapping[tuple[int | str, ...], str] | None = None
) -> list[str]:
    """Turn pydantic's errors into `key.path: message` lines a user can act on.

    A problem on a path an override set (`overridden`: path -> assignment), below it or on a
    block holding it starts with `override '<assignment>': `, so that it is not looked for in
    the config file alone.
    """
    problems = []
    for item in error.errors():
        path = _format_path(item["loc"])
        located = tuple(
            part
            for part in item["loc"]
            if isinstance(part, int) or not (part in _UNION_TAGS or part.startswith("function-"))
        )
        assignment = next(  # the error is at the override's path, below it or (a type) above it
            (
                text
                for key, text in (overridden or {}).items()
                if located[: len(key)] == key or (located and key[: len(located)] == located)
            ),
            None,
        )
        kind = item["type"]
        message = item["msg"]
        if kind == "missing":
            message = "required key is missing"
        elif kind == "union_tag_not_found":
            message = "missing 'type'"
        elif kind == "union_tag_invalid":
            path, message = f"{path}.type", _unknown_type(item.get("ctx") or {})
        elif kind == "value_error":
            message = message.removeprefix("Value error, ")
        elif kind not in ("unknown_key",) and not isinstance(item.get("input"), (dict, list)):
            message = f"{message} (got {item.get('input')!r})"
        line = f"{path}: {message}" if path else message
        problems.append(f"override '{assignment}': {line}" if assignment is not None else line)
    return problems


def _unknown_type(ctx: Mapping[str, Any]) -> str:
    """`type: DIVERSTY`: the closest valid type, and all of them."""
    tag = str(ctx.get("tag", ""))
    expected = [name.strip().strip("'") for name in str(ctx.get("expected_tags", "")).split(",")]
    close = closest_key(tag, expected)
    hint = f"; did you mean '{close}'?" if close else "."
    return f"unknown type '{tag}'{hint} Allowed types here: {', '.join(expected)}"


def config_json_schema() -> dict[str, Any]:
    """The JSON schema of a run configuration file."""
    schema = RunConfig.model_json_schema()
    schema["title"] = "lightly_ray run configuration"
    return schema


def _read_source(source: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    if source is None:
        return {}
    if isinstance(source, Mapping):
        raw = copy.deepcopy(dict(source))
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError([f"config file not found: {path}"])
        text = path.read_text(encoding="utf-8")
        try:
            loaded = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as error:
            raise ConfigError([f"cannot parse: {error}"], source=str(path)) from None
        raw = loaded if loaded is not None else {}
    if not isinstance(raw, dict):
        raise ConfigError(
            [f"the top level must be a mapping with keys {', '.join(BLOCKS)}"],
            source=str(source) if not isinstance(source, Mapping) else None,
        )
    return raw


def _format_path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in _UNION_TAGS or part.startswith("function-"):
            continue
        else:
            text += f".{part}" if text else part
    return text
