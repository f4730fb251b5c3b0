"""`run(...)`: one curation run, from listing the input to a committed run folder."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from lightly_ray.cluster_address import DEFAULT_CONNECT_TIMEOUT_S
from lightly_ray.crash_points import crash_point
from lightly_ray.datasets import (
    plan_datapool,
)
from lightly_ray.datasets.embedding_cache import CacheTarget, read_cache
from lightly_ray.datasets.lock import DatasetLock
from lightly_ray.datasets.settings import embedding_settings
from lightly_ray.embedding_sources import detector_weights_of, embed_from_csv, embed_with_model, model_weights
from lightly_ray.errors import signals_deferred, take_deferred_signal, user_message, with_run_folder
from lightly_ray.formats.pretag_schema import PRETAG_DEBUG_FOLDER
from lightly_ray.outputs import (
    RunFolder,
    new_run_id,
    write_sample_lists,
    write_selection_table,
)
from lightly_ray.outputs.frames import FRAMES_FOLDER, write_run_frames
from lightly_ray.pipeline.input_kinds import describe_counts
from lightly_ray.pipeline.listing import check_listing, list_images
from lightly_ray.pipeline.pretag import PretagOutput
from lightly_ray.pipeline.warmup import Warmup
from lightly_ray.preflight import ConfigSource, PreparedRun, prepare_run
from lightly_ray.progress import LogCapture, captured_run_log, logger, ray_output_to_log
from lightly_ray.ray_session import ray_session
from lightly_ray.report.document import build_report
from lightly_ray.report.run_report import (
    PictureSources,
    ReportInProgress,
    preload,
    report_samples,
    write_report,
)
from lightly_ray.run_dataset import clear_cache_best_effort, concat_tables, publish_run, query_embeddings
from lightly_ray.run_result import RunResult
from lightly_ray.run_steps import (
    config_record,
    crop_run,
    dataset_sizes,
    index_run_videos,
    log_candidates,
    log_input_problems,
    log_selection,
    map_listing,
    pool_and_inputs,
    select_pool,
    selection_unit_of,
    sequence_names,
    write_sequences,
)
from lightly_ray.stopwatch import Stopwatch
from lightly_ray.training.in_run import RunTraining


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
        except BaseException:
            lock.release()  # a claim half written; a refused one is withdrawn already
            raise  # refused before any work: no run folder
        try:
            try:
                result = _run(prepared, folder, log, lock, show_progress=show_progress, quiet_ray=quiet_ray)
            finally:
                with signals_deferred():
                    lock.release()
        except BaseException as error:
            log.note(logging.ERROR, f"run {folder.run_id} failed; its folder {folder.url} has no _SUCCESS")
            log.note(logging.ERROR, user_message(with_run_folder(error, folder.url)))
            folder.write_text_best_effort("log.txt", log.text())
            raise
        late = take_deferred_signal()
        if late is not None:
            logger.warning("%s came while the run published its results; it finished first", late)
        return result


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
    folder.write_json("config.json", config_record(config, input_location, lightly_location))
    with (
        ray_output_to_log(log, enabled=quiet_ray, warnings=show_progress),
        ray_session(prepared.address, prepared.connect_timeout_s),
    ):
        embeds = worker.embeddings is None
        rerun = worker.use_datapool and bool(prepared.dataset.state.runs)
        detector = detector_weights_of(config, lightly_location) if worker.pretagging else None
        # A rerun may embed its few new files in the driver (in_driver.py): it builds them there.
        build = (lambda: model_weights(config, lightly_location, in_driver=rerun)) if embeds else None
        with Warmup(build, [preload], ray_data=not rerun) as warmup:
            logger.info("run %s: listing %s", folder.run_id, input_location.url)
            with watch("listing"):
                listed = list_images(input_location, prepared.relevant, parallel=True)
            listing, other_files = listed.table, listed.other_files
            del listed  # the listing is mapped from a file once planned (run_steps.map_listing)
            check_listing(listing, input_location, prepared.relevant)
            # The lock's settle time has passed while Ray started and the input was listed
            # (nothing that depends on the dataset happened before).
            lock.confirm()
            run_dataset = prepared.dataset.reloaded(config)  # as it is now that the run holds it
            if other_files:
                logger.info(
                    "%d other files are not read: %s",
                    sum(other_files.values()),
                    describe_counts(other_files),
                )
            settings = embedding_settings(config)
            dataset = prepared.dataset.dataset
            # A run that cuts crops keeps no cache yet: a crop's row would come back as an image's.
            cache = (
                CacheTarget.of(lightly_location, dataset.folder, settings, folder.run_id)
                if embeds and config.crop_task() is None and not worker.enable_training
                else None
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
                    relevant=prepared.relevant,
                )
                plan.resume(cached, dataset.name)
                if worker.object_level.task_name is not None:  # crops come from decoded images
                    plan.process_reused(listing)
            listing = map_listing(listing, plan)
            with watch("videos"):
                videos = index_run_videos(input_location, plan.to_process)
            objects = crop_run(config, lightly_location, listing, plan.to_process, videos, dataset.name)
            training = RunTraining.of(config, input_location.url, plan.to_process) if embeds else None
            with watch("embed"):
                if embeds:
                    embedded = embed_with_model(
                        config,
                        input_location,
                        warmup.model_weights(),
                        plan.to_process,
                        videos,
                        show_progress,
                        reused=concat_tables(plan.reused, plan.resumed),
                        cache=cache,
                        rerun=bool(run_dataset.state.runs),
                        detector=detector,
                        crops=objects.crop_source() if objects is not None else None,
                        pretag_output=PretagOutput(
                            lightly_location,
                            f"{folder.relative}/{PRETAG_DEBUG_FOLDER}" if worker.pretagging_debug else None,
                        ),
                        training=training,
                    )
                else:
                    embedded = embed_from_csv(config, lightly_location, plan.to_process, videos)
            if training is not None and training.result is not None:  # trained inside the stage
                watch.split("embed", "training", training.result.seconds)
        gathered = objects.split(embedded.gathered) if objects is not None else embedded.gathered
        on_crops = objects is not None and objects.on_crops
        with watch("inputs"):
            pool, inputs = pool_and_inputs(config, lightly_location, gathered, plan, objects)
        log_input_problems(inputs, log)
        # On crops, datasetSizes count images: the image dataset's, not the crops preselected.
        held = objects.held_images(plan) if objects is not None else set()  # images; none unless on crops
        preselected = len(held) if on_crops else len(pool.preselected)
        sizes = dataset_sizes(gathered, preselected, len(videos.corrupt))
        log_candidates(sizes, pool, objects, worker.use_datapool)
        unit = selection_unit_of(objects, worker.selected_sequence_length)
        with watch("selection"):
            queries = query_embeddings(prepared)
            object_embeddings = objects.object_embeddings(pool.names) if objects is not None else {}
            explanation, selection_data, extra = select_pool(config, pool, inputs, queries, object_embeddings)
            explanation = replace(explanation, unit=unit.removesuffix("s"))  # "12 crops were requested"
        crash_point("selection")
        picked = explanation.table()
        pick_order = [str(name) for name in picked.column("name").to_pylist()]
        # Object level: the picks are crops, their images are the selection.
        selected = objects.select(pick_order) if objects is not None else sorted(pick_order)
        new_images = [name for name in selected if name not in held] if held else selected  # not added twice
        sizes.n_selected, sizes.n_selected_held = len(selected), len(selected) - len(new_images)
        log_selection(explanation, len(pool.preselected), unit, objects, len(selected))
        samples = report_samples(
            pool, explanation.result.indices, config.lightly_config.seed, plan.to_process.column("name")
        )
        report_work = ReportInProgress(  # the statistics and the pictures in threads
            samples,
            selection_data,
            [(entry.index, entry.part) for entry in explanation.strategies],
            {video: index.frame_count for video, index in videos.indexes.items()},
            PictureSources(
                input_location,
                lightly_location,
                videos,
                listing,
                worker.output_image_format,
                [record.run_id for record in run_dataset.state.runs],
            ),
        )
        with watch("write"):
            if training is not None:
                training.write(folder)
            write_sample_lists(folder, gathered, selected, videos.corrupt)
            write_selection_table(folder, picked)
            write_sequences(folder, gathered, pick_order, worker.selected_sequence_length)
            frames = write_run_frames(
                input_location,
                lightly_location,
                worker.output_image_format,
                listing,
                videos,
                (gathered.names, gathered.frames),
                selected,
            )
            if objects is not None:
                objects.write(input_location, lightly_location)
        with watch("report"):
            blocks, thumbnails = report_work.result()
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
        selection={**explanation.report(), "unit": unit, "tableColumns": explanation.columns(), **extra},
        embedding=embedded.source,
        inputs={**inputs.report(), "otherFiles": dict(sorted(other_files.items()))},
    )
    report.update(training.report() if training is not None else {})
    report["dataset"] = {"name": dataset.name, "tag": tag if selected else None, "url": dataset.url}
    if frames:
        report["frames"] = {"folder": FRAMES_FOLDER, "written": len(frames)}
    report.update(blocks)
    if objects is not None:
        report.update(objects.report())
    write_report(folder, report, thumbnails)
    folder.write_text("log.txt", log.text())
    crash_point("writing")
    with signals_deferred():  # published in the dataset and committed, or neither (errors.py)
        if objects is not None:
            objects.publish(folder.run_id, tag, input_location.url, listing, finished, selection_data)
        published = publish_run(
            prepared,
            run_dataset.state,
            folder.run_id,
            tag,
            gathered,
            plan,
            listing,
            new_images,
            finished,
            None if on_crops else selection_data,
            sequence_names(folder.run_id, pick_order, worker.selected_sequence_length),
        )
        if cache is not None:
            clear_cache_best_effort(cache)
        folder.commit({"run_id": folder.run_id, "finished": finished.isoformat(), "nSelected": len(selected)})
        if training is not None:
            training.forget()
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


__all__ = ["RunResult", "execute_run", "run"]
