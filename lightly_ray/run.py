"""`run(...)`: one curation run, from listing the input to a committed run folder."""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from lightly_ray.config import RunConfig, load_config, unsupported_features
from lightly_ray.embedding_sources import embed_from_csv, embed_with_model
from lightly_ray.errors import LightlyRayError, NotYetSupportedError, StorageError
from lightly_ray.formats.lightly_inputs import LightlyInputs, read_lightly_inputs
from lightly_ray.formats.relevant_filenames import RelevantFilenames, read_relevant_filenames
from lightly_ray.outputs import DatasetSizes, RunFolder, build_report, new_run_id
from lightly_ray.pipeline.gather import GatheredSamples
from lightly_ray.pipeline.listing import IMAGE_EXTENSIONS, list_images
from lightly_ray.progress import Stopwatch, captured_run_log, logger
from lightly_ray.ray_session import ray_session
from lightly_ray.selection.base import SelectionResult
from lightly_ray.selection.engine import select
from lightly_ray.selection.inputs import SelectionData, build_problem
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

    """

    run_id: str
    run_folder: str
    selected: list[str]
    counts: dict[str, int]
    report: dict[str, Any]
    config: RunConfig

    def summary(self) -> str:
        """A one-screen summary of the run and where its outputs are."""
        counts = self.counts
        candidates = counts["nInput"] - counts["nCorrupt"] - counts["nDuplicate"]
        timings = ", ".join(
            f"{stage} {seconds:.1f}s" for stage, seconds in self.report["stageTimings"].items()
        )
        selection = self.report["selection"]
        return "\n".join(
            [
                f"Run {self.run_id} finished in {self.report['run']['durationSeconds']:.1f}s",
                f"  input:      {counts['nInput']} images ({counts['nCorrupt']} corrupt, "
                f"{counts['nDuplicate']} exact duplicates)",
                f"  selected:   {counts['nSelected']} of {candidates} "
                f"candidates (budget {selection['budget']}, stopped: {selection['stopReason']})",
                f"  stages:     {timings}",
                f"  run folder: {self.run_folder}",
                "    selected names  filenames/selected.txt",
                "    embeddings      embeddings.parquet",
                "    report          report.json",
                "    corrupt files   corruptness_check_information.json",
            ]
        )


def run(
    input: str | os.PathLike[str],  # noqa: A002 - the Lightly Worker's name for it
    lightly: str | os.PathLike[str],
    *,
    config: str | Path | Mapping[str, Any] | RunConfig | None = None,
    worker_config: Mapping[str, Any] | None = None,
    selection_config: Mapping[str, Any] | None = None,
    lightly_config: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
    address: str | None = None,
    show_progress: bool = True,
) -> RunResult:
    """Run a curation job: list, decode, embed, select and write the run folder.

    The three config dicts take exactly the keys of the Lightly Worker's
    `schedule_compute_worker_run(worker_config=..., selection_config=..., lightly_config=...)`.

    Args:
        input: Input location (read-only): a local folder (object storage URLs later).
        lightly: Lightly location (read-write): predictions and metadata are read from it and
            the run folder is written to `.lightly/runs/<run id>/` in it.
        config: A YAML/JSON file, a dict of the three blocks, or a RunConfig.
        worker_config: Replaces config's worker_config block.
        selection_config: Replaces config's selection_config block.
        lightly_config: Replaces config's lightly_config block.
        overrides: Dotted `key=value` assignments, applied last.
        address: Ray cluster to join; default RAY_ADDRESS, else a local Ray instance.
        show_progress: Print stage messages and a progress bar to stderr.

    Returns:
        The run's result.

    Raises:
        ConfigError: For an invalid configuration (before any work).
        NotYetSupportedError: For a valid configuration this version cannot run (before any work).
        WeightsNotAvailableError: When the chosen model weights cannot be loaded.
        StorageError: When a location cannot be read or written.

    """
    run_config = _resolve_config(config, worker_config, selection_config, lightly_config, overrides)
    missing = unsupported_features(run_config)
    if missing:
        raise NotYetSupportedError(missing)
    input_location = Location(os.fspath(input), writable=False)
    lightly_location = Location(os.fspath(lightly), writable=True)
    with captured_run_log(show_progress) as log:
        folder = RunFolder(lightly_location, new_run_id())
        try:
            return _run(run_config, input_location, lightly_location, folder, address, show_progress, log)
        except BaseException:
            logger.error("run %s failed; its folder %s has no _SUCCESS", folder.run_id, folder.url)
            _write_log_best_effort(folder, log.text())
            raise


def _run(
    config: RunConfig,
    input_location: Location,
    lightly_location: Location,
    folder: RunFolder,
    address: str | None,
    show_progress: bool,
    log: Any,
) -> RunResult:
    started = dt.datetime.now(dt.UTC)
    watch = Stopwatch()
    if not config.worker_config.datasource.bypass_verify:
        _verify_locations(input_location, lightly_location)
    folder.write_json("config.json", _config_record(config, input_location, lightly_location))
    relevant = read_relevant_filenames(lightly_location, config.worker_config.relevant_filenames_file)
    with ray_session(address):
        logger.info("run %s: listing %s", folder.run_id, input_location.url)
        with watch("listing"):
            listing = list_images(input_location, relevant, parallel=True)
        _check_listing(listing, input_location, relevant)
        with watch("embed"):
            if config.worker_config.embeddings is not None:
                embedded = embed_from_csv(config, lightly_location, listing)
            else:
                embedded = embed_with_model(config, input_location, lightly_location, listing, show_progress)
    gathered = embedded.gathered
    with watch("inputs"):
        inputs = read_lightly_inputs(lightly_location, config, gathered.candidate_names())
    if inputs.problem_count():
        logger.warning(
            "%d problems in .lightly/ inputs: files skipped, see report.json", inputs.problem_count()
        )
    sizes = DatasetSizes(
        n_input=len(gathered.names),
        n_corrupt=int(gathered.corrupt.sum()),
        n_duplicate=int((gathered.duplicate_of != "").sum()),
    )
    logger.info(
        "%d corrupt, %d exact duplicates, %d candidates",
        sizes.n_corrupt,
        sizes.n_duplicate,
        sizes.n_candidates,
    )
    with watch("selection"):
        selection = _select(config, gathered, inputs)
    candidate_names = gathered.candidate_names()
    selected = sorted(candidate_names[index] for index in selection.indices)
    sizes.n_selected = len(selected)
    logger.info("selected %d samples (%s)", len(selected), selection.stop_reason)
    with watch("write"):
        _write_outputs(folder, gathered, selected)
    finished = dt.datetime.now(dt.UTC)
    report = build_report(
        run_id=folder.run_id,
        started=started,
        finished=finished,
        input_url=input_location.url,
        lightly_url=lightly_location.url,
        sizes=sizes,
        timings=watch.timings,
        selection=selection,
        embedding=embedded.source,
        inputs=inputs.report(),
    )
    folder.write_json("report.json", report)
    folder.write_text("log.txt", log.text())
    folder.commit({"run_id": folder.run_id, "finished": finished.isoformat(), "nSelected": len(selected)})
    return RunResult(
        run_id=folder.run_id,
        run_folder=folder.url,
        selected=selected,
        counts=sizes.as_report(),
        report=report,
        config=config,
    )


def _resolve_config(
    config: str | Path | Mapping[str, Any] | RunConfig | None,
    worker_config: Mapping[str, Any] | None,
    selection_config: Mapping[str, Any] | None,
    lightly_config: Mapping[str, Any] | None,
    overrides: Sequence[str],
) -> RunConfig:
    source = config.model_dump() if isinstance(config, RunConfig) else config
    return load_config(
        source,
        overrides,
        worker_config=worker_config,
        selection_config=selection_config,
        lightly_config=lightly_config,
    )


def _verify_locations(input_location: Location, lightly_location: Location) -> None:
    """Fail before any work when the input is missing or the lightly location is not writable."""
    if input_location.is_local and not os.path.isdir(input_location.root):
        raise StorageError(f"input location '{input_location.url}' does not exist or is not a folder")
    input_location.list_folders()  # one request: the bucket exists and we may list it
    probe = f".lightly/.write-check-{uuid.uuid4().hex[:8]}"
    try:
        lightly_location.write_bytes(probe, b"lightly_ray write check\n")
        lightly_location.delete(probe)
    except (OSError, StorageError) as error:
        raise StorageError(
            f"lightly location '{lightly_location.url}' is not writable: {error} "
            "(set worker_config.datasource.bypass_verify=true to skip this check)"
        ) from None


def _check_listing(listing: pa.Table, input_location: Location, relevant: RelevantFilenames | None) -> None:
    if listing.num_rows == 0:
        where = " that the relevant filenames file keeps" if relevant is not None else ""
        raise StorageError(
            f"no image files{where} in input '{input_location.url}' "
            f"(looked for {', '.join(IMAGE_EXTENSIONS)}, hidden folders skipped)"
        )
    logger.info("found %d image files", listing.num_rows)
    if relevant is not None:
        missing = relevant.missing_files(listing.column("name").to_pylist())
        if missing:
            logger.warning(
                "%s: %d listed files are not in the input (e.g. %s)",
                relevant.source,
                len(missing),
                missing[0],
            )


def _select(config: RunConfig, gathered: GatheredSamples, inputs: LightlyInputs) -> SelectionResult:
    names = gathered.candidate_names()
    if not names:
        raise LightlyRayError("no samples are left to select from: every input file is corrupt")
    data = SelectionData(
        names=names,
        embeddings=gathered.candidate_embeddings(),
        predictions=inputs.predictions,
        metadata=inputs.metadata,
        lightly_metadata=gathered.candidate_lightly_metadata(),
        random_seed=config.lightly_config.seed,
    )
    return select(build_problem(config.selection_config, data))


def _write_outputs(folder: RunFolder, gathered: GatheredSamples, selected: list[str]) -> None:
    corrupt = {
        str(name): str(error) for name, error in zip(gathered.names, gathered.errors, strict=True) if error
    }
    duplicates = {
        str(name): str(first)
        for name, first in zip(gathered.names, gathered.duplicate_of, strict=True)
        if first
    }
    folder.write_parquet("embeddings.parquet", gathered.embeddings_table())
    folder.write_json(
        "corruptness_check_information.json",
        {"corrupt_samples": sorted(corrupt), "errors": corrupt},
    )
    folder.write_lines("filenames/selected.txt", selected)
    folder.write_lines("filenames/corrupt.txt", sorted(corrupt))
    folder.write_lines("filenames/duplicate.txt", sorted(duplicates))
    if duplicates:
        folder.write_json("duplicates.json", duplicates)


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


__all__ = ["RunResult", "run"]
