"""Materialize a dataset in the object store while counting its rows: a progress bar for it.

`Dataset.materialize()` blocks until the last block is done and says nothing on the way. A
run that trains materializes its decoded rows first (`build.build_image_pipeline`), which on
a large input is the longest silent wait of the run. Here the blocks are taken as the
streaming executor finishes them (`iter_internal_ref_bundles`) and counted, then held as a
materialized dataset: the same steps as Ray 2.60's `Dataset.materialize`, which builds its
result from the executed blocks the same way (a plan whose source is the blocks).
"""

from __future__ import annotations

from collections.abc import Callable

import ray.data


def materialize_counting(dataset: ray.data.Dataset, counted: Callable[[int], None]) -> ray.data.Dataset:
    """Execute `dataset` and hold its blocks, calling `counted(rows)` as each bundle of them is done.

    Args:
        dataset: The dataset to execute.
        counted: Called with the rows of every bundle of blocks the executor hands over.

    Returns:
        A `MaterializedDataset` of the executed blocks, as `dataset.materialize()` returns.

    """
    from ray.data._internal.execution.interfaces import RefBundle
    from ray.data._internal.logical.interfaces import LogicalPlan
    from ray.data._internal.logical.operators.input_data_operator import InputData
    from ray.data._internal.stats import DatasetStats
    from ray.data.dataset import MaterializedDataset

    bundles: list[RefBundle] = []
    for bundle in dataset.iter_internal_ref_bundles():
        # One bundle per block, not owned: reading the dataset (every epoch) must not free them.
        bundles += [
            RefBundle(blocks=(block,), owns_blocks=False, schema=bundle.schema) for block in bundle.blocks
        ]
        counted(bundle.num_rows() or 0)
    plan = LogicalPlan(InputData(input_data=bundles), dataset.context)
    materialized: ray.data.Dataset = MaterializedDataset(
        plan, dataset.context, DatasetStats(metadata={}, parent=None)
    )
    materialized._execute()  # as materialize(): the plan's source is the blocks, held in its cache
    return materialized
