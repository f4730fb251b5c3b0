"""report.json's frame: run information, dataset sizes, selection, stage timings and throughput.

Keys follow the reference report's camelCase names. The statistics of the selection (embedding
distances, distributions, examples, the map, video timelines) come from `analysis.py` and are
added to the same document.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import importlib.util
import os
import platform
import re
from dataclasses import dataclass
from typing import Any

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"


@dataclass
class DatasetSizes:
    """Counts of a run, as in the reference report's datasetSizes."""

    n_input: int = 0
    n_corrupt: int = 0
    n_duplicate: int = 0
    n_selected: int = 0
    n_preselected_datapool: int = 0
    n_unchanged: int = 0
    n_corrupt_videos: int = 0
    n_selected_held: int = 0

    @property
    def n_candidates(self) -> int:
        """Samples that entered selection (unchanged ones were decoded only to embed them again)."""
        return self.n_input - self.n_corrupt - self.n_duplicate - self.n_unchanged

    def as_report(self) -> dict[str, int]:
        """The report's datasetSizes block.

        nRemoved counts the candidates that selection did not pick (corrupt files and
        duplicates are counted by nCorrupt and nDuplicate). nUnchangedDatapool counts samples of
        files an earlier datapool run processed, decoded again only because the embedding
        settings changed; they are not candidates. nCorruptVideos counts the video files that
        could not be opened: they have no frames, so no sample, and are listed with the corrupt
        samples in corruptness_check_information.json. nSelectedWithDatapool counts what the
        dataset holds after the run: the preselected and the selected samples, once each
        (`n_selected_held`: selected samples it held already, as an object-level run's image
        whose new crops are picked).
        """
        return {
            "nInput": self.n_input,
            "nCorrupt": self.n_corrupt,
            "nDuplicate": self.n_duplicate,
            "nRemoved": self.n_candidates - self.n_selected,
            "nSelected": self.n_selected,
            "nPreselectedDatapool": self.n_preselected_datapool,
            "nSelectedWithDatapool": self.n_selected + self.n_preselected_datapool - self.n_selected_held,
            "nUnchangedDatapool": self.n_unchanged,
            "nCorruptVideos": self.n_corrupt_videos,
        }


def build_report(
    *,
    run_id: str,
    started: dt.datetime,
    finished: dt.datetime,
    input_url: str,
    lightly_url: str,
    sizes: DatasetSizes,
    timings: dict[str, float],
    selection: dict[str, Any],
    embedding: dict[str, Any],
    inputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble report.json.

    Args:
        run_id: The run's id.
        started: Start time (UTC).
        finished: End time (UTC).
        input_url: The input location as given (no credentials are ever part of it).
        lightly_url: The lightly location as given.
        sizes: Counts of the run.
        timings: Seconds per stage.
        selection: The selection block: what was requested and selected, why fewer, and each
            strategy in config order (`selection.explain.SelectionExplanation.report`).
        embedding: Where the embeddings came from (model and weights, or the CSV).
        inputs: What was read from `.lightly/` (predictions, metadata) and its problems.

    Returns:
        A JSON-serialisable dict.

    """
    return {
        "run": {
            "id": run_id,
            "start": started.isoformat(),
            "end": finished.isoformat(),
            "durationSeconds": round((finished - started).total_seconds(), 3),
            "versions": software_versions(),
            "input": input_url,
            "lightly": lightly_url,
        },
        "datasetSizes": sizes.as_report(),
        "embedding": embedding,
        "inputs": inputs or {},
        "selection": selection,
        "stageTimings": dict(timings),
        "throughput": throughput(sizes, timings, (finished - started).total_seconds()),
    }


def throughput(sizes: DatasetSizes, timings: dict[str, float], duration_s: float) -> dict[str, float]:
    """Samples per second over the whole run and through the embedding stage."""
    rates = {"samplesPerSecond": round(sizes.n_input / duration_s, 2) if duration_s > 0 else 0.0}
    embed = timings.get("embed", 0.0)
    if embed > 0:
        rates["embedSamplesPerSecond"] = round(sizes.n_input / embed, 2)
    return rates


def software_versions() -> dict[str, str]:
    """Versions of lightly_ray and the libraries that shape its results."""
    import numpy
    import ray

    from lightly_ray import __version__

    return {
        "lightly_ray": __version__,
        "python": platform.python_version(),
        "ray": ray.__version__,
        "torch": installed_version("torch"),
        "torchvision": installed_version("torchvision"),
        "numpy": numpy.__version__,
    }


def installed_version(package: str) -> str:
    """A package's version with its build tag (e.g. `2.14.1+cu130`), without importing the package.

    The driver does not import torch (`models.weights`); the package's `version.py`, which
    torch and torchvision write at build time, holds the full version, the installed metadata the
    rest of it.
    """
    spec = importlib.util.find_spec(package)  # finds the package without running it
    if spec is not None and spec.origin is not None:
        path = os.path.join(os.path.dirname(spec.origin), "version.py")
        with contextlib.suppress(OSError):
            with open(path, encoding="utf-8") as handle:
                found = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", handle.read(), re.MULTILINE)
            if found:
                return found.group(1)
    return importlib.metadata.version(package)
