"""`key.path=value` arguments that change a config (`lightly-ray run ... n_samples=500`).

A path may leave out where its first key lives: `model.name=resnet-50` goes to the block that
has a `model` key, and `max_epochs=3` to the one place a block's section has a `max_epochs` key
(`lightly_config.trainer`). Where a key lives in more than one place, the value's shape decides
(`pretagging=true` is `worker_config.pretagging`, `pretagging.image_size=320` is
`lightly_config.pretagging.image_size`); when it still does not, the message lists the full paths.
"""

from __future__ import annotations

import json
import re
import types
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic.fields import FieldInfo

from lightly_ray.config.base import StrictModel, closest_key, unknown_key_message
from lightly_ray.config.lightly import LightlyConfig
from lightly_ray.config.resources import ResourcesConfig
from lightly_ray.config.selection import SelectionConfig, SelectionInput, SelectionStrategy
from lightly_ray.config.worker import WorkerConfig
from lightly_ray.errors import ConfigError

BLOCK_MODELS: tuple[tuple[str, type[StrictModel]], ...] = (
    ("worker_config", WorkerConfig),
    ("selection_config", SelectionConfig),
    ("lightly_config", LightlyConfig),
    ("resources", ResourcesConfig),
)
BLOCKS = tuple(block for block, _ in BLOCK_MODELS)


def apply_override(raw: dict[str, Any], assignment: str) -> tuple[int | str, ...]:
    """Apply one dotted `key=value` assignment to a raw config dict, in place.

    Args:
        raw: The config as a dict of the blocks.
        assignment: e.g. `lightly_config.model.name=resnet-50`, `object_level.padding=0.1`,
            `max_epochs=3`,
            `selection_config.strategies.0.strategy.stopping_condition_minimum_distance=0.2`.
            The value is read as JSON when it parses as JSON (numbers, true, null, lists), else
            as a plain string.

    Returns:
        The full path it set, as pydantic locates errors (list indices as ints).

    Raises:
        ConfigError: When the assignment has no `=`, or its path leads nowhere or to several
            places.

    """
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError([f"override '{assignment}' must look like key.path=value"])
    parts = [part for part in re.split(r"\.|\[(\d+)\]", key.strip()) if part]
    value = _parse_value(text)
    if parts[0] not in BLOCKS:
        parts = [*_place_of(parts, value, assignment, raw), *parts]
    node: Any = raw
    for position, part in enumerate(parts[:-1]):
        following = parts[position + 1]
        node = _step_into(node, part, list_next=following.isdigit(), assignment=assignment)
    _assign(node, parts[-1], value, assignment)
    return tuple(int(part) if part.isdigit() else part for part in parts)


def _place_of(parts: list[str], value: Any, assignment: str, raw: dict[str, Any]) -> list[str]:
    """Where a path without its block starts: the block, or the block and one of its sections."""
    places = [[block] for block, model in BLOCK_MODELS if _fits(model, parts, value)]
    if not places:
        places = [
            [block, section]
            for block, model in BLOCK_MODELS
            for section, inner in _sections(model)
            if _fits(inner, parts, value)
        ]
    if len(places) == 1:
        return places[0]
    if places:
        written = " or ".join(f"{'.'.join([*place, *parts])}=..." for place in places)
        raise ConfigError([f"override '{assignment}': '{parts[0]}' is in several places; write {written}"])
    for block, model in BLOCK_MODELS:  # a section of that name: the path goes wrong inside it
        field = _field(model, parts[0])
        section = _section_model(field.annotation) if field is not None else None
        if section is not None:
            raise ConfigError(
                [f"override '{assignment}': {_wrong_inside(f'{block}.{parts[0]}', section, parts[1:])}"]
            )
    for block, model in BLOCK_MODELS:
        if _field(model, parts[0]) is not None:
            raise ConfigError([f"override '{assignment}': {block}.{parts[0]} is a value, not a section"])
    in_strategies = _strategy_paths(raw, parts[0])
    if in_strategies:
        written = " or ".join(f"{path}.{'.'.join(parts)}=..." for path in in_strategies)
        raise ConfigError(
            [f"override '{assignment}': '{parts[0]}' is a key of a selection strategy; write {written}"]
        )
    every_key = sorted(set(BLOCKS).union(*(model.allowed_keys() for _, model in BLOCK_MODELS)))
    close = closest_key(parts[0], every_key)
    hint = (  # the keys of every block at once would be a list of a hundred
        f"did you mean '{close}'?" if close else "no block has it (`lightly-ray schema` lists every key)"
    )
    raise ConfigError([f"override '{assignment}': '{parts[0]}' is an unknown key; {hint}"])


