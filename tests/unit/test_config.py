from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from lightly_ray.cli import EXIT_CONFIG, main
from lightly_ray.config import apply_override, config_json_schema, load_config, unsupported_features
from lightly_ray.errors import ConfigError
from tests.data.seed_configs import SEED_CONFIGS

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
DIVERSITY = {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}


def selection(**overrides: Any) -> dict[str, Any]:
    return {"selection_config": {"n_samples": 10, "strategies": [DIVERSITY], **overrides}}


def problems_of(raw: dict[str, Any], overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(raw, overrides)
    return caught.value.problems


@pytest.mark.parametrize("name", sorted(SEED_CONFIGS))
def test_every_seed_example_validates(name: str) -> None:
    config = load_config(None, **SEED_CONFIGS[name])
    assert config.selection_config.strategies


def _seed_selection_blocks() -> list[str]:
    blocks = []
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"^\{\s*\n\s*\"n_samples\"", text, flags=re.MULTILINE):
            depth, end = 0, match.start()
            for end in range(match.start(), len(text)):
                depth += {"{": 1, "}": -1}.get(text[end], 0)
                if depth == 0:
                    break
            block = text[match.start() : end + 1]
            if "..." not in block:  # the documents' template with placeholders
                blocks.append(block)
    return blocks


@pytest.mark.skipif(not SEEDS.is_dir(), reason="../shared/seeds is not beside the checkout")
def test_selection_examples_read_straight_from_the_seeds_validate() -> None:
    blocks = _seed_selection_blocks()
    assert len(blocks) >= 8
    for block in blocks:
        without_comments = re.sub(r"#[^\n]*", "", block)
        # The seeds use the built-in detector's task with pretagging on, as they document.
        worker = {"pretagging": "lightly_pretagging" in block}
        load_config({"worker_config": worker, "selection_config": ast.literal_eval(without_comments)})


def test_defaults_are_the_lightly_worker_defaults() -> None:
    config = load_config(selection())
    assert config.worker_config.enable_corruptness_check is True
    assert config.worker_config.remove_exact_duplicates is True
    assert config.worker_config.normalize_embeddings is True
    assert config.worker_config.output_image_format == "png"
    model = config.lightly_config.model
    assert (model.name, model.weights, model.out_dim, model.num_ftrs) == (
        "resnet-18",
        "imagenet",
        128,
        32,
    )
    assert config.lightly_config.collate.input_size == 64
    assert config.lightly_config.loader.batch_size == 16


def test_unknown_key_suggests_the_closest() -> None:
    problems = problems_of({"worker_config": {"remove_exact_duplicate": True}, **selection()})
    assert problems[0].startswith("worker_config.remove_exact_duplicate: unknown key")
    assert "did you mean 'remove_exact_duplicates'" in problems[0]


def test_unknown_key_deep_in_a_strategy_names_its_path() -> None:
    strategy = {
        "input": {"type": "EMBEDDINGS"},
        "strategy": {"type": "DIVERSITY", "stoping_condition_minimum_distance": 0.1},
    }
    problems = problems_of({"selection_config": {"n_samples": 3, "strategies": [strategy]}})
    assert problems[0].startswith(
        "selection_config.strategies[0].strategy.stoping_condition_minimum_distance: unknown key"
    )
    assert "did you mean 'stopping_condition_minimum_distance'" in problems[0]


