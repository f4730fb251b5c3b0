"""What a run says about its counts: the terminal summary, `lightly-ray inspect` and report.html.

Each count names what it counts: on object level, selection counts crops and datasetSizes
count images, so the summaries never set one against the other.
"""

from __future__ import annotations

import copy
from typing import Any

from lightly_ray.config import RunConfig
from lightly_ray.outputs.run_folder import RunFolder
from lightly_ray.report.finished_run import FinishedRun
from lightly_ray.report.html import _selection_html, _summary_html
from lightly_ray.report.summary_lines import count, input_problem_lines, strategy_text
from lightly_ray.run_result import RunResult, selection_line
from lightly_ray.storage import Location

DIVERSITY = {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}
# The new user's object-level run: 68 images, 27 candidate crops, 10 crops picked from 9 images.
OBJECT_LEVEL_REPORT: dict[str, Any] = {
    "run": {
        "id": "r1",
        "start": "2026-12-06T10:00:00+00:00",
        "durationSeconds": 36.3,
        "input": "data/images",
    },
    "datasetSizes": {
        "nInput": 68,
        "nCorrupt": 0,
        "nDuplicate": 0,
        "nRemoved": 59,
        "nSelected": 9,
        "nPreselectedDatapool": 0,
        "nSelectedWithDatapool": 9,
        "nUnchangedDatapool": 0,
        "nCorruptVideos": 0,
    },
    "selection": {
        "unit": "crops",
        "requested": 10,
        "budget": 10,
        "nCandidates": 27,
        "nAfterThresholds": 27,
        "nPreselected": 0,
        "nSelected": 10,
        "stopReason": "budget",
        "shortfall": None,
        "strategies": [
            {"index": 0, "strategy": "DIVERSITY", "input": "EMBEDDINGS", "final_minimum_distance": 0.25},
            {
                "index": 1,
                "strategy": "BALANCE",
                "input": "PREDICTIONS my_task.CLASS_DISTRIBUTION",
                "target": {"car": 0.5, "bus": 0.5},
                "achieved": {"car": 0.6, "bus": 0.4},
            },
        ],
    },
    "objectLevel": {
        "task": "my_task",
        "nBoxes": 30,
        "nCrops": 27,
        "nCandidates": 27,
        "nSkipped": 3,
        "nSelectedCrops": 10,
        "nPreselectedCrops": 0,
        "cropsDataset": "objs-crops",
    },
    "inputs": {"predictions": {"my_task": {"nProblems": 0, "problems": []}}},
    "stageTimings": {"embed": 30.0},
    "dataset": {"name": "objs", "tag": "r1"},
}


def _datapool_rerun() -> dict[str, Any]:
    """The rerun: 2 new crops of 2 new images picked beside the crops dataset's 10."""
    report = copy.deepcopy(OBJECT_LEVEL_REPORT)
    report["datasetSizes"].update(nInput=3, nRemoved=1, nSelected=2, nPreselectedDatapool=9)
    report["datasetSizes"]["nSelectedWithDatapool"] = 11
    report["selection"].update(requested=14, nCandidates=16, nPreselected=10, nSelected=2)
    return report


def _result(report: dict[str, Any]) -> RunResult:
    return RunResult(
        run_id="r1",
        run_folder="/x/.lightly/runs/r1",
        selected=[],
        counts=report["datasetSizes"],
        report=report,
        config=RunConfig.model_validate({"selection_config": {"n_samples": 10, "strategies": [DIVERSITY]}}),
        dataset="objs",
        tag="r1",
    )


def test_the_selection_line_says_what_was_picked() -> None:
    assert selection_line(12, 0, 12) == "selected 12 of 12 requested samples"
    assert selection_line(35, 0, 35, unit="crops") == "selected 35 of 35 requested crops"


