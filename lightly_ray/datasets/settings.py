"""The settings an embedding depends on, compared to decide whether stored embeddings are reusable."""

from __future__ import annotations

from typing import Any

from lightly_ray.config import RunConfig


def embedding_settings(config: RunConfig) -> dict[str, Any]:
    """What an embedding depends on: equal settings give equal embeddings for equal pixels.

    The datapool reuses an earlier run's embeddings only when these are equal
    (`datasets.RunRecord.embedding`), and so does a rerun of a run that died (its cache key).
    With pretagging, the detector's settings belong to them too: a reused sample's predictions
    are read back from the files the earlier run wrote, so they must come from the same detector
    (a run without pretagging wrote none).
    """
    worker = config.worker_config
    if worker.embeddings is not None:
        return {"source": "csv", "file": str(worker.embeddings), "normalized": worker.normalize_embeddings}
    model = config.lightly_config.model
    weights = f"checkpoint {worker.checkpoint}" if worker.checkpoint else model.weights
    settings: dict[str, Any] = {
        "source": "model",
        "model": model.name,
        "weights": weights,
        "seed": config.lightly_config.seed if weights == "random" else None,
        "dim": model.out_dim,
        "inputSize": config.lightly_config.collate.input_size,
        "normalized": worker.normalize_embeddings,
    }
    if worker.pretagging:
        detector = config.lightly_config.pretagging
        settings["pretagging"] = {
            "weights": detector.weights,
            "seed": config.lightly_config.seed if detector.weights == "random" else None,
            "scoreThreshold": detector.score_threshold,
            "imageSize": detector.image_size,
        }
    return settings


def vector_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The part of `embedding_settings` the vectors depend on (the detector's left out).

    Embeddings of equal vector settings can be compared with each other (a query set's and a
    run's), whatever detector ran beside them.
    """
    return {key: value for key, value in settings.items() if key != "pretagging"}


__all__ = ["embedding_settings", "vector_settings"]
