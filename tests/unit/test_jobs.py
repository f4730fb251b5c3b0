"""The Ray job entrypoints in jobs/: the CLI's arguments, messages and exit codes, no Ray started.

The scripts run as `ray job submit` and a RayJob run them, `python jobs/NAME.py ...`, here in a
separate process whose `ray.init` ends the process: a mistake answered with the CLI's own
message and exit code was answered before Ray started.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Literal

import pytest

from tests.cli_process import Finished, environment

REPO = Path(__file__).resolve().parents[2]
JOBS = REPO / "jobs"
VALID_CONFIG = """\
selection_config:
  n_samples: 2
  strategies:
    - input: {type: EMBEDDINGS}
      strategy: {type: DIVERSITY}
"""


# Runs a job script (argv[1]) as `python SCRIPT ARGS` would, with ray.init ending the process.
NO_RAY_START = """
import runpy, sys
import ray

def refuse(*args, **kwargs):
    raise SystemExit("ray.init was called: this check must be answered before Ray starts")

ray.init = refuse
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
# The same, with a `ray` package that cannot be imported first on the path.
NO_RAY_IMPORT = 'raise ImportError("this check must not import Ray")\n'


def run_job(
    script: str,
    *args: str,
    tmp_path: Path,
    env: dict[str, str] | None = None,
    guard: Literal["none", "start", "import"] = "start",
) -> Finished:
    """`python jobs/SCRIPT ARGS` from the repository root; `guard`: what of Ray ends the process."""
    extra = dict(env or {})
    command = [sys.executable, str(JOBS / script), *args]
    if guard == "start":
        command = [sys.executable, "-c", NO_RAY_START, str(JOBS / script), *args]
    if guard == "import":
        fake_ray = tmp_path / "no-ray" / "ray"
        fake_ray.mkdir(parents=True, exist_ok=True)
        (fake_ray / "__init__.py").write_text(NO_RAY_IMPORT)
        extra["PYTHONPATH"] = str(fake_ray.parent)
    completed = subprocess.run(
        command, cwd=REPO, env=environment(extra), capture_output=True, text=True, timeout=120, check=False
    )
    return Finished(completed.returncode, completed.stdout, completed.stderr, 0.0)


def load_job(script: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"job_{Path(script).stem}", JOBS / script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def locations(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "input").mkdir()
    (tmp_path / "lightly").mkdir()
    return str(tmp_path / "input"), str(tmp_path / "lightly")


def test_curate_help_lists_the_run_arguments(tmp_path: Path) -> None:
    finished = run_job("curate.py", "--help", tmp_path=tmp_path, guard="none")
    assert finished.code == 0, finished.err
    assert "jobs/curate.py takes the arguments of `lightly-ray run`" in finished.out
    for option in ("--input", "--lightly", "--config", "--address", "key.path=value"):
        assert option in finished.out


def test_validate_help_lists_the_validate_arguments(tmp_path: Path) -> None:
    finished = run_job("validate.py", "--help", tmp_path=tmp_path, guard="none")
    assert finished.code == 0, finished.err
    assert "--lightly" in finished.out and "config" in finished.out


def test_curate_answers_a_bad_config_before_ray(tmp_path: Path, locations: tuple[str, str]) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(VALID_CONFIG.replace("n_samples", "n_sample"))
    input_url, lightly_url = locations
    finished = run_job(
        "curate.py",
        "--config",
        str(config),
        "--input",
        input_url,
        "--lightly",
        lightly_url,
        tmp_path=tmp_path,
        guard="import",  # the answer comes before Ray (or torch) is even imported
    )
    finished.assert_clean_failure(2)
    assert f"1 configuration problem in {config}" in finished.err
    assert "selection_config.n_sample: unknown key; did you mean 'n_samples'?" in finished.err


def test_curate_refuses_a_ray_client_address_from_the_job_environment(
    tmp_path: Path, locations: tuple[str, str]
) -> None:
    # With RAY_ADDRESS set (as for a job's driver) the script adds no --address: the CLI reads
    # RAY_ADDRESS itself, and refuses a Ray Client address with its advice.
    config = tmp_path / "run.yaml"
    config.write_text(VALID_CONFIG)
    input_url, lightly_url = locations
    finished = run_job(
        "curate.py",
        "--config",
        str(config),
        "--input",
        input_url,
        "--lightly",
        lightly_url,
        tmp_path=tmp_path,
        env={"RAY_ADDRESS": "ray://head:10001"},
    )
    finished.assert_clean_failure(2)
    assert "RAY_ADDRESS 'ray://head:10001'" in finished.err
    assert "Submit the run as a Ray job instead" in finished.err


def test_run_job_sees_ray_start(tmp_path: Path) -> None:
    # The harness itself: a job that does start Ray is stopped and reported.
    script = tmp_path / "starts_ray.py"
    script.write_text("import ray\nray.init()\n")
    completed = subprocess.run(
        [sys.executable, "-c", NO_RAY_START, str(script)],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 1
    assert "ray.init was called" in completed.stderr


def test_curate_without_required_arguments_is_a_usage_error(tmp_path: Path) -> None:
    finished = run_job("curate.py", "--config", "run.yaml", tmp_path=tmp_path, guard="none")
    assert finished.code == 2
    assert "the following arguments are required: --input, --lightly" in finished.err


def test_validate_job_checks_a_config_like_the_cli(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(VALID_CONFIG)
    bad.write_text(VALID_CONFIG.replace("DIVERSITY", "DIVERSTY"))
    valid = run_job("validate.py", str(good), tmp_path=tmp_path, guard="none")
    assert (valid.code, valid.out.strip()) == (0, f"{good}: valid"), valid.err
    invalid = run_job("validate.py", str(bad), tmp_path=tmp_path, guard="none")
    invalid.assert_clean_failure(2)
    assert "DIVERSTY" in invalid.err


def test_run_arguments_join_the_local_cluster_without_ray_address(monkeypatch: pytest.MonkeyPatch) -> None:
    curate = load_job("curate.py")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert curate.run_arguments(["--input", "a"]) == ["run", "--address", "auto", "--input", "a"]
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    assert curate.run_arguments(["--input", "a"]) == ["run", "--input", "a"]


def test_an_explicit_address_wins_over_the_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The CLI's parser keeps an option's last value: the script's `--address auto` comes first.
    from lightly_ray import cli

    curate = load_job("curate.py")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    config = tmp_path / "run.yaml"
    config.write_text(VALID_CONFIG)
    given = ["--config", str(config), "--input", "i", "--lightly", "l", "--address", "ray://head:10001"]
    assert cli.main(curate.run_arguments(given)) == cli.EXIT_CONFIG
    assert "error: --address 'ray://head:10001'" in capsys.readouterr().err


def test_working_dir_upload_is_the_source_without_the_environment(tmp_path: Path) -> None:
    # What `ray job submit --working-dir .` uploads from a checkout: Ray's own packaging, which
    # follows .gitignore, so .venv (gigabytes of torch) and node_modules stay home.
    from ray._private.runtime_env.packaging import create_package

    package = tmp_path / "working_dir.zip"
    create_package(str(REPO), package, include_gitignore=True)
    with zipfile.ZipFile(package) as archive:
        names = archive.namelist()
    assert {"jobs/curate.py", "jobs/validate.py", "lightly_ray/cli.py", "pyproject.toml"} <= set(names)
    top_level = {name.split("/")[0] for name in names}
    assert not top_level & {".venv", "node_modules", "lightly-ray-demo", "__pycache__"}, sorted(top_level)
    assert package.stat().st_size < 64 * 1024 * 1024  # Ray refuses 512 MiB; a job uploads it every time