def test_the_selection_line_counts_the_preselected_toward_the_request() -> None:
    line = selection_line(5, 10, 15)
    assert line == "selected 5 samples beside the 10 preselected from the dataset: 15 of 15 requested"
    line = selection_line(2, 10, 14, unit="crops", source="objs-crops")
    assert line == "selected 2 crops beside the 10 preselected from objs-crops: 12 of 14 requested"


def test_the_terminal_summary_counts_crops_as_crops_and_images_as_images() -> None:
    summary = _result(OBJECT_LEVEL_REPORT).summary()
    assert "  input:      68 images (0 corrupt, 0 exact duplicates)\n" in summary
    assert "  crops:      30 boxes of task 'my_task': 27 crops cut, 3 skipped" in summary
    assert "  requested:  10 crops\n" in summary
    assert "  selected:   10 of 27 candidate crops, from 9 images (stopped: budget)\n" in summary
    assert "68 candidates" not in summary and "9 of" not in summary
    # Boxes of an image that could not be decoded have no crop row: the line says where they went.
    corrupt = copy.deepcopy(OBJECT_LEVEL_REPORT)
    corrupt["objectLevel"].update(nBoxes=33, nNotDecoded=3)
    assert (
        "33 boxes of task 'my_task': 27 crops cut, 3 skipped, 3 on images that could not be decoded; "
        "10 crops selected into objs-crops"
    ) in _result(corrupt).summary()


def test_the_terminal_summary_of_a_datapool_rerun_on_crops() -> None:
    summary = _result(_datapool_rerun()).summary()
    assert "  requested:  14 crops (12 selected with the 10 preselected)\n" in summary
    assert (
        "  selected:   2 of 6 candidate crops, beside 10 preselected from objs-crops, from 2 images"
        in summary
    )


def test_the_terminal_summary_names_both_durations() -> None:
    summary = _result(OBJECT_LEVEL_REPORT).summary(duration_s=40.7)
    assert summary.startswith(
        "Run r1 finished in 40.7s (the command; the run itself 36.3s, as in report.json)"
    )
    assert _result(OBJECT_LEVEL_REPORT).summary().startswith("Run r1 finished in 36.3s\n")
    document = _result(OBJECT_LEVEL_REPORT).document(40.7)
    assert (document["duration_s"], document["run_duration_s"], document["unit"]) == (40.7, 36.3, "crops")


def test_a_run_on_images_keeps_its_summary() -> None:
    report = copy.deepcopy(OBJECT_LEVEL_REPORT)
    del report["objectLevel"]
    report["selection"].update(unit="samples", requested=10, nCandidates=21, nSelected=10)
    report["datasetSizes"].update(nInput=23, nCorrupt=1, nDuplicate=1, nCorruptVideos=1)
    summary = _result(report).summary()
    assert "  input:      23 samples (1 corrupt, 1 exact duplicate); 1 video cannot be read" in summary
    assert "  requested:  10 samples\n" in summary
    assert "  selected:   10 of 21 candidates (stopped: budget)\n" in summary
    assert "crops:" not in summary


def test_a_sequence_run_counts_the_frames_of_complete_sequences() -> None:
    report = copy.deepcopy(OBJECT_LEVEL_REPORT)
    del report["objectLevel"]
    report["selection"].update(unit="frames", requested=10, nCandidates=21, nSelected=10)
    report["selection"]["sequences"] = {"length": 5, "nCandidateFrames": 20, "nCandidateSequences": 4}
    summary = _result(report).summary()
    assert "  requested:  10 frames\n" in summary
    selected = "10 frames (2 sequences of 5) of 20 frames in complete sequences (4 candidate sequences)"
    assert f"  selected:   {selected} (stopped: budget)" in summary


