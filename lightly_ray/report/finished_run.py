"""A finished run, found from what a user types: a run folder's URL, or a lightly location.

`lightly-ray inspect` and `lightly-ray report` accept `.../.lightly/runs/<run id>` (a folder or
any storage URL), a finished run's folder copied anywhere else (it holds `_SUCCESS`), or the
lightly location itself, which means its latest finished run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from lightly_ray.errors import UsageError
from lightly_ray.outputs.run_folder import RUNS_PREFIX, SUCCESS_MARKER, RunFolder, finished_run_ids
from lightly_ray.report.document import REPORT_HTML, REPORT_JSON
from lightly_ray.report.summary_lines import (
    UNIT_CROPS,
    crops_text,
    input_problem_lines,
    input_text,
    selected_text,
    selection_unit,
    strategy_text,
)
from lightly_ray.storage import Location


@dataclass(frozen=True)
class FinishedRun:
    """A committed run folder and its report.json."""

    folder: RunFolder
    report: dict[str, Any]

    def summary(self) -> str:
        """What `lightly-ray inspect` prints: counts, selection, statistics and where things are.

        Selection counts are in the selection's unit (`selection.unit`: samples, crops, frames);
        datasetSizes count images and frames (labelled images on crops).
        """
        report = self.report
        sizes = report.get("datasetSizes", {})
        selection = report.get("selection", {})
        run = report.get("run", {})
        dataset = report.get("dataset") or {}
        unit = selection_unit(report)
        total = selection.get("nSelected", 0) + selection.get("nPreselected", 0)
        label = "images:     " if unit == UNIT_CROPS else "samples:    "
        lines = [
            f"Run {run.get('id', self.folder.run_id)}: {run.get('start', '')}, "
            f"{run.get('durationSeconds', 0.0):.1f}s from its start to its report",
            f"  input:      {run.get('input', '')}: {input_text(report)}",
            f"  {label}" + ", ".join(f"{key} {value}" for key, value in sizes.items() if key.startswith("n")),
        ]
        crops = crops_text(report)
        if crops is not None:
            lines.append(f"  crops:      {crops}")
        lines.append(
            f"  selected:   {total} of {selection.get('requested', '?')} requested {unit}: "
            f"{selected_text(report)} (stopped: {selection.get('stopReason', '?')})"
        )
        shortfall = selection.get("shortfall")
        if shortfall:
            lines.append(f"  why fewer:  {shortfall['message']}")
        for strategy in selection.get("strategies", []):
            lines.append(f"  strategies[{strategy['index']}]: {strategy_text(strategy)}")
        lines += input_problem_lines(report)
        statistics = report.get("embeddingStatistics") or {}
        if statistics:
            nearest = statistics["nearestNeighbour"]["sets"]
            cover = statistics["coverDistance"]["sets"]
            lines.append(
                "  spread:     median distance to the nearest other member: "
                + ", ".join(f"{which} {values['median']:.4g}" for which, values in nearest.items())
            )
            lines.append(
                "  coverage:   radius that covers the input: "
                + ", ".join(f"{which} {values['max']:.4g}" for which, values in cover.items())
            )
        training = report.get("training")
        if training:
            epochs = training.get("epochs") or []
            losses = [epoch["loss"] for epoch in epochs if epoch.get("loss") is not None]
            trend = f": loss {losses[0]:.4f} after the first, {losses[-1]:.4f} after the last" * bool(losses)
            earlier = " (by an earlier attempt of the run)" if training.get("earlierAttempt") else ""
            lines.append(
                f"  training:   {len(epochs)} epochs{earlier}{trend}; model in "
                f"{training.get('checkpoint', 'checkpoint.ckpt')}"
            )
        if dataset:
            lines.append(f"  dataset:    {dataset.get('name')} (tag {dataset.get('tag') or 'none'})")
        timings = report.get("stageTimings", {})
        lines.append(
            "  stages:     " + ", ".join(f"{stage} {seconds:.1f}s" for stage, seconds in timings.items())
        )
        lines.append(f"  report:     {self.folder.url}/{REPORT_HTML}")
        return "\n".join(lines)


def find_run(target: str, *, writable: bool = False) -> FinishedRun:
    """The finished run that `target` names.

    Args:
        target: A run folder (`<lightly location>/.lightly/runs/<run id>`, or such a folder
            copied elsewhere) or a lightly location (its latest finished run).
        writable: Whether the run folder will be written (`lightly-ray report`).

    Raises:
        UsageError: When there is no finished run there; the message lists the runs that are.
    """
    text = str(target).rstrip("/")
    marker = f"/{RUNS_PREFIX}/"
    if marker in text:
        root, run_id = text.split(marker, 1)
        location = Location(root or "/", writable=writable)
        if "/" in run_id:
            raise UsageError(f"{target} is not a run folder: expected .../{RUNS_PREFIX}/<run id>")
        folder = RunFolder(location, run_id)
        if not folder.is_finished():
            known = finished_run_ids(location)
            log = f"{folder.relative}/log.txt"
            why = f" (why it did not finish: {folder.url}/log.txt)" if location.exists(log) else ""
            latest = f"the latest 10 of {len(known)}: " if len(known) > 10 else ""
            raise UsageError(
                f"{target} is not a finished run (no _SUCCESS){why}; finished runs there: "
                + (latest + ", ".join(known[-10:]) if known else "none")
            )
    elif Location(text, writable=False).exists(SUCCESS_MARKER):  # a run folder moved out of .lightly/runs/
        parent, name = _parent_and_name(text)
        location = Location(parent, writable=writable)
        folder = RunFolder(location, name, relative=name)
    else:
        if "://" not in text and not os.path.isdir(text):
            raise UsageError(f"{target} does not exist: expected a run folder or a lightly location")
        location = Location(text, writable=writable)
        known = finished_run_ids(location)
        if not known:
            raise UsageError(
                f"{target} holds no finished run: neither it nor anything in {RUNS_PREFIX}/ "
                f"has a {SUCCESS_MARKER}"
            )
        folder = RunFolder(location, known[-1])
    try:
        report = json.loads(location.read_bytes(f"{folder.relative}/{REPORT_JSON}"))
    except FileNotFoundError:
        raise UsageError(f"{folder.url} has no {REPORT_JSON}") from None
    return FinishedRun(folder, report)


def _parent_and_name(text: str) -> tuple[str, str]:
    """The folder above a run folder, and the run folder's name in it."""
    if "://" not in text:
        path = os.path.abspath(text)
        return os.path.dirname(path), os.path.basename(path)
    scheme, _, rest = text.partition("://")
    parent, _, name = rest.rpartition("/")
    if not parent:  # a bucket's root: nothing above it to open
        raise UsageError(f"{text}: a run folder at a bucket's root cannot be opened; copy it into a folder")
    return f"{scheme}://{parent}", name


__all__ = ["FinishedRun", "find_run"]