def test_every_problem_is_listed_at_once() -> None:
    raw = {
        "worker_confg": {},
        "worker_config": {"remove_exact_duplicate": True, "enable_trainig": False},
        "selection_config": {
            "n_samples": 10,
            "strategies": [
                {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY", "strenght": 2}}
            ],
        },
        "lightly_config": {"model": {"weights": "randm"}, "colate": {}},
        "resources": {"embed": {"max_actor": 2}},
    }
    problems = problems_of(raw)
    paths = sorted(problem.split(":")[0] for problem in problems)
    assert paths == sorted(
        [
            "lightly_config.colate",
            "lightly_config.model.weights",
            "resources.embed.max_actor",
            "selection_config.strategies[0].strategy.strenght",
            "worker_config.enable_trainig",
            "worker_config.remove_exact_duplicate",
            "worker_confg",
        ]
    )
    assert "did you mean 'enable_training'" in next(p for p in problems if "enable_trainig" in p)


@pytest.mark.parametrize(
    ("block", "key", "value"),
    [
        ("selection_config", "n_samples", "10"),
        ("worker_config", "remove_exact_duplicates", "no"),
        ("worker_config", "pretagging", "off"),
        ("lightly_config", "seed", "1"),
    ],
)
def test_a_string_is_not_read_as_a_number_or_a_boolean(block: str, key: str, value: str) -> None:
    raw = selection()
    raw.setdefault(block, {})[key] = value
    (problem,) = problems_of(raw)
    assert problem.startswith(f"{block}.{key}: Input should be a valid")
    assert f"(got '{value}')" in problem


def test_an_int_is_read_where_a_float_is_expected() -> None:
    config = load_config({**selection(), "lightly_config": {"optimizer": {"lr": 1}}})
    assert config.lightly_config.optimizer.lr == 1.0


@pytest.mark.parametrize(
    ("budget", "word"),
    [
        ({"n_samples": 5, "proportion_samples": 0.5}, "both given; to override one, set the other to null"),
        ({}, "neither given"),
    ],
)
def test_exactly_one_budget(budget: dict[str, Any], word: str) -> None:
    problems = problems_of({"selection_config": {"strategies": [DIVERSITY], **budget}})
    assert problems == [f"selection_config: set exactly one of 'n_samples' and 'proportion_samples' ({word})"]


@pytest.mark.parametrize(
    ("strategy_input", "strategy", "message"),
    [
        (
            {"type": "EMBEDDINGS"},
            {"type": "WEIGHTS"},
            "input EMBEDDINGS cannot be used with strategy WEIGHTS",
        ),
        (
            {"type": "SCORES", "task": "t", "score": "s"},
            {"type": "BALANCE", "target": {"a": 0.5}},
            "allowed: WEIGHTS, THRESHOLD",
        ),
        (
            {"type": "PREDICTIONS", "task": "t", "name": "CLASS_DISTRIBUTION"},
            {"type": "WEIGHTS"},
            "allowed: BALANCE",
        ),
        (
            {"type": "PREDICTIONS", "task": "t", "name": "CATEGORY_COUNT"},
            {"type": "BALANCE", "target": {"a": 0.1}},
            "allowed: WEIGHTS, THRESHOLD",
        ),
        (
            {"type": "RANDOM"},
            {"type": "DIVERSITY"},
            "input RANDOM cannot be used with strategy DIVERSITY",
        ),
        (
            {"type": "METADATA", "key": "a.b"},
            {"type": "SIMILARITY"},
            "allowed: WEIGHTS, THRESHOLD, BALANCE",
        ),
        ({"type": "EMBEDDINGS"}, {"type": "SIMILARITY"}, "SIMILARITY needs a query set"),
    ],
)
def test_input_strategy_pairs_are_checked_at_validation(
    strategy_input: dict[str, Any], strategy: dict[str, Any], message: str
) -> None:
    raw = {
        "selection_config": {
            "n_samples": 1,
            "strategies": [{"input": strategy_input, "strategy": strategy}],
        }
    }
    problems = problems_of(raw)
    assert len(problems) == 1
    assert problems[0].startswith("selection_config.strategies[0]: ")
    assert message in problems[0]


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"lightly_config": {"collate": {"hf_prob": 1.5}}}, "lightly_config.collate.hf_prob"),
        ({"lightly_config": {"collate": {"cj_prob": -0.1}}}, "lightly_config.collate.cj_prob"),
        (
            {"selection_config": {"n_samples": -3, "strategies": [DIVERSITY]}},
            "selection_config.n_samples",
        ),
        (
            {"selection_config": {"proportion_samples": 1.5, "strategies": [DIVERSITY]}},
            "selection_config.proportion_samples",
        ),
        ({"lightly_config": {"model": {"name": "resnet-19"}}}, "lightly_config.model.name"),
        (
            {"worker_config": {"object_level": {"padding": -0.1}}},
            "worker_config.object_level.padding",
        ),
        (
            {"worker_config": {"selected_sequence_length": 0}},
            "worker_config.selected_sequence_length",
        ),
    ],
)
def test_out_of_range_values_name_their_key(raw: dict[str, Any], path: str) -> None:
    raw.setdefault("selection_config", selection()["selection_config"])
    problems = problems_of(raw)
    assert any(problem.startswith(f"{path}: ") for problem in problems), problems


