"""The words of a run's counts, shared by the terminal summary, `lightly-ray inspect` and report.html.

Each count names what it counts. Selection counts (requested, candidates, selected,
preselected) are in report.json's `selection.unit`: samples (images and frames), crops (object
level) or frames (whole sequences with `selected_sequence_length`); datasetSizes count images
and frames, so on crops the images of the selected crops are named as images.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

UNIT_SAMPLES, UNIT_CROPS, UNIT_FRAMES = "samples", "crops", "frames"
_SINGULAR = {UNIT_SAMPLES: "sample", UNIT_CROPS: "crop", UNIT_FRAMES: "frame"}


def count(number: int, noun: str, plural: str | None = None) -> str:
    """`number` with its noun in the right number: "1 exact duplicate", "2 exact duplicates"."""
    return f"{number} {noun if number == 1 else (plural or f'{noun}s')}"


def selection_unit(report: Mapping[str, Any]) -> str:
    """What the selection counts: `samples`, `crops` or `frames` (older reports: from their blocks)."""
    unit = report.get("selection", {}).get("unit")
    if unit:
        return str(unit)
    return UNIT_CROPS if "objectLevel" in report else UNIT_SAMPLES


def unit_count(number: int, unit: str) -> str:
    """`number` of the selection's unit: "1 crop", "10 samples"."""
    return count(number, _SINGULAR.get(unit, unit), unit)


def input_text(report: Mapping[str, Any]) -> str:
    """The input's samples: "68 images (0 corrupt, 1 exact duplicate); 1 video cannot be read ..."."""
    sizes = report.get("datasetSizes", {})
    noun = ("image", "images") if selection_unit(report) == UNIT_CROPS else ("sample", "samples")
    text = (
        f"{count(sizes.get('nInput', 0), *noun)} ({sizes.get('nCorrupt', 0)} corrupt, "
        f"{count(sizes.get('nDuplicate', 0), 'exact duplicate')})"
    )
    videos = sizes.get("nCorruptVideos", 0)
    if videos:
        text += f"; {count(videos, 'video')} cannot be read, see corrupt files below"
    return text


def selected_text(report: Mapping[str, Any]) -> str:
    """What selection picked, of what: "10 of 27 candidate crops, from 9 images".

    New picks of new candidates; with the datapool, the preselected samples (or crops) beside
    them; on crops, the images of the picked crops; in sequence mode, the frames of complete
    sequences (an image or a trailing frame cannot be picked).
    """
    selection = report.get("selection", {})
    unit = selection_unit(report)
    picked = int(selection.get("nSelected", 0))
    preselected = int(selection.get("nPreselected", 0))
    candidates = int(selection.get("nCandidates", 0)) - preselected
    sequences = selection.get("sequences")
    if unit == UNIT_FRAMES and sequences:
        length = sequences["length"]
        text = (
            f"{unit_count(picked, unit)} ({count(picked // length, 'sequence')} of {length}) of "
            f"{unit_count(sequences['nCandidateFrames'], unit)} in complete sequences "
            f"({count(sequences['nCandidateSequences'], 'candidate sequence')})"
        )
    elif unit == UNIT_SAMPLES:
        text = f"{picked} of {count(candidates, 'candidate')}"
    else:
        text = f"{picked} of {count(candidates, f'candidate {_SINGULAR[unit]}', f'candidate {unit}')}"
    if preselected:
        source = (report.get("objectLevel") or {}).get("cropsDataset") if unit == UNIT_CROPS else None
        text += f", beside {preselected} preselected from {source or 'the dataset'}"
    if unit == UNIT_CROPS:
        text += f", from {count(report.get('datasetSizes', {}).get('nSelected', 0), 'image')}"
    return text


def requested_text(report: Mapping[str, Any]) -> str:
    """What was asked for, in the selection's unit, and how many were selected with the preselected."""
    selection = report.get("selection", {})
    unit = selection_unit(report)
    requested = int(selection.get("requested", 0))
    preselected = int(selection.get("nPreselected", 0))
    text = unit_count(requested, unit)
    if preselected:
        total = preselected + int(selection.get("nSelected", 0))
        text += f" ({total} selected with the {preselected} preselected)"
    return text


def crops_text(report: Mapping[str, Any]) -> str | None:
    """Object level's boxes and crops ("30 boxes of task 'cars': 27 crops cut, 3 skipped"), or None."""
    block = report.get("objectLevel")
    if not block:
        return None
    undecoded = block.get("nNotDecoded", 0)
    return (
        f"{count(block.get('nBoxes', 0), 'box', 'boxes')} of task '{block.get('task')}': "
        f"{count(block.get('nCrops', 0), 'crop')} cut, {block.get('nSkipped', 0)} skipped"
        + (f", {undecoded} on images that could not be decoded" if undecoded else "")
        + f"; {count(block.get('nSelectedCrops', 0), 'crop')} selected into {block.get('cropsDataset')}"
    )


def strategy_text(strategy: Mapping[str, Any]) -> str:
    """One strategy of report.json's selection: what it ran on and what it did."""
    head = f"{strategy.get('strategy')} on {strategy.get('input')}"
    kind = strategy.get("strategy")
    parts: list[str] = []
    if kind == "THRESHOLD":
        parts.append(
            f"{strategy.get('operation')} {strategy.get('threshold'):g}: {strategy.get('nPassed')} of "
            f"{strategy.get('nCandidates')} pass, {strategy.get('nLeft')} left"
        )
    elif kind == "DIVERSITY":
        final = strategy.get("final_minimum_distance")
        if final is not None:
            parts.append(f"last pick's distance {final:.4g}")
    elif kind == "BALANCE":
        target, achieved = strategy.get("target") or {}, strategy.get("achieved") or {}
        shares = ", ".join(f"{name} {target[name]:.2f}->{achieved.get(name, 0.0):.2f}" for name in target)
        parts.append(f"target->achieved {shares}")
    elif isinstance(strategy.get("selected"), Mapping) and strategy["selected"].get("mean") is not None:
        parts.append(f"selected mean {strategy['selected']['mean']:.4g}")
    parts.append(f"stopped: {strategy.get('stop_reason') or '-'}")
    return f"{head} ({'; '.join(parts)})"


def input_problems(report: Mapping[str, Any]) -> tuple[int, list[str]]:
    """The problems report.json's `inputs` lists (at most 100 per task and for metadata), and their count."""
    inputs = report.get("inputs") or {}
    blocks = [*(inputs.get("predictions") or {}).values(), inputs.get("metadata") or {}]
    total = sum(int(block.get("nProblems", 0)) for block in blocks)
    return total, [str(problem) for block in blocks for problem in block.get("problems", [])]


def input_problem_lines(report: Mapping[str, Any], shown: int = 10) -> list[str]:
    """Summary lines naming the skipped or invalid `.lightly/` input files (none without problems)."""
    total, problems = input_problems(report)
    if not total:
        return []
    lines = [f"  problems:   {count(total, 'problem')} in .lightly/ inputs (files or values skipped):"]
    lines += [f"    {problem}" for problem in problems[:shown]]
    if total > shown:
        lines.append(f"    ... and {total - min(shown, len(problems))} more (report.json: inputs)")
    return lines


__all__ = [
    "count",
    "crops_text",
    "input_problem_lines",
    "input_problems",
    "input_text",
    "requested_text",
    "selected_text",
    "selection_unit",
    "strategy_text",
    "unit_count",
]
