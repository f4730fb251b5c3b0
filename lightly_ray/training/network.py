"""The network SimCLR trains: the embedding model and a projection head on top of it.

The embedding model is the one the run embeds with (`models.backbones.EmbeddingModel`: the
ResNet trunk and its linear projection to `out_dim`); what it outputs is what selection sees.
The head maps an embedding to the space of the contrastive loss: lightly's
`SimCLRProjectionHead` (a two-layer MLP with batch norm), `out_dim` -> `out_dim` ->
`lightly_config.model.num_ftrs`. Only the embedding model's weights leave training.
"""

from __future__ import annotations

import torch
from torch import nn

from lightly_ray.config.lightly import ModelConfig
from lightly_ray.models.backbones import EmbeddingModel
from lightly_ray.models.weights import IMAGENET_MEAN, IMAGENET_STD

EMBEDDING_PREFIX = "embedding."


class SimCLRNetwork(nn.Module):
    """Embedding model plus projection head; `forward` takes uint8 views and returns projections.

    Args:
        model: `lightly_config.model`.

    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, model: ModelConfig) -> None:
        super().__init__()
        from lightly.models.modules import SimCLRProjectionHead

        self.embedding = EmbeddingModel(model.name, model.out_dim)
        self.head = SimCLRProjectionHead(
            input_dim=model.out_dim, hidden_dim=model.out_dim, output_dim=model.num_ftrs
        )
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        """Project a batch of views.

        Args:
            views: uint8 tensor of shape (batch, size, size, 3).

        Returns:
            Tensor of shape (batch, num_ftrs), in the dtype of the network's weights.

        """
        pixels = views.permute(0, 3, 1, 2).to(self.mean.dtype).div_(255.0)  # float32, or float64
        pixels = (pixels - self.mean) / self.std
        projected: torch.Tensor = self.head(self.embedding(pixels))
        return projected


def embedding_state(network: nn.Module) -> dict[str, torch.Tensor]:
    """The embedding model's weights of a SimCLRNetwork (or of a DDP wrapper around one), on CPU."""
    inner = network.module if hasattr(network, "module") else network
    assert isinstance(inner, SimCLRNetwork)
    return {key: value.detach().cpu().clone() for key, value in inner.embedding.state_dict().items()}