def test_balance_target_checks() -> None:
    strategy = {"type": "BALANCE", "target": {"sunny": 0.7, "cloudy": 0.6}}
    raw = {
        "selection_config": {
            "n_samples": 1,
            "strategies": [{"input": {"type": "METADATA", "key": "w"}, "strategy": strategy}],
        }
    }
    assert "sum to at most 1" in problems_of(raw)[0]


def test_missing_strategy_type_and_unknown_type() -> None:
    raw = {
        "selection_config": {
            "n_samples": 1,
            "strategies": [{"input": {"type": "EMBEDDING"}, "strategy": {}}],
        }
    }
    problems = problems_of(raw)
    assert any(
        p.startswith("selection_config.strategies[0].input.type: ") and "'EMBEDDING'" in p for p in problems
    )
    assert "selection_config.strategies[0].strategy: missing 'type'" in problems


def test_overrides_short_and_full_paths() -> None:
    config = load_config(
        selection(),
        [
            "object_level.task_name=vehicles",
            "object_level.padding=0.1",
            "lightly_config.model.name=resnet-50",
            "loader.batch_size=64",
            "selection_config.n_samples=7",
            "selection_config.strategies.0.strategy.stopping_condition_minimum_distance=0.25",
            "normalize_embeddings=false",
            "optimizer.weight_decay=1e-4",
        ],
    )
    assert config.worker_config.object_level.task_name == "vehicles"
    assert config.worker_config.object_level.padding == 0.1
    assert config.lightly_config.model.name == "resnet-50"
    assert config.lightly_config.loader.batch_size == 64
    assert config.selection_config.n_samples == 7
    assert config.selection_config.strategies[0].strategy.stopping_condition_minimum_distance == 0.25  # type: ignore[union-attr]
    assert config.worker_config.normalize_embeddings is False
    assert config.lightly_config.optimizer.weight_decay == 1e-4


def test_override_with_unknown_first_key() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(selection(), ["objct_level.task_name=x"])
    assert "did you mean 'object_level'" in str(caught.value)


def test_override_of_a_key_of_two_blocks_goes_where_the_value_fits() -> None:
    raw: dict[str, Any] = {}
    for assignment in ("pretagging=true", "pretagging.image_size=320", "training.task_name=cars"):
        apply_override(raw, assignment)
    assert raw == {
        "worker_config": {"pretagging": True, "training": {"task_name": "cars"}},
        "lightly_config": {"pretagging": {"image_size": 320}},
    }


def test_override_of_a_key_in_one_section_only() -> None:
    config = load_config(selection(), ["max_epochs=3", "process_all=true"])
    assert config.lightly_config.trainer.max_epochs == 3
    assert config.worker_config.datasource.process_all is True


def test_override_in_several_places_lists_them() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(selection(), ["batch_size=8"])
    (problem,) = caught.value.problems
    assert "'batch_size' is in several places" in problem
    for path in (
        "lightly_config.loader.batch_size",
        "lightly_config.pretagging.batch_size",
        "resources.embed.batch_size",
    ):
        assert f"{path}=..." in problem


def test_override_of_a_section_with_a_value_says_so() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(selection(), ["trainer=3"])
    (problem,) = caught.value.problems
    assert "lightly_config.trainer is a section: set one of its keys (gpus, max_epochs, precision)" in problem
    with pytest.raises(
        ConfigError, match=r"worker_config\.remove_exact_duplicates is a value, not a section"
    ):
        load_config(selection(), ["remove_exact_duplicates.x=1"])


def test_override_without_equals() -> None:
    with pytest.raises(ConfigError, match=r"must look like key\.path=value"):
        load_config(selection(), ["n_samples"])


