"""The driver's steps of a run between its stages: indexing videos, the pool, selecting from it.

`run.py` calls them in order; each is one step with its inputs and result, kept apart from
the run's orchestration.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyarrow as pa

from lightly_ray.config import RunConfig
from lightly_ray.config.run_config import PRETAGGING_TASK
from lightly_ray.datasets import DatapoolPlan, SelectionPool, selection_pool
from lightly_ray.datasets.datapool import mark_copies_of_the_dataset, restrict_candidates
from lightly_ray.errors import LightlyRayError
from lightly_ray.formats.lightly_inputs import LightlyInputs, read_lightly_inputs
from lightly_ray.formats.pretag_predictions import pretag_predictions
from lightly_ray.object_level import CropRun
from lightly_ray.outputs import RunFolder, write_sequence_information
from lightly_ray.pipeline.gather import GatheredSamples
from lightly_ray.pipeline.input_kinds import is_video_file
from lightly_ray.pipeline.row_moves import release_free_memory
from lightly_ray.pipeline.spilled_columns import mapped_table
from lightly_ray.pipeline.units import IndexedVideos, index_videos, sample_names
from lightly_ray.progress import LogCapture, logger
from lightly_ray.report.document import DatasetSizes
from lightly_ray.report.summary_lines import UNIT_CROPS, UNIT_FRAMES, UNIT_SAMPLES, count, unit_count
from lightly_ray.run_result import selection_line
from lightly_ray.selection.data import ObjectEmbeddings
from lightly_ray.selection.engine import select
from lightly_ray.selection.explain import SelectionExplanation, explain_selection
from lightly_ray.selection.fast_diversity import fast_diversity_applies
from lightly_ray.selection.inputs import SelectionData, build_problem
from lightly_ray.selection.placement import alive_nodes, selection_place
from lightly_ray.selection.sequences import select_sequences, sequence_ids
from lightly_ray.storage import Location
from lightly_ray.video.names import frames_named_like


def crop_run(
    config: RunConfig,
    lightly_location: Location,
    listing: pa.Table,
    to_process: pa.Table,
    videos: IndexedVideos,
    dataset_name: str,
) -> CropRun | None:
    """The run's crops (`CropRun.of`), or None when it cuts none.

    Only a run that cuts crops lists its samples' names as Python strings (the prediction files
    are read by name): a list of every sample would otherwise stay beside the embedding matrix
    (about 250 MB at 2M samples).
    """
    if config.crop_task() is None:
        return None
    processed = sample_names(to_process, videos)
    unchanged = set(listing.column("name").to_pylist()) - set(to_process.column("name").to_pylist())
    return CropRun.of(config, lightly_location, [*processed, *unchanged], processed, dataset_name)


def map_listing(listing: pa.Table, plan: DatapoolPlan) -> pa.Table:
    """The listing mapped from a scratch file (`spilled_columns.mapped_table`), in the plan too.

    Once planned, the driver reads the listing to make the pipeline's work units and again
    only when writing (sizes, frames, publishing); mapped, its 131 MB at 2M files are not in
    the driver's memory while it gathers and selects (the pages those reads touch are dropped
    after them: `spilled_columns.drop_mapped_pages`).
    """
    mapped = mapped_table(listing)
    if plan.to_process is listing:
        plan.to_process = mapped
    return mapped


def index_run_videos(input_location: Location, listing: pa.Table) -> IndexedVideos:
    """Index the listing's videos (Ray tasks), and say what they hold.

    Raises:
        LightlyRayError: When an image file has the name of a frame of a video beside it.
    """
    videos = index_videos(input_location, listing)
    images = (name for name in listing.column("name").to_pylist() if not is_video_file(name))
    clashes = frames_named_like(images, {video: index.frame_count for video, index in videos.indexes.items()})
    if clashes:
        shown = ", ".join(f"'{image}' (a frame of '{video}')" for image, video in clashes[:5])
        more = f" and {len(clashes) - 5} more" if len(clashes) > 5 else ""
        verb = "has" if len(clashes) == 1 else "have"
        raise LightlyRayError(
            f"{count(len(clashes), 'image file')} in {input_location.url} {verb} the name of a video "
            f"frame, which is a sample of its own: {shown}{more}. Move such files (frames extracted "
            "earlier) out of the input, or leave them out with a relevant filenames line such as "
            "'* !*-mp4.png' (for the frames of .mp4 videos)"
        )
    if videos.indexes or videos.corrupt:
        logger.info(
            "%s: %s%s",
            count(len(videos.indexes) + len(videos.corrupt), "video"),
            count(videos.frame_count, "frame"),
            f", {len(videos.corrupt)} cannot be read as videos" if videos.corrupt else "",
        )
    return videos


def dataset_sizes(gathered: GatheredSamples, preselected: int, corrupt_videos: int) -> DatasetSizes:
    """The run's counts before selection: samples, corrupt and duplicate ones, unreadable videos."""
    return DatasetSizes(
        n_input=len(gathered.names),
        n_corrupt=int(gathered.corrupt.sum()),
        n_duplicate=int((gathered.duplicate_of != "").sum()),
        n_unchanged=int((~gathered.corrupt & (gathered.duplicate_of == "") & ~gathered.candidate).sum()),
        n_preselected_datapool=preselected,
        n_corrupt_videos=corrupt_videos,
    )


