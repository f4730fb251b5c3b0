"""`lightly-ray export`: read URLs that really read (S3, GCS, Azure, local), Label Studio tasks that
Label Studio's own SDK accepts, and the embeddings CSV, all from a dataset's tag."""

from __future__ import annotations

import csv
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import jsonschema
import numpy as np
import pytest

import lightly_ray
from lightly_ray.formats.embeddings_csv import parse_embeddings_csv
from lightly_ray.storage import Location
from tests.cli_process import lightly_ray as lightly_ray_cli
from tests.data.grouped_images import FAST_MODEL, GROUPS, PER_GROUP, group_image
from tests.data.label_studio import TASKS_SCHEMA, check_against_config
from tests.data.videos import make_video

pytestmark = pytest.mark.usefixtures("ray_instance")

SELECTION = {
    "n_samples": 6,
    "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
}


def _images(location: Location) -> None:
    for group in range(GROUPS):
        for member in range(PER_GROUP):
            location.write_bytes(f"group_{group}/img_{member}.png", group_image(group, member))


def _signing_key(folder: Path) -> Path:
    """A service-account key made here: GCS signs V4 URLs locally with its private key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "lightly-ray-test",
        "private_key_id": "test-key",
        "private_key": pem,
        "client_email": "exporter@lightly-ray-test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path = folder / "signer.json"
    path.write_text(json.dumps(info))
    return path


@pytest.mark.parametrize("scheme", ["s3", "gs", "az"])
def test_read_urls_read_the_selected_files_without_credentials(
    scheme: str, make_url: Callable[[str, str], str], tmp_path: Path
) -> None:
    input_url = make_url(scheme, "lr-input")
    _images(Location(input_url, writable=True))
    lightly = tmp_path / "lightly"
    result = lightly_ray.run(
        input_url, lightly, selection_config=SELECTION, lightly_config=FAST_MODEL, show_progress=False
    )
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(_signing_key(tmp_path))}
    output = tmp_path / "urls.csv"
    exported = lightly_ray_cli(
        "export", "--lightly", str(lightly), "--dataset", result.dataset, "--tag", result.tag,
        "--format", "urls", "--expires", "2h", "--output", str(output), env=env,
    )  # fmt: skip
    assert exported.code == 0, exported.err
    assert f"exported read URLs of 6 samples of tag '{result.tag}'" in exported.err
    rows = list(csv.DictReader(output.open()))
    assert [row["filename"] for row in rows] == result.selected
    expiry = {"s3": "X-Amz-Expires=7200", "gs": "X-Goog-Expires=7200", "az": "sp=r&"}[scheme]
    source = Location(input_url, writable=False)
    for row in rows:
        assert expiry in row["url"] and row["url"].startswith("http://127.0.0.1:")
        with urllib.request.urlopen(row["url"], timeout=30) as response:  # no credentials sent
            assert response.read() == source.read_bytes(row["filename"])
    if scheme == "az":  # Azurite checks the signature: a changed one is refused
        tampered = rows[0]["url"].replace("sig=", "sig=A")
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(tampered, timeout=30)


@pytest.fixture(scope="module")
def run_with_predictions(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, lightly_ray.RunResult]:
    """A run over the images and a video, with classification, detection and segmentation
    predictions: its input folder, its lightly folder and its result."""
    root = tmp_path_factory.mktemp("predictions")
    bucket, lightly_folder = root / "input", root / "lightly"
    _images(Location(str(bucket), writable=True))
    make_video(bucket / "clip.mp4", "libx264", {"g": "10", "preset": "ultrafast"}, frames=12, variant=3)
    lightly = Location(str(lightly_folder), writable=True)
    lightly.write_bytes(".lightly/predictions/tasks.json", b'["weather", "objects", "stuff"]')
    schemas = {
        "weather": ("classification", [{"id": 0, "name": "sun"}, {"id": 1, "name": "rain"}]),
        "objects": ("object-detection", [{"id": 3, "name": "car"}, {"id": 5, "name": "person"}]),
        "stuff": ("semantic-segmentation", [{"id": 0, "name": "road"}]),
    }
    for task, (task_type, categories) in schemas.items():
        schema = {"task_type": task_type, "categories": categories}
        lightly.write_bytes(f".lightly/predictions/{task}/schema.json", json.dumps(schema).encode())
    for group in range(GROUPS):
        for member in range(PER_GROUP):
            name = f"group_{group}/img_{member}"
            weather = {"category_id": 1, "probabilities": [0.2, 0.8]}
            box = {"category_id": 5, "bbox": [8, 4, 16, 12], "score": 0.75}  # images are 48 x 48
            for task, prediction in (("weather", weather), ("objects", box)):
                content = {"file_name": f"{name}.png", "predictions": [prediction]}
                lightly.write_bytes(f".lightly/predictions/{task}/{name}.json", json.dumps(content).encode())
    result = lightly_ray.run(
        bucket,
        lightly_folder,
        selection_config={**SELECTION, "n_samples": 10},
        lightly_config=FAST_MODEL,
        show_progress=False,
    )
    return bucket, lightly_folder, result


def test_label_studio_tasks_and_embeddings_csv(
    run_with_predictions: tuple[Path, Path, lightly_ray.RunResult], tmp_path: Path
) -> None:
    bucket, lightly_folder, result = run_with_predictions
    frames = [name for name in result.selected if name.startswith("clip")]
    assert frames, "the export covers selected video frames too"

    output = tmp_path / "tasks.json"
    exported = lightly_ray_cli(
        "export", "--lightly", str(lightly_folder), "--dataset", result.dataset,
        "--format", "label-studio", "--output", str(output),
    )  # fmt: skip
    assert exported.code == 0, exported.err
    assert "10 samples of tag 'initial-tag'" in exported.err and "stuff (0 samples)" in exported.err
    tasks = json.loads(output.read_text())
    config = (tmp_path / "tasks.label_config.xml").read_text()
    assert [task["data"]["name"] for task in tasks] == result.selected
    by_name = {task["data"]["name"]: task for task in tasks}
    for frame in frames:
        path = Path(by_name[frame]["data"]["image"])
        assert path == lightly_folder / ".lightly" / "frames" / frame and path.is_file()
        assert "predictions" not in by_name[frame]
    image = next(name for name in result.selected if name.startswith("group_"))
    assert Path(by_name[image]["data"]["image"]).read_bytes() == (bucket / image).read_bytes()
    (entry,) = by_name[image]["predictions"]  # one prediction with the regions of both tasks
    assert entry["model_version"] == "objects+weather"
    (weather,) = [region for region in entry["result"] if region["from_name"] == "weather"]
    assert weather["value"] == {"choices": ["rain"]} and weather["score"] == 0.8
    box = next(region for region in entry["result"] if region["from_name"] == "objects")
    assert box["value"] == {
        "x": 16.6667,
        "y": 8.3333,
        "width": 33.3333,
        "height": 25.0,
        "rotation": 0,
        "rectanglelabels": ["person"],
    }
    assert (box["original_width"], box["original_height"], box["score"]) == (48, 48, 0.75)

    jsonschema.validate(tasks, TASKS_SCHEMA)
    assert check_against_config(tasks, config) == []
    wrong = {**entry, "result": [{**box, "value": {**box["value"], "rectanglelabels": ["tree"]}}]}
    assert check_against_config([{"id": 0, "data": {"image": "x"}, "predictions": [wrong]}], config), (
        "can fail"
    )
    outside = {**box, "value": {**box["value"], "x": 120.0}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([{"data": {"image": "x"}, "predictions": [{"result": [outside]}]}], TASKS_SCHEMA)

    csv_out = lightly_ray_cli(
        "export", "--lightly", str(lightly_folder), "--dataset", result.dataset, "--format", "embeddings"
    )
    assert csv_out.code == 0, csv_out.err
    parsed = parse_embeddings_csv(csv_out.out.encode(), "stdout")
    assert parsed.filenames == result.selected
    run_embeddings = {
        name: vector
        for name, vector in zip(*_embeddings(Path(result.run_folder) / "embeddings.parquet"), strict=True)
    }
    np.testing.assert_allclose(
        parsed.embeddings, np.stack([run_embeddings[name] for name in parsed.filenames]), rtol=1e-6
    )


def test_export_mistakes_say_what_exists(
    run_with_predictions: tuple[Path, Path, lightly_ray.RunResult],
) -> None:
    _, lightly_folder, result = run_with_predictions
    base = ("export", "--lightly", str(lightly_folder), "--format", "urls")
    no_dataset = lightly_ray_cli(*base, "--dataset", "nope")
    no_dataset.assert_clean_failure(2)
    assert f"datasets there: {result.dataset}" in no_dataset.err
    no_tag = lightly_ray_cli(*base, "--dataset", result.dataset, "--tag", "nope")
    no_tag.assert_clean_failure(2)
    assert "initial-tag" in no_tag.err and result.tag in no_tag.err
    too_long = lightly_ray_cli(*base, "--dataset", result.dataset, "--expires", "8d")
    too_long.assert_clean_failure(2)
    assert "7 days" in too_long.err


def _embeddings(path: Path) -> tuple[list[str], np.ndarray]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return table.column("name").to_pylist(), np.stack(
        table.column("embedding").to_numpy(zero_copy_only=False)
    )
