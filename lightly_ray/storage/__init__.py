"""One storage layer for every location: local folders, S3, GCS and Azure Blob."""

from lightly_ray.storage.location import ListedFile, Location, relative_inside, safe_relative_path
from lightly_ray.storage.secrets import redact
from lightly_ray.storage.urls import display_url, parse_location_url

__all__ = [
    "ListedFile",
    "Location",
    "display_url",
    "parse_location_url",
    "redact",
    "relative_inside",
    "safe_relative_path",
]
