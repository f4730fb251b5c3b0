"""A dataset in the lightly location: its committed state, its samples and tags, and publishing a run.

Layout of `.lightly/datasets/<name>/` (docs/datasets.md):

    state.json                     the commit: every run, tag and file below that belongs to it
    samples/<run id>.parquet       the samples that run selected (embedding, metadata, run id)
    processed/<run id>.parquet     every sample that run processed (the datapool reuses these)
    files/<run id>.parquet         every input file that run processed: file, size, mtime_ns
    tags/<run id>/<tag>.txt        the tags that run wrote (its own, and initial-tag)

Every file but state.json is written once under a name no other run uses, and state.json is
replaced last, in one atomic write: a reader (and the next run) sees the dataset before a run
or after it, never half of it. Files of a run that died before its state.json are never
referenced, so they are never read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lightly_ray.crash_points import crash_point
from lightly_ray.datasets.names import INITIAL_TAG
from lightly_ray.errors import InputFormatError, LightlyRayError
from lightly_ray.outputs.run_folder import write_parquet_tables
from lightly_ray.storage import Location

DATASETS_PREFIX = ".lightly/datasets"
STATE_FILE = "state.json"
STATE_FORMAT = "lightly_ray.dataset/1"


class DatasetConflictError(LightlyRayError):
    """Another run changed the dataset while this one ran, or the run would overwrite what exists."""


@dataclass(frozen=True)
class RunRecord:
    """One run that published to the dataset.

    Attributes:
        run_id: The run's id (its run folder is `.lightly/runs/<run_id>/`).
        tag: The tag holding what the run selected ("" for a run that selected nothing and
            recorded only what it processed).
        finished: When the run was published (ISO 8601, UTC).
        input: The input location the run read.
        selected: How many samples it added.
        processed: How many samples it processed (decoded and embedded, or reused).
        embedding: What produced its embeddings (model, weights, sizes); runs reuse the
            processed rows of earlier runs only when this is equal.
    """

    run_id: str
    tag: str
    finished: str
    input: str
    selected: int
    processed: int
    embedding: dict[str, Any] = field(default_factory=dict)

    @property
    def samples_file(self) -> str:
        """The run's selected samples, relative to the dataset folder."""
        return f"samples/{self.run_id}.parquet"

    @property
    def processed_file(self) -> str:
        """Every sample the run processed, relative to the dataset folder."""
        return f"processed/{self.run_id}.parquet"

    @property
    def files_file(self) -> str:
        """Every input file the run processed, relative to the dataset folder."""
        return f"files/{self.run_id}.parquet"


