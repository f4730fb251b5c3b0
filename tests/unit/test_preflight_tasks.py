"""What `validate --lightly` and a run's checks say about the prediction tasks a config names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lightly_ray.errors import ConfigError
from lightly_ray.preflight import validate_config
from lightly_ray.storage import Location

TASKS = ".lightly/predictions/tasks.json"


def _problems(lightly: Path, *tasks: str) -> list[str]:
    strategies = [
        {
            "input": {"type": "SCORES", "task": task, "score": "uncertainty_entropy"},
            "strategy": {"type": "WEIGHTS"},
        }
        for task in tasks
    ]
    with pytest.raises(ConfigError) as caught:
        validate_config(
            {"selection_config": {"n_samples": 2, "strategies": strategies}},
            lightly=Location(str(lightly), writable=False),
        )
    return caught.value.problems


def _schema(lightly: Path, task: str) -> None:
    categories = [{"id": 0, "name": "sun"}, {"id": 1, "name": "rain"}]
    schema = {"task_type": "classification", "categories": categories}
    (lightly / ".lightly/predictions" / task).mkdir(parents=True, exist_ok=True)
    (lightly / ".lightly/predictions" / task / "schema.json").write_text(json.dumps(schema))


def test_an_unlisted_task_names_the_listed_ones(tmp_path: Path) -> None:
    (tmp_path / TASKS).parent.mkdir(parents=True)
    (tmp_path / TASKS).write_text('["weather", "vehicles"]')
    _schema(tmp_path, "weather")
    _schema(tmp_path, "vehicles")
    (problem,) = _problems(tmp_path, "wether")
    assert problem == (
        "selection_config.strategies[0].input.task: task 'wether' is not listed in "
        f"{TASKS}; did you mean 'weather'? (listed: weather, vehicles)"
    )


def test_a_listed_task_the_config_does_not_use_is_read_as_the_run_reads_it(tmp_path: Path) -> None:
    """The run reads every listed task: a broken one would stop it after Ray started."""
    (tmp_path / TASKS).parent.mkdir(parents=True)
    (tmp_path / TASKS).write_text('["weather", "no_folder"]')
    _schema(tmp_path, "weather")
    (tmp_path / ".lightly/metadata").mkdir(parents=True)
    field = {"name": "f", "path": "lightly.foo", "defaultValue": 0, "valueDataType": "NUMERIC_INT"}
    (tmp_path / ".lightly/metadata/schema.json").write_text(json.dumps([field]))
    problems = _problems(tmp_path, "weather")
    assert len(problems) == 2, problems
    assert problems[0].startswith(
        f"{TASKS} lists task 'no_folder', which the run reads: .lightly/predictions/no_folder/schema.json"
    )
    assert problems[1].startswith(".lightly/metadata/schema.json: ")
    assert "reserved" in problems[1]
    assert problems[1].endswith("(the run reads this file whenever it is there)")


def test_without_tasks_json_each_task_is_reported(tmp_path: Path) -> None:
    problems = _problems(tmp_path, "a", "b")
    assert [problem.split(": ", 1)[0] for problem in problems] == [
        "selection_config.strategies[0].input.task",
        "selection_config.strategies[1].input.task",
    ]
    assert all(problem.endswith(f"(listed: none, {TASKS} is missing or empty)") for problem in problems)


def test_an_unreadable_tasks_json_is_reported_once_as_what_it_is(tmp_path: Path) -> None:
    (tmp_path / TASKS).parent.mkdir(parents=True)
    (tmp_path / TASKS).write_text("[not json")
    (problem,) = _problems(tmp_path, "a", "b")
    assert TASKS in problem
    assert "missing or empty" not in problem
