"""What a finished run returns, and its one-screen summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lightly_ray.config import RunConfig


@dataclass(frozen=True)
class RunResult:
    """What a finished run produced.

    Attributes:
        run_id: The run's id.
        run_folder: URL of the committed run folder in the lightly location.
        selected: Names of the selected samples, sorted.
        counts: The report's datasetSizes (nInput, nCorrupt, nDuplicate, nSelected, ...).
        report: The full report.json content.
        config: The validated configuration the run used.
        dataset: The dataset the run published to (`.lightly/datasets/<dataset>/`).
        tag: The tag holding what it selected (empty when it selected nothing and published
            no tag).

    """

    run_id: str
    run_folder: str
    selected: list[str]
    counts: dict[str, int]
    report: dict[str, Any]
    config: RunConfig
    dataset: str = ""
    tag: str = ""

    def document(self, duration_s: float) -> dict[str, Any]:
        """The result as `lightly-ray run --json` prints it (`duration_s`: the command's wall time)."""
        selection = self.report["selection"]
        return {
            "run_id": self.run_id,
            "run_folder": self.run_folder,
            "dataset": self.dataset,
            "tag": self.tag,
            "duration_s": round(duration_s, 3),
            "requested": selection["requested"],
            "stop_reason": selection["stopReason"],
            "shortfall": selection["shortfall"],
            "counts": self.counts,
            "selected": self.selected,
        }

    def summary(self, duration_s: float | None = None) -> str:
        """A one-screen summary of the run and where its outputs are.

        Args:
            duration_s: The whole command's wall time; default the run's own duration.

        """
        counts = self.counts
        candidates = counts["nInput"] - counts["nCorrupt"] - counts["nDuplicate"]
        seconds = self.report["run"]["durationSeconds"] if duration_s is None else duration_s
        timings = ", ".join(
            f"{stage} {stage_seconds:.1f}s" for stage, stage_seconds in self.report["stageTimings"].items()
        )
        selection = self.report["selection"]
        lines = [
            f"Run {self.run_id} finished in {seconds:.1f}s",
            f"  input:      {counts['nInput']} samples ({counts['nCorrupt']} corrupt, "
            f"{counts['nDuplicate']} exact duplicates)" + _unreadable_videos(counts.get("nCorruptVideos", 0)),
            f"  requested:  {selection['requested']}",
            f"  selected:   {counts['nSelected']} of {candidates} candidates "
            f"(stopped: {selection['stopReason']})",
        ]
        if selection["shortfall"] is not None:
            lines.append(f"  why fewer:  {selection['shortfall']['message']}")
        lines += [
            f"  stages:     {timings}",
            f"  dataset:    {self.dataset} "
            + (f"(tag {self.tag}; initial-tag holds all its samples)" if self.tag else "(unchanged)"),
            f"  run folder: {self.run_folder}",
            "    selected names  filenames/selected.txt",
            "    pick order      selection.csv, selection.parquet (each strategy's value per pick)",
            "    embeddings      embeddings.parquet",
            "    report          report.html (open in a browser), report.json",
            "    corrupt files   corruptness_check_information.json",
        ]
        return "\n".join(lines)


def _unreadable_videos(count: int) -> str:
    """The summary's note on the video files that could not be opened (they have no samples)."""
    if not count:
        return ""
    return f"; {count} video{'' if count == 1 else 's'} cannot be read, see corrupt files below"


__all__ = ["RunResult"]


def selection_line(picked: int, preselected: int, requested: int, on_crops: bool) -> str:
    """What a run selected, for the terminal: "selected 5 samples beside the 10 preselected ...".

    Args:
        picked: What this run selected (crops with object level on crops).
        preselected: The dataset's samples the selection started from (datapool).
        requested: What `n_samples` or `proportion_samples` asked for, preselected included.
        on_crops: Selection ran over object crops.
    """
    what = "crops" if on_crops else "samples"
    if not preselected:
        return f"selected {picked} of {requested} requested {what}"
    return (
        f"selected {picked} {what} beside the {preselected} preselected from the dataset: "
        f"{picked + preselected} of {requested} requested"
    )
