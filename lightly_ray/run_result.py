"""What a finished run returns, and its one-screen summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lightly_ray.config import RunConfig
from lightly_ray.report.summary_lines import (
    UNIT_SAMPLES,
    crops_text,
    input_text,
    requested_text,
    selected_text,
    selection_unit,
    unit_count,
)


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
        """The result as `lightly-ray run --json` prints it.

        Args:
            duration_s: The command's wall time (`duration_s`); `run_duration_s` is the run's own,
                report.json's `run.durationSeconds`.
        """
        selection = self.report["selection"]
        return {
            "run_id": self.run_id,
            "run_folder": self.run_folder,
            "dataset": self.dataset,
            "tag": self.tag,
            "duration_s": round(duration_s, 3),
            "run_duration_s": self.report["run"]["durationSeconds"],
            "unit": selection_unit(self.report),
            "requested": selection["requested"],
            "stop_reason": selection["stopReason"],
            "shortfall": selection["shortfall"],
            "counts": self.counts,
            "selected": self.selected,
        }

    def summary(self, duration_s: float | None = None) -> str:
        """A one-screen summary of the run and where its outputs are.

        Selection counts are in the selection's unit (samples, crops with object level, frames
        of whole sequences); on crops, the input and the selected full images are counted as
        images.

        Args:
            duration_s: The whole command's wall time, shown beside the run's own duration
                (report.json's `run.durationSeconds`: from the run's start to its report).

        """
        report = self.report
        run_s = report["run"]["durationSeconds"]
        took = f"Run {self.run_id} finished in {run_s:.1f}s"
        if duration_s is not None:
            took = (
                f"Run {self.run_id} finished in {duration_s:.1f}s (the command; the run itself "
                f"{run_s:.1f}s, as in report.json)"
            )
        timings = ", ".join(
            f"{stage} {stage_seconds:.1f}s" for stage, stage_seconds in report["stageTimings"].items()
        )
        selection = report["selection"]
        lines = [took, f"  input:      {input_text(report)}"]
        crops = crops_text(report)
        if crops is not None:
            lines.append(f"  crops:      {crops}")
        lines += [
            f"  requested:  {requested_text(report)}",
            f"  selected:   {selected_text(report)} (stopped: {selection['stopReason']})",
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
        training = report.get("training")
        if training:
            epochs = training.get("epochs") or []
            loss = epochs[-1].get("loss") if epochs else None
            after = f", loss {loss:.4f} after the last" if loss is not None else ""
            file = training.get("checkpoint", "checkpoint.ckpt")
            lines.append(
                f"    trained model   {file} ({len(epochs)} epochs{after}; a later run embeds with it "
                "as worker_config.checkpoint)"
            )
        return "\n".join(lines)


__all__ = ["RunResult"]


def selection_line(
    picked: int, preselected: int, requested: int, unit: str = UNIT_SAMPLES, source: str = "the dataset"
) -> str:
    """What a run selected, for the terminal: "selected 5 samples beside the 10 preselected ...".

    Args:
        picked: What this run selected, in `unit`.
        preselected: What the selection started from (datapool): the dataset's samples, or with
            object level the crops dataset's crops.
        requested: What `n_samples` or `proportion_samples` asked for, preselected included.
        unit: What the counts count: samples, crops (object level) or frames (sequences).
        source: Where the preselected come from.
    """
    if not preselected:
        return f"selected {picked} of {requested} requested {unit}"
    if preselected >= requested:
        return (
            f"selected {unit_count(picked, unit)}: the {preselected} preselected from {source} "
            f"reach the {requested} requested already"
        )
    return (
        f"selected {unit_count(picked, unit)} beside the {preselected} preselected from "
        f"{source}: {picked + preselected} of {requested} requested"
    )
