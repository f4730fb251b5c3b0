"""The pretagging detector: torchvision's Faster R-CNN ResNet-50 FPN, COCO classes mapped to seven.

`worker_config.pretagging` detects bicycle, bus, car, motorcycle, person, train and truck
(the seed's classes, all of them COCO classes): the model's other COCO classes are dropped.
Its weights follow the embedding model's rules (`lightly_config.pretagging.weights`):

- `coco`: torchvision's COCO weights from the torch hub cache, downloaded there when the
  machine is online; never a silent fallback when they cannot be had.
- `random`: seeded random weights (tests and offline demos).
- a checkpoint in the lightly location: a state dict of the same architecture (91 classes),
  optionally wrapped in `{"state_dict": ...}` or `{"model": ...}`, keys optionally prefixed by
  `module.`; loaded with `weights_only=True`, so it cannot run code.

The weights are built once per run (`build_detector_state`, in a task on the driver's node:
`weights.detector_weights`) and shipped through the object store to every detector actor
(`load_detector`), as the embedding model's are.
"""

from __future__ import annotations

import io
import os

import torch
from torch import nn

from lightly_ray.config.lightly import PretaggingConfig
from lightly_ray.errors import WeightsNotAvailableError
from lightly_ray.formats.pretag_schema import BUILT_IN_WEIGHTS, PRETAG_CLASSES
from lightly_ray.models.backbones import shared_tensors
from lightly_ray.models.coco_labels import COCO_CLASSES, COCO_LABELS, MAX_DETECTIONS, coco_to_pretag
from lightly_ray.models.hub_options import hub_file_options
from lightly_ray.models.meta_build import meta_device
from lightly_ray.models.weights import DetectorState


def build_network(settings: PretaggingConfig) -> nn.Module:
    """Faster R-CNN ResNet-50 FPN as torchvision's COCO model is built (frozen batch norm).

    The detector sees images whose longer side is `settings.image_size` (its transform neither
    grows nor shrinks them further), keeps detections scoring at least `score_threshold`, at
    most MAX_DETECTIONS per image.
    """
    from torchvision.models import resnet50
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.ops.misc import FrozenBatchNorm2d

    trunk = resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    network: nn.Module = FasterRCNN(
        _resnet_fpn_extractor(trunk, 0),
        num_classes=COCO_CLASSES,
        min_size=settings.image_size,
        max_size=settings.image_size,
        box_score_thresh=settings.score_threshold,
        box_detections_per_img=MAX_DETECTIONS,
    )
    # As torchvision does for its COCO model: the frozen statistics are used without an epsilon.
    for module in network.modules():
        if isinstance(module, FrozenBatchNorm2d):
            module.eps = 0.0
    return network


def build_detector_state(
    settings: PretaggingConfig, seed: int, checkpoint: bytes | None = None
) -> DetectorState:
    """The detector's weights, built once per run (`weights.detector_weights` calls it).

    Args:
        settings: `lightly_config.pretagging`.
        seed: `lightly_config.seed`, for random weights.
        checkpoint: The checkpoint file's bytes when `settings.weights` names one.

    Returns:
        The state dict as numpy arrays.

    Raises:
        WeightsNotAvailableError: When the weights cannot be had, listing the options.

    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = build_network(settings)
    if settings.weights == "coco":
        network.load_state_dict(_coco_state())
    elif settings.weights not in BUILT_IN_WEIGHTS:
        if checkpoint is None:
            raise ValueError("a checkpoint's bytes are needed for lightly_config.pretagging.weights")
        _load_checkpoint(network, checkpoint, settings.weights)
    return {key: value.detach().cpu().numpy() for key, value in network.state_dict().items()}


def load_detector(settings: PretaggingConfig, state: DetectorState, device: torch.device) -> nn.Module:
    """The detector for inference from weights built by `build_detector_state`.

    Built on the meta device without running an initialiser (`meta_build.meta_device`) and
    given the weights' own tensors: no random initialisation first, which would cost each
    actor about half a second on a CPU, and on a CPU no copy of the weights either
    (`backbones.shared_tensors`).
    """
    with meta_device():
        network = build_network(settings)
    network.load_state_dict(shared_tensors(state), assign=True)
    return network.to(device).eval()


def coco_cache_path() -> str:
    """Where torchvision keeps the COCO weights in the torch hub cache."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(_coco_url()))


def _coco_url() -> str:
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    return str(FasterRCNN_ResNet50_FPN_Weights.COCO_V1.url)


def _coco_state() -> dict[str, torch.Tensor]:
    url = _coco_url()
    try:
        state: dict[str, torch.Tensor] = torch.hub.load_state_dict_from_url(
            url, progress=False, check_hash=True, map_location="cpu"
        )
    except Exception as error:  # noqa: BLE001 - any failure to fetch means "not available"
        path = coco_cache_path()
        where = (
            f"are in the torch hub cache ({path}) but cannot be loaded (a partial download? delete "
            "the file to download it again)"
            if os.path.isfile(path)
            else f"are not in the torch hub cache ({path}) and could not be downloaded"
        )
        raise WeightsNotAvailableError(
            f"the pretagging detector's COCO weights {where} ({type(error).__name__}: {error}).\n"
            f"{hub_file_options('lightly_config.pretagging.weights', url)}"
        ) from None
    return state


def _load_checkpoint(network: nn.Module, data: bytes, source: str) -> None:
    try:
        loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise WeightsNotAvailableError(
            f"lightly_config.pretagging.weights: '{source}' cannot be read as a torch checkpoint: {error}"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
    if not isinstance(loaded, dict) or not all(isinstance(value, torch.Tensor) for value in loaded.values()):
        raise WeightsNotAvailableError(
            f"lightly_config.pretagging.weights: '{source}' holds no state dict of tensors"
        )
    state = {key.removeprefix("module."): value for key, value in loaded.items()}
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state))
    wrong = [key for key in expected if key in state and state[key].shape != expected[key].shape]
    if missing or wrong:
        detail = f"missing {', '.join(missing[:3])}" if missing else f"wrong shape of {', '.join(wrong[:3])}"
        raise WeightsNotAvailableError(
            f"lightly_config.pretagging.weights: '{source}' does not fit torchvision's "
            f"fasterrcnn_resnet50_fpn with {COCO_CLASSES} COCO classes ({detail})"
        )
    network.load_state_dict({key: state[key] for key in expected})


__all__ = [
    "COCO_LABELS",
    "MAX_DETECTIONS",
    "PRETAG_CLASSES",
    "DetectorState",
    "build_detector_state",
    "build_network",
    "coco_cache_path",
    "coco_to_pretag",
    "load_detector",
]
