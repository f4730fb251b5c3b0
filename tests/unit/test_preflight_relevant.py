"""The relevant filenames file before a run: `validate --lightly` parses it as `run` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lightly_ray.cli import main
from lightly_ray.errors import ConfigError, InputFormatError
from lightly_ray.preflight import prepare_run, validate_config
from lightly_ray.storage import Location
from tests.data.preflight_input import SELECTION, undecoded_images

NO_DOTS = (
    ".lightly/relevant_filenames.txt: line 1: expected a path relative to the input root without "
    "'./' or '../', got \"../x.jpg\""
)


@pytest.fixture
def input_folder(tmp_path: Path) -> Path:
    return undecoded_images(tmp_path / "input")


@pytest.fixture
def lightly(tmp_path: Path) -> Path:
    folder = tmp_path / "lightly" / ".lightly"
    folder.mkdir(parents=True)
    return folder.parent


def _config(tmp_path: Path, **worker: Any) -> Path:
    path = tmp_path / "run.yaml"
    # Random weights: a run checks that ImageNet weights can be had before any work.
    raw = {
        "worker_config": worker,
        "selection_config": SELECTION,
        "lightly_config": {"model": {"weights": "random"}},
    }
    path.write_text(yaml.safe_dump(raw))
    return path


def _validate(
    config: Path, lightly: Path, capsys: pytest.CaptureFixture[str], *overrides: str
) -> tuple[int, str]:
    code = main(["validate", str(config), "--lightly", str(lightly), *overrides])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _run_error(input_folder: Path, lightly: Path, config: Path) -> str:
    with pytest.raises(InputFormatError) as caught:
        prepare_run(input_folder, lightly, config=config)
    return str(caught.value)


@pytest.mark.parametrize(
    "worker",
    [{}, {"relevant_filenames_file": ".lightly/relevant_filenames.txt"}],
    ids=["default-file", "configured-file"],
)
def test_validate_refuses_the_line_that_run_refuses(
    input_folder: Path,
    lightly: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    worker: dict[str, str],
) -> None:
    (lightly / ".lightly" / "relevant_filenames.txt").write_text("../x.jpg\n")
    config = _config(tmp_path, **worker)
    code, output = _validate(config, lightly, capsys)
    assert code == 1
    assert f"error: {NO_DOTS}" in output
    assert "valid" not in output
    assert _run_error(input_folder, lightly, config) == NO_DOTS, "the same message as the run's"


def test_a_configured_file_is_named_in_the_message(
    input_folder: Path, lightly: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (lightly / "lists").mkdir()
    (lightly / "lists" / "mine.txt").write_text("ok.png\n\nsub//x.png\n")
    config = _config(tmp_path, relevant_filenames_file="lists/mine.txt")
    expected = "lists/mine.txt: line 3: expected a file path, got an empty folder name ('//')"
    code, output = _validate(config, lightly, capsys)
    assert code == 1 and expected in output
    assert expected in _run_error(input_folder, lightly, config)
    with pytest.raises(InputFormatError, match="line 3"):
        validate_config(config, lightly=Location(str(lightly), writable=False))


def test_a_valid_file_is_valid_and_read_once_by_a_run(
    input_folder: Path,
    lightly: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (lightly / ".lightly" / "relevant_filenames.txt").write_text("img_0.png\nsub/* !sub/b*\n")
    config = _config(tmp_path)
    code, output = _validate(config, lightly, capsys)
    assert code == 0 and f"{config}: valid" in output
    reads: list[str] = []
    read_bytes = Location.read_bytes

    def counted(location: Location, relative: str) -> bytes:
        reads.append(relative)
        return read_bytes(location, relative)

    monkeypatch.setattr(Location, "read_bytes", counted)
    prepared = prepare_run(input_folder, lightly, config=config)
    assert prepared.relevant is not None
    assert prepared.relevant.files == frozenset({"img_0.png"}) and prepared.relevant.prefixes == ["sub/"]
    assert reads.count(".lightly/relevant_filenames.txt") == 1, reads


def test_a_configured_path_inside_the_lightly_location_is_read_by_validate_and_run(
    input_folder: Path, lightly: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = lightly / ".lightly" / "mine.txt"
    listed.write_text("img_1.png\n")
    config = _config(tmp_path, relevant_filenames_file=str(listed))
    assert _validate(config, lightly, capsys)[0] == 0
    prepared = prepare_run(input_folder, lightly, config=config)
    assert prepared.relevant is not None and prepared.relevant.files == frozenset({"img_1.png"})
    listed.write_text("/img_1.png\n")
    code, output = _validate(config, lightly, capsys)
    assert code == 1 and ".lightly/mine.txt: line 1: expected a path relative to the input root" in output


def test_a_missing_configured_file_is_one_configuration_problem(
    input_folder: Path, lightly: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, relevant_filenames_file="missing.txt")
    code, output = _validate(config, lightly, capsys)
    assert code == 2
    assert "1 configuration problem" in output
    assert "worker_config.relevant_filenames_file: 'missing.txt' does not exist" in output
    with pytest.raises(ConfigError, match=r"'missing\.txt' does not exist"):
        prepare_run(input_folder, lightly, config=config)


def test_validate_without_lightly_reads_no_relevant_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, relevant_filenames_file="anywhere.txt")
    assert main(["validate", str(config)]) == 0
    assert f"{config}: valid" in capsys.readouterr().out


def test_validate_without_a_config_says_what_it_needs(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate"])
    captured = capsys.readouterr()
    assert code == 2
    assert "validate needs a config file: lightly-ray validate CONFIG [key.path=value ...]" in captured.err
    assert "key.path=value" not in captured.err.split("CONFIG")[0], "the overrides are not called required"
