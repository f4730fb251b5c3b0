"""Build a network on the meta device, to be given its weights, without running its initialisers.

The actors build their networks on the meta device and then take the weights' own tensors
(`load_state_dict(..., assign=True)`), so no initial value is ever used. torch's initialisers
compute nothing on the meta device, but the first `normal_` there goes through torch's
reference implementation, which imports `torch._dynamo`: 1.4-1.7 s of every embedding and
detector actor's start on this project's 2-core machine (a ResNet-18 built for inference: 1.44 s
with it, see docs/pipeline_performance.md). While `meta_device()` is active, the functions of
`torch.nn.init` return a meta tensor as it is and run as usual on any other tensor, so a
network initialised by another thread meanwhile (the driver builds weights in a thread) gets
its values.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.nn import init

# Every initialiser in torch.nn.init; modules and torchvision call them as `init.NAME(...)`,
# looked up when called.
INITIALISERS = (
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "sparse_",
)

_lock = threading.Lock()
_users = 0
_originals: dict[str, Callable[..., Any]] = {}


def _leaving_meta_tensors(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def initialise(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if tensor.is_meta:
            return tensor
        return original(tensor, *args, **kwargs)

    return initialise


@contextmanager
def meta_device() -> Iterator[None]:
    """Build modules on the meta device, skipping their initialisers (see the module docstring)."""
    global _users
    with _lock:
        if _users == 0:
            for name in INITIALISERS:
                _originals[name] = getattr(init, name)
                setattr(init, name, _leaving_meta_tensors(_originals[name]))
        _users += 1
    try:
        with torch.device("meta"):
            yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                for name, original in _originals.items():
                    setattr(init, name, original)
                _originals.clear()


__all__ = ["INITIALISERS", "meta_device"]
