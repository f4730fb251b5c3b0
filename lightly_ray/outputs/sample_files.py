"""The run folder's per-sample files: selected, corrupt and duplicate names, and the pick table."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from lightly_ray.outputs.run_folder import PARQUET_ROW_GROUP, RunFolder
from lightly_ray.pipeline.gather import GatheredSamples


def write_sample_lists(
    folder: RunFolder,
    gathered: GatheredSamples,
    selected: list[str],
    corrupt_videos: dict[str, str] | None = None,
) -> None:
    """Write embeddings.parquet, the filenames/ lists and the corrupt and duplicate details.

    Args:
        folder: The run folder.
        gathered: Every input sample with its embedding, errors and duplicates.
        selected: The selected names, sorted (the Lightly-compatible selected.txt).
        corrupt_videos: Videos that cannot be opened, with the reason (their frames are not
            samples); frames that failed to decode are corrupt samples.

    """
    videos = dict(sorted((corrupt_videos or {}).items()))
    bad = np.flatnonzero(gathered.errors != "")
    corrupt = dict(zip(gathered.names.take(bad), gathered.errors[bad].astype(str).tolist(), strict=True))
    copies = np.flatnonzero(gathered.duplicate_of != "")
    duplicates = dict(
        zip(gathered.names.take(copies), gathered.duplicate_of[copies].astype(str).tolist(), strict=True)
    )
    folder.write_parquet_parts("embeddings.parquet", gathered.embeddings_tables(PARQUET_ROW_GROUP))
    folder.write_json(
        "corruptness_check_information.json",
        {
            "corrupt_samples": sorted(corrupt),
            "corrupt_videos": sorted(videos),
            "errors": {**corrupt, **videos},
        },
    )
    folder.write_lines("filenames/selected.txt", selected)
    folder.write_lines("filenames/corrupt.txt", sorted([*corrupt, *videos]))
    folder.write_lines("filenames/duplicate.txt", sorted(duplicates))
    if duplicates:
        folder.write_json("duplicates.json", duplicates)


def write_selection_table(folder: RunFolder, table: pa.Table) -> None:
    """Write the selected samples in pick order as selection.parquet and selection.csv.

    Args:
        folder: The run folder.
        table: `rank`, `name` and one value column per strategy
            (`selection.explain.SelectionExplanation.table`).

    """
    folder.write_parquet("selection.parquet", table)
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer)
    folder.write_text("selection.csv", buffer.getvalue().decode("utf-8"))


def write_sequence_information(
    folder: RunFolder, gathered: GatheredSamples, picked: list[str], length: int
) -> int:
    """Write sequence_information.json: the selected sequences in pick order (FORMATS.md section 3).

    Args:
        folder: The run folder.
        gathered: Every sample, with its video, frame index and timestamps.
        picked: The selected frame names in pick order (whole sequences, frames in order).
        length: `worker_config.selected_sequence_length`.

    Returns:
        The number of sequences written.

    """
    row_of = gathered.names.rows_of(picked).tolist()
    if -1 in row_of:
        raise KeyError(f"picked frame {picked[row_of.index(-1)]} is not among the gathered samples")
    frames = gathered.frames
    sequences = []
    for start in range(0, len(picked) - length + 1, length):
        rows = row_of[start : start + length]
        sequences.append(
            {
                "video_name": str(frames["video"][rows[0]]),
                "frame_names": [gathered.names[row] for row in rows],
                "frame_indices": [int(frames["frame_index"][row]) for row in rows],
                "frame_timestamps_pts": [int(frames["frame_pts"][row]) for row in rows],
                "frame_timestamps_sec": [round(float(frames["frame_seconds"][row]), 9) for row in rows],
            }
        )
    folder.write_json("sequence_information.json", sequences)
    return len(sequences)
