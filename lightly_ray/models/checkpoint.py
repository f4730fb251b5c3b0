"""Checkpoints given by `worker_config.checkpoint`: read, recognise their layout, check them.

Accepted layouts (all loaded with `weights_only=True`, so a checkpoint cannot run code):
- lightly_ray's own: keys `backbone.<torchvision key>` and `projection.weight`;
- a plain torchvision ResNet state dict (`conv1.weight`, `layer1.0.conv1.weight`, ...; `fc.*`
  is dropped), whose projection is then the seeded random one;
- either of these wrapped in `{"state_dict": ...}` or `{"model": ...}`, with keys optionally
  prefixed by `module.` or `model.` (DataParallel and Lightning wrappers).
"""

from __future__ import annotations

import io

import torch

from lightly_ray.config.lightly import ModelConfig
from lightly_ray.errors import WeightsNotAvailableError
from lightly_ray.models.backbones import EmbeddingModel

_WRAPPER_KEYS = ("state_dict", "model")
_KEY_PREFIXES = ("module.", "model.")


def read_checkpoint(data: bytes, model: ModelConfig, source: str) -> dict[str, torch.Tensor]:
    """Parse checkpoint bytes into a state dict for an EmbeddingModel.

    Args:
        data: The checkpoint file's bytes (torch.save format).
        model: `lightly_config.model`, which the checkpoint must fit.
        source: Where the bytes came from, for error messages.

    Returns:
        A state dict with keys of EmbeddingModel (`backbone.*`, optionally `projection.weight`).

    Raises:
        WeightsNotAvailableError: When the file is not a checkpoint or does not fit the model.

    """
    try:
        loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise WeightsNotAvailableError(
            f"checkpoint {source} cannot be read as a torch checkpoint ({_load_failure(error)}); "
            "a checkpoint is a file torch.save wrote, such as a training run's checkpoint.ckpt, "
            "holding tensors and plain containers (it is loaded with weights_only=True, so that "
            "it cannot run code)"
        ) from None
    trained_as = _trained_model_name(loaded)
    state = _unwrap(loaded, source)
    expected = set(EmbeddingModel(model.name, model.out_dim).state_dict())
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        name = _strip_prefixes(key)
        if name.startswith("fc."):
            continue
        if not name.startswith(("backbone.", "projection.")):
            name = f"backbone.{name}"
        if name in expected:
            mapped[name] = value
    missing_backbone = sorted(key for key in expected if key.startswith("backbone.") and key not in mapped)
    if missing_backbone:
        raise WeightsNotAvailableError(
            f"checkpoint {source} does not hold a {model.name} backbone: "
            f"{len(missing_backbone)} of its tensors are missing (e.g. {missing_backbone[0]}). "
            + (
                f"It was trained as a {trained_as}: set lightly_config.model.name to {trained_as}."
                if trained_as is not None and trained_as != model.name
                else "Check lightly_config.model.name."
            )
        )
    return mapped


def save_checkpoint(network: EmbeddingModel) -> bytes:
    """Serialise an EmbeddingModel in lightly_ray's checkpoint layout."""
    buffer = io.BytesIO()
    torch.save({"state_dict": network.state_dict()}, buffer)
    return buffer.getvalue()


def _unwrap(loaded: object, source: str) -> dict[str, torch.Tensor]:
    for _ in range(3):
        if isinstance(loaded, dict) and any(key in loaded for key in _WRAPPER_KEYS):
            inner = next(loaded[key] for key in _WRAPPER_KEYS if key in loaded)
            if isinstance(inner, dict):
                loaded = inner
                continue
        break
    if not isinstance(loaded, dict) or not all(isinstance(value, torch.Tensor) for value in loaded.values()):
        raise WeightsNotAvailableError(
            f"checkpoint {source} holds no state dict (a mapping of names to tensors)"
        )
    return loaded


def _load_failure(error: Exception) -> str:
    """The reason torch gives, without the advice of its weights_only message to load unsafely."""
    text = str(error)
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1].strip().split("\n", 1)[0].strip()
    else:
        text = text.strip().split("\n", 1)[0]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _trained_model_name(loaded: object) -> str | None:
    """The model name a lightly_ray checkpoint.ckpt says it was trained as, if it says."""
    if not isinstance(loaded, dict):
        return None
    settings = loaded.get("lightly_config")
    model = settings.get("model") if isinstance(settings, dict) else None
    name = model.get("name") if isinstance(model, dict) else None
    return name if isinstance(name, str) else None


def _strip_prefixes(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _KEY_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
                changed = True
    return key
