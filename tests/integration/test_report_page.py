"""report.html in a real browser, and `lightly-ray inspect` / `lightly-ray report` on a finished run.

One run over images and videos with custom metadata, a classification task, five strategies and
two epochs of training fills every section of the page. Headless Chromium (Debian's `chromium`
and `chromedriver`, driven by Selenium) opens the page from disk with the network switched off;
the test checks that every plot drew pixels, every picture decoded, the console holds no error
and nothing was requested but the file itself and `data:` URLs, and it saves a screenshot.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import lightly_ray
from lightly_ray.datasets import Dataset
from lightly_ray.storage import Location
from tests.cli_process import lightly_ray as lightly_ray_cli
from tests.data.grouped_images import FAST_MODEL, GROUPS, PER_GROUP, group_image
from tests.data.videos import make_video

pytestmark = pytest.mark.usefixtures("ray_instance")

SECTIONS = [
    "summary",
    "selection",
    "distances",
    "map",
    "examples",
    "metadata",
    "predictions",
    "strategies",
    "videos",
    "training",
    "timings",
]
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

_PLOTS_DRAWN = """
const plots = {};
for (const el of document.querySelectorAll('[data-plot]')) {
  let best = 0;
  const walk = (node) => {
    if (!node) return;
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.children || []) {
      if (child.tagName === 'CANVAS' && child.width > 0 && child.height > 0) {
        const data = child.getContext('2d').getImageData(0, 0, child.width, child.height).data;
        let inked = 0;
        for (let i = 0; i < data.length; i += 4) {
          if (data[i + 3] > 0 && (data[i] < 240 || data[i + 1] < 240 || data[i + 2] < 240)) inked++;
        }
        best = Math.max(best, inked);
      }
      walk(child);
    }
  };
  walk(el);
  plots[el.dataset.plot] = best;
}
return plots;
"""


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    root = tmp_path_factory.mktemp("page")
    bucket, lightly_folder = root / "input", root / "lightly"
    for group in range(GROUPS):
        for member in range(PER_GROUP):
            (bucket / f"group_{group}").mkdir(parents=True, exist_ok=True)
            (bucket / f"group_{group}" / f"img_{member}.png").write_bytes(group_image(group, member))
    codec = ("libx264", {"g": "10", "preset": "ultrafast"})
    for variant in (1, 2):
        make_video(bucket / f"clip{variant}.mp4", *codec, frames=20, variant=variant)
    lightly = Location(str(lightly_folder), writable=True)
    schema = [
        {"name": "T", "path": "temperature", "defaultValue": 0.0, "valueDataType": "NUMERIC_FLOAT"},
        {"name": "W", "path": "weather", "defaultValue": "dry", "valueDataType": "CATEGORICAL_STRING"},
    ]
    lightly.write_bytes(".lightly/metadata/schema.json", json.dumps(schema).encode())
    lightly.write_bytes(".lightly/predictions/tasks.json", b'["daytime"]')
    task_schema = {
        "task_type": "classification",
        "categories": [{"id": 0, "name": "day"}, {"id": 1, "name": "night"}],
    }
    lightly.write_bytes(".lightly/predictions/daytime/schema.json", json.dumps(task_schema).encode())
    for group in range(GROUPS):
        for member in range(PER_GROUP):
            name = f"group_{group}/img_{member}"
            metadata = {"temperature": float(group * 5 + member), "weather": "wet" if member < 2 else "dry"}
            sample = {"file_name": f"{name}.png", "type": "image", "metadata": metadata}
            lightly.write_bytes(f".lightly/metadata/{name}.json", json.dumps(sample).encode())
            day = 0.5 + 0.08 * (member - 2.5)
            prediction = {"category_id": int(day < 0.5), "probabilities": [day, 1 - day]}
            lightly.write_bytes(
                f".lightly/predictions/daytime/{name}.json",
                json.dumps({"file_name": f"{name}.png", "predictions": [prediction]}).encode(),
            )
    strategies = [
        {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}},
        {
            "input": {"type": "SCORES", "task": "daytime", "score": "uncertainty_margin"},
            "strategy": {"type": "WEIGHTS"},
        },
        {
            "input": {"type": "METADATA", "key": "weather"},
            "strategy": {"type": "BALANCE", "target": {"wet": 0.5, "dry": 0.5}},
        },
        {
            "input": {"type": "METADATA", "key": "lightly.sharpness"},
            "strategy": {"type": "THRESHOLD", "threshold": -1.0, "operation": "BIGGER"},
        },
        {
            "input": {"type": "PREDICTIONS", "task": "daytime", "name": "CLASS_DISTRIBUTION"},
            "strategy": {"type": "BALANCE", "target": {"day": 0.5, "night": 0.5}},
        },
    ]
    result = lightly_ray.run(
        bucket,
        lightly_folder,
        selection_config={"n_samples": 12, "strategies": strategies},
        worker_config={"enable_training": True},
        lightly_config={**FAST_MODEL, "trainer": {"max_epochs": 2}},
        show_progress=False,
    )
    yield result, Path(result.run_folder)


def test_report_json_describes_the_selection(finished_run: tuple[Any, Path]) -> None:
    result, folder = finished_run
    report = json.loads((folder / "report.json").read_text())
    assert report["datasetSizes"]["nSelected"] == 12
    metadata = report["metadataDistributions"]
    assert metadata["weather"]["kind"] == "categorical"
    assert sum(metadata["weather"]["counts"]["input"]) == GROUPS * PER_GROUP + 40  # frames get the default
    assert sum(metadata["weather"]["counts"]["selected"]) == 12
    assert metadata["temperature"]["kind"] == "numeric" and "lightly.sharpness" in metadata
    daytime = report["predictionDistributions"]["daytime"]
    assert sorted(daytime["categories"]["categories"]) == ["day", "night"]
    assert daytime["scoreOf"] == "highest probability"
    assert sum(daytime["categories"]["counts"]["input"]) == GROUPS * PER_GROUP
    assert set(report["strategyDistributions"]) == {"1", "2", "3", "4"}  # every strategy but DIVERSITY
    timelines = {timeline["video"]: timeline for timeline in report["videoTimelines"]}
    assert set(timelines) == {"clip1.mp4", "clip2.mp4"}
    selected_frames = sorted(name for name in result.selected if name.startswith("clip"))
    assert sum(len(timeline["selected"]) for timeline in timelines.values()) == len(selected_frames)
    assert all(timeline["frameCount"] == 20 for timeline in timelines.values())
    assert [epoch["epoch"] for epoch in report["training"]["epochs"]] == [1, 2]
    thumbnails = set(pq.read_table(folder / "thumbnails.parquet").column("name").to_pylist())
    for example in report["examples"]:
        assert {example["selected"], example["closestRemoved"]} <= thumbnails


def test_dataset_samples_keep_metadata_and_a_prediction_summary(finished_run: tuple[Any, Path]) -> None:
    result, folder = finished_run
    dataset = Dataset(Location(str(folder.parent.parent.parent), writable=False), result.dataset)
    samples = dataset.read_table(dataset.load(), "samples")
    assert samples is not None and sorted(samples.column("name").to_pylist()) == result.selected
    rows = {row["name"]: row for row in samples.select(["name", "metadata", "predictions"]).to_pylist()}
    for name, row in rows.items():
        metadata, predictions = json.loads(row["metadata"]), json.loads(row["predictions"])
        if name.startswith("clip"):  # frames: the schema's defaults, no predictions
            assert (metadata, predictions) == ({"temperature": 0.0, "weather": "dry"}, {})
            continue
        group, member = (int(part.split("_")[1].split(".")[0]) for part in name.split("/"))
        assert metadata == {
            "temperature": float(group * 5 + member),
            "weather": "wet" if member < 2 else "dry",
        }
        day = 0.5 + 0.08 * (member - 2.5)
        expected = {
            "n": 1,
            "categories": {"night" if day < 0.5 else "day": 1},
            "maxScore": round(max(day, 1 - day), 6),
        }
        assert predictions == {"daytime": expected}


@pytest.mark.skipif(
    (CHROMIUM is None or CHROMEDRIVER is None) and os.environ.get("CI") != "true",
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)
def test_report_page_renders_in_a_browser(finished_run: tuple[Any, Path], tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    _, folder = finished_run
    page = folder / "report.html"
    assert page.stat().st_size < 4_000_000
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or "chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,5200"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER or "chromedriver"), options=options)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        driver.get(page.as_uri())
        driver.implicitly_wait(0)
        for _ in range(50):
            if driver.execute_script(
                "return window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents[0].is_idle"
            ):
                break
            driver.execute_script("return new Promise(r => setTimeout(r, 100))")
        sections = driver.execute_script(
            "return Array.from(document.querySelectorAll('section'))"
            ".map(s => [s.id, s.querySelectorAll('.empty').length])"
        )
        assert sections == [[key, 0] for key in SECTIONS], "every section renders content, none is empty"
        drawn = driver.execute_script(_PLOTS_DRAWN)
        assert drawn and all(pixels > 200 for pixels in drawn.values()), drawn
        assert {"nearest", "cover", "map", "timeline", "loss", "timings"} <= set(drawn)
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])"
        )
        assert len(images) >= 4 and all(ok for _, ok in images), images
        errors = [
            entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR", "WARNING")
        ]
        assert errors == []
        requested = set()
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                requested.add(message["params"]["request"]["url"])
        assert {url.split(":", 1)[0] for url in requested} <= {"file", "data"}, requested
        screenshot = tmp_path / "report.png"
        driver.save_screenshot(str(screenshot))
        assert screenshot.stat().st_size > 10_000
        keep = os.environ.get("LIGHTLY_RAY_SCREENSHOTS")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(screenshot, Path(keep) / "report.png")
    finally:
        driver.quit()


def test_inspect_and_report_commands(finished_run: tuple[Any, Path], tmp_path: Path) -> None:
    result, folder = finished_run
    lightly_folder = folder.parent.parent.parent
    inspected = lightly_ray_cli("inspect", str(folder))
    assert inspected.code == 0, inspected.err
    assert f"Run {result.run_id}" in inspected.out
    assert "selected:   12 of 12 requested" in inspected.out
    assert "strategies[4]: BALANCE on PREDICTIONS daytime" in inspected.out
    assert f"{folder}/report.html" in inspected.out
    latest = lightly_ray_cli("inspect", str(lightly_folder), "--json")
    assert latest.code == 0 and json.loads(latest.out)["run"]["id"] == result.run_id

    page = folder / "report.html"
    before = page.read_text()
    page.unlink()
    rebuilt = lightly_ray_cli("report", str(folder))
    assert rebuilt.code == 0, rebuilt.err
    assert rebuilt.out.strip() == f"wrote {folder}/report.html"
    assert _without_ids(page.read_text()) == _without_ids(before)

    missing = lightly_ray_cli("inspect", str(lightly_folder / ".lightly" / "runs" / "20990101-000000-abcdef"))
    missing.assert_clean_failure(2)
    assert result.run_id in missing.err, "the message lists the finished runs"
    assert "why it did not finish" not in missing.err
    failed = lightly_folder / ".lightly" / "runs" / "20990101-000000-fa11ed"
    failed.mkdir()
    (failed / "log.txt").write_text("ERROR the run failed\n")
    unfinished = lightly_ray_cli("inspect", str(failed))
    unfinished.assert_clean_failure(2)
    assert f"(why it did not finish: {failed}/log.txt)" in unfinished.err
    shutil.rmtree(failed)  # the module's other tests see the finished runs only
    empty = lightly_ray_cli("inspect", str(folder.parent))  # the runs folder holds no .lightly/runs/
    empty.assert_clean_failure(2)
    nowhere = lightly_ray_cli("inspect", str(tmp_path / "nowhere"))
    nowhere.assert_clean_failure(2)
    assert "nowhere does not exist" in nowhere.err

    # A run folder copied out of .lightly/runs/ (an archive) is still a run folder.
    archived = tmp_path / "archive" / "last-run"
    shutil.copytree(folder, archived)
    (archived / "report.html").unlink()
    copied = lightly_ray_cli("inspect", str(archived))
    assert copied.code == 0 and f"Run {result.run_id}" in copied.out, copied.err
    assert f"{archived}/report.html" in copied.out
    rebuilt = lightly_ray_cli("report", str(archived))
    assert rebuilt.out.strip() == f"wrote {archived}/report.html", rebuilt.err
    assert _without_ids((archived / "report.html").read_text()) == _without_ids(before)


def _without_ids(page: str) -> str:
    """The page with Bokeh's random element and document ids blanked (they differ per drawing)."""
    import re

    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|p\d{4,}", "ID", page)