def _wrong_inside(path: str, section: type[StrictModel], rest: list[str]) -> str:
    """What is wrong with the keys `rest` below the section at `path`, which take no value."""
    if not rest:
        return f"{path} is a section: set one of its keys ({', '.join(sorted(section.allowed_keys()))})"
    field = _field(section, rest[0])
    if field is None:
        return f"{path}.{rest[0]}: {unknown_key_message(rest[0], sorted(section.allowed_keys()))}"
    inner = _section_model(field.annotation)
    if inner is None:
        return f"{path}.{rest[0]} is a value, not a section"
    return _wrong_inside(f"{path}.{rest[0]}", inner, rest[1:])


def _fits(model: type[StrictModel], parts: list[str], value: Any) -> bool:
    """Whether `parts` is a path inside `model` that can take `value` at its end."""
    field = _field(model, parts[0])
    if field is None:
        return False
    section = _section_model(field.annotation)
    if len(parts) == 1:
        return section is None or isinstance(value, dict)  # a section takes a mapping, not a scalar
    if section is not None:
        return _fits(section, parts[1:], value)
    return _is_container(field.annotation)  # into a list or a mapping: checked when validated


def _sections(model: type[StrictModel]) -> list[tuple[str, type[StrictModel]]]:
    """The keys of `model` that hold a section (a nested block), with its model."""
    found = []
    for name, field in model.model_fields.items():
        section = _section_model(field.annotation)
        if section is not None:
            found.append((field.alias or name, section))
    return found


def _field(model: type[StrictModel], key: str) -> FieldInfo | None:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _section_model(annotation: Any) -> type[StrictModel] | None:
    """The model of a field that is a section (possibly optional), else None."""
    options = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    models = [option for option in options if isinstance(option, type) and issubclass(option, StrictModel)]
    return models[0] if len(models) == 1 else None


def _is_container(annotation: Any) -> bool:
    options = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    return any(get_origin(option) in (list, dict) or option in (list, dict) for option in options)


def _step_into(node: Any, part: str, *, list_next: bool, assignment: str) -> Any:
    if isinstance(node, list):
        index = _list_index(node, part, assignment)
        return node[index]
    if not isinstance(node, dict):
        raise ConfigError([f"override '{assignment}': '{part}' is inside a value, not a mapping"])
    if node.get(part) is None:
        node[part] = [] if list_next else {}
    return node[part]


def _assign(node: Any, part: str, value: Any, assignment: str) -> None:
    if isinstance(node, list):
        index = _list_index(node, part, assignment)
        node[index] = value
    elif isinstance(node, dict):
        node[part] = value
    else:
        raise ConfigError([f"override '{assignment}': '{part}' is inside a value, not a mapping"])


def _list_index(node: list[Any], part: str, assignment: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(
            [f"override '{assignment}': '{part}' is not an index of a list of {len(node)} items"]
        )
    return int(part)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    if text.startswith(("[", "{")):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            return text
    return text


def _strategy_paths(raw: dict[str, Any], key: str) -> list[str]:
    """The paths of the strategies' `input` and `strategy` sections that take `key` (none: [])."""
    sections = {
        "input": get_args(get_args(SelectionInput)[0]),
        "strategy": get_args(get_args(SelectionStrategy)[0]),
    }
    selection = raw.get("selection_config")
    entries = selection.get("strategies") if isinstance(selection, dict) else None
    paths = []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        for section, models in sections.items():
            given = entry.get(section) if isinstance(entry, dict) else None
            kind = given.get("type") if isinstance(given, dict) else None
            for model in models:
                if key in model.allowed_keys() and kind in get_args(model.model_fields["type"].annotation):
                    paths.append(f"selection_config.strategies.{index}.{section}")
    if paths:
        return paths
    if any(key in model.allowed_keys() for models in sections.values() for model in models):
        return [
            f"selection_config.strategies.<index>.{section}"
            for section, models in sections.items()
            if any(key in model.allowed_keys() for model in models)
        ]
    return []
