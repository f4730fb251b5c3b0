"""The datapool (seed 004): what a run processes, what it reuses, and what it preselects.

With `worker_config.use_datapool: true` a run builds on its dataset's published runs:

- An input file is new when no published run processed a file of that name with the same size
  and modification time. Only new files are candidates, unless `datasource.process_all: true`
  makes every listed file a candidate again.
- A sample whose file is unchanged keeps the embedding an earlier run computed, as long as the
  embedding settings (model, weights, input size, normalisation) are the same; with other
  settings it is decoded and embedded again, and the run says so.
- Every sample of the dataset is preselected: it counts toward `n_samples` and diversity keeps
  its distance to it.
"""

from __future__ import annotations

import logging
from collections.abc import Container
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightly_ray.datasets.current_rows import file_keys, files_by_run, last_processed, preselected_samples
from lightly_ray.datasets.embedding_cache import resume_from_cache
from lightly_ray.datasets.store import Dataset, DatasetState, RunRecord
from lightly_ray.formats.relevant_filenames import RelevantFilenames
from lightly_ray.formats.sample_files import (
    CORRUPT,
    DUPLICATE,
    NOT_EMBEDDED,
    UNCHANGED_DATAPOOL,
    OtherInputFiles,
    UnreadInputs,
)
from lightly_ray.pipeline.gather import GatheredSamples
from lightly_ray.pipeline.input_kinds import VIDEO_EXTENSIONS

_VIDEO_RE = "|".join(extension[1:] for extension in VIDEO_EXTENSIONS)

logger = logging.getLogger("lightly_ray")


@dataclass
class DatapoolPlan:
    """What a run does with its listing, given its dataset.

    Attributes:
        to_process: The listing rows to decode and embed.
        reused: Processed rows of earlier runs this run uses instead of processing (None: none).
        resumed: Rows of the embedding cache this run uses instead of processing: what a run
            that did not finish embedded (None: none).
        new_files: Names of the listed files that are candidates; None when all of them are
            (without the datapool, on its first run, or with process_all), so that no set of
            every name is held.
        preselected: The dataset's samples with a reusable embedding (None: none).
        reembed: Names of preselected samples whose embedding must come from this run (the
            embedding settings changed, or the file was rewritten).
        unread: Names of the listed files this run neither processes nor selects from (None:
            none): their prediction and metadata files are not read (`other_files`).
        relevant: The relevant filenames filter the listing was made with (None: none): the
            files of the input files it leaves out are not read either.
    """

    to_process: pa.Table
    reused: pa.Table | None = None
    resumed: pa.Table | None = None
    new_files: set[str] | None = None
    preselected: pa.Table | None = None
    reembed: list[str] = field(default_factory=list)
    unread: pa.Array | pa.ChunkedArray | None = None
    relevant: RelevantFilenames | None = None

    def other_files(self, gathered: GatheredSamples | None = None, from_csv: bool = False) -> UnreadInputs:
        """The input files the run lists but does not select from, by reason (`read_lightly_inputs`).

        Their prediction and metadata files are neither read nor reported as problems, only
        counted: `unread` as `unchangedDatapool`; with `gathered` its corrupt files, exact
        duplicates, with `from_csv` the files of `to_process` that are no sample (`notEmbedded`:
        no row in the embeddings CSV the samples come from), and the videos that gave no frame
        (corrupt); the files of input files that `relevant` leaves out as `notRelevant`.
        """
        groups: list[tuple[str, Container[str]]] = []
        if self.unread is not None:
            groups.append((UNCHANGED_DATAPOOL, OtherInputFiles(self.unread)))
        if gathered is None:
            return UnreadInputs(groups, self.relevant)
        names = gathered.names.arrow
        groups.append((CORRUPT, OtherInputFiles(pc.filter(names, pa.array(gathered.corrupt, pa.bool_())))))
        groups.append((DUPLICATE, OtherInputFiles(pc.filter(names, pa.array(gathered.duplicate_of != "")))))
        if from_csv:  # listed files that are no sample and gave no frame: no row in the CSV
            listed = self.to_process.column("name")
            kept = pc.is_in(listed, value_set=names.cast(listed.type))
            if "video" in gathered.frames:
                videos_kept = pa.array(np.unique(gathered.frames["video"]), listed.type)
                kept = pc.or_(kept, pc.is_in(listed, value_set=videos_kept))
            groups.append((NOT_EMBEDDED, OtherInputFiles(pc.filter(listed, pc.invert(kept)))))
        if "video" in gathered.frames:  # a video that gave no frame could not be opened
            listed = self.to_process.column("name")
            videos = pc.filter(listed, pc.match_substring_regex(listed, f"(?i)\\.({_VIDEO_RE})$"))
            opened = pa.array(np.unique(gathered.frames["video"]), pa.string())
            groups.append((CORRUPT, OtherInputFiles(pc.filter(videos, pc.invert(pc.is_in(videos, opened))))))
        return UnreadInputs(groups, self.relevant)

    def resume(self, cached: pa.Table | None, dataset_name: str) -> None:
        """Take the cached rows of whole unchanged files instead of processing them (in place).

        Args:
            cached: Rows of the dataset's embedding cache for these settings: what runs that
                did not finish embedded (`datasets.embedding_cache`).
            dataset_name: For the message.
        """
        if cached is None or not cached.num_rows:
            return
        self.to_process, self.resumed = resume_from_cache(self.to_process, cached)
        if self.resumed is not None:
            logger.info(
                "%d samples embedded by a run that did not finish are reused (embedding cache of '%s')",
                self.resumed.num_rows,
                dataset_name,
            )

    def process_reused(self, listing: pa.Table) -> None:
        """Process the files this plan would reuse instead (in place).

        Object level cuts its crops from decoded images, and a reused sample brings none.
        """
        if self.reused is None:
            return
        files = set(self.reused.column("file").to_pylist()) | set(self.to_process.column("name").to_pylist())
        self.to_process = listing.filter(
            pc.is_in(listing.column("name"), value_set=pa.array(sorted(files), pa.string()))
        )
        self.reused = None


