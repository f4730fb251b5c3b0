"""What a run writes: the run folder, report.json (later tags, crops, frames, the datapool, report.html)."""

from lightly_ray.outputs.run_folder import RunFolder, finished_run_ids, new_run_id
from lightly_ray.outputs.sample_files import (
    write_sample_lists,
    write_selection_table,
    write_sequence_information,
)

__all__ = [
    "RunFolder",
    "finished_run_ids",
    "new_run_id",
    "write_sample_lists",
    "write_selection_table",
    "write_sequence_information",
]