def log_candidates(sizes: DatasetSizes, pool: SelectionPool, objects: CropRun | None, datapool: bool) -> None:
    """Say what decoding left: corrupt files, duplicates, unreadable videos, and the candidates.

    On crops, the samples are images and the candidates and preselected are crops.
    """
    on_crops = objects is not None and objects.on_crops
    removed = [
        f"{sizes.n_corrupt} corrupt",
        count(sizes.n_duplicate, "exact duplicate"),
        *([f"{count(sizes.n_corrupt_videos, 'video')} cannot be read"] if sizes.n_corrupt_videos else []),
    ]
    preselected = len(pool.preselected)
    if on_crops:
        assert objects is not None and objects.dataset is not None
        candidates = count(len(pool.names) - preselected, "candidate crop")
        text = f"{candidates} of {count(sizes.n_candidates, 'candidate image')}"
        source = objects.dataset.name
    elif datapool:  # as the summary counts them: the new ones (a process_all rerun has the dataset's too)
        text, source = count(len(pool.names) - preselected, "new candidate"), "the dataset"
    else:
        text, source = count(sizes.n_candidates, "candidate"), "the dataset"
    if datapool:
        text += (
            f", {unit_count(preselected, UNIT_CROPS if on_crops else UNIT_SAMPLES)} preselected from {source}"
        )
    noun = ("image", "images") if on_crops else ("sample", "samples")
    logger.info("%s: %s; %s", count(sizes.n_input, *noun), ", ".join(removed), text)


def log_input_problems(inputs: LightlyInputs, log: LogCapture, *, shown: int = 2, in_log: int = 1000) -> None:
    """Warn of the problems found in `.lightly/` inputs, naming the first; list them in log.txt.

    The warning names `shown` problems (file, key, what is wrong); log.txt gets every one (at
    most `in_log`), so that they can be found even when the run fails before report.json.
    """
    described = inputs.files if inputs.files is not None else inputs
    problems = [str(problem) for result in described.predictions.values() for problem in result.problems]
    if described.metadata is not None:
        problems += [str(problem) for problem in described.metadata.problems]
    if not problems:
        return
    more = len(problems) - shown
    logger.warning(
        "%s in .lightly/ inputs (the files or values are skipped): %s%s; every one is listed in log.txt "
        "(and in report.json's inputs when the run finishes)",
        count(len(problems), "problem"),
        "; ".join(problems[:shown]),
        f"; and {more} more" if more > 0 else "",
    )
    for problem in problems[:in_log]:
        log.note(logging.WARNING, f"input problem: {problem}")
    if len(problems) > in_log:
        log.note(logging.WARNING, f"input problems: {len(problems) - in_log} more (report.json counts them)")