def plan_datapool(
    listing: pa.Table,
    dataset: Dataset,
    state: DatasetState,
    embedding: dict[str, object],
    *,
    use_datapool: bool,
    process_all: bool,
    relevant: RelevantFilenames | None = None,
) -> DatapoolPlan:
    """Decide what a run processes and reuses (then `DatapoolPlan.resume` for the cache).

    Args:
        listing: The run's listing (name, size, mtime_ns).
        dataset: The run's dataset.
        state: Its published state (read once the run holds its lock).
        embedding: This run's embedding settings (`RunRecord.embedding`).
        use_datapool: `worker_config.use_datapool`.
        process_all: `worker_config.datasource.process_all`.
        relevant: The relevant filenames filter the listing was made with.
    """
    if not use_datapool or not state.runs:
        return DatapoolPlan(to_process=listing, relevant=relevant)
    names = listing.column("name").to_pylist()
    processed_files = files_by_run(dataset, state)
    seen: dict[str, tuple[int, int]] = {}
    for table in processed_files:
        seen.update(file_keys(table, "file"))
    current = file_keys(listing, "name")
    unchanged = {name for name, key in current.items() if seen.get(name) == key}
    new_files = set(names) - unchanged
    same = [run for run in state.runs if run.embedding == embedding]
    changed = [run for run in state.runs if run.embedding != embedding]
    if changed:
        logger.warning(
            "the embedding settings differ from those of %d earlier run(s) of dataset '%s' (last: %s): "
            "their samples are embedded again",
            len(changed),
            dataset.name,
            changed[-1].run_id,
        )
    reusable = _latest_rows(dataset, state, same, unchanged, current)
    # A sample whose file was rewritten, now or before a later run processed it again, is
    # stale where it was stored: its embedding comes from this run or that later run's rows.
    last = last_processed(processed_files)
    preselected, reembed, reembed_files = preselected_samples(dataset, state, embedding, last, new_files)
    wanted = set(unchanged) if process_all else set()
    wanted |= reembed_files
    covered = set(reusable.column("file").to_pylist()) if reusable is not None else set()
    process = new_files | (wanted - covered)
    reused = None
    if reusable is not None:
        reused = reusable.filter(
            pc.is_in(reusable.column("file"), value_set=pa.array(sorted(wanted), pa.string()))
        )
    processed = pc.is_in(listing.column("name"), value_set=pa.array(sorted(process), pa.string()))
    to_process = listing.filter(processed)
    candidates = None if process_all else new_files
    # Without process_all, the others are neither read nor candidates (their .lightly/ files too).
    unread = None if process_all else pc.filter(listing.column("name"), pc.invert(processed))
    logger.info(
        "datapool '%s' holds %d samples from %d run%s; %d of %d listed files are new%s",
        dataset.name,
        state.sample_count,
        len(state.runs),
        "" if len(state.runs) == 1 else "s",
        len(new_files),
        len(names),
        ", every file is a candidate (process_all)" if process_all else "",
    )
    return DatapoolPlan(
        to_process=to_process,
        reused=reused if reused is not None and reused.num_rows else None,
        new_files=candidates,
        preselected=preselected,
        reembed=reembed,
        unread=unread,
        relevant=relevant,
    )