@dataclass(frozen=True)
class DatasetState:
    """What state.json says: the runs in publication order and where each tag's file is.

    Attributes:
        name: The dataset's name.
        runs: Every published run, oldest first.
        tags: By tag name, its file relative to the dataset folder.
    """

    name: str
    runs: tuple[RunRecord, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def version(self) -> str | None:
        """The id of the last published run (None for a dataset without runs)."""
        return self.runs[-1].run_id if self.runs else None

    @property
    def sample_count(self) -> int:
        """How many samples the dataset holds."""
        return sum(run.selected for run in self.runs)

    def to_json(self) -> dict[str, Any]:
        """The state.json content."""
        return {
            "format": STATE_FORMAT,
            "name": self.name,
            "version": self.version,
            "nSamples": self.sample_count,
            "tags": dict(self.tags),
            "runs": [asdict(run) for run in self.runs],
        }


class Dataset:
    """One dataset of a lightly location (it need not exist yet).

    Args:
        location: The lightly location.
        name: The dataset's name (`datasets.names.check_name`).
    """

    def __init__(self, location: Location, name: str) -> None:
        self.location = location
        self.name = name
        self.folder = f"{DATASETS_PREFIX}/{name}"

    @property
    def url(self) -> str:
        """Where the dataset is, as the user named the lightly location."""
        return f"{self.location.url.rstrip('/')}/{self.folder}"

    def load(self) -> DatasetState:
        """The committed state (empty when the dataset does not exist yet).

        Raises:
            InputFormatError: When state.json is not a dataset state this version reads.
        """
        path = f"{self.folder}/{STATE_FILE}"
        try:
            raw = self.location.read_bytes(path)
        except FileNotFoundError:
            return DatasetState(name=self.name)
        try:
            content = json.loads(raw)
            if content.get("format") != STATE_FORMAT:
                raise ValueError(f"format is {content.get('format')!r}, expected {STATE_FORMAT!r}")
            runs = tuple(RunRecord(**run) for run in content["runs"])
            tags = {str(tag): str(file) for tag, file in content["tags"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise InputFormatError(
                f"dataset state '{path}' in '{self.location.url}' cannot be read: {error}"
            ) from None
        return DatasetState(name=self.name, runs=runs, tags=tags)

    def read_tag(self, state: DatasetState, tag: str) -> list[str]:
        """The sample names of a tag, in the order written (sorted).

        Raises:
            KeyError: When the dataset has no such tag (the message lists the tags it has).
        """
        if tag not in state.tags:
            known = ", ".join(sorted(state.tags)) or "none"
            raise KeyError(f"dataset '{self.name}' has no tag '{tag}' (its tags: {known})")
        text = self.location.read_bytes(f"{self.folder}/{state.tags[tag]}").decode("utf-8")
        return [line for line in text.splitlines() if line]

    def read_table(self, state: DatasetState, kind: str) -> pa.Table | None:
        """The rows of every published run, concatenated: kind is samples, processed or files.

        Returns:
            None when no run published any.
        """
        files = [getattr(run, f"{kind}_file") for run in state.runs]
        tables = [self.read_parquet(path) for path in files]
        tables = [table for table in tables if table.num_rows]
        if not tables:
            return None
        return pa.concat_tables(tables, promote_options="default")

    def publish(
        self,
        previous: DatasetState,
        record: RunRecord,
        *,
        selected: pa.Table,
        processed: pa.Table | Iterable[pa.Table],
        files: pa.Table,
    ) -> DatasetState:
        """Publish one run: write its files, then replace state.json.

        Args:
            previous: The state the run started from (`load()` before the run).
            record: The run.
            selected: The samples it adds (`name` first); their names go to its tag.
            processed: Every sample it processed: a table, or tables of one schema made one at
                a time (written as they come, never held together).
            files: Every input file it processed.

        Returns:
            The new state.

        Raises:
            DatasetConflictError: When the tag exists already, or another run published to the
                dataset since `previous` was read.
        """
        if record.tag and record.tag in previous.tags:
            raise DatasetConflictError(f"dataset '{self.name}' already has a tag '{record.tag}'")
        self._write_parquet(record.samples_file, selected)
        self._write_parquet(record.processed_file, processed)
        self._write_parquet(record.files_file, files)
        tags = dict(previous.tags)
        if record.tag:
            names = sorted(str(name) for name in selected.column("name").to_pylist())
            earlier = self.read_tag(previous, INITIAL_TAG) if INITIAL_TAG in previous.tags else []
            for tag, members in ((record.tag, names), (INITIAL_TAG, sorted({*earlier, *names}))):
                tags[tag] = f"tags/{record.run_id}/{tag}.txt"
                self._write_lines(tags[tag], members)
        state = DatasetState(name=self.name, runs=(*previous.runs, record), tags=tags)
        crash_point("publishing")
        current = self.load()
        if current.version != previous.version:
            raise DatasetConflictError(
                f"dataset '{self.name}' changed while this run ran (run {current.version} published "
                "to it): rerun to build on it"
            )
        text = json.dumps(state.to_json(), indent=2) + "\n"
        self.location.write_bytes(f"{self.folder}/{STATE_FILE}", text.encode("utf-8"))
        return state

    def read_parquet(self, path: str) -> pa.Table:
        """One Parquet file of the dataset (path relative to its folder).

        Read without Arrow's thread pool: a process that exits soon after a threaded read can
        abort in the pool's teardown (exit 134, "terminate called without an active exception";
        1 in 10 exits measured here with pyarrow 26, none in 20 without threads; apache/arrow
        issues 33975 and 34314), and a command such as `export` does exactly that.
        """
        data = self.location.read_bytes(f"{self.folder}/{path}")
        return pq.read_table(pa.BufferReader(data), use_threads=False)

    def _write_parquet(self, path: str, table: pa.Table | Iterable[pa.Table]) -> None:
        tables = [table] if isinstance(table, pa.Table) else table
        with self.location.open_atomic_output(f"{self.folder}/{path}") as stream:
            write_parquet_tables(stream, tables, path)

    def _write_lines(self, path: str, lines: Sequence[str]) -> None:
        text = "".join(f"{line}\n" for line in lines)
        self.location.write_bytes(f"{self.folder}/{path}", text.encode("utf-8"))
