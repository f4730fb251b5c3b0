"""Pretrained weights from the torch hub cache: found, or downloadable, before Ray starts.

`lightly_config.model.weights: imagenet` (the default) and `lightly_config.pretagging.weights:
coco` load torchvision's weight files from the torch hub cache of the driver's node, where the
run builds the weights (`models.weights`), and download them there when the machine is online.
On a machine that is not, the build would fail after Ray's start, tens of seconds into the
run. This check answers first: the file is in the cache, or its server can be reached (or a
proxy is set, which a direct connection cannot try), or the run stops with the options.

The driver does not import torch, so the file names are written here; a unit test checks
them against torchvision's weight enums. Where torch is loaded already (a notebook), its hub
folder is asked, as `torch.hub.set_dir` may have moved it.
"""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlsplit

from lightly_ray.config import RunConfig
from lightly_ray.config.lightly import ModelName
from lightly_ray.errors import WeightsNotAvailableError
from lightly_ray.models.hub_options import hub_file_options
from lightly_ray.preflight.torch_files import not_torch_file

IMAGENET_URLS: dict[ModelName, str] = {
    "resnet-18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "resnet-34": "https://download.pytorch.org/models/resnet34-b627a593.pth",
    "resnet-50": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    "resnet-101": "https://download.pytorch.org/models/resnet101-63fe2227.pth",
    "resnet-152": "https://download.pytorch.org/models/resnet152-394f9c45.pth",
}
COCO_URL = "https://download.pytorch.org/models/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
CONNECT_TIMEOUT_S = 3.0


def hub_cache_path(url: str) -> str:
    """Where torch keeps the file of `url`: `<hub dir>/checkpoints/<file name>` (as `torch.hub.get_dir`)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        folder = str(torch.hub.get_dir())
    else:
        home = os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch"))
        folder = os.path.join(os.path.expanduser(home), "hub")
    return os.path.join(folder, "checkpoints", os.path.basename(urlsplit(url).path))


def can_download(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> bool:
    """Whether `url`'s server takes a connection from here (or a proxy is set, which is assumed to)."""
    if any(os.getenv(variable) for variable in PROXY_VARIABLES):
        return True
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def unreadable(path: str) -> str | None:
    """Why a cached weights file cannot be a file torch wrote (None: it may be, or it is not there).

    Only its first bytes and, for a zip archive (torch's format), the archive's end are read
    (`torch_files.not_torch_file`).
    """
    try:
        with open(path, "rb") as stream:
            return not_torch_file(stream)
    except OSError:
        return None


def hub_weights_problem(config: RunConfig) -> str | None:
    """Why the run's pretrained weights can be neither found in the torch hub cache nor downloaded.

    Only weights the run builds are checked: ImageNet weights unless `worker_config.embeddings`
    or `worker_config.checkpoint` replaces them, COCO weights when pretagging uses them.

    Returns:
        The message, naming the key, the file's path and URL, and the options; None when the
        weights are there or can be downloaded.
    """
    worker, lightly = config.worker_config, config.lightly_config
    needed: list[tuple[str, str]] = []
    if lightly.model.weights == "imagenet" and worker.embeddings is None and worker.checkpoint is None:
        needed.append(("lightly_config.model.weights", IMAGENET_URLS[lightly.model.name]))
    if worker.pretagging and lightly.pretagging.weights == "coco":
        needed.append(("lightly_config.pretagging.weights", COCO_URL))
    broken = [(key, url, unreadable(hub_cache_path(url))) for key, url in needed]
    for key, url, reason in broken:
        if reason is not None:
            return (
                f"{key}: the file in the torch hub cache ({hub_cache_path(url)}) {reason}: delete it "
                f"(it is downloaded again where the machine is online).\n{hub_file_options(key, url)}"
            )
    missing = [(key, url) for key, url in needed if not os.path.isfile(hub_cache_path(url))]
    if not missing or can_download(missing[0][1]):
        return None
    host = urlsplit(missing[0][1]).hostname
    return "\n".join(
        f"{key}: the file is not in the torch hub cache ({hub_cache_path(url)}) and {host} "
        f"cannot be reached from this machine to download it.\n{hub_file_options(key, url)}"
        for key, url in missing
    )


def check_hub_weights(config: RunConfig) -> None:
    """Stop a run whose pretrained weights are neither in the torch hub cache nor downloadable.

    Raises:
        WeightsNotAvailableError: With `hub_weights_problem`'s message.
    """
    problem = hub_weights_problem(config)
    if problem is not None:
        raise WeightsNotAvailableError(problem)


__all__ = [
    "COCO_URL",
    "IMAGENET_URLS",
    "can_download",
    "check_hub_weights",
    "hub_cache_path",
    "hub_weights_problem",
]
