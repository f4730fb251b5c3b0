"""The samples of a dataset's tag, with where each one's picture can be read.

A tag lists sample names; the dataset's samples tables (one per run) hold each sample's
embedding, Lightly metadata (width, height, ...), its video and frame, and the run that
selected it. That run's record names its input location; its config.json names the format of
the selected frames' images in `.lightly/frames/`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from lightly_ray.datasets.current_rows import current_samples
from lightly_ray.datasets.rows import embedding_matrix, rows_named
from lightly_ray.datasets.store import DATASETS_PREFIX, Dataset, DatasetState
from lightly_ray.errors import UsageError
from lightly_ray.outputs.frames import frame_image_path
from lightly_ray.outputs.run_folder import RunFolder
from lightly_ray.preflight.dataset import list_datasets
from lightly_ray.storage import Location

DEFAULT_FRAME_FORMAT = "png"


@dataclass(frozen=True)
class PictureSource:
    """Where one sample's picture is: a location (input or lightly) and a path in it."""

    location: Location
    path: str


@dataclass(frozen=True)
class TagSamples:
    """A tag's samples in the tag's order.

    Attributes:
        dataset: The dataset's name.
        tag: The tag.
        names: The sample names.
        rows: Their rows of the dataset's samples tables (same order as `names`).
        sources: Where each sample's picture is.
    """

    dataset: str
    tag: str
    names: list[str]
    rows: pa.Table
    sources: list[PictureSource]

    def embeddings(self) -> np.ndarray:
        """Shape (n, dim), float32, in the order of `names`."""
        return embedding_matrix(self.rows)

    def sizes(self) -> list[tuple[int, int]]:
        """(width, height) of each sample's image, as the run decoded it."""
        widths = self.rows.column("lightly_width").to_pylist()
        heights = self.rows.column("lightly_height").to_pylist()
        return [(int(width), int(height)) for width, height in zip(widths, heights, strict=True)]


def load_tag_samples(lightly: Location, dataset_name: str, tag: str) -> TagSamples:
    """Read a tag's samples and where their pictures are.

    Raises:
        UsageError: For a dataset or tag that does not exist (the message lists those that do).
    """
    dataset = Dataset(lightly, dataset_name)
    state = dataset.load()
    if not state.runs:
        known = ", ".join(list_datasets(lightly)) or "none"
        raise UsageError(f"no dataset '{dataset_name}' in {lightly.url} (datasets there: {known})")
    try:
        names = dataset.read_tag(state, tag)
    except KeyError as error:
        raise UsageError(str(error.args[0])) from None
    table = current_samples(dataset, state)
    if table is None:
        raise UsageError(f"dataset '{dataset_name}' holds no samples")
    rows = _in_order(rows_named(table, names), names)
    return TagSamples(dataset_name, tag, names, rows, _sources(lightly, state, rows, dataset_name))


def _in_order(rows: pa.Table, names: list[str]) -> pa.Table:
    position = {name: index for index, name in enumerate(rows.column("name").to_pylist())}
    missing = [name for name in names if name not in position]
    if missing:
        raise UsageError(f"the tag names {len(missing)} samples the dataset does not hold, e.g. {missing[0]}")
    return rows.take(pa.array([position[name] for name in names], pa.int64()))


def _sources(
    lightly: Location, state: DatasetState, rows: pa.Table, dataset_name: str
) -> list[PictureSource]:
    inputs: dict[str, Location] = {}
    formats: dict[str, str] = {}
    runs = {run.run_id: run for run in state.runs}
    sources = []
    # A crops dataset's samples keep their picture's path in the dataset (`picture`).
    pictures = (
        rows.column("picture").to_pylist() if "picture" in rows.column_names else [None] * rows.num_rows
    )
    for name, video, run_id, picture in zip(
        rows.column("name").to_pylist(),
        rows.column("video").to_pylist(),
        rows.column("run_id").to_pylist(),
        pictures,
        strict=True,
    ):
        if picture:
            sources.append(PictureSource(lightly, f"{DATASETS_PREFIX}/{dataset_name}/{picture}"))
            continue
        if video:
            if run_id not in formats:
                formats[run_id] = _frame_format(lightly, run_id)
            sources.append(PictureSource(lightly, frame_image_path(name, formats[run_id])))
            continue
        record = runs.get(run_id)
        if record is None:
            raise UsageError(f"sample {name} names run {run_id}, which the dataset does not record")
        if record.input not in inputs:
            inputs[record.input] = Location(record.input, writable=False)
        sources.append(PictureSource(inputs[record.input], name))
    return sources


def run_worker_config(lightly: Location, run_id: str) -> dict[str, Any] | None:
    """The `worker_config` a run's config.json holds; None when the run folder has no config.json."""
    folder = RunFolder(lightly, run_id)
    try:
        config: dict[str, Any] = json.loads(lightly.read_bytes(f"{folder.relative}/config.json"))
    except FileNotFoundError:
        return None
    worker: dict[str, Any] = config.get("worker_config") or {}
    return worker


def _frame_format(lightly: Location, run_id: str) -> str:
    worker = run_worker_config(lightly, run_id) or {}
    return str(worker.get("output_image_format") or DEFAULT_FRAME_FORMAT)


__all__ = ["PictureSource", "TagSamples", "load_tag_samples", "run_worker_config"]
