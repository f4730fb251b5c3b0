"""report.json's `inputs` in an object-level run: the prediction and metadata files of the images.

Selection on crops reads the object-level task as each crop's own box and score
(`object_level.crop_predictions`), which no file holds. The report's `inputs` says what the
lightly location's files hold for the images and frames, as a run without object level reads
them: every task of `tasks.json` and the custom metadata, for the samples such a run selects
from (the candidate images and frames and, with the datapool, the image dataset's samples),
and with pretagging the detector's predictions of those samples. The crops are counted in
report.json's `objectLevel`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightly_ray.config import RunConfig
from lightly_ray.config.run_config import PRETAGGING_TASK
from lightly_ray.datasets.datapool import DatapoolPlan
from lightly_ray.datasets.selection_pool import pool_members
from lightly_ray.formats.lightly_inputs import LightlyInputs, read_lightly_inputs
from lightly_ray.formats.predictions import TaskPredictions
from lightly_ray.formats.pretag_predictions import pretag_predictions
from lightly_ray.pipeline.gather import GatheredSamples
from lightly_ray.sample_names import SampleNames
from lightly_ray.selection.data import SampleVideos, values_at_rows
from lightly_ray.storage import Location


def image_pool_names(images: GatheredSamples, plan: DatapoolPlan | None) -> tuple[SampleNames, SampleVideos]:
    """The samples a run without object level selects from (`datapool.selection_pool`'s names, no embeddings).

    Args:
        images: The gathered images and frames (no crops), candidates restricted to the plan.
        plan: The datapool's plan of the image dataset; None without the datapool.

    Returns:
        The candidates and the plan's preselected samples, sorted and unique, and per sample
        its video ("" for an image, read as None).
    """
    keep, _, stored, _ = pool_members(images, plan)
    own = np.flatnonzero(keep)
    video_column = images.frames.get("video", np.array([""], dtype=object))
    names, videos = images.names.at_rows(own), values_at_rows(video_column, own)
    if not stored or plan is None or plan.preselected is None:
        return names, SampleVideos(videos)
    rows = pa.array(np.fromiter(stored.values(), dtype=np.int64, count=len(stored)))
    names = SampleNames.concat([names, SampleNames(stored)])
    videos = np.concatenate(
        [videos, plan.preselected.column("video").take(rows).to_numpy(zero_copy_only=False)]
    )
    order = pc.sort_indices(names.arrow).to_numpy()
    return names.at_rows(order), SampleVideos(videos[order])


def read_image_inputs(
    location: Location,
    config: RunConfig,
    images: GatheredSamples,
    plan: DatapoolPlan,
    already_read: Mapping[str, TaskPredictions] | None = None,
) -> LightlyInputs:
    """The lightly location's inputs of the samples a run without object level selects from.

    Args:
        location: The lightly location.
        config: The run configuration.
        images: The gathered images and frames (no crops), candidates restricted to the plan.
        plan: The run's plan of the image dataset (without the datapool it preselects nothing
            and leaves no file unread, but it knows the relevant filenames).
        already_read: The object-level task as read for the crops, whose files are not
            fetched again.

    Returns:
        Every task's predictions and the custom metadata as `read_lightly_inputs` reads them
        (nothing is required of the tasks: the crops' inputs were checked), with pretagging
        the detector's predictions as task `lightly_pretagging`.
    """
    names, videos = image_pool_names(images, plan)
    elsewhere = plan.other_files(images)  # corrupt files and duplicates are no candidates either
    inputs = read_lightly_inputs(
        location, config, names, videos, check=False, elsewhere=elsewhere, already_read=already_read
    )
    if config.worker_config.pretagging:
        inputs.predictions[PRETAGGING_TASK] = pretag_predictions(
            names, images.names, images.detections, location
        )
    return inputs


__all__ = ["image_pool_names", "read_image_inputs"]