def restrict_candidates(gathered: GatheredSamples, plan: DatapoolPlan) -> None:
    """Keep as candidates only the samples of `plan.new_files` (in place).

    Samples without frame columns (an embeddings CSV) are matched by name: a listed file that is
    not new is no candidate; a frame's video is unknown there, so frames stay candidates.
    Nothing changes when every listed file is a candidate (`new_files` is None).
    """
    if plan.new_files is None:
        return
    names = gathered.names.arrow.cast(pa.large_string())
    new_files = pa.array(sorted(plan.new_files), pa.large_string())
    if gathered.frames:
        videos = pa.array(gathered.frames["video"], pa.large_string())
        files = pc.if_else(pc.not_equal(videos, ""), videos, names)
        allowed = pc.is_in(files, value_set=new_files).to_numpy(zero_copy_only=False)
    else:
        listed = pc.cast(plan.to_process.column("name"), pa.large_string())
        old = pc.filter(listed, pc.invert(pc.is_in(listed, value_set=new_files)))
        allowed = ~pc.is_in(names, value_set=old).to_numpy(zero_copy_only=False)
    gathered.candidate &= allowed


def mark_copies_of_the_dataset(gathered: GatheredSamples, plan: DatapoolPlan) -> int:
    """Mark candidates with the bytes of a sample of the dataset as its exact duplicates (in place).

    Within a run, `gather_batches` finds files with identical bytes; a rerun of the datapool
    also holds back a new file that copies a sample an earlier run added (its stored
    `content_hash`), which would otherwise join the dataset a second time. A file whose
    earlier version is that sample (rewritten with the same bytes) is no copy.

    Returns:
        How many candidates were marked.
    """
    stored = plan.preselected
    if stored is None or "content_hash" not in stored.column_names or not len(gathered.content_hashes):
        return 0
    stored = stored.select(["name", "content_hash"]).filter(pc.not_equal(stored.column("content_hash"), ""))
    stored = stored.sort_by("name")  # a hash several samples share: the first name
    found = pc.index_in(gathered.content_hashes, value_set=stored.column("content_hash"))
    rows = np.flatnonzero(found.is_valid().to_numpy(zero_copy_only=False) & gathered.candidate)
    if not len(rows):
        return 0
    originals = stored.column("name").take(pc.take(found, pa.array(rows))).to_numpy(zero_copy_only=False)
    copies = originals != gathered.names.take(rows).to_numpy()
    rows, originals = rows[copies], originals[copies]
    gathered.duplicate_of[rows] = originals
    gathered.candidate[rows] = False
    return len(rows)


def _latest_rows(
    dataset: Dataset,
    state: DatasetState,
    runs: list[RunRecord],
    unchanged: set[str],
    current: dict[str, tuple[int, int]],
) -> pa.Table | None:
    """Processed rows of unchanged files from the runs with this embedding, the latest run's per file."""
    taken: set[str] = set()
    parts = []
    for run in reversed(runs):
        table = dataset.read_parquet(run.processed_file)
        files = table.column("file").to_pylist()
        sizes, mtimes = table.column("size").to_pylist(), table.column("mtime_ns").to_pylist()
        mask = [
            file in unchanged and file not in taken and current[file] == (size, mtime)
            for file, size, mtime in zip(files, sizes, mtimes, strict=True)
        ]
        chosen = table.filter(pa.array(mask))
        taken |= set(chosen.column("file").to_pylist())
        if chosen.num_rows:
            parts.append(chosen)
    return pa.concat_tables(parts) if parts else None