def pool_and_inputs(
    config: RunConfig,
    lightly_location: Location,
    gathered: GatheredSamples,
    plan: DatapoolPlan,
    objects: CropRun | None,
) -> tuple[SelectionPool, LightlyInputs]:
    """What selection runs over (the candidates and, with the datapool, the preselected) and reads.

    `gathered` are the run's images and frames; its candidates are restricted to the datapool's
    new files. Object level selects among the crops, each with its own box as the task's
    prediction; otherwise the inputs are read from the lightly location, and the detector's
    predictions come from the gathered columns (or its files, for reused samples).
    """
    worker = config.worker_config
    release_free_memory()  # what gathering and `map_listing` freed (Arrow's pool keeps it otherwise)
    restrict_candidates(gathered, plan)
    if worker.use_datapool and worker.remove_exact_duplicates:
        copies = mark_copies_of_the_dataset(gathered, plan)
        if copies:
            logger.info(
                "%s the bytes of samples of the dataset: left out as exact duplicates (duplicates.json)",
                f"{count(copies, 'new file')} {'has' if copies == 1 else 'have'}",
            )
    datapool = plan if worker.use_datapool else None
    if objects is not None and objects.on_crops:
        pool = objects.pool(gathered, plan, datapool=worker.use_datapool)
        if not pool.names and gathered.candidate.any():
            raise LightlyRayError(f"object level has no crops to select from: {objects.why_no_crops()}")
        return pool, objects.inputs()
    pool = selection_pool(gathered, datapool)
    inputs = read_lightly_inputs(
        lightly_location,
        config,
        pool.names,
        pool.videos,
        elsewhere=plan.other_files(gathered, from_csv=worker.embeddings is not None),
        already_read=objects.tasks_read if objects is not None else None,
    )
    if worker.pretagging:
        inputs.predictions[PRETAGGING_TASK] = pretag_predictions(
            pool.names, gathered.names, gathered.detections, lightly_location
        )
    return pool, inputs


def select_pool(
    config: RunConfig,
    pool: SelectionPool,
    inputs: LightlyInputs,
    queries: dict[tuple[str, str], np.ndarray],
    object_embeddings: dict[str, ObjectEmbeddings],
) -> tuple[SelectionExplanation, SelectionData, dict[str, Any]]:
    """Select from the pool (whole sequences with `selected_sequence_length`), and explain it.

    `object_embeddings` are the embeddings of the candidates' objects by task (EMBEDDINGS with
    `task`), `CropRun.object_embeddings`. The third value holds the report's extra `selection`
    keys: where DIVERSITY alone ran (`placement`), or the candidates of sequence mode
    (`sequences`: `length`, `nCandidateFrames` and `nCandidateSequences`: the new candidate frames
    in complete sequences, and those sequences; only they can be selected).
    """
    if len(pool.names) == len(pool.preselected):
        if pool.names:
            logger.info(
                "no new candidates to select from: all %d are preselected from the dataset (the files "
                "earlier runs processed are candidates again with "
                "worker_config.datasource.process_all: true)",
                len(pool.names),
            )
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
        object_embeddings=object_embeddings,
    )
    problem = build_problem(config.selection_config, data)
    length = config.worker_config.selected_sequence_length
    if length is None:
        kernel, placement = None, dict[str, Any]()
        if fast_diversity_applies(problem, min_rows=0):
            rows, dim = pool.embeddings.shape
            place = selection_place(config.resources.selection, rows, dim, nodes=alive_nodes())
            logger.info(
                "DIVERSITY over %d candidates runs %s: %s", len(pool.names), place.where, place.reason
            )
            kernel = place.kernel
            placement = {"placement": place.report()}
        result = select(problem, diversity_kernel=kernel)
        release_free_memory()  # the selection's working arrays (a quarter of the matrix and more)
        return explain_selection(config.selection_config, problem, result), data, placement
    videos = np.asarray([video or "" for video in pool.videos], dtype=object)
    ids = sequence_ids(videos, pool.frame_indices, np.ones(len(pool.names), dtype=bool), length)
    if not (ids >= 0).any():
        raise LightlyRayError(
            f"worker_config.selected_sequence_length is {length}, but no video has {length} consecutive "
            "frames that decoded: shorten the sequences or add longer videos"
        )
    new = np.ones(len(ids), dtype=bool)
    new[np.asarray(pool.preselected, dtype=np.int64)] = False  # the datapool's frames are no candidates
    in_sequences = ids[(ids >= 0) & new]
    sequences = {"length": length, "nCandidateFrames": len(in_sequences)}
    sequences["nCandidateSequences"] = len(np.unique(in_sequences))
    logger.info(
        "%s in %s of %d are candidates (of %s)",
        count(len(in_sequences), "frame"),
        count(sequences["nCandidateSequences"], "complete sequence"),
        length,
        count(len(pool.names), "sample"),
    )
    explained = explain_selection(config.selection_config, problem, select_sequences(problem, ids))
    return explained, data, {"sequences": sequences}


