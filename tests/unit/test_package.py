"""The package's top-level names: imported on first use, and `lightly_ray.run` stays the function."""

from __future__ import annotations

import subprocess
import sys


def _in_a_new_interpreter(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_run_is_the_function_also_after_its_module_was_imported_by_name() -> None:
    printed = _in_a_new_interpreter(
        "import importlib, types\n"
        "from lightly_ray.run import RunResult\n"  # binds the submodule to the package's `run`
        "import lightly_ray\n"
        "module = importlib.import_module('lightly_ray.run')\n"
        "print(isinstance(lightly_ray.run, types.FunctionType), lightly_ray.run is module.run,\n"
        "      lightly_ray.RunResult is RunResult, isinstance(lightly_ray.config, types.ModuleType))\n"
    )
    assert printed == "True True True True"


def test_importing_the_package_loads_neither_ray_nor_pydantic() -> None:
    printed = _in_a_new_interpreter(
        "import sys, lightly_ray\nprint(sorted({'ray', 'pydantic', 'torch'} & set(sys.modules)))"
    )
    assert printed == "[]"