def test_yaml_and_json_files(tmp_path: Path) -> None:
    raw = {**selection(), "lightly_config": {"model": {"weights": "random"}}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "run.json").write_text(json.dumps(raw))
    for name in ("run.yaml", "run.json"):
        assert load_config(tmp_path / name).lightly_config.model.weights == "random"


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("selection_config:\n  n_samples: 3\n  strategies: []\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert "selection_config.strategies" in str(caught.value)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_json_schema_describes_every_block() -> None:
    schema = config_json_schema()
    assert set(schema["properties"]) == {"worker_config", "selection_config", "lightly_config", "resources"}
    assert schema["required"] == ["selection_config"]
    text = json.dumps(schema)
    for key in (
        "stopping_condition_minimum_distance",
        "num_ftrs",
        "relevant_filenames_file",
        "TYPICALITY",
        "samples_per_block",
    ):
        assert key in text


def test_unsupported_features_are_named() -> None:
    assert unsupported_features(load_config(None, **SEED_CONFIGS["object_level_with_active_learning"])) == []
    assert unsupported_features(load_config(None, **SEED_CONFIGS["object_level_pretagging"])) == []
    example = SEED_CONFIGS["object_level"]
    with_datapool = {**example, "worker_config": {**example["worker_config"], "use_datapool": True}}
    assert unsupported_features(load_config(None, **with_datapool)) == []
    sequences = {**example, "worker_config": {**example["worker_config"], "selected_sequence_length": 2}}
    assert unsupported_features(load_config(None, **sequences)) == [
        "worker_config.object_level.task_name together with worker_config.selected_sequence_length (not "
        "yet: a run's object crops come from one detection task, cut from the images it decodes)"
    ]
    object_diversity = SEED_CONFIGS["object_diversity"]
    assert unsupported_features(load_config(None, **object_diversity)) == []
    objects_datapool = load_config(None, **object_diversity, worker_config={"use_datapool": True})
    assert unsupported_features(objects_datapool) == [
        "an EMBEDDINGS input with task together with worker_config.use_datapool (not yet: a run's object "
        "crops come from one detection task, cut from the images it decodes)"
    ]
    by_task = [
        {"input": {"type": "EMBEDDINGS", "task": task}, "strategy": {"type": "DIVERSITY"}} for task in "ab"
    ]
    two_tasks = load_config(None, selection_config={"n_samples": 5, "strategies": by_task})
    with pytest.raises(ConfigError, match="works with strategy DIVERSITY only"):
        load_config(
            None,
            selection_config={
                "n_samples": 5,
                "strategies": [
                    {"input": {"type": "EMBEDDINGS", "task": "a"}, "strategy": {"type": "TYPICALITY"}}
                ],
            },
        )
    assert unsupported_features(two_tasks) == [
        "selection_config.strategies: EMBEDDINGS inputs with different tasks (a, b); one run cuts the "
        "objects of one task"
    ]
    assert unsupported_features(load_config(None, **SEED_CONFIGS["visual_diversity"])) == []


def _metadata_config(key: str) -> dict[str, Any]:
    return {
        "selection_config": {
            "n_samples": 3,
            "strategies": [{"input": {"type": "METADATA", "key": key}, "strategy": {"type": "WEIGHTS"}}],
        }
    }


def test_misspelled_lightly_metadata_key_is_refused_with_the_closest() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_metadata_config("lightly.sharpnes"))
    assert caught.value.problems == [
        "selection_config.strategies[0].input.key: unknown Lightly metadata key 'lightly.sharpnes'; "
        "did you mean 'lightly.sharpness'? computed keys are lightly.sharpness, lightly.snr, "
        "lightly.sizeInBytes, lightly.width, lightly.height, lightly.meanRed, lightly.meanGreen, "
        "lightly.meanBlue, lightly.contrast (custom metadata keys have no 'lightly.' prefix)"
    ]
    with pytest.raises(ConfigError, match=r"unknown Lightly metadata key 'lightly\.blur'; computed keys"):
        load_config(_metadata_config("lightly.blur"))
    assert load_config(_metadata_config("lightly.meanRed")).selection_config.strategies[0].input.type == (
        "METADATA"
    )
    assert load_config(_metadata_config("weather.temperature"))  # custom keys are checked against the schema