def test_inspect_says_no_shortfall_when_there_is_none_and_what_each_strategy_did(tmp_path: Any) -> None:
    run = FinishedRun(RunFolder(Location(str(tmp_path), writable=False), "r1"), OBJECT_LEVEL_REPORT)
    summary = run.summary()
    assert "  selected:   10 of 10 requested crops: 10 of 27 candidate crops, from 9 images" in summary
    assert "  images:     nInput 68," in summary
    assert "36.3s from its start to its report" in summary
    assert (
        "strategies[1]: BALANCE on PREDICTIONS my_task.CLASS_DISTRIBUTION (target->achieved car 0.50->0.60"
        in summary
    )
    rerun = FinishedRun(RunFolder(Location(str(tmp_path), writable=False), "r1"), _datapool_rerun()).summary()
    assert "  selected:   12 of 14 requested crops: 2 of 6 candidate crops, beside 10 preselected" in rerun


def test_a_training_run_names_its_trained_model_in_the_summary_and_inspect(tmp_path: Any) -> None:
    report = copy.deepcopy(OBJECT_LEVEL_REPORT)
    epochs = [{"epoch": 1, "loss": 5.5}, {"epoch": 2, "loss": 4.25}]
    report["training"] = {"epochs": epochs, "checkpoint": "checkpoint.ckpt", "earlierAttempt": True}
    summary = _result(report).summary()
    assert "    trained model   checkpoint.ckpt (2 epochs, loss 4.2500 after the last; a later run" in summary
    inspected = FinishedRun(RunFolder(Location(str(tmp_path), writable=False), "r1"), report).summary()
    assert (
        "  training:   2 epochs (by an earlier attempt of the run): loss 5.5000 after the first, "
        "4.2500 after the last; model in checkpoint.ckpt"
    ) in inspected
    assert (
        "training"
        not in FinishedRun(RunFolder(Location(str(tmp_path), writable=False), "r1"), OBJECT_LEVEL_REPORT)
        .summary()
        .split("stages")[0]
    )


def test_the_report_page_says_what_the_counts_count_and_names_input_problems() -> None:
    report = copy.deepcopy(OBJECT_LEVEL_REPORT)
    report["inputs"]["predictions"]["my_task"] = {
        "nProblems": 2,
        "problems": ["a.json: bad", "b.json: worse"],
    }
    page = _summary_html(report) + _selection_html(report)
    assert "10 of 27 candidate crops, from 9 images" in page
    assert "68 images (0 corrupt, 0 exact duplicates)" in page
    assert "a.json: bad" in page and "b.json: worse" in page
    assert "target-&gt;achieved car 0.50-&gt;0.60, bus 0.50-&gt;0.40" in page


def test_input_problems_are_named() -> None:
    report = {
        "inputs": {"metadata": {"nProblems": 12, "problems": [f"m{index}.json: bad" for index in range(12)]}}
    }
    lines = input_problem_lines(report, shown=2)
    assert lines == [
        "  problems:   12 problems in .lightly/ inputs (files or values skipped):",
        "    m0.json: bad",
        "    m1.json: bad",
        "    ... and 10 more (report.json: inputs)",
    ]
    assert input_problem_lines({"inputs": {}}) == []


def test_words_are_counted() -> None:
    assert count(1, "exact duplicate") == "1 exact duplicate"
    assert count(2, "video") == "2 videos"
    assert count(1, "box", "boxes") == "1 box" and count(3, "box", "boxes") == "3 boxes"
    threshold = {
        "index": 0,
        "strategy": "THRESHOLD",
        "input": "METADATA lightly.sharpness",
        "operation": "BIGGER",
        "threshold": 0.5,
        "nPassed": 7,
        "nLeft": 7,
        "nCandidates": 10,
        "stop_reason": None,
    }
    assert strategy_text(threshold) == (
        "THRESHOLD on METADATA lightly.sharpness (BIGGER 0.5: 7 of 10 pass, 7 left; stopped: -)"
    )


def test_the_selection_line_says_when_the_preselected_reach_the_request_already() -> None:
    line = selection_line(0, 20, 14)  # proportion_samples 0.5 of 20 + 8 samples
    assert line == "selected 0 samples: the 20 preselected from the dataset reach the 14 requested already"
