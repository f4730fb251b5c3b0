"""A run's report files: report.json, thumbnails.parquet and report.html in the run folder.

`write_report` is called once selection and the frames are written; `rebuild_html` makes
report.html again from a finished run folder alone (`lightly-ray report RUN`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lightly_ray.datasets.selection_pool import SelectionPool
from lightly_ray.outputs.run_folder import RunFolder
from lightly_ray.pipeline.units import IndexedVideos
from lightly_ray.report.analysis import analyse_selection
from lightly_ray.report.document import REPORT_HTML, REPORT_JSON
from lightly_ray.report.embedding_stats import selection_examples
from lightly_ray.report.html import render_report
from lightly_ray.report.projection import map_groups, map_rows
from lightly_ray.report.samples import FilesRead, ReportSamples
from lightly_ray.report.thumbnails import (
    THUMBNAILS_FILE,
    Wanted,
    collect_thumbnails,
    start_thumbnails,
    thumbnails_table,
)
from lightly_ray.selection.data import SelectionData
from lightly_ray.storage import Location

logger = logging.getLogger(__name__)

MAP_THUMBNAILS = 400
EARLIER_RUNS = 3


def report_samples(
    pool: SelectionPool, picked: np.ndarray, seed: int, processed_files: pa.ChunkedArray
) -> ReportSamples:
    """The report's view of a selection over `pool`.

    Args:
        pool: What selection saw.
        picked: This run's picks (indices into the pool), in pick order.
        seed: `lightly_config.seed`, for the random set.
        processed_files: The files this run read (images, videos): only those are read again
            for pictures.
    """
    return ReportSamples(
        names=pool.names,
        embeddings=pool.embeddings,
        picked=np.asarray(picked, dtype=np.int64),
        preselected=pool.preselected,
        videos=pool.videos,
        frame_indices=pool.frame_indices,
        seed=seed,
        read_here=FilesRead(processed_files),
    )


def wanted_pictures(
    report: Mapping[str, Any], samples: ReportSamples, *, readable_only: bool = True
) -> list[Wanted]:
    """The samples the page shows as pictures: the examples, then map points (selected first).

    At most `MAP_THUMBNAILS` map points get a picture; frames that are not selected only as
    examples (decoding a video segment per map point would cost more than the page is worth).
    A file this run did not read (`ReportSamples.read_here`) is not read for a picture either;
    a selected frame's image in `.lightly/frames/` is.
    """
    selected = samples.mask("selected")
    chosen: dict[str, Wanted] = {}
    from_input: dict[str, str] = {}  # name -> its input file, for those read from the input

    def want(name: str, frames_too: bool) -> None:
        row = samples.row_of(name)
        if row is None or name in chosen:
            return
        video = samples.videos[row]
        if video is not None and not selected[row] and not frames_too:
            return
        from_frames = video is not None and bool(selected[row])
        chosen[name] = Wanted(name, video, int(samples.frame_indices[row]), bool(selected[row]))
        if not from_frames:
            from_input[name] = video or name

    for example in report.get("examples") or []:
        want(example["selected"], True)
        want(example["closestRemoved"], True)
    points = (report.get("embeddingMap") or {}).get("points", [])
    ordered = sorted(points, key=lambda point: point["group"] == "removed")
    for point in ordered[:MAP_THUMBNAILS]:
        want(point["name"], False)
    if not readable_only or samples.read_here is None:
        return list(chosen.values())
    readable = samples.read_here.among(from_input.values())
    return [item for name, item in chosen.items() if name not in from_input or from_input[name] in readable]


def preload() -> None:
    """Import what the report needs: scikit-learn's t-SNE and Bokeh.

    About 1.5 s in a fresh process, which a run spends in a warm-up thread while its driver
    waits on the pipeline.
    """
    import importlib

    for module in ("bokeh.embed", "bokeh.plotting", "sklearn.decomposition", "sklearn.manifold"):
        importlib.import_module(module)


@dataclass(frozen=True)
class PictureSources:
    """Where the report's pictures are read from.

    Attributes:
        input_location: The input (read-only).
        lightly_location: The lightly location (selected frames' images, earlier run folders).
        videos: This run's indexed videos.
        listing: The run's listing (name, size): the sizes of the videos read, for ranged reads.
        frame_format: `worker_config.output_image_format`.
        earlier_runs: The dataset's runs, oldest first: their thumbnails serve samples whose
            files this run does not read (the datapool's).
    """

    input_location: Location
    lightly_location: Location
    videos: IndexedVideos | None
    listing: pa.Table
    frame_format: str
    earlier_runs: Sequence[str] = ()


class ReportInProgress:
    """The analysis in a thread of the driver and the thumbnails in threads, both under way.

    The map's points and the examples are chosen first (milliseconds), so that the pictures are
    read while the map and the statistics are computed, and the run writes its files meanwhile.
    numpy, scikit-learn, Pillow and PyAV release the GIL in their heavy loops.
    """

    def __init__(
        self,
        samples: ReportSamples,
        data: SelectionData,
        problem_parts: list[tuple[int, object]],
        frame_counts: Mapping[str, int],
        pictures: PictureSources,
    ) -> None:
        self.samples = samples
        self.pictures = pictures
        examples = selection_examples(samples)
        rows = map_rows(samples)
        self._planned = {
            "examples": examples,
            "embeddingMap": {
                "points": [
                    {"name": samples.names[int(row)], "group": group}
                    for row, group in zip(rows, map_groups(samples, rows), strict=True)
                ]
            },
        }
        self._wanted = wanted_pictures(self._planned, samples)
        # This run's selected frames are written to .lightly/frames/ after this starts: their
        # pictures are read once `result` is called, everything else now.
        picked = {samples.names[int(row)] for row in samples.picked}
        self._later = [item for item in self._wanted if item.video is not None and item.name in picked]
        now = [item for item in self._wanted if item.video is None or item.name not in picked]
        self._refs = self._start(now)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lightly-ray-report")
        self._analysis = executor.submit(
            analyse_selection, samples, data, problem_parts, frame_counts, examples=examples, rows=rows
        )
        executor.shutdown(wait=False)

    def _start(self, wanted: list[Wanted]) -> list[Any]:
        pictures = self.pictures
        return start_thumbnails(
            pictures.input_location,
            pictures.lightly_location,
            wanted,
            videos=pictures.videos,
            sizes=listed_sizes(pictures.listing, {item.video for item in wanted if item.video is not None}),
            frame_format=pictures.frame_format,
        )

    def result(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        """The report.json blocks and the thumbnails by name; raises what the analysis raised.

        Call it once the run's selected frames are written.
        """
        refs = self._refs + self._start(self._later)
        blocks = self._analysis.result()
        thumbnails = collect_thumbnails(refs, len(self._wanted))
        wanted = wanted_pictures(self._planned, self.samples, readable_only=False)
        missing = {item.name for item in wanted} - set(thumbnails)
        for run_id in list(self.pictures.earlier_runs)[::-1][:EARLIER_RUNS]:
            if not missing:
                break
            earlier = read_thumbnails(RunFolder(self.pictures.lightly_location, run_id), missing)
            thumbnails.update(earlier)
            missing -= set(earlier)
        return blocks, thumbnails


def listed_sizes(listing: pa.Table, files: set[str]) -> dict[str, int]:
    """The listed size of each of `files` (a few), from one pass over the listing's names."""
    if not files:
        return {}
    hits = pc.is_in(listing.column("name"), value_set=pa.array(sorted(files), pa.string()))
    found = listing.filter(hits)
    return dict(zip(found.column("name").to_pylist(), found.column("size").to_pylist(), strict=True))


def write_report(folder: RunFolder, report: Mapping[str, Any], thumbnails: Mapping[str, bytes]) -> None:
    """Write thumbnails.parquet, report.json and report.html (in that order) to the run folder.

    The page is drawn after report.json is written: should drawing fail, the run logs a
    warning and `lightly-ray report RUN` can draw it again from the folder; a finished
    selection is never lost to a plot.
    """
    folder.write_parquet(THUMBNAILS_FILE, thumbnails_table(thumbnails))
    folder.write_json(REPORT_JSON, report)
    try:
        folder.write_text(REPORT_HTML, render_report(report, thumbnails))
    except Exception:
        logger.warning("report.html could not be drawn (report.json is complete)", exc_info=True)


def rebuild_html(folder: RunFolder) -> str:
    """Draw report.html again from a run folder's report.json and thumbnails.parquet.

    Returns:
        Where the page was written.

    Raises:
        FileNotFoundError: When the folder has no report.json.
    """
    report = json.loads(folder.location.read_bytes(f"{folder.relative}/{REPORT_JSON}"))
    thumbnails = read_thumbnails(folder)
    folder.write_text(REPORT_HTML, render_report(report, thumbnails))
    return f"{folder.url}/{REPORT_HTML}"


def read_thumbnails(folder: RunFolder, names: set[str] | None = None) -> dict[str, bytes]:
    """The run's thumbnails by name, of `names` or all (none without a thumbnails.parquet)."""
    try:
        data = folder.location.read_bytes(f"{folder.relative}/{THUMBNAILS_FILE}")
    except FileNotFoundError:
        return {}
    table = pq.read_table(pa.BufferReader(data), use_threads=False)  # see Dataset.read_parquet
    found: Sequence[str] = table.column("name").to_pylist()
    return {
        name: jpeg
        for name, jpeg in zip(found, table.column("jpeg").to_pylist(), strict=True)
        if names is None or name in names
    }


__all__ = [
    "REPORT_HTML",
    "REPORT_JSON",
    "read_thumbnails",
    "rebuild_html",
    "report_samples",
    "PictureSources",
    "preload",
    "ReportInProgress",
    "wanted_pictures",
    "write_report",
]
