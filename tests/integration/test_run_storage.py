"""The end-to-end run on every provider, with input and lightly locations on different ones."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import lightly_ray
from lightly_ray.outputs import finished_run_ids
from lightly_ray.storage import Location
from tests.data.grouped_images import FAST_MODEL, GROUPS, PER_GROUP
from tests.servers import AZURITE_KEY, PLANTED_SECRET

pytestmark = pytest.mark.usefixtures("ray_instance")

SELECTION = {
    "n_samples": GROUPS,
    "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
}


def _upload(source: Path, url: str) -> None:
    # The tests fill the input through a writable handle; the run opens it read-only.
    location = Location(url, writable=True)
    for path in sorted(source.rglob("*")):
        if path.is_file():
            location.write_bytes(path.relative_to(source).as_posix(), path.read_bytes())


def _digest(url: str) -> dict[str, str]:
    location = Location(url, writable=False)
    return {
        item.path: hashlib.sha256(location.read_bytes(item.path)).hexdigest()
        for item in location.list_files(include_hidden=True)
    }


def _assert_no_secret(texts: list[str], lightly_url: str) -> int:
    """No test credential in `texts` nor in any file of the lightly location; returns how many
    texts were searched."""
    lightly = Location(lightly_url, writable=False)
    texts = texts + [
        lightly.read_bytes(item.path).decode("utf-8", "replace")
        for item in lightly.list_files(include_hidden=True)
    ]
    for secret in (PLANTED_SECRET, AZURITE_KEY):
        leaks = [text[:200] for text in texts if secret in text]
        assert not leaks, f"a secret appeared in an output: {leaks}"
    return len(texts)


@pytest.mark.parametrize(
    ("input_scheme", "lightly_scheme"),
    # Every provider once as the input and once as the lightly location, each time beside
    # another. A pair on one provider takes no other path: the two locations are always in
    # different buckets, so the overlap check stops where it does for two providers
    # (`preflight.locations._same_store`), and each provider has one client per process.
    [("s3", "az"), ("az", "gs"), ("gs", "local"), ("local", "s3")],
)
def test_run_on_object_storage_with_no_secret_in_outputs_or_logs(
    input_scheme: str,
    lightly_scheme: str,
    grouped_input: Path,
    make_url: Callable[[str, str], str],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    input_url = make_url(input_scheme, "lr-input")
    lightly_url = make_url(lightly_scheme, "lr-lightly")
    _upload(grouped_input, input_url)
    before = _digest(input_url)
    caplog.set_level(logging.DEBUG)
    # With the progress bars a user sees: they are outputs too.
    result = lightly_ray.run(input_url, lightly_url, selection_config=SELECTION, lightly_config=FAST_MODEL)
    assert sorted(name.split("/")[0] for name in result.selected) == [f"group_{g}" for g in range(GROUPS)]
    assert result.counts["nCorrupt"] == 1 and result.counts["nDuplicate"] == 1
    assert _digest(input_url) == before, "the input location must never be written"

    lightly = Location(lightly_url, writable=False)
    assert finished_run_ids(lightly) == [result.run_id]
    folder = f".lightly/runs/{result.run_id}"
    assert lightly.read_bytes(f"{folder}/filenames/selected.txt").decode().splitlines() == result.selected
    table = pq.read_table(io.BytesIO(lightly.read_bytes(f"{folder}/embeddings.parquet")))
    assert table.num_rows == GROUPS * PER_GROUP
    report = json.loads(lightly.read_bytes(f"{folder}/report.json"))
    assert report["run"]["input"] == input_url
    assert result.run_folder == f"{lightly_url}/{folder}"

    captured = capfd.readouterr()
    texts = [captured.out, captured.err, caplog.text, result.summary(), json.dumps(result.report)]
    assert _assert_no_secret(texts, lightly_url) > 10, "the run's files are searched too"


def test_no_secret_in_the_error_of_a_run_that_cannot_read_its_input(
    make_url: Callable[[str, str], str],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    lightly_url = make_url("az", "lr-lightly")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(lightly_ray.errors.StorageError) as failed:
        lightly_ray.run(
            "s3://no-such-bucket-lr/x", lightly_url, selection_config=SELECTION, lightly_config=FAST_MODEL
        )
    captured = capfd.readouterr()
    _assert_no_secret([captured.out, captured.err, caplog.text, str(failed.value)], lightly_url)