@pytest.mark.parametrize(
    ("worker", "named"),
    [
        ({"enable_training": True, "use_datapool": True}, "enable_training and worker_config.use_datapool"),
        ({"embeddings": "e.csv", "checkpoint": "m.ckpt"}, "worker_config.checkpoint would be ignored"),
        ({"embeddings": "e.csv", "enable_training": True}, "worker_config.enable_training would be ignored"),
    ],
)
def test_impossible_combinations_are_refused(worker: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_config({**SEED_CONFIGS["visual_diversity"], "worker_config": worker})


def test_the_pretagging_task_needs_pretagging() -> None:
    balance = {
        "input": {"type": "PREDICTIONS", "task": "lightly_pretagging", "name": "CLASS_DISTRIBUTION"},
        "strategy": {"type": "BALANCE", "distribution": "UNIFORM"},
    }
    raw = {"selection_config": {"n_samples": 10, "strategies": [DIVERSITY, balance]}}
    assert problems_of(raw) == [
        "selection_config.strategies[1].input.task names 'lightly_pretagging', whose predictions come "
        "from pretagging: set worker_config.pretagging=true, or name a prediction task of your own"
    ]
    assert load_config({**raw, "worker_config": {"pretagging": True}}).worker_config.pretagging


def test_sequence_length_must_divide_n_samples() -> None:
    raw = {**selection(), "worker_config": {"selected_sequence_length": 4}}
    assert problems_of(raw) == [
        "selection_config.n_samples (10) must be a multiple of worker_config.selected_sequence_length (4): "
        "whole sequences are selected"
    ]
    assert load_config(raw, ("selection_config.n_samples=12",)).selection_config.n_samples == 12


def test_override_with_a_misspelled_key_inside_a_section_names_it() -> None:
    for override, path, close in (
        ("model.nam=resnet-50", "lightly_config.model.nam", "name"),
        ("collate.input_sze=32", "lightly_config.collate.input_sze", "input_size"),
        ("pretagging.scor_threshold=0.2", "lightly_config.pretagging.scor_threshold", "score_threshold"),
    ):
        with pytest.raises(ConfigError) as caught:
            load_config(selection(), [override])
        (problem,) = caught.value.problems
        assert f"override '{override}': {path}: unknown key; did you mean '{close}'?" in problem


def test_every_problem_of_a_config_at_once_with_the_closest_type() -> None:
    raw = selection()
    raw["selection_config"]["proportion_samples"] = 0.5  # beside n_samples
    raw["selection_config"]["strategies"] = [
        {"input": {"type": "EMBEDINGS"}, "strategy": {"type": "DIVERSTY"}},
        {"input": {"type": "xyz"}, "strategy": {"type": "WEIGHTS"}},
    ]
    raw["worker_config"] = {"remove_exact_duplicate": True}
    problems = problems_of(raw)
    expected = [
        "worker_config.remove_exact_duplicate: unknown key; did you mean 'remove_exact_duplicates'? ",
        "selection_config: set exactly one of 'n_samples' and 'proportion_samples' (both given; ",
        "selection_config.strategies[0].input.type: unknown type 'EMBEDINGS'; did you mean 'EMBEDDINGS'? "
        "Allowed types here: EMBEDDINGS, SCORES, PREDICTIONS, METADATA, RANDOM",
        "selection_config.strategies[0].strategy.type: unknown type 'DIVERSTY'; did you mean 'DIVERSITY'? "
        "Allowed types here: DIVERSITY, WEIGHTS, THRESHOLD, BALANCE, SIMILARITY, TYPICALITY",
        "selection_config.strategies[1].input.type: unknown type 'xyz'. "
        "Allowed types here: EMBEDDINGS, SCORES, PREDICTIONS, METADATA, RANDOM",
    ]
    assert len(problems) == len(expected), problems
    for start in expected:
        assert any(problem.startswith(start) for problem in problems), (start, problems)


def test_problems_an_override_makes_name_the_override_not_the_file(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({**selection(), "lightly_config": {"loader": {"batch_size": 8}}}))
    overrides = ["lightly_config.trainer.max_epoch=3", "collate.input_sze=32", "optimizer.name=adam"]
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides)
    assert caught.value.source is None, "every problem comes from an override"
    assert caught.value.problems == [
        "override 'collate.input_sze=32': lightly_config.collate.input_sze: unknown key; did you mean "
        + caught.value.problems[0].split("did you mean ", 1)[1],
        "override 'lightly_config.trainer.max_epoch=3': lightly_config.trainer.max_epoch: unknown key; "
        + caught.value.problems[1].split("unknown key; ", 1)[1],
        "override 'optimizer.name=adam': lightly_config.optimizer.name: Input should be 'sgd' or 'adamw' "
        "(got 'adam')",
    ]
    assert "did you mean 'input_size'?" in caught.value.problems[0]
    assert "did you mean 'max_epochs'?" in caught.value.problems[1]
    # A mistake in the file beside one of an override: the file is named, each line says its own.
    path.write_text(yaml.safe_dump({**selection(), "worker_config": {"pretaging": True}}))
    with pytest.raises(ConfigError) as mixed:
        load_config(path, ["optimizer.lr=-1"])
    assert mixed.value.source == str(path)
    first = "worker_config.pretaging: unknown key; did you mean 'pretagging'?"
    assert mixed.value.problems[0].startswith(first)
    assert mixed.value.problems[1] == (
        "override 'optimizer.lr=-1': lightly_config.optimizer.lr: Input should be greater than 0 (got -1)"
    )


