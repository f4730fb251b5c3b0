"""Mistakes through the command, as a user makes them: a clear message, the right exit code, no
traceback, nothing written, and (for the ones that need no Ray) no Ray started.

Times are bounded generously here (a loaded CI machine); bench/cli_checks.py measures the real
ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lightly_ray.preflight.hub_weights import PROXY_VARIABLES
from tests.cli_process import Finished, lightly_ray
from tests.data.grouped_images import FAST_MODEL, group_image
from tests.file_opens import FileOpens
from tests.silent_server import silent_server

NO_RAY_SECONDS = 20.0  # the real bound is 5 s (config) and 10 s (locations): bench/cli_checks.py


@pytest.fixture(scope="module")
def small_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("small-input")
    for member in range(4):
        (root / f"img_{member}.png").write_bytes(group_image(member, member))
    return root


def _config(tmp_path: Path, strategies: list[dict[str, object]], **selection: object) -> Path:
    path = tmp_path / "run.yaml"
    content = {
        "selection_config": {"n_samples": 2, **selection, "strategies": strategies},
        "lightly_config": FAST_MODEL,
    }
    path.write_text(yaml.safe_dump(content))
    return path


DIVERSITY = {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}


def _run(small_input: Path, lightly: Path, config: Path, *extra: str) -> Finished:
    return lightly_ray(
        "run", "--input", str(small_input), "--lightly", str(lightly), "--config", str(config), *extra
    )


def _without_ray(finished: Finished) -> None:
    assert finished.seconds < NO_RAY_SECONDS, finished
    assert "starting Ray" not in finished.err


# --- the configuration ------------------------------------------------------------------------


def test_misspelled_lightly_metadata_key_fails_before_ray(small_input: Path, tmp_path: Path) -> None:
    weights = {"input": {"type": "METADATA", "key": "lightly.sharpnes"}, "strategy": {"type": "WEIGHTS"}}
    config = _config(tmp_path, [DIVERSITY, weights])
    finished = _run(small_input, tmp_path / "lightly", config)
    finished.assert_clean_failure(2)
    _without_ray(finished)
    assert f"in {config}" in finished.err
    assert "selection_config.strategies[1].input.key" in finished.err
    assert "did you mean 'lightly.sharpness'?" in finished.err
    assert not (tmp_path / "lightly").exists()
    validated = lightly_ray("validate", str(config))
    validated.assert_clean_failure(2)
    assert "did you mean 'lightly.sharpness'?" in validated.err


@pytest.mark.parametrize(
    ("content", "overrides", "expected"),
    [
        (None, [], "config file not found"),
        ("selection_config: [1,\n", [], "cannot parse"),
        ("- just a list\n", [], "the top level must be a mapping"),
        ("selection_config:\n  n_sample: 3\n", [], "did you mean 'n_samples'?"),
        (
            None,
            ["selection_config.n_samples=abc"],
            "selection_config.n_samples: Input should be a valid integer",
        ),
        (
            None,
            ["selection_config.n_sampels=3"],
            "selection_config.n_sampels: unknown key; did you mean 'n_samples'?",
        ),
        (None, ["modle.name=resnet-18"], "'modle' is an unknown key; did you mean 'model'?"),
        (None, ["lightly_config.model.name=resnet-19"], "lightly_config.model.name: Input should be"),
        (
            None,
            ["worker_config.enable_training=true", "worker_config.use_datapool=true"],
            "enable_training and worker_config.use_datapool cannot be combined",
        ),
    ],
)
def test_config_mistakes_name_the_key(
    small_input: Path, tmp_path: Path, content: str | None, overrides: list[str], expected: str
) -> None:
    if content is None and overrides:
        config = _config(tmp_path, [DIVERSITY])
    else:
        config = tmp_path / "run.yaml"
        if content is not None:
            config.write_text(content)
    finished = _run(small_input, tmp_path / "lightly", config, *overrides)
    finished.assert_clean_failure(2)
    _without_ray(finished)
    assert expected in finished.err


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("selection_config:\n  n_sample: 3\n")
    finished = lightly_ray("validate", str(config), "--debug")
    assert finished.code == 2
    assert "Traceback" in finished.err and "ConfigError" in finished.err
    assert "did you mean 'n_samples'?" in finished.err


# --- what the config names in the lightly location ---------------------------------------------


def _lightly_with_inputs(root: Path) -> Path:
    predictions = root / ".lightly" / "predictions"
    (predictions / "weather").mkdir(parents=True)
    (predictions / "tasks.json").write_text(json.dumps(["weather"]))
    schema = {
        "task_type": "classification",
        "categories": [{"id": 0, "name": "sun"}, {"id": 1, "name": "rain"}],
    }
    (predictions / "weather" / "schema.json").write_text(json.dumps(schema))
    metadata = root / ".lightly" / "metadata"
    metadata.mkdir(parents=True)
    fields = [
        {
            "name": "Temperature",
            "path": "weather.temperature",
            "defaultValue": 0.0,
            "valueDataType": "NUMERIC_FLOAT",
        },
        {"name": "Road", "path": "road", "defaultValue": "dry", "valueDataType": "CATEGORICAL_STRING"},
    ]
    (metadata / "schema.json").write_text(json.dumps(fields))
    return root


def test_lightly_location_references_are_checked_before_ray(small_input: Path, tmp_path: Path) -> None:
    lightly = _lightly_with_inputs(tmp_path / "lightly")
    strategies = [
        DIVERSITY,
        {
            "input": {"type": "SCORES", "task": "wether", "score": "uncertainty_entropy"},
            "strategy": {"type": "WEIGHTS"},
        },
        {
            "input": {"type": "SCORES", "task": "weather", "score": "uncertainty_entropi"},
            "strategy": {"type": "WEIGHTS"},
        },
        {"input": {"type": "METADATA", "key": "weather.temprature"}, "strategy": {"type": "WEIGHTS"}},
        {
            "input": {"type": "METADATA", "key": "road"},
            "strategy": {"type": "THRESHOLD", "threshold": 1, "operation": "BIGGER"},
        },
        {
            "input": {"type": "PREDICTIONS", "task": "weather", "name": "CLASS_DISTRIBUTION"},
            "strategy": {"type": "BALANCE", "target": {"sun": 0.5, "snow": 0.5}},
        },
    ]
    config = _config(tmp_path, strategies, n_samples=2)
    folder = "worker_config.relevant_filenames_file=.lightly/predictions"  # a folder, not a file
    finished = _run(small_input, lightly, config, "worker_config.embeddings=missing.csv", folder)
    finished.assert_clean_failure(2)
    _without_ray(finished)
    expected = [
        "7 configuration problems",
        "selection_config.strategies[1].input.task: task 'wether' is not listed in "
        ".lightly/predictions/tasks.json; did you mean 'weather'? (listed: weather)",
        "selection_config.strategies[2].input.score: unknown score 'uncertainty_entropi' of task 'weather' "
        "(classification); did you mean 'uncertainty_entropy'?",
        "selection_config.strategies[3].input.key: unknown metadata key 'weather.temprature' of "
        ".lightly/metadata/schema.json; did you mean 'weather.temperature'?",
        "selection_config.strategies[4].input.key: metadata 'road' is CATEGORICAL_STRING",
        "selection_config.strategies[5].strategy.target: unknown class 'snow' of task 'weather' "
        "(classification); available: sun, rain",
        "worker_config.embeddings: 'missing.csv' does not exist in the lightly location",
        "worker_config.relevant_filenames_file: '.lightly/predictions' is a folder in the lightly location; "
        "name a file, e.g. '.lightly/predictions/",
    ]
    for line in expected:
        assert line in finished.err
    assert not (lightly / ".lightly" / "runs").exists()
    validated = lightly_ray(
        "validate", str(config), "--lightly", str(lightly), "worker_config.embeddings=missing.csv", folder
    )
    validated.assert_clean_failure(2)
    assert all(line in validated.err for line in expected)
    good = _config(
        tmp_path, [DIVERSITY, strategies[3] | {"input": {"type": "METADATA", "key": "weather.temperature"}}]
    )
    assert lightly_ray("validate", str(good), "--lightly", str(lightly)).code == 0


def _folder(parent: Path, name: str) -> Path:
    (parent / name).mkdir()
    return parent / name


def test_mistakes_fail_before_any_input_file_is_read(tmp_path: Path) -> None:
    """A few thousand inputs: every mistake is answered in seconds, and no input file is opened."""
    many = tmp_path / "many"
    many.mkdir()
    for index in range(3000):
        (many / f"frame_{index:05d}.jpg").write_bytes(b"not decoded before the checks pass")
    (many / "clip.mp4").write_bytes(b"not indexed before the checks pass")
    lightly = _lightly_with_inputs(tmp_path / "lightly")
    strategies = [
        DIVERSITY,
        {"input": {"type": "METADATA", "key": "lightly.sharpnes"}, "strategy": {"type": "WEIGHTS"}},
        {
            "input": {"type": "SCORES", "task": "wether", "score": "uncertainty_entropy"},
            "strategy": {"type": "WEIGHTS"},
        },
    ]
    mistakes = [
        (
            _config(_folder(tmp_path, "typo"), strategies[:2], n_samples=4),
            "did you mean 'lightly.sharpness'?",
        ),
        (
            _config(_folder(tmp_path, "sequences"), [DIVERSITY], n_samples=3),
            "must be a multiple of worker_config.selected_sequence_length (2)",
        ),
        (
            _config(_folder(tmp_path, "task"), [DIVERSITY, strategies[2]], n_samples=4),
            "task 'wether' is not listed in .lightly/predictions/tasks.json",
        ),
    ]
    for config, message in mistakes:
        with FileOpens(many) as opened:
            finished = _run(many, lightly, config, "worker_config.selected_sequence_length=2")
        finished.assert_clean_failure(2)
        _without_ray(finished)
        assert message in finished.err
        assert not opened.names, f"files read before the checks failed: {sorted(opened.names)[:5]}"


# --- the locations ------------------------------------------------------------------------------


def test_location_mistakes_are_answered_before_ray(small_input: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, [DIVERSITY])
    (tmp_path / "empty").mkdir()
    others = tmp_path / "others"
    others.mkdir()
    for name in ("a.txt", "b.txt", "clip.mp3", "notes"):
        (others / name).write_text("x")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    cases = [
        (tmp_path / "missing", tmp_path / "l1", "input location '{input}' does not exist"),
        (config, tmp_path / "l2", "input location '{input}' is a file, not a folder"),
        (
            tmp_path / "empty",
            tmp_path / "l3",
            "no image or video files in input location '{input}': it is empty",
        ),
        (
            others,
            tmp_path / "l4",
            "no image or video files in input location '{input}': it holds 2 .txt, 1 (none), 1 .mp3",
        ),
        (small_input, small_input / "out", "lies inside the input '{input}'"),
        (small_input, small_input, "lies inside the input '{input}'"),
        (small_input, blocker / "lightly", "lightly location '{lightly}' is not writable"),
    ]
    before = sorted(path.name for path in small_input.iterdir())
    for input_folder, lightly, expected in cases:
        finished = _run(input_folder, lightly, config)
        finished.assert_clean_failure(1)
        _without_ray(finished)
        assert expected.format(input=input_folder, lightly=lightly) in finished.err
    assert sorted(path.name for path in small_input.iterdir()) == before, "the input must never be written"


# Loaded by the command's Python (sitecustomize): the download server refuses connections, as on
# a machine without internet, whatever this machine can reach.
OFFLINE = """
import socket
_connect = socket.create_connection
def _refuse(address, *args, **kwargs):
    if address[0] == "download.pytorch.org":
        raise ConnectionRefusedError(111, "Connection refused (offline, as the test asks)")
    return _connect(address, *args, **kwargs)
