"""Run configuration: the Lightly Worker's `worker_config`, `selection_config` and `lightly_config`."""

from lightly_ray.config.lightly import LightlyConfig
from lightly_ray.config.overrides import apply_override
from lightly_ray.config.run_config import RunConfig, config_json_schema, load_config
from lightly_ray.config.selection import SelectionConfig
from lightly_ray.config.support import unsupported_features
from lightly_ray.config.worker import WorkerConfig

__all__ = [
    "LightlyConfig",
    "RunConfig",
    "SelectionConfig",
    "WorkerConfig",
    "apply_override",
    "config_json_schema",
    "load_config",
    "unsupported_features",
]
