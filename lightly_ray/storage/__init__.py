"""One storage layer for every location: local paths now, object stores behind the same interface."""

from lightly_ray.storage.location import ListedFile, Location, safe_relative_path

__all__ = ["ListedFile", "Location", "safe_relative_path"]