def selection_unit_of(objects: CropRun | None, length: int | None) -> str:
    """What the selection's counts count: crops (object level), frames (sequences) or samples."""
    if objects is not None and objects.on_crops:
        return UNIT_CROPS
    return UNIT_FRAMES if length is not None else UNIT_SAMPLES


def log_selection(
    explanation: SelectionExplanation, preselected: int, unit: str, objects: CropRun | None, images: int
) -> None:
    """Say what selection picked, in its unit, and why fewer; on crops, how many images that makes."""
    shortfall = explanation.shortfall()
    crops_dataset = objects.dataset if objects is not None else None
    source = crops_dataset.name if crops_dataset is not None else "the dataset"
    result = explanation.result
    logger.info(
        "%s (stopped: %s)%s",
        selection_line(len(result.indices), preselected, result.requested, unit, source),
        result.stop_reason,
        f": {shortfall['message']}" if shortfall else "",
    )
    if preselected >= result.requested and result.n_candidates > preselected:
        logger.warning(
            "n_samples (or proportion_samples) counts the %d %s preselected from %s, which reach the %d "
            "requested: none of the %d new candidates was selected. Raise it to add new ones; the "
            "new files are recorded as processed, and a later run selects from them again only with "
            "worker_config.datasource.process_all: true",
            preselected,
            unit,
            source,
            result.requested,
            result.n_candidates - preselected,
        )
    if crops_dataset is not None:
        logger.info("selected too: the %s of the selected crops", count(images, "image"))


def sequence_names(run_id: str, pick_order: list[str], length: int | None) -> dict[str, str] | None:
    """By selected frame, its sequence `<run id>/<k>` (picks come as whole sequences, in order)."""
    if length is None:
        return None
    return {name: f"{run_id}/{position // length}" for position, name in enumerate(pick_order)}


def write_sequences(
    folder: RunFolder, gathered: GatheredSamples, pick_order: list[str], length: int | None
) -> None:
    """Write sequence_information.json in sequence mode (`selected_sequence_length`), and say so."""
    if length is None:
        return
    written = write_sequence_information(folder, gathered, pick_order, length)
    logger.info("selected %s of %d frames: sequence_information.json", count(written, "sequence"), length)


def config_record(config: RunConfig, input_location: Location, lightly_location: Location) -> dict[str, Any]:
    """The run folder's config.json: the locations and the whole configuration."""
    return {
        "input": input_location.url,
        "lightly": lightly_location.url,
        **config.model_dump(mode="json"),
    }


__all__ = [
    "config_record",
    "crop_run",
    "dataset_sizes",
    "index_run_videos",
    "log_candidates",
    "log_input_problems",
    "map_listing",
    "pool_and_inputs",
    "select_pool",
    "log_selection",
    "selection_unit_of",
    "sequence_names",
    "write_sequences",
]