def test_an_unknown_short_key_gets_the_closest_key_or_where_to_look_not_every_key() -> None:
    assert problems_of(selection(), ("n_sampels=3",)) == [
        "override 'n_sampels=3': 'n_sampels' is an unknown key; did you mean 'n_samples'?"
    ]
    assert problems_of(selection(), ("zzz=3",)) == [
        "override 'zzz=3': 'zzz' is an unknown key; no block has it (`lightly-ray schema` lists every key)"
    ]


def test_a_key_of_a_strategy_without_its_path_names_the_strategies_that_take_it() -> None:
    weights = {"input": {"type": "METADATA", "key": "w"}, "strategy": {"type": "WEIGHTS"}}
    raw = selection(strategies=[DIVERSITY, weights])
    assert problems_of(raw, ("stopping_condition_minimum_distance=0.2",)) == [
        "override 'stopping_condition_minimum_distance=0.2': 'stopping_condition_minimum_distance' is a "
        "key of a selection strategy; write "
        "selection_config.strategies.0.strategy.stopping_condition_minimum_distance=..."
    ]
    (problem,) = problems_of(raw, ("threshold=2",))  # no strategy of the config takes it
    assert problem.endswith("write selection_config.strategies.<index>.strategy.threshold=...")


def test_an_object_level_task_unlike_a_strategys_names_both_keys() -> None:
    scores = {"input": {"type": "SCORES", "task": "shapes", "score": "uncertainty_entropy"}}
    raw = {
        "worker_config": {"object_level": {"task_name": "shape"}},
        **selection(strategies=[DIVERSITY, {**scores, "strategy": {"type": "WEIGHTS"}}]),
    }
    (problem,) = problems_of(raw)
    assert (
        "selection_config.strategies[1].input.task is 'shapes', not worker_config.object_level.task_name "
        "'shape' (check both for a typo" in problem
    )


def test_crop_settings_without_an_object_level_task_are_a_configuration_problem() -> None:
    (problem,) = problems_of({**selection(), "worker_config": {"object_level": {"padding": 0.1}}})
    assert problem.startswith(
        "worker_config.object_level: padding without task_name: they apply to the crops of the detection task"
    )


def test_validate_answers_a_config_this_version_cannot_run_as_a_run_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({**selection(), "lightly_config": {"model": {"width": 2}}}))
    assert main(["validate", str(path)]) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert f"{path}: valid" not in captured.out
    assert "this version of lightly_ray cannot run it yet" in captured.err
    assert "lightly_config.model.width: 2" in captured.err


def test_an_input_with_a_strategy_it_does_not_take_is_named_beside_the_entrys_other_problems() -> None:
    raw = {
        "worker_config": {"remove_exact_duplicates": "yes"},
        "selection_config": {
            "n_samples": -3,
            "strategies": [
                {"input": {"type": "METADATA", "key": "weather"}, "strategy": {"type": "DIVERSITY"}},
                {
                    "input": {"type": "EMBEDDINGS"},
                    "strategy": {"type": "BALANCE", "target": {"a": 0.8, "b": 0.7}},
                },
            ],
        },
    }
    problems = problems_of(raw)
    assert [problem.split(":")[0] for problem in problems] == [
        "worker_config.remove_exact_duplicates",
        "selection_config.n_samples",
        "selection_config.strategies[0]",
        "selection_config.strategies[1]",
        "selection_config.strategies[1].strategy",
    ], problems
    assert "input METADATA cannot be used with strategy DIVERSITY" in problems[2]
    assert "input EMBEDDINGS cannot be used with strategy BALANCE; allowed: DIVERSITY" in problems[3]
