"""Optional dependencies: a missing one is a clear error that names the extra to install."""

from __future__ import annotations

import importlib
from typing import Any

from lightly_ray.errors import StorageError


def require(module: str, *, extra: str) -> Any:
    """Import `module`, or explain which extra of lightly-ray provides it.

    Raises:
        StorageError: When the module is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise StorageError(
            f"this location needs the Python package providing '{module}': pip install 'lightly-ray[{extra}]'"
        ) from None
