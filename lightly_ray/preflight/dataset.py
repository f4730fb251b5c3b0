"""Before a run: which dataset and tag it writes, and whether it may write them."""

from __future__ import annotations

from dataclasses import dataclass

from lightly_ray.config import RunConfig
from lightly_ray.datasets import Dataset, DatasetConflictError, DatasetState, check_name, default_dataset_name
from lightly_ray.storage import Location


@dataclass(frozen=True)
class RunDataset:
    """The dataset a run publishes to, as it was before the run.

    Attributes:
        dataset: The dataset (it may not exist yet).
        state: Its published state when the run was checked.
        tag: The tag the run adds; None for one named after the run.
    """

    dataset: Dataset
    state: DatasetState
    tag: str | None


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
    if state.sample_count and not config.worker_config.use_datapool:
        raise DatasetConflictError(
            f"dataset '{name}' in '{lightly_location.url}' already holds {state.sample_count} samples "
            f"from {len(state.runs)} run(s), the last {state.version}. To add to it, set "
            "worker_config.use_datapool=true; to start a new dataset, name one with --dataset NAME "
            "(run(..., dataset=NAME))"
        )
    if tag is not None and tag in state.tags:
        raise DatasetConflictError(
            f"dataset '{name}' already has a tag '{tag}' (its tags: {', '.join(sorted(state.tags))}): "
            "choose another --tag"
        )
    return RunDataset(dataset=handle, state=state, tag=tag)
