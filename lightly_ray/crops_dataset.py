"""The crops dataset of object level: the selected crops' pictures, samples and tags.

Object level (`object_level.py`) adds the crops it selects to a dataset of their own,
`<dataset name>-crops` or `object_level.crop_dataset_name`: each crop's picture is cut again
from its source image (the input's image, or the frame the run wrote) and written into the
dataset's `crops/` folder before the dataset is published, so a crash in between leaves
unreferenced pictures and never a sample without its picture.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
from PIL import Image

from lightly_ray.config import RunConfig
from lightly_ray.datasets import Dataset
from lightly_ray.datasets.annotations import annotate
from lightly_ray.datasets.rows import files_table, processed_table, rows_named
from lightly_ray.datasets.settings import embedding_settings
from lightly_ray.datasets.store import DatasetState, RunRecord
from lightly_ray.outputs.frames import PIL_FORMATS, frame_image_path
from lightly_ray.pipeline.crops import BOX_INDEX, BOX_SCORE, CATEGORY, CROP_BOX, PARENT
from lightly_ray.pipeline.gather import GatheredSamples
from lightly_ray.selection.data import SelectionData
from lightly_ray.storage import Location

logger = logging.getLogger("lightly_ray")

CROPS_FOLDER = "crops"  # in the crops dataset's folder
WRITE_THREADS = 8


def crops_dataset_name(config: RunConfig, dataset: str) -> str:
    """`object_level.crop_dataset_name`, or `<dataset>-crops`."""
    return config.worker_config.object_level.crop_dataset_name or f"{dataset}-crops"


def write_crop_images(
    input_location: Location,
    lightly_location: Location,
    dataset: Dataset,
    crops: GatheredSamples,
    selected: Sequence[str],
    image_format: str,
) -> list[str]:
    """Write each selected crop as an image into the crops dataset's `crops/` folder.

    Each source image is read once (an image from the input, a frame from the frames the run
    wrote to `.lightly/frames/`), and its selected crops are cut from it.

    Returns:
        The paths written, relative to the lightly location.
    """
    row_of = {str(name): row for row, name in enumerate(crops.names)}
    # Each column read once here (a spilled one is mapped per read): the threads only index them.
    parents, boxes = crops.detections[PARENT], crops.detections[CROP_BOX]
    by_parent: dict[str, list[int]] = {}
    for name in selected:
        row = row_of[name]
        by_parent.setdefault(str(parents[row]), []).append(row)
    videos = crops.frames.get("video")

    def write(parent: str, rows: list[int]) -> list[str]:
        from_video = videos is not None and bool(videos[rows[0]])
        source = lightly_location if from_video else input_location
        path = frame_image_path(parent, image_format) if from_video else parent
        with Image.open(io.BytesIO(source.read_bytes(path))) as opened:
            pixels = opened.convert("RGB")
        written = []
        for row in rows:
            x1, y1, x2, y2 = (int(value) for value in boxes[row])
            buffer = io.BytesIO()
            pixels.crop((x1, y1, x2, y2)).save(buffer, format=PIL_FORMATS[image_format])
            target = f"{dataset.folder}/{crop_file(str(crops.names[row]), image_format)}"
            lightly_location.write_bytes(target, buffer.getvalue())
            written.append(target)
        return written

    with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
        parts = list(pool.map(lambda item: write(*item), by_parent.items()))
    return [path for part in parts for path in part]


def crop_file(name: str, image_format: str) -> str:
    """Where a crop's picture goes in its crops dataset's folder: `crops/<name>`, as png or jpg."""
    suffix = "jpg" if image_format in ("jpg", "jpeg") else "png"
    return f"{CROPS_FOLDER}/{name.removesuffix('.png')}.{suffix}"


def publish_crops(
    config: RunConfig,
    dataset: Dataset,
    run_id: str,
    tag: str,
    input_url: str,
    crops: GatheredSamples,
    listing: pa.Table,
    selected: list[str],
    finished: dt.datetime,
    data: SelectionData,
    image_format: str,
    previous: DatasetState | None = None,
) -> int:
    """Add the selected crops to the crops dataset (samples, tags), after the crop images.

    Returns:
        The crops dataset's sample count after the run.
    """
    previous = previous if previous is not None else dataset.load()
    processed = processed_table(crops, listing, run_id)
    chosen = annotate(rows_named(processed, selected), data)
    position = {str(name): row for row, name in enumerate(crops.names)}
    rows = np.asarray([position[str(name)] for name in chosen.column("name").to_pylist()], dtype=np.int64)
    # Each column taken at the chosen rows once (a spilled one is mapped per read, not per row).
    taken = {key: crops.detections[key][rows] for key in (PARENT, BOX_INDEX, CROP_BOX, CATEGORY, BOX_SCORE)}
    extra = {
        "source": pa.array([str(value) for value in taken[PARENT]], pa.string()),
        "box_index": pa.array([int(value) for value in taken[BOX_INDEX]], pa.int32()),
        "box": pa.array([[int(value) for value in box] for box in taken[CROP_BOX]], pa.list_(pa.int32(), 4)),
        "category_id": pa.array([int(value) for value in taken[CATEGORY]], pa.int64()),
        "score": pa.array([float(value) for value in taken[BOX_SCORE]], pa.float32()),
        "picture": pa.array(
            [crop_file(str(crops.names[row]), image_format) for row in rows.tolist()], pa.string()
        ),
    }
    for key, values in extra.items():
        chosen = chosen.append_column(key, values)
    record = RunRecord(
        run_id=run_id,
        tag=tag if selected else "",
        finished=finished.isoformat(),
        input=input_url,
        selected=len(selected),
        processed=0,
        embedding=embedding_settings(config),
    )
    state = dataset.publish(
        previous,
        record,
        selected=chosen,
        processed=processed.slice(0, 0),
        files=files_table(listing.slice(0, 0)),
    )
    logger.info(
        "crops dataset '%s': %d crops added (%d in all)", dataset.name, len(selected), state.sample_count
    )
    return state.sample_count


__all__ = ["crop_file", "crops_dataset_name", "publish_crops", "write_crop_images"]
