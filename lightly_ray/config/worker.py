"""`worker_config`: what the run does, with the Lightly Worker's keys and defaults."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from lightly_ray.config.base import StrictModel

# What a dataset or tag may be called: it becomes a folder or file name.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
NAME_RULE = "use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"


class ObjectLevelConfig(StrictModel):
    """`worker_config.object_level`: crop every predicted box of a detection task and select crops."""

    task_name: str | None = Field(
        default=None,
        description="Detection task whose boxes become crop samples (or 'lightly_pretagging').",
    )
    padding: float = Field(
        default=0.0,
        ge=0.0,
        description="Grow width and height of each box by this fraction around its centre.",
    )
    crop_dataset_name: str | None = Field(
        default=None,
        description="Name of the crops dataset; default '<dataset name>-crops'.",
    )

    @field_validator("crop_dataset_name")
    @classmethod
    def _a_dataset_name(cls, value: str | None) -> str | None:
        if value is not None and not NAME_PATTERN.match(value):
            raise ValueError(f"{value!r} is not a valid dataset name: {NAME_RULE}")
        return value

    @model_validator(mode="after")
    def _crop_settings_need_a_task(self) -> ObjectLevelConfig:
        """`padding` and `crop_dataset_name` shape the crops of `task_name`: without it, no crop is cut."""
        if self.task_name is None:
            given = [key for key in ("padding", "crop_dataset_name") if getattr(self, key)]
            if given:
                raise ValueError(
                    f"{' and '.join(given)} without task_name: they apply to the crops of the detection "
                    "task that task_name names (object level); set task_name or remove them"
                )
        return self


class TrainingConfig(StrictModel):
    """`worker_config.training`: what `enable_training` trains on."""

    task_name: str | None = Field(
        default=None,
        description="Train on the object crops of this detection task instead of whole images: the "
        "task whose boxes the run cuts (object_level.task_name, or an EMBEDDINGS input's task).",
    )


class DatasourceConfig(StrictModel):
    """`worker_config.datasource`."""

    process_all: bool = Field(
        default=False,
        description="With the datapool, process all input, not only input new since the last run.",
    )
    bypass_verify: bool = Field(
        default=False,
        description="Skip the check, before any work, that the input can be listed and the lightly "
        "location written.",
    )


class WorkerConfig(StrictModel):
    """`worker_config`: the run's switches. Defaults are those of the Lightly Worker."""

    enable_corruptness_check: bool = Field(
        default=True,
        description="List files that cannot be decoded in corruptness_check_information.json and "
        "exclude them.",
    )
    remove_exact_duplicates: bool = Field(
        default=True,
        description="Keep only the first (by name) of files with identical bytes.",
    )
    enable_training: bool = Field(
        default=False, description="Train the embedding model self-supervised before embedding."
    )
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    pretagging: bool = Field(
        default=False, description="Run the built-in object detector (task 'lightly_pretagging')."
    )
    pretagging_debug: bool = Field(
        default=False, description="Write images with the detector's boxes drawn on them."
    )
    object_level: ObjectLevelConfig = Field(default_factory=ObjectLevelConfig)
    datasource: DatasourceConfig = Field(default_factory=DatasourceConfig)
    use_datapool: bool = Field(
        default=False,
        description="Grow one dataset across runs: process only new input, preselect earlier picks.",
    )
    relevant_filenames_file: str | None = Field(
        default=None,
        description="Path in the lightly location of the list of input files to process "
        "(default .lightly/relevant_filenames.txt when present).",
    )
    selected_sequence_length: int | None = Field(
        default=None,
        gt=0,
        description="Select whole sequences of this many consecutive video frames.",
    )
    checkpoint: str | None = Field(
        default=None,
        description="Model checkpoint: a path relative to the lightly location or a URL. Overrides "
        "lightly_config.model.weights.",
    )
    embeddings: str | None = Field(
        default=None,
        description="Embeddings CSV (path relative to the lightly location or a URL) to use instead "
        "of running the model.",
    )
    normalize_embeddings: bool = Field(
        default=True, description="Scale embeddings to unit length before selection."
    )
    output_image_format: Literal["png", "jpg", "jpeg"] = Field(
        default="png", description="Image format of written crops and frames."
    )
    shutdown_when_job_finished: bool = Field(
        default=False,
        description="Accepted for compatibility; a lightly_ray run always ends with its job.",
    )
