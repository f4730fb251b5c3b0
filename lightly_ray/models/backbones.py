"""Embedding models: a ResNet trunk (torchvision's, see resnet.py) and a linear projection to `out_dim`.

The model's weights are built once per run (`build_state`, in a task on the driver's node:
`weights.embedding_weights`) and shipped to every embedding actor through the Ray object store,
so that all actors embed with identical weights and no worker needs the torch hub cache or a
shared disk.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lightly_ray.config.lightly import ModelConfig, ModelName
from lightly_ray.errors import WeightsNotAvailableError
from lightly_ray.models.hub_options import hub_file_options
from lightly_ray.models.meta_build import meta_device
from lightly_ray.models.resnet import ResNet
from lightly_ray.models.weights import ModelState


@dataclass(frozen=True)
class Architecture:
    """A torchvision ResNet and its ImageNet weights."""

    builder: str
    weights_enum: str
    feature_dim: int


ARCHITECTURES: dict[str, Architecture] = {
    "resnet-18": Architecture("resnet18", "ResNet18_Weights", 512),
    "resnet-34": Architecture("resnet34", "ResNet34_Weights", 512),
    "resnet-50": Architecture("resnet50", "ResNet50_Weights", 2048),
    "resnet-101": Architecture("resnet101", "ResNet101_Weights", 2048),
    "resnet-152": Architecture("resnet152", "ResNet152_Weights", 2048),
}


class EmbeddingModel(nn.Module):
    """ResNet trunk (global-average-pooled features) and a bias-free linear projection.

    Args:
        name: Architecture name, e.g. "resnet-18".
        out_dim: Size of the embeddings.

    """

    def __init__(self, name: ModelName, out_dim: int) -> None:
        super().__init__()
        architecture = ARCHITECTURES[name]
        backbone = ResNet(architecture.builder)
        backbone.fc = nn.Identity()
        self.backbone = backbone
        self.projection = nn.Linear(architecture.feature_dim, out_dim, bias=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Embed a batch.

        Args:
            images: Float tensor of shape (batch, 3, height, width), ImageNet-normalised.

        Returns:
            Tensor of shape (batch, out_dim).

        """
        features: torch.Tensor = self.backbone(images)
        projected: torch.Tensor = self.projection(features)
        return projected


def build_state(model: ModelConfig, seed: int, checkpoint: dict[str, torch.Tensor] | None) -> ModelState:
    """Build the weights of the embedding model (once per run: `weights.embedding_weights`).

    Random weights (and the projection, unless a checkpoint holds one) are drawn from `seed`,
    so a run is reproducible. ImageNet weights come from the torch hub cache, downloaded there
    when the machine is online; when they cannot be had, this fails instead of falling back.

    Args:
        model: `lightly_config.model`.
        seed: `lightly_config.seed`.
        checkpoint: A state dict from `worker_config.checkpoint` (see checkpoint.py), which
            overrides `model.weights`.

    Returns:
        The full state dict of an EmbeddingModel as numpy arrays.

    Raises:
        WeightsNotAvailableError: When ImageNet weights are asked for and not available.

    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = EmbeddingModel(model.name, model.out_dim)
    if checkpoint is not None:
        _load_checkpoint_into(network, checkpoint)
    elif model.weights == "imagenet":
        network.backbone.load_state_dict(_imagenet_state(model.name), strict=False)
    return {key: value.detach().cpu().numpy() for key, value in network.state_dict().items()}


def load_model(model: ModelConfig, state: ModelState, device: torch.device) -> EmbeddingModel:
    """Instantiate an EmbeddingModel from weights built by `build_state`, ready for inference.

    Built on the meta device without running an initialiser (`meta_build.meta_device`) and
    given the weights' own tensors (on a CPU no copy: `shared_tensors`).
    """
    with meta_device():
        network = EmbeddingModel(model.name, model.out_dim)
    network.load_state_dict(shared_tensors(state), assign=True)
    return network.to(device).eval()


def shared_tensors(state: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Weights as tensors over the arrays' own memory, for inference or for copying from.

    An actor's arrays come from Ray's object store, shared by every actor of the node and
    read-only: copying them cost each detector actor 0.8 s of its start (167 MB written page by
    page) and 167 MB of memory. A model given these tensors must never be trained in place
    (`load_state_dict` without `assign` copies them, which is how training starts from them).
    """
    with warnings.catch_warnings():
        # torch warns once that it cannot make such a tensor read-only itself.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return {key: torch.from_numpy(value) for key, value in state.items()}


def imagenet_cache_path(name: ModelName) -> str:
    """Where torchvision keeps the ImageNet weights of an architecture in the torch hub cache."""
    url = _imagenet_url(name)
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


def _imagenet_url(name: ModelName) -> str:
    import torchvision

    weights_enum = getattr(torchvision.models, ARCHITECTURES[name].weights_enum)
    return str(weights_enum.IMAGENET1K_V1.url)


def _imagenet_state(name: ModelName) -> dict[str, torch.Tensor]:
    url = _imagenet_url(name)
    try:
        state: dict[str, torch.Tensor] = torch.hub.load_state_dict_from_url(
            url, progress=False, check_hash=True, map_location="cpu"
        )
    except Exception as error:  # noqa: BLE001 - any failure to fetch means "not available"
        path = imagenet_cache_path(name)
        where = (
            f"are in the torch hub cache ({path}) but cannot be loaded (a partial download? delete "
            "the file to download it again)"
            if os.path.isfile(path)
            else f"are not in the torch hub cache ({path}) and could not be downloaded"
        )
        raise WeightsNotAvailableError(
            f"ImageNet weights for {name} {where} ({type(error).__name__}: {error}).\n"
            f"{hub_file_options('lightly_config.model.weights', url)}"
        ) from None
    state.pop("fc.weight", None)
    state.pop("fc.bias", None)
    return state


def _load_checkpoint_into(network: EmbeddingModel, checkpoint: dict[str, torch.Tensor]) -> None:
    expected = network.state_dict()
    mismatched = [
        f"{key}: {tuple(value.shape)} (expected {tuple(expected[key].shape)})"
        for key, value in checkpoint.items()
        if key in expected and value.shape != expected[key].shape
    ]
    if mismatched:
        projection = checkpoint.get("projection.weight")
        hint = (
            f". Its projection gives {projection.shape[0]}-d embeddings: set lightly_config.model.out_dim "
            f"to {projection.shape[0]}"
            if projection is not None and projection.shape != expected["projection.weight"].shape
            else ""
        )
        shapes = "; ".join(mismatched[:5])
        raise WeightsNotAvailableError(
            f"checkpoint does not fit lightly_config.model: wrong shapes for {shapes}{hint}"
        )
    network.load_state_dict(checkpoint, strict=False)
