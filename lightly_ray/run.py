"""`run(...)`: one curation run, from listing the input to a committed run folder."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightly_ray.cluster_address import DEFAULT_CONNECT_TIMEOUT_S
from lightly_ray.config import RunConfig
from lightly_ray.crash_points import crash_point
from lightly_ray.datasets import (
    DatapoolPlan,
    DatasetState,
    RunRecord,
    SelectionPool,
    plan_datapool,
    selection_pool,
)
from lightly_ray.datasets.datapool import restrict_candidates
from lightly_ray.datasets.embedding_cache import CacheTarget, clear_cache, read_cache
from lightly_ray.datasets.lock import DatasetLock
from lightly_ray.datasets.rows import embedding_matrix, files_table, processed_table, rows_named
from lightly_ray.datasets.settings import embedding_settings
from lightly_ray.embedding_sources import embed_from_csv, embed_with_model, model_state
from lightly_ray.errors import LightlyRayError, StorageError, user_message
from lightly_ray.formats.lightly_inputs import LightlyInputs, read_lightly_inputs
from lightly_ray.formats.relevant_filenames import RelevantFilenames
from lightly_ray.outputs import (
    DatasetSizes,
    RunFolder,
    build_report,
    new_run_id,
    write_sample_lists,
    write_selection_table,
    write_sequence_information,
)
from lightly_ray.outputs.frames import FRAMES_FOLDER, write_selected_frames
from lightly_ray.pipeline.gather import GatheredSamples
from lightly_ray.pipeline.input_kinds import SAMPLE_EXTENSIONS, describe_counts, is_video_file
from lightly_ray.pipeline.listing import list_images
from lightly_ray.pipeline.units import IndexedVideos, index_videos
from lightly_ray.pipeline.warmup import Warmup
from lightly_ray.preflight import ConfigSource, PreparedRun, prepare_run
from lightly_ray.progress import LogCapture, Stopwatch, captured_run_log, logger, ray_output_to_log
from lightly_ray.ray_session import ray_session
from lightly_ray.selection.engine import select
from lightly_ray.selection.explain import SelectionExplanation, explain_selection
from lightly_ray.selection.inputs import SelectionData, build_problem
from lightly_ray.selection.sequences import select_sequences, sequence_ids
from lightly_ray.storage import Location


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
            f"{counts['nDuplicate']} exact duplicates)",
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
            "    report          report.json",
            "    corrupt files   corruptness_check_information.json",
        ]
        return "\n".join(lines)


def run(
    input: str | os.PathLike[str],  # noqa: A002 - the Lightly Worker's name for it
    lightly: str | os.PathLike[str],
    *,
    config: ConfigSource = None,
    worker_config: Mapping[str, Any] | None = None,
    selection_config: Mapping[str, Any] | None = None,
    lightly_config: Mapping[str, Any] | None = None,
    resources: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
    address: str | None = None,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    dataset: str | None = None,
    tag: str | None = None,
    show_progress: bool = True,
) -> RunResult:
    """Run a curation job: list, decode, embed, select and write the run folder.

    The three config dicts take exactly the keys of the Lightly Worker's
    `schedule_compute_worker_run(worker_config=..., selection_config=..., lightly_config=...)`.
    Every check that needs no Ray (configuration, cluster address, locations, what the config
    names in the lightly location) runs first, in seconds (`lightly_ray.preflight`).

    Args:
        input: Input location (read-only): a local folder or an s3://, gs:// or az:// URL.
        lightly: Lightly location (read-write): predictions and metadata are read from it and
            the run folder is written to `.lightly/runs/<run id>/` in it. It must not lie inside
            the input.
        config: A YAML/JSON file, a dict of the three blocks, or a RunConfig.
        worker_config: Replaces config's worker_config block.
        selection_config: Replaces config's selection_config block.
        lightly_config: Replaces config's lightly_config block.
        resources: Replaces the stage resources block (lightly_ray's `resources`).
        overrides: Dotted `key=value` assignments, applied last.
        address: Ray cluster to join (`auto` or the head node's `HOST:PORT`); default
            RAY_ADDRESS, else a local Ray instance.
        connect_timeout_s: How long joining the cluster may take before the run gives up.
        dataset: The dataset the run publishes its selection to (`.lightly/datasets/<name>/` in
            the lightly location); default the input's last folder name. Without
            `worker_config.use_datapool` it must not hold samples yet.
        tag: The tag of this run's selection in the dataset; default the run's id.
        show_progress: Print stage messages and a progress bar to stderr.

    Returns:
        The run's result.

    Raises:
        ConfigError: For an invalid configuration (before any work).
        NotYetSupportedError: For a valid configuration this version cannot run (before any work).
        UsageError: For a malformed cluster address (before any work).
        ClusterError: When the cluster does not answer within the connect timeout.
        WeightsNotAvailableError: When the chosen model weights cannot be loaded.
        StorageError: When a location cannot be read or written.
        DatasetConflictError: When the dataset holds samples and the datapool is off, the tag
            exists, or another run is writing the dataset (`datasets.lock.DatasetLockedError`,
            before any work) or published to it meanwhile.

    """
    prepared = prepare_run(
        input,
        lightly,
        config=config,
        worker_config=worker_config,
        selection_config=selection_config,
        lightly_config=lightly_config,
        resources=resources,
        overrides=overrides,
        address=address,
        connect_timeout_s=connect_timeout_s,
        dataset=dataset,
        tag=tag,
    )
    return execute_run(prepared, show_progress=show_progress)


def execute_run(prepared: PreparedRun, *, show_progress: bool = True, quiet_ray: bool = True) -> RunResult:
    """Run a checked run (see `lightly_ray.preflight.prepare_run`) and commit its run folder.

    Args:
        prepared: The checked run.
        show_progress: Print stage messages and a progress bar to stderr.
        quiet_ray: Send Ray's own output to the run's log.txt instead of the terminal.

    Returns:
        The run's result.

    Raises:
        Whatever stopped the run; its folder then has no _SUCCESS, and its log.txt ends with the
        error's message.

    """
    with captured_run_log(show_progress) as log:
        folder = RunFolder(prepared.lightly_location, new_run_id())
        lock = DatasetLock(prepared.dataset.dataset, folder.run_id)
        try:
            lock.claim()
            try:
                return _run(prepared, folder, log, lock, show_progress=show_progress, quiet_ray=quiet_ray)
            finally:
                lock.release()
        except BaseException as error:
            log.note(logging.ERROR, f"run {folder.run_id} failed; its folder {folder.url} has no _SUCCESS")
            log.note(logging.ERROR, user_message(error))
            _write_log_best_effort(folder, log.text())
            raise


def _run(
    prepared: PreparedRun,
    folder: RunFolder,
    log: LogCapture,
    lock: DatasetLock,
    *,
    show_progress: bool,
    quiet_ray: bool,
) -> RunResult:
    config = prepared.config
    input_location, lightly_location = prepared.input_location, prepared.lightly_location
    worker = config.worker_config
    started = dt.datetime.now(dt.UTC)
    watch = Stopwatch()
    folder.write_json("config.json", _config_record(config, input_location, lightly_location))
    with (
        ray_output_to_log(log, enabled=quiet_ray, warnings=show_progress),
        ray_session(prepared.address, prepared.connect_timeout_s),
    ):
        lock.confirm()  # its settle time has passed while Ray started
        run_dataset = prepared.dataset.reloaded(config)  # as it is now that the run holds it
        embeds = worker.embeddings is None
        with Warmup((lambda: model_state(config, lightly_location)) if embeds else None) as warmup:
            logger.info("run %s: listing %s", folder.run_id, input_location.url)
            with watch("listing"):
                listed = list_images(input_location, prepared.relevant, parallel=True)
            listing = listed.table
            _check_listing(listing, input_location, prepared.relevant)
            if listed.other_files:
                logger.info(
                    "%d other files are not read: %s",
                    sum(listed.other_files.values()),
                    describe_counts(listed.other_files),
                )
            settings = embedding_settings(config)
            dataset = prepared.dataset.dataset
            cache = (
                CacheTarget.of(lightly_location, dataset.folder, settings, folder.run_id) if embeds else None
            )
            with watch("cache"):
                cached = read_cache(lightly_location, cache.folder) if cache is not None else None
            with watch("datapool"):
                plan = plan_datapool(
                    listing,
                    dataset,
                    run_dataset.state,
                    settings,
                    use_datapool=worker.use_datapool,
                    process_all=worker.datasource.process_all,
                    cached=cached,
                )
            with watch("videos"):
                videos = _index_videos(input_location, plan.to_process)
            with watch("embed"):
                if embeds:
                    embedded = embed_with_model(
                        config,
                        input_location,
                        warmup.model_state(),
                        plan.to_process,
                        videos,
                        show_progress,
                        reused=_concat(plan.reused, plan.resumed),
                        cache=cache,
                    )
                else:
                    embedded = embed_from_csv(config, lightly_location, plan.to_process, videos)
        gathered = embedded.gathered
        restrict_candidates(gathered, plan)
        pool = selection_pool(gathered, plan if worker.use_datapool else None)
        with watch("inputs"):
            inputs = read_lightly_inputs(lightly_location, config, pool.names, pool.videos)
        if inputs.problem_count():
            logger.warning(
                "%d problems in .lightly/ inputs: files skipped, see report.json", inputs.problem_count()
            )
        sizes = DatasetSizes(
            n_input=len(gathered.names),
            n_corrupt=int(gathered.corrupt.sum()),
            n_duplicate=int((gathered.duplicate_of != "").sum()),
            n_unchanged=int((~gathered.corrupt & (gathered.duplicate_of == "") & ~gathered.candidate).sum()),
            n_preselected_datapool=len(pool.preselected),
        )
        logger.info(
            "%d corrupt, %d exact duplicates, %d candidates%s",
            sizes.n_corrupt,
            sizes.n_duplicate,
            sizes.n_candidates,
            f", {sizes.n_preselected_datapool} preselected from the dataset" if worker.use_datapool else "",
        )
        with watch("selection"):
            queries = _query_embeddings(prepared)
            explanation = _select(config, gathered, pool, inputs, queries)
        crash_point("selection")
        picked = explanation.table()
        pick_order = [str(name) for name in picked.column("name").to_pylist()]
        selected = sorted(pick_order)
        sizes.n_selected = len(selected)
        shortfall = explanation.shortfall()
        logger.info(
            "selected %d of %d requested samples (stopped: %s)%s",
            len(selected),
            explanation.result.requested,
            explanation.result.stop_reason,
            f": {shortfall['message']}" if shortfall else "",
        )
        with watch("write"):
            write_sample_lists(folder, gathered, selected, videos.corrupt)
            write_selection_table(folder, picked)
            length = worker.selected_sequence_length
            if length is not None:
                count = write_sequence_information(folder, gathered, pick_order, length)
                logger.info("selected %d sequences of %d frames: sequence_information.json", count, length)
            frames = _write_frames(prepared, listing, videos, gathered, selected)
    finished = dt.datetime.now(dt.UTC)
    tag = prepared.dataset.tag or folder.run_id
    report = build_report(
        run_id=folder.run_id,
        started=started,
        finished=finished,
        input_url=input_location.url,
        lightly_url=lightly_location.url,
        sizes=sizes,
        timings=watch.timings,
        selection={**explanation.report(), "tableColumns": explanation.columns()},
        embedding=embedded.source,
        inputs={**inputs.report(), "otherFiles": dict(sorted(listed.other_files.items()))},
    )
    report["dataset"] = {"name": dataset.name, "tag": tag if selected else None, "url": dataset.url}
    if frames:
        report["frames"] = {"folder": FRAMES_FOLDER, "written": len(frames)}
    folder.write_json("report.json", report)
    folder.write_text("log.txt", log.text())
    crash_point("writing")
    published = _publish(
        prepared, run_dataset.state, folder.run_id, tag, gathered, plan, listing, selected, finished
    )
    if cache is not None:
        _clear_cache_best_effort(cache)
    folder.commit({"run_id": folder.run_id, "finished": finished.isoformat(), "nSelected": len(selected)})
    return RunResult(
        run_id=folder.run_id,
        run_folder=folder.url,
        selected=selected,
        counts=sizes.as_report(),
        report=report,
        config=config,
        dataset=dataset.name,
        tag=tag if published else "",
    )


def _publish(
    prepared: PreparedRun,
    previous: DatasetState,
    run_id: str,
    tag: str,
    gathered: GatheredSamples,
    plan: DatapoolPlan,
    listing: pa.Table,
    selected: list[str],
    finished: dt.datetime,
) -> bool:
    """Publish the run to its dataset, last of all its outputs; False when it added no tag.

    A run that selected nothing but processed files still publishes what it processed (no tag),
    so that the datapool does not process those files again.
    """
    processed = processed_table(gathered, listing, run_id)
    if plan.reused is not None:
        fresh = pc.invert(pc.is_in(processed.column("name"), value_set=plan.reused.column("name")))
        processed_here = processed.filter(fresh)
    else:
        processed_here = processed
    name = prepared.dataset.dataset.name
    if not selected and not processed_here.num_rows:
        logger.info("nothing was processed or selected: dataset '%s' is unchanged", name)
        return False
    record = RunRecord(
        run_id=run_id,
        tag=tag if selected else "",
        finished=finished.isoformat(),
        input=prepared.input_location.url,
        selected=len(selected),
        processed=processed_here.num_rows,
        embedding=embedding_settings(prepared.config),
    )
    dataset = prepared.dataset.dataset
    state = dataset.publish(
        previous,
        record,
        selected=rows_named(processed, selected),
        processed=processed_here,
        files=files_table(plan.to_process),
    )
    if not selected:
        logger.info("nothing new was selected: dataset '%s' records the processed files, no tag", name)
        return False
    logger.info(
        "dataset '%s': %d samples added as tag '%s' (%d in initial-tag)",
        name,
        len(selected),
        tag,
        state.sample_count,
    )
    return True


def _concat(*tables: pa.Table | None) -> pa.Table | None:
    present = [table for table in tables if table is not None and table.num_rows]
    return pa.concat_tables(present, promote_options="default") if present else None


def _clear_cache_best_effort(cache: CacheTarget) -> None:
    """Empty the embedding cache once the run's rows are published (or not needed)."""
    try:
        clear_cache(cache.location, cache.folder)
    except Exception as error:  # noqa: BLE001 - a leftover cache costs space, never a result
        logger.warning("could not empty the embedding cache %s: %s", cache.folder, error)


def _check_listing(listing: pa.Table, input_location: Location, relevant: RelevantFilenames | None) -> None:
    if listing.num_rows == 0:
        where = " that the relevant filenames file keeps" if relevant is not None else ""
        raise StorageError(
            f"no image or video files{where} in input '{input_location.url}' "
            f"(looked for {', '.join(SAMPLE_EXTENSIONS)}, hidden folders skipped)"
        )
    videos = sum(1 for name in listing.column("name").to_pylist() if is_video_file(name))
    logger.info("found %d image files and %d video files", listing.num_rows - videos, videos)
    if relevant is not None:
        missing = relevant.missing_files(listing.column("name").to_pylist())
        if missing:
            logger.warning(
                "%s: %d listed files are not in the input (e.g. %s)",
                relevant.source,
                len(missing),
                missing[0],
            )


def _write_frames(
    prepared: PreparedRun,
    listing: pa.Table,
    videos: IndexedVideos,
    gathered: GatheredSamples,
    selected: list[str],
) -> list[str]:
    """Write the selected video frames to `.lightly/frames/` (Ray tasks, one per segment)."""
    if not videos.indexes or not gathered.frames:
        return []
    chosen = set(selected)
    picks = [
        (str(video), int(index))
        for name, video, index in zip(
            gathered.names, gathered.frames["video"], gathered.frames["frame_index"], strict=True
        )
        if video and name in chosen
    ]
    if not picks:
        return []
    sizes = dict(zip(listing.column("name").to_pylist(), listing.column("size").to_pylist(), strict=True))
    image_format = prepared.config.worker_config.output_image_format
    written = write_selected_frames(
        prepared.input_location, prepared.lightly_location, videos, picks, sizes, image_format
    )
    logger.info("wrote %d selected frames to %s/", len(written), FRAMES_FOLDER)
    return written


def _index_videos(input_location: Location, listing: pa.Table) -> IndexedVideos:
    """Index the listing's videos (Ray tasks), and say what they hold."""
    videos = index_videos(input_location, listing)
    if videos.indexes or videos.corrupt:
        logger.info(
            "%d videos: %d frames%s",
            len(videos.indexes) + len(videos.corrupt),
            videos.frame_count,
            f", {len(videos.corrupt)} cannot be read as videos" if videos.corrupt else "",
        )
    return videos


def _query_embeddings(prepared: PreparedRun) -> dict[tuple[str, str], np.ndarray]:
    """The embeddings of each query set's tag (SIMILARITY with dataset_id and tag_name)."""
    queries = {}
    for (name, tag), (dataset, state) in prepared.dataset.queries.items():
        samples = dataset.read_table(state, "samples")
        members = dataset.read_tag(state, tag)
        rows = rows_named(samples, members) if samples is not None else None
        queries[(name, tag)] = embedding_matrix(rows) if rows is not None else np.zeros((0, 0), np.float32)
        logger.info("query set: %d samples of tag '%s' of dataset '%s'", len(queries[(name, tag)]), tag, name)
    return queries


def _select(
    config: RunConfig,
    gathered: GatheredSamples,
    pool: SelectionPool,
    inputs: LightlyInputs,
    queries: dict[tuple[str, str], np.ndarray],
) -> SelectionExplanation:
    if len(pool.names) == len(pool.preselected):
        if pool.names:
            logger.info("no new samples to select from: every candidate is already in the dataset")
        else:
            raise LightlyRayError("no samples are left to select from: every input file is corrupt")
    data = SelectionData(
        names=pool.names,
        embeddings=pool.embeddings,
        predictions=inputs.predictions,
        metadata=inputs.metadata,
        lightly_metadata=pool.lightly_metadata,
        random_seed=config.lightly_config.seed,
        preselected=pool.preselected,
        query_embeddings=queries,
    )
    problem = build_problem(config.selection_config, data)
    length = config.worker_config.selected_sequence_length
    if length is None:
        return explain_selection(config.selection_config, problem, select(problem))
    frames = gathered.candidate_frames()
    ids = sequence_ids(frames["video"], frames["frame_index"], np.ones(len(pool.names), dtype=bool), length)
    if not (ids >= 0).any():
        raise LightlyRayError(
            f"worker_config.selected_sequence_length is {length}, but no video has {length} consecutive "
            "frames that decoded: shorten the sequences or add longer videos"
        )
    return explain_selection(config.selection_config, problem, select_sequences(problem, ids))


def _config_record(config: RunConfig, input_location: Location, lightly_location: Location) -> dict[str, Any]:
    return {
        "input": input_location.url,
        "lightly": lightly_location.url,
        **config.model_dump(mode="json"),
    }


def _write_log_best_effort(folder: RunFolder, text: str) -> None:
    try:
        folder.write_text("log.txt", text)
    except Exception:
        logging.getLogger(__name__).debug("could not write log.txt", exc_info=True)


__all__ = ["RunResult", "execute_run", "run"]
