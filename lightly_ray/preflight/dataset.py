"""Before a run: which dataset and tag it writes, and whether it may write them."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow.parquet as pq

from lightly_ray.config import RunConfig
from lightly_ray.config.selection import EmbeddingsInput
from lightly_ray.datasets import Dataset, DatasetConflictError, DatasetState, check_name, default_dataset_name
from lightly_ray.datasets.settings import embedding_settings, vector_settings
from lightly_ray.datasets.store import DATASETS_PREFIX, STATE_FILE
from lightly_ray.errors import ConfigError
from lightly_ray.storage import Location


@dataclass(frozen=True)
class RunDataset:
    """The dataset a run publishes to, as it was before the run.

    Attributes:
        dataset: The dataset (it may not exist yet).
        state: Its published state when the run was checked.
        tag: The tag the run adds; None for one named after the run.
        queries: The query sets the selection names, by (dataset_id, tag_name): the dataset and
            its state (checked: the tag exists and was embedded as this run embeds).
    """

    dataset: Dataset
    state: DatasetState
    tag: str | None
    queries: dict[tuple[str, str], tuple[Dataset, DatasetState]] = field(default_factory=dict)

    def reloaded(self, config: RunConfig) -> RunDataset:
        """The same dataset with its state read again (once the run holds the dataset's lock).

        Another run may have published between the checks and the lock; the run builds on what
        that run published, and is refused as before the run when it now could not publish.

        Raises:
            DatasetConflictError: As `check_dataset`.
        """
        state = self.dataset.load()
        _check_state(self.dataset, state, config, self.tag)
        return RunDataset(dataset=self.dataset, state=state, tag=self.tag, queries=self.queries)


def check_dataset(
    lightly_location: Location,
    input_location: Location,
    config: RunConfig,
    dataset: str | None,
    tag: str | None,
) -> RunDataset:
    """Resolve the run's dataset and tag, and refuse a run that could not publish to them.

    Args:
        lightly_location: The lightly location.
        input_location: The input (its last folder names the dataset by default).
        config: The validated configuration.
        dataset: The dataset's name (`--dataset`); None for the default.
        tag: The run's tag (`--tag`); None to name it after the run.

    Raises:
        UsageError: For a name a dataset or tag cannot have.
        DatasetConflictError: When the dataset holds samples and the datapool is off, or the
            tag exists in it.
        InputFormatError: When the dataset's state.json cannot be read.
    """
    name = (
        check_name(dataset, "--dataset") if dataset is not None else default_dataset_name(input_location.url)
    )
    if tag is not None:
        check_name(tag, "--tag")
    handle = Dataset(lightly_location, name)
    state = handle.load()
    _check_state(handle, state, config, tag)
    _check_crops_dataset(lightly_location, config, name, tag)
    return RunDataset(
        dataset=handle, state=state, tag=tag, queries=check_query_sets(lightly_location, config)
    )


def _holds(dataset: Dataset, state: DatasetState) -> str | None:
    """`crops` or `images` (and frames): what the dataset's samples are; None when it holds none.

    Read from the schema of its last samples file (a crop has a `category_id`), not the file.
    """
    runs = [run for run in state.runs if run.selected]
    if not runs:
        return None
    with dataset.location.open_read(f"{dataset.folder}/{runs[-1].samples_file}") as stream:
        return "crops" if "category_id" in pq.read_schema(stream).names else "images"


def _check_state(dataset: Dataset, state: DatasetState, config: RunConfig, tag: str | None) -> None:
    name, url = dataset.name, dataset.location.url
    if state.sample_count and not config.worker_config.use_datapool:
        raise DatasetConflictError(
            f"dataset '{name}' in '{url}' already holds {state.sample_count} samples "
            f"from {len(state.runs)} run(s), the last {state.version}. To add to it, set "
            "worker_config.use_datapool=true; to start a new dataset, name one with --dataset NAME "
            "(run(..., dataset=NAME))"
        )
    if tag is not None and tag in state.tags:
        raise DatasetConflictError(
            f"dataset '{name}' already has a tag '{tag}' (its tags: {', '.join(sorted(state.tags))}): "
            "choose another --tag"
        )
    if state.sample_count and _holds(dataset, state) == "crops":
        raise DatasetConflictError(
            f"dataset '{name}' holds the crops of object-level runs: a run adds its images and frames "
            "to a dataset of images; name another with --dataset NAME (run(..., dataset=NAME))"
        )


def _check_crops_dataset(
    lightly_location: Location, config: RunConfig, dataset: str, tag: str | None
) -> None:
    """With object level, the crops dataset must be one of crops (or new), and its tags free of the run's."""
    object_level = config.worker_config.object_level
    if object_level.task_name is None:
        return
    key = "worker_config.object_level.crop_dataset_name"
    if object_level.crop_dataset_name == dataset:
        raise DatasetConflictError(
            f"{key} '{dataset}' is the run's own dataset, which holds its images: crops go into a "
            f"dataset of their own (leave the key out for '{dataset}-crops')"
        )
    crops = Dataset(lightly_location, object_level.crop_dataset_name or f"{dataset}-crops")
    state = crops.load()
    if _holds(crops, state) == "images":
        raise DatasetConflictError(
            f"crops dataset '{crops.name}' holds images and frames of {len(state.runs)} run(s), not "
            f"crops: name a dataset of crops, or a new one, in {key}"
        )
    if tag is not None and tag in state.tags:
        raise DatasetConflictError(
            f"crops dataset '{crops.name}' already has a tag '{tag}' (its tags: "
            f"{', '.join(sorted(state.tags))}): choose another --tag"
        )


def check_query_sets(
    lightly_location: Location, config: RunConfig
) -> dict[tuple[str, str], tuple[Dataset, DatasetState]]:
    """The query sets of SIMILARITY strategies (`input.dataset_id`, `input.tag_name`), checked.

    `dataset_id` names a dataset of the lightly location (`.lightly/datasets/<dataset_id>/`).

    Raises:
        ConfigError: When a dataset or tag does not exist (the message lists those that do), or
            the tag's samples were embedded with other settings than this run's (their
            distances to this run's embeddings would mean nothing).
    """
    queries: dict[tuple[str, str], tuple[Dataset, DatasetState]] = {}
    problems = []
    settings = vector_settings(embedding_settings(config))
    for index, entry in enumerate(config.selection_config.strategies):
        chosen = entry.input
        if not isinstance(chosen, EmbeddingsInput) or chosen.dataset_id is None or chosen.tag_name is None:
            continue
        key = f"selection_config.strategies[{index}].input"
        dataset = Dataset(lightly_location, chosen.dataset_id)
        state = dataset.load()
        if not state.runs:
            known = ", ".join(list_datasets(lightly_location)) or "none"
            problems.append(
                f"{key}.dataset_id: no dataset '{chosen.dataset_id}' in '{lightly_location.url}' "
                f"(its datasets: {known})"
            )
            continue
        if chosen.tag_name not in state.tags:
            problems.append(
                f"{key}.tag_name: dataset '{chosen.dataset_id}' has no tag '{chosen.tag_name}' "
                f"(its tags: {', '.join(sorted(state.tags))})"
            )
            continue
        other = [run for run in state.runs if run.selected and vector_settings(run.embedding) != settings]
        if other:
            problems.append(
                f"{key}: the samples of dataset '{chosen.dataset_id}' were embedded with other settings "
                f"({other[-1].embedding}, run {other[-1].run_id}) than this run's ({settings}); use the "
                "same model, weights, out_dim, input_size and normalize_embeddings"
            )
            continue
        queries[(chosen.dataset_id, chosen.tag_name)] = (dataset, state)
    if problems:
        raise ConfigError(problems)
    return queries


def list_datasets(location: Location) -> list[str]:
    """Names of the datasets in a lightly location that a run published to, sorted.

    A dataset's folder without its state file holds only what runs that did not finish left
    (an embedding cache, a lock): no dataset to export from or query.
    """
    folders = [folder.rstrip("/") for folder in location.list_folders(DATASETS_PREFIX)]
    published = [folder for folder in folders if location.exists(f"{folder}/{STATE_FILE}")]
    return sorted(folder.rsplit("/", 1)[-1] for folder in published)