socket.create_connection = _refuse
"""


def test_weights_that_cannot_be_had_are_answered_before_ray(small_input: Path, tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"  # the default weights: imagenet
    config.write_text(yaml.safe_dump({"selection_config": {"n_samples": 2, "strategies": [DIVERSITY]}}))
    cache = tmp_path / "torch"
    (tmp_path / "offline").mkdir()
    (tmp_path / "offline" / "sitecustomize.py").write_text(OFFLINE)
    offline = {"TORCH_HOME": str(cache), "PYTHONPATH": str(tmp_path / "offline")}
    offline.update({variable: "" for variable in PROXY_VARIABLES})  # a proxy counts as online
    finished = lightly_ray(
        "run", "--input", str(small_input), "--lightly", str(tmp_path / "lightly"), "--config", str(config),
        env=offline,
    )  # fmt: skip
    finished.assert_clean_failure(1)
    _without_ray(finished)
    assert (
        "lightly_config.model.weights: the file is not in the torch hub cache "
        f"({cache}/hub/checkpoints/resnet18-f37072fd.pth)"
    ) in finished.err
    assert "lightly_config.model.weights=random" in finished.err
    assert not (tmp_path / "lightly").exists(), "nothing is written"
    # A dry run shows its plan, says that a run here would stop, and exits 1 as the run would.
    planned = lightly_ray(
        "run", "--input", str(small_input), "--lightly", str(tmp_path / "lightly"), "--config", str(config),
        "--dry-run", env=offline,
    )  # fmt: skip
    assert planned.code == 1, planned.err
    assert "plan on" in planned.out
    assert "a run here would stop: lightly_config.model.weights: the file is not in" in planned.out


def test_bypass_verify_still_names_the_location_a_write_fails_in(small_input: Path, tmp_path: Path) -> None:
    # Readable (nothing there) but never writable, even for root: a folder under /proc.
    lightly = "/proc/self/lightly-ray-cannot-write"
    config = _config(tmp_path, [DIVERSITY])
    finished = _run(small_input, Path(lightly), config, "worker_config.datasource.bypass_verify=true")
    finished.assert_clean_failure(1)
    assert "cannot write '.lightly/datasets/" in finished.err, "the first write: the dataset's lock"
    assert f"in '{lightly}'" in finished.err
    checked = _run(small_input, Path(lightly), config)
    checked.assert_clean_failure(1)
    assert f"lightly location '{lightly}' is not writable" in checked.err
    assert "worker_config.datasource.bypass_verify=true" in checked.err


# --- the cluster address ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address", ["foo bar", "127.0.0.1", "http://127.0.0.1:8265", "10.0.0.1:99999", "tcp://10.0.0.1:6379"]
)
def test_malformed_addresses_are_refused_with_the_accepted_forms(
    small_input: Path, tmp_path: Path, address: str
) -> None:
    finished = _run(small_input, tmp_path / "lightly", _config(tmp_path, [DIVERSITY]), "--address", address)
    finished.assert_clean_failure(2)
    _without_ray(finished)
    assert f"--address '{address}' is not a Ray cluster address" in finished.err
    assert "use 'auto' or 'HOST:PORT'" in finished.err


@pytest.mark.parametrize("address", ["ray://127.0.0.2:10001", "ray://"])
def test_ray_client_addresses_are_refused_with_what_to_do_instead(
    small_input: Path, tmp_path: Path, address: str
) -> None:
    finished = _run(small_input, tmp_path / "lightly", _config(tmp_path, [DIVERSITY]), "--address", address)
    finished.assert_clean_failure(2)
    _without_ray(finished)
    assert (
        f"--address '{address}': Ray Client (ray://) cannot run lightly_ray's Ray Data pipeline"
        in finished.err
    )
    assert "ray job submit --address http://HEAD:8265 -- lightly-ray run" in finished.err


def test_ray_address_from_the_environment_is_checked_too(small_input: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, [DIVERSITY])
    finished = lightly_ray(
        "run",
        "--input",
        str(small_input),
        "--lightly",
        str(tmp_path / "l"),
        "--config",
        str(config),
        env={"RAY_ADDRESS": "http://127.0.0.1:8265"},
    )
    finished.assert_clean_failure(2)
    assert (
        "RAY_ADDRESS 'http://127.0.0.1:8265' is not a Ray cluster address (an http:// address" in finished.err
    )


def test_nothing_listening_at_the_address_is_reported_at_once(small_input: Path, tmp_path: Path) -> None:
    address = "127.0.0.2:1"
    finished = _run(small_input, tmp_path / "lightly", _config(tmp_path, [DIVERSITY]), "--address", address)
    finished.assert_clean_failure(1)
    _without_ray(finished)
    assert f"answers at {address} (--address): Connection refused" in finished.err
    assert "or leave --address out to start a local Ray instance" in finished.err
    config = _config(tmp_path, [DIVERSITY])
    from_environment = lightly_ray(
        "run", "--input", str(small_input), "--lightly", str(tmp_path / "l"), "--config", str(config),
        env={"RAY_ADDRESS": address},
    )  # fmt: skip
    from_environment.assert_clean_failure(1)
    assert f"answers at {address} (RAY_ADDRESS): Connection refused" in from_environment.err
    assert "or unset RAY_ADDRESS to start a local Ray instance" in from_environment.err


@pytest.fixture
def silent() -> Iterator[str]:
    with silent_server() as address:
        yield address


@pytest.mark.slow
def test_a_cluster_that_does_not_answer_is_given_up_after_the_timeout(
    small_input: Path, tmp_path: Path, silent: str
) -> None:
    address = silent
    config = _config(tmp_path, [DIVERSITY])
    finished = _run(small_input, tmp_path / "lightly", config, "--address", address, "--connect-timeout", "3")
    finished.assert_clean_failure(1)
    assert f"the Ray cluster at {address} did not answer within 3 s" in finished.err
    assert finished.seconds < 60
    runs = list((tmp_path / "lightly" / ".lightly" / "runs").iterdir())
    assert len(runs) == 1 and not (runs[0] / "_SUCCESS").exists()
    message = finished.err.split("error: ", 1)[1].strip()
    assert (runs[0] / "log.txt").read_text().rstrip().endswith(message)
