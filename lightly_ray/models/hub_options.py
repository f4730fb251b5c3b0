"""What a user can do when pretrained weights are neither in the torch hub cache nor downloadable.

One text for the check before Ray starts (`preflight.hub_weights`) and for the build of the
weights (`models.backbones`, `models.detector`), so that both answers list the same options.
No imports: the driver's preflight imports no torch.
"""

from __future__ import annotations

# Per weights key, the key that takes a checkpoint instead.
_CHECKPOINT_KEYS = {
    "lightly_config.model.weights": "worker_config.checkpoint",
    "lightly_config.pretagging.weights": "lightly_config.pretagging.weights",
}


def hub_file_options(key: str, url: str) -> str:
    """The options, one per line, for the weights file of `url` that `key` asks for.

    Args:
        key: `lightly_config.model.weights` or `lightly_config.pretagging.weights`.
        url: Where torchvision downloads the file from.

    Returns:
        "Options:" and three lines: the file put into the cache, random weights, a checkpoint.
    """
    return (
        "Options:\n"
        f"  - put the file from {url} at that path (or set TORCH_HOME) and run again;\n"
        f"  - set {key}=random for seeded random weights (tests, demos);\n"
        f"  - set {_CHECKPOINT_KEYS[key]} to a checkpoint in the lightly location."
    )


__all__ = ["hub_file_options"]
