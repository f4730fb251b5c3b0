"""What `validate --lightly` and a run's checks say about the prediction tasks a config names."""

from __future__ import annotations

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


def test_an_unlisted_task_names_the_listed_ones(tmp_path: Path) -> None:
    (tmp_path / TASKS).parent.mkdir(parents=True)
    (tmp_path / TASKS).write_text('["weather", "vehicles"]')
    (problem,) = _problems(tmp_path, "wether")
    assert problem == (
        "selection_config.strategies[0].input.task: task 'wether' is not listed in "
        f"{TASKS}; did you mean 'weather'? (listed: weather, vehicles)"
    )


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
