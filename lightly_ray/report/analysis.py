"""Everything report.json says about the selection beyond its counts, from the finished selection.

`analyse_selection` runs on the driver after selection and returns the blocks that
`document.build_report` adds to report.json: embedding statistics, the 2-D map, examples,
metadata, prediction and per-strategy distributions, and the per-video timelines. Each block
bounds its work (see its module), so the analysis takes seconds at millions of samples.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from lightly_ray.report.distributions import (
    metadata_distributions,
    prediction_distributions,
    strategy_distributions,
)
from lightly_ray.report.embedding_stats import embedding_statistics, selection_examples
from lightly_ray.report.projection import embedding_map
from lightly_ray.report.samples import ReportSamples
from lightly_ray.selection.data import SelectionData

TIMELINE_VIDEOS = 100


def analyse_selection(
    samples: ReportSamples,
    data: SelectionData,
    problem_parts: list[tuple[int, object]],
    frame_counts: Mapping[str, int],
    *,
    examples: list[dict[str, Any]] | None = None,
    rows: np.ndarray | None = None,
) -> dict[str, Any]:
    """The report.json blocks that describe the selection.

    Args:
        samples: The pool and what was picked.
        data: What selection read (metadata, predictions, computed metadata), aligned with the pool.
        problem_parts: (strategy index, threshold filter or objective) per config strategy.
        frame_counts: Frames per video of the run.
        examples: The examples, when already chosen (`selection_examples`).
        rows: The map's rows, when already chosen (`projection.map_rows`).

    Returns:
        `embeddingStatistics`, `embeddingMap`, `examples`, `metadataDistributions`,
        `predictionDistributions`, `strategyDistributions`, `videoTimelines` and
        `analysisSeconds` (what each block took).
    """
    seconds: dict[str, float] = {}
    blocks: dict[str, Any] = {}
    steps: dict[str, Callable[[], Any]] = {
        "embeddingStatistics": lambda: embedding_statistics(samples),
        "embeddingMap": lambda: embedding_map(samples, rows=rows),
        "examples": lambda: selection_examples(samples) if examples is None else examples,
        "metadataDistributions": lambda: metadata_distributions(samples, data),
        "predictionDistributions": lambda: prediction_distributions(samples, data),
        "strategyDistributions": lambda: strategy_distributions(samples, problem_parts),
        "videoTimelines": lambda: video_timelines(samples, frame_counts),
    }
    for key, step in steps.items():
        started = time.perf_counter()
        blocks[key] = step()
        seconds[key] = round(time.perf_counter() - started, 3)
    blocks["analysisSeconds"] = seconds
    return blocks


def video_timelines(
    samples: ReportSamples, frame_counts: Mapping[str, int], limit: int = TIMELINE_VIDEOS
) -> list[dict[str, Any]]:
    """Per video, which frames are selected: the videos with the most selected frames first.

    Videos of this run without a selected frame are listed too (after the others).

    Returns:
        Up to `limit` entries `{"video", "frameCount", "selected": [frame indices],
        "preselected": [...]}`; empty for a run without videos.
    """
    picked = np.zeros(len(samples), dtype=bool)
    picked[np.asarray(samples.picked, dtype=np.int64)] = True
    preselected = np.zeros(len(samples), dtype=bool)
    preselected[np.asarray(samples.preselected, dtype=np.int64)] = True
    chosen: dict[str, list[int]] = defaultdict(list)
    earlier: dict[str, list[int]] = defaultdict(list)
    highest: dict[str, int] = defaultdict(int)
    for row in np.flatnonzero(picked | preselected):
        video = samples.videos[int(row)]
        if video is None:
            continue
        frame = int(samples.frame_indices[row])
        (chosen if picked[row] else earlier)[video].append(frame)
        highest[video] = max(highest[video], frame + 1)
    videos = sorted(
        set(chosen) | set(earlier) | set(frame_counts), key=lambda video: (-len(chosen[video]), video)
    )
    return [
        {
            "video": video,
            "frameCount": int(frame_counts.get(video, highest[video])),
            "selected": sorted(chosen[video]),
            "preselected": sorted(earlier[video]),
        }
        for video in videos[:limit]
    ]


__all__ = ["analyse_selection", "video_timelines"]
