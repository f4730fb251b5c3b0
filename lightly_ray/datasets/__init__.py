"""Datasets in the lightly location: samples, tags and the datapool state, published atomically."""

from lightly_ray.datasets.datapool import DatapoolPlan, plan_datapool
from lightly_ray.datasets.names import INITIAL_TAG, check_name, default_dataset_name
from lightly_ray.datasets.selection_pool import SelectionPool, selection_pool
from lightly_ray.datasets.store import Dataset, DatasetConflictError, DatasetState, RunRecord

__all__ = [
    "INITIAL_TAG",
    "DatapoolPlan",
    "Dataset",
    "DatasetConflictError",
    "DatasetState",
    "RunRecord",
    "SelectionPool",
    "check_name",
    "default_dataset_name",
    "plan_datapool",
    "selection_pool",
]
