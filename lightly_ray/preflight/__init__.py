"""Everything checked before a run does any work, without importing Ray or torch.

`validate_config` is the one validation of a configuration: `lightly-ray validate`, `run` and
`demo` all call it. `prepare_run` adds the cluster address and the two locations, so that a
mistake is answered in seconds, naming the file or key, before Ray starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightly_ray.cluster_address import (
    DEFAULT_CONNECT_TIMEOUT_S,
    ClusterAddress,
    check_reachable,
    parse_cluster_address,
)
from lightly_ray.config import RunConfig, load_config, unsupported_features
from lightly_ray.errors import ConfigError, NotYetSupportedError, UsageError
from lightly_ray.formats.relevant_filenames import RelevantFilenames
from lightly_ray.preflight.dataset import RunDataset, check_dataset
from lightly_ray.preflight.hub_weights import check_hub_weights
from lightly_ray.preflight.locations import check_locations
from lightly_ray.preflight.references import check_config_references, read_relevant
from lightly_ray.storage import Location

ConfigSource = str | Path | Mapping[str, Any] | RunConfig | None


@dataclass(frozen=True)
class PreparedRun:
    """A run that passed every check before work, ready to execute.

    Attributes:
        config: The validated configuration.
        input_location: The input (read-only).
        lightly_location: The lightly location (read-write).
        address: The Ray cluster to join, or None for a local instance.
        connect_timeout_s: How long joining the cluster may take.
        relevant: The relevant filenames file, when there is one.
        dataset: The dataset the run publishes to, and its tag.

    """

    config: RunConfig
    input_location: Location
    lightly_location: Location
    address: ClusterAddress | None
    connect_timeout_s: float
    relevant: RelevantFilenames | None
    dataset: RunDataset


def validate_config(
    source: ConfigSource,
    overrides: Sequence[str] = (),
    *,
    worker_config: Mapping[str, Any] | None = None,
    selection_config: Mapping[str, Any] | None = None,
    lightly_config: Mapping[str, Any] | None = None,
    resources: Mapping[str, Any] | None = None,
    lightly: Location | None = None,
) -> tuple[RunConfig, list[str]]:
    """Validate a configuration, and what it names in the lightly location when one is given.

    Args:
        source: A YAML/JSON file, a dict of the three blocks, a RunConfig, or None.
        overrides: Dotted `key=value` assignments, applied last.
        worker_config: Replaces the source's worker_config block.
        selection_config: Replaces the source's selection_config block.
        lightly_config: Replaces the source's lightly_config block.
        resources: Replaces the stage resources block (lightly_ray's `resources`).
        lightly: The lightly location: prediction tasks, scores, categories, metadata keys and
            files the config names are checked against it, and its relevant filenames file is
            parsed as a run parses it.

    Returns:
        The configuration, and the features it uses that this version cannot run yet.

    Raises:
        ConfigError: Listing every problem with its key (and file).
        InputFormatError: For an invalid relevant filenames file (as `run` reports it).

    """
    raw = source.model_dump() if isinstance(source, RunConfig) else source
    config = load_config(
        raw,
        overrides,
        worker_config=worker_config,
        selection_config=selection_config,
        lightly_config=lightly_config,
        resources=resources,
    )
    if lightly is not None:
        check_references(lightly, config, source)
    return config, unsupported_features(config)


def check_references(lightly: Location, config: RunConfig, source: ConfigSource) -> RelevantFilenames | None:
    """Check what the config names in the lightly location; parse its relevant filenames file.

    The one check behind `validate --lightly` and `run`: both report the same problems.

    Returns:
        The relevant filenames file, or None when the run reads none.

    Raises:
        ConfigError: For everything the config names that the lightly location lacks.
        InputFormatError: For an invalid relevant filenames file.

    """
    problems = check_config_references(lightly, config)
    if problems:
        raise ConfigError(problems, source=str(source) if isinstance(source, str | Path) else None)
    return read_relevant(lightly, config)


def prepare_run(
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
    weights: bool = True,
) -> PreparedRun:
    """Check a run before any work: configuration, cluster address, locations, lightly inputs.

    Arguments are those of `lightly_ray.run`; `weights=False` leaves out the check that the
    pretrained weights can be had (a dry run reports it instead of stopping).

    Returns:
        The checked run.

    Raises:
        ConfigError: For an invalid configuration, or one naming what the lightly location lacks.
        NotYetSupportedError: For a valid configuration this version cannot run.
        UsageError: For a malformed cluster address or connect timeout.
        ClusterError: When nothing listens at the cluster address.
        StorageError: For a location that cannot be used.
        InputFormatError: For an invalid relevant filenames file or dataset state.
        DatasetConflictError: When the dataset holds samples and the datapool is off, or the tag
            exists.
        WeightsNotAvailableError: When pretrained weights are neither in the torch hub cache
            nor downloadable (`hub_weights`).

    """
    run_config, pending = validate_config(
        config,
        overrides,
        worker_config=worker_config,
        selection_config=selection_config,
        lightly_config=lightly_config,
        resources=resources,
    )
    if pending:
        raise NotYetSupportedError(pending)
    if not connect_timeout_s > 0:
        raise UsageError(f"the connect timeout must be a positive number of seconds, got {connect_timeout_s}")
    cluster = resolve_address(address)
    if cluster is not None:
        check_reachable(cluster, connect_timeout_s)
    input_location = Location(os.fspath(input), writable=False)
    lightly_location = Location(os.fspath(lightly), writable=True)
    check_locations(
        input_location, lightly_location, verify=not run_config.worker_config.datasource.bypass_verify
    )
    relevant = check_references(lightly_location, run_config, config)
    run_dataset = check_dataset(lightly_location, input_location, run_config, dataset, tag)
    if weights:
        check_hub_weights(run_config)
    return PreparedRun(
        config=run_config,
        input_location=input_location,
        lightly_location=lightly_location,
        address=cluster,
        connect_timeout_s=float(connect_timeout_s),
        relevant=relevant,
        dataset=run_dataset,
    )


def resolve_address(address: str | None) -> ClusterAddress | None:
    """The cluster a run joins: `address`, else RAY_ADDRESS, else None (a local instance).

    Raises:
        UsageError: When the address has none of the accepted forms.

    """
    if address:
        return parse_cluster_address(address, "--address")
    from_environment = os.environ.get("RAY_ADDRESS", "").strip()
    if from_environment:
        return parse_cluster_address(from_environment, "RAY_ADDRESS")
    return None


__all__ = ["PreparedRun", "prepare_run", "resolve_address", "validate_config"]
