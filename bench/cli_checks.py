"""How fast `lightly-ray run` answers a new user's mistakes, against a baseline checkout.

Every case runs the command as a separate process on a small generated dataset and records the
wall time, the exit code and whether a traceback was printed. Limits (issue: the command a user
meets first): config mistakes under 5 s, location mistakes under 10 s, a cluster address with
nothing (or something silent) behind it under 60 s, never a traceback.

    .venv/bin/python bench/cli_checks.py [--repeat 3] [--baseline-src /tmp/base]

`--baseline-src` is a checkout of an older version (`git worktree add /tmp/base <commit>`): each
case then also runs with that source first on PYTHONPATH, once, capped at --baseline-cap seconds.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.data.grouped_images import group_image  # noqa: E402
from tests.silent_server import silent_server  # noqa: E402

LIMITS = {"config": 5.0, "location": 10.0, "cluster": 60.0}


def _dataset(root: Path) -> dict[str, Path]:
    images = root / "images"
    images.mkdir()
    for member in range(40):
        (images / f"img_{member:02d}.png").write_bytes(group_image(member % 5, member))
    others = root / "others"
    others.mkdir()
    for name in ("a.txt", "b.csv", "clip.mp3"):
        (others / name).write_text("x")
    lightly = root / "lightly"
    (lightly / ".lightly" / "metadata").mkdir(parents=True)
    schema = [
        {"name": "T", "path": "weather.temperature", "defaultValue": 0.0, "valueDataType": "NUMERIC_FLOAT"}
    ]
    (lightly / ".lightly" / "metadata" / "schema.json").write_text(json.dumps(schema))
    good = root / "run.yaml"
    good.write_text(
        "selection_config:\n  n_samples: 5\n  strategies:\n"
        "    - input: {type: EMBEDDINGS}\n      strategy: {type: DIVERSITY}\n"
        "lightly_config:\n  model: {weights: random, out_dim: 32}\n  collate: {input_size: 32}\n"
    )
    typo = root / "typo.yaml"
    typo.write_text(
        good.read_text().replace(
            "strategies:\n",
            "strategies:\n"
            "    - input: {type: METADATA, key: lightly.sharpnes}\n      strategy: {type: WEIGHTS}\n",
            1,
        )
    )
    custom = root / "custom.yaml"
    custom.write_text(typo.read_text().replace("lightly.sharpnes", "weather.temprature"))
    broken = root / "broken.yaml"
    broken.write_text("selection_config: [1,\n")
    return {
        "images": images,
        "others": others,
        "lightly": lightly,
        "good": good,
        "typo": typo,
        "custom": custom,
        "broken": broken,
        "root": root,
    }


def _cases(data: dict[str, Path], silent: str) -> list[tuple[str, str, list[str]]]:
    out = str(data["root"] / "out")
    run = ["run", "--input", str(data["images"]), "--lightly", out, "--config", str(data["good"])]
    return [
        (
            "config",
            "misspelled lightly.* metadata key",
            ["run", "--input", str(data["images"]), "--lightly", out, "--config", str(data["typo"])],
        ),
        (
            "config",
            "config file missing",
            [
                "run",
                "--input",
                str(data["images"]),
                "--lightly",
                out,
                "--config",
                str(data["root"] / "nope.yaml"),
            ],
        ),
        (
            "config",
            "config file unparseable",
            ["run", "--input", str(data["images"]), "--lightly", out, "--config", str(data["broken"])],
        ),
        ("config", "misspelled override", [*run, "selection_config.n_sampels=3"]),
        ("config", "wrong type in override", [*run, "selection_config.n_samples=abc"]),
        (
            "config",
            "custom metadata key not in the schema",
            [
                "run",
                "--input",
                str(data["images"]),
                "--lightly",
                str(data["lightly"]),
                "--config",
                str(data["custom"]),
            ],
        ),
        (
            "location",
            "input missing",
            [
                "run",
                "--input",
                str(data["root"] / "missing"),
                "--lightly",
                out,
                "--config",
                str(data["good"]),
            ],
        ),
        (
            "location",
            "input is a file",
            ["run", "--input", str(data["good"]), "--lightly", out, "--config", str(data["good"])],
        ),
        (
            "location",
            "input without images",
            ["run", "--input", str(data["others"]), "--lightly", out, "--config", str(data["good"])],
        ),
        (
            "location",
            "lightly inside the input",
            [
                "run",
                "--input",
                str(data["images"]),
                "--lightly",
                str(data["images"] / "out"),
                "--config",
                str(data["good"]),
            ],
        ),
        (
            "location",
            "lightly not writable",
            [
                "run",
                "--input",
                str(data["images"]),
                "--lightly",
                "/proc/self/no-write",
                "--config",
                str(data["good"]),
            ],
        ),
        ("cluster", "malformed address", [*run, "--address", "foo bar"]),
        ("cluster", "nothing at HOST:PORT", [*run, "--address", "127.0.0.2:1"]),
        ("cluster", "ray:// (Ray Client) address", [*run, "--address", "ray://127.0.0.2:1"]),
        ("cluster", "silent server at HOST:PORT (default timeout)", [*run, "--address", silent]),
    ]


def _once(args: list[str], source: Path, cap: float) -> dict[str, Any]:
    env = {key: value for key, value in os.environ.items() if key not in ("RAY_ADDRESS", "LIGHTLY_RAY_DEBUG")}
    env["PYTHONPATH"] = str(source)
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "lightly_ray.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=cap,
            cwd=source,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {
            "seconds": round(time.monotonic() - started, 2),
            "exit": None,
            "timedOut": True,
            "traceback": False,
        }
    return {
        "seconds": round(time.monotonic() - started, 2),
        "exit": done.returncode,
        "timedOut": False,
        "traceback": "Traceback" in done.stderr,
        "message": done.stderr.strip().splitlines()[-1][:160] if done.stderr.strip() else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline-src", type=Path)
    parser.add_argument("--baseline-cap", type=float, default=100.0)
    options = parser.parse_args()
    results = []
    with silent_server() as silent, tempfile.TemporaryDirectory(prefix="cli-bench-") as folder:
        data = _dataset(Path(folder))
        for kind, name, args in _cases(data, silent):
            runs = [_once(args, REPO, 120.0) for _ in range(options.repeat)]
            seconds = [run["seconds"] for run in runs]
            entry: dict[str, Any] = {
                "kind": kind,
                "case": name,
                "limitSeconds": LIMITS[kind],
                "minSeconds": min(seconds),
                "medianSeconds": round(statistics.median(seconds), 2),
                "maxSeconds": max(seconds),
                "exitCodes": sorted({run["exit"] for run in runs}, key=str),
                "traceback": any(run["traceback"] for run in runs),
                "withinLimitEveryRun": all(
                    not run["timedOut"] and run["seconds"] < LIMITS[kind] for run in runs
                ),
                "message": runs[-1].get("message", ""),
            }
            if options.baseline_src is not None:
                entry["baseline"] = _once(args, options.baseline_src.resolve(), options.baseline_cap)
            print(json.dumps(entry), flush=True)
            results.append(entry)
    summary = {
        "cases": len(results),
        "allWithinLimit": all(entry["withinLimitEveryRun"] for entry in results),
        "anyTraceback": any(entry["traceback"] for entry in results),
        "results": results,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
