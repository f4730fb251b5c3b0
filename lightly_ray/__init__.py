"""lightly_ray: Ray-distributed data curation for computer vision, configured like the Lightly Worker.

The top-level names are imported on first use, so that importing a submodule (a selection
kernel on a GPU machine, say) does not pull in Ray, pydantic and the storage SDKs.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lightly_ray.config import RunConfig, load_config
    from lightly_ray.run import RunResult, run

__version__ = "0.1.0"

__all__ = ["RunConfig", "RunResult", "__version__", "load_config", "run"]

_LAZY = {
    "RunConfig": "lightly_ray.config",
    "load_config": "lightly_ray.config",
    "RunResult": "lightly_ray.run",
    "run": "lightly_ray.run",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lightly_ray' has no attribute {name!r}")
    loaded = importlib.import_module(module)
    # Importing `lightly_ray.run` binds the submodule to this package's `run`; the function wins.
    for attribute, source in _LAZY.items():
        if source == module:
            globals()[attribute] = getattr(loaded, attribute)
    return globals()[name]


class _Package(types.ModuleType):
    """The package, whose `run` stays the function when the submodule `run` is imported.

    Python binds a submodule to its package's attribute of the same name once it is imported
    (`from lightly_ray.run import RunResult`), which would make `lightly_ray.run(...)` call a
    module; the function defined in the submodule is bound instead.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and value.__name__ == _LAZY.get(name):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
