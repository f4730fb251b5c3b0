"""The settings an embedding depends on, compared to decide whether stored embeddings are reusable."""

from __future__ import annotations

from typing import Any

from lightly_ray.config import RunConfig


def embedding_settings(config: RunConfig) -> dict[str, Any]:
    """What an embedding depends on: equal settings give equal embeddings for equal pixels.

    The datapool reuses an earlier run's embeddings only when these are equal
    (`datasets.RunRecord.embedding`).
    """
    worker = config.worker_config
    if worker.embeddings is not None:
        return {"source": "csv", "file": str(worker.embeddings), "normalized": worker.normalize_embeddings}
    model = config.lightly_config.model
    weights = f"checkpoint {worker.checkpoint}" if worker.checkpoint else model.weights
    return {
        "source": "model",
        "model": model.name,
        "weights": weights,
        "seed": config.lightly_config.seed if weights == "random" else None,
        "dim": model.out_dim,
        "inputSize": config.lightly_config.collate.input_size,
        "normalized": worker.normalize_embeddings,
    }


__all__ = ["embedding_settings"]
