"""Names of datasets and tags: what is allowed, and the default dataset name of an input."""

from __future__ import annotations

import re

from lightly_ray.config.worker import NAME_PATTERN, NAME_RULE
from lightly_ray.errors import UsageError
from lightly_ray.storage.urls import parse_location_url

INITIAL_TAG = "initial-tag"


def check_name(value: str, what: str) -> str:
    """Return `value` when it can name a dataset or tag (it becomes a folder or file name).

    Args:
        value: The name.
        what: What it names, for the message ("--dataset", "tag").

    Raises:
        UsageError: For an empty name, one longer than 100 characters, or one with characters
            other than letters, digits, '.', '_' and '-' (first character a letter or digit).

    """
    if not NAME_PATTERN.match(value):
        raise UsageError(f"{what} {value!r} is not a valid name: {NAME_RULE}")
    return value


def default_dataset_name(input_url: str) -> str:
    """The dataset a run writes when none is named: the input's last folder name.

    `s3://bucket/raw/videos/` gives `videos`, `/data/images` gives `images`, a bucket's root
    gives the bucket's name. Characters a name cannot hold become '-'.

    Args:
        input_url: The input location as the user gave it.

    """
    parsed = parse_location_url(input_url)
    parts = [part for part in parsed.prefix.split("/") if part]
    last = parts[-1] if parts else (parsed.bucket or "dataset")
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", last).strip("-._")[:100]
    return cleaned or "dataset"
