"""Embed: a Ray Data actor that loads the model once and embeds batches of decoded images.

torch is imported by the actor, not by this module: the driver imports it to hand the class to
Ray Data and stays without torch (`models.weights`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import ray

from lightly_ray.config.lightly import ModelConfig
from lightly_ray.datasets.embedding_cache import CacheTarget, CacheWriter
from lightly_ray.datasets.rows import batch_rows
from lightly_ray.models.weights import IMAGENET_MEAN, IMAGENET_STD
from lightly_ray.pipeline.batch import Batch


class EmbedImages:
    """Embed decoded images; rows that failed to decode get a zero embedding and stay `ok=False`.

    The model loads once per actor from weights the driver put in the object store.

    Args:
        model: `lightly_config.model`.
        state_ref: One-element list holding the ObjectRef of the model state (a list, so that
            Ray hands the reference itself to the constructor).
        normalize: Scale embeddings to unit length (`worker_config.normalize_embeddings`).
        torch_threads: torch's threads when the model runs on CPU (`resources.embed.torch_threads`).
        cache: Where to keep every embedded batch for a rerun of the run, should it die
            (`datasets.embedding_cache`); None to keep nothing.

    """

    def __init__(
        self,
        model: ModelConfig,
        state_ref: list[ray.ObjectRef[Any]],
        normalize: bool,
        torch_threads: int = 1,
        cache: CacheTarget | None = None,
    ) -> None:
        import torch

        from lightly_ray.models.backbones import load_model

        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.type == "cpu":
            torch.set_num_threads(torch_threads)
        self.network = load_model(model, ray.get(state_ref[0]), self.device)
        self.out_dim = model.out_dim
        self.normalize = normalize
        self.mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        self.cache = CacheWriter(cache) if cache is not None else None

    def __call__(self, batch: Batch) -> Batch:
        """Embed one batch.

        Args:
            batch: Decoded rows with image (uint8, shape (batch, size, size, 3)) and ok.

        Returns:
            The batch without image, plus embedding (float32, shape (batch, out_dim)).

        """
        images = batch.pop("image")
        ok = batch["ok"]
        embeddings = np.zeros((len(ok), self.out_dim), dtype=np.float32)
        if ok.any():
            embeddings[ok] = self._embed(images[ok])
        batch["embedding"] = embeddings
        if self.cache is not None:
            self.cache.write(batch_rows(batch, self.cache.target.run_id))
        return batch

    def __del__(self) -> None:
        """Wait for the cache parts still being written (Ray Data deletes the UDF on shutdown)."""
        cache = getattr(self, "cache", None)
        if cache is not None:
            cache.close()

    def _embed(self, images: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            pixels = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
            pixels = pixels.permute(0, 3, 1, 2).float().div_(255.0)
            pixels = (pixels - self.mean) / self.std
            output = self.network(pixels).float()
            if self.normalize:
                output = torch.nn.functional.normalize(output, dim=1)
            result: np.ndarray = output.cpu().numpy()
        return result
