from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from lightly_ray.config.lightly import ModelConfig
from lightly_ray.errors import WeightsNotAvailableError
from lightly_ray.models import backbones
from lightly_ray.models.backbones import (
    EmbeddingModel,
    build_state,
    imagenet_cache_path,
    load_model,
)
from lightly_ray.models.checkpoint import read_checkpoint, save_checkpoint

RANDOM = ModelConfig(name="resnet-18", weights="random", out_dim=16)


def test_random_weights_are_seeded() -> None:
    first, again, other = (
        build_state(RANDOM, 1, None),
        build_state(RANDOM, 1, None),
        build_state(RANDOM, 2, None),
    )
    assert all(np.array_equal(first[key], again[key]) for key in first)
    assert not np.array_equal(first["projection.weight"], other["projection.weight"])


def test_model_embeds_to_out_dim() -> None:
    network = load_model(RANDOM, build_state(RANDOM, 1, None), torch.device("cpu"))
    with torch.inference_mode():
        output = network(torch.zeros(2, 3, 32, 32))
    assert output.shape == (2, 16)


def test_an_actor_model_uses_the_object_store_arrays_without_copying_them() -> None:
    state = build_state(RANDOM, 1, None)
    shared = {key: value.copy() for key, value in state.items()}
    for value in shared.values():
        value.flags.writeable = False  # as an actor gets them from Ray's object store
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's warning about read-only arrays is not the user's
        network = load_model(RANDOM, shared, torch.device("cpu"))
    weight = network.state_dict()["projection.weight"]
    assert weight.data_ptr() == shared["projection.weight"].ctypes.data
    copied = load_model(RANDOM, {key: value.copy() for key, value in state.items()}, torch.device("cpu"))
    pixels = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(network(pixels), copied(pixels))


def test_imagenet_weights_missing_is_an_error_listing_the_options(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(backbones, "_imagenet_url", lambda name: "http://127.0.0.1:9/resnet18-f37072fd.pth")
    with pytest.raises(WeightsNotAvailableError) as caught:
        build_state(ModelConfig(name="resnet-18", weights="imagenet"), 1, None)
    message = str(caught.value)
    assert "weights=random" in message and "worker_config.checkpoint" in message
    assert "are not in the torch hub cache" in message
    # A file there that cannot be loaded is called so, not missing.
    cached = Path(imagenet_cache_path("resnet-18"))
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(b"garbage\n")
    with pytest.raises(WeightsNotAvailableError, match=r"are in the torch hub cache .* but cannot be loaded"):
        build_state(ModelConfig(name="resnet-18", weights="imagenet"), 1, None)


def test_imagenet_weights_load_from_the_torch_hub_cache(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = imagenet_cache_path("resnet-18")
    reference = torchvision.models.resnet18(weights=None)
    torch.nn.init.constant_(reference.conv1.weight, 0.125)
    import os

    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(reference.state_dict(), path)
    state = build_state(ModelConfig(name="resnet-18", weights="imagenet", out_dim=8), 1, None)
    assert np.all(state["backbone.conv1.weight"] == 0.125)
    assert state["projection.weight"].shape == (8, 512)


def test_checkpoint_round_trip_and_torchvision_layout() -> None:
    network = EmbeddingModel("resnet-18", 16)
    torch.nn.init.constant_(network.projection.weight, 0.5)
    ours = read_checkpoint(save_checkpoint(network), RANDOM, "ckpt")
    assert torch.equal(ours["projection.weight"], network.projection.weight)
    state = build_state(RANDOM, 1, ours)
    assert np.all(state["projection.weight"] == 0.5)

    import io

    plain = torchvision.models.resnet18(weights=None)
    buffer = io.BytesIO()
    torch.save({"model": {f"module.{key}": value for key, value in plain.state_dict().items()}}, buffer)
    mapped = read_checkpoint(buffer.getvalue(), RANDOM, "ckpt")
    assert "backbone.conv1.weight" in mapped and "projection.weight" not in mapped


def test_bad_checkpoints_are_clear_errors() -> None:
    with pytest.raises(WeightsNotAvailableError, match=r"cannot be read as a torch checkpoint \(\w+Error: "):
        read_checkpoint(b"not a checkpoint", RANDOM, "'bad.pt'")
    wider = ModelConfig(name="resnet-18", weights="random", out_dim=32)
    tensors = read_checkpoint(save_checkpoint(EmbeddingModel("resnet-18", 16)), wider, "x")
    out_dim = r"16-d embeddings: set lightly_config\.model\.out_dim to 16"
    with pytest.raises(WeightsNotAvailableError, match=out_dim):
        backbones.build_state(wider, 0, tensors)
    network = EmbeddingModel("resnet-18", 16)
    with pytest.raises(WeightsNotAvailableError, match="resnet-50 backbone"):
        read_checkpoint(save_checkpoint(network), ModelConfig(name="resnet-50", weights="random"), "x")


def test_a_checkpoint_that_is_no_torch_file_or_another_model_says_what_to_change() -> None:
    with pytest.raises(WeightsNotAvailableError) as caught:
        read_checkpoint(b"\x80\x02" + bytes(range(40, 200)), RANDOM, "'noise.ckpt'")
    message = str(caught.value)
    assert "weights_only set to `False` will likely succeed" not in message and "file an issue" not in message
    assert message.startswith("checkpoint 'noise.ckpt' cannot be read as a torch checkpoint (")
    assert "loaded with weights_only=True, so that it cannot run code" in message
    import io

    buffer = io.BytesIO()  # as a training run writes checkpoint.ckpt: its lightly_config beside
    torch.save(
        {
            "state_dict": EmbeddingModel("resnet-18", 16).state_dict(),
            "lightly_config": {"model": {"name": "resnet-18"}},
        },
        buffer,
    )
    renamed = r"trained as a resnet-18: set lightly_config\.model\.name to resnet-18"
    with pytest.raises(WeightsNotAvailableError, match=renamed):
        read_checkpoint(buffer.getvalue(), ModelConfig(name="resnet-50", weights="random"), "x")
