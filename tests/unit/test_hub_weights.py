"""Pretrained weights checked before Ray starts: in the torch hub cache, or downloadable (hub_weights.py)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision.models
from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

from lightly_ray.config import RunConfig
from lightly_ray.errors import WeightsNotAvailableError
from lightly_ray.models.backbones import ARCHITECTURES
from lightly_ray.preflight import hub_weights
from lightly_ray.preflight.hub_weights import (
    COCO_URL,
    IMAGENET_URLS,
    can_download,
    check_hub_weights,
    hub_cache_path,
)

DIVERSITY = {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}


def _config(**worker: Any) -> RunConfig:
    lightly = worker.pop("lightly_config", {})
    return RunConfig.model_validate(
        {
            "worker_config": worker,
            "selection_config": {"n_samples": 2, "strategies": [DIVERSITY]},
            "lightly_config": lightly,
        }
    )


def test_the_files_are_torchvisions() -> None:
    assert set(IMAGENET_URLS) == set(ARCHITECTURES)
    for name, architecture in ARCHITECTURES.items():
        enum = getattr(torchvision.models, architecture.weights_enum)
        assert IMAGENET_URLS[name] == enum.IMAGENET1K_V1.url
    assert FasterRCNN_ResNet50_FPN_Weights.COCO_V1.url == COCO_URL


def test_the_cache_path_is_torchs_with_or_without_torch_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert hub_cache_path(IMAGENET_URLS["resnet-18"]) == str(expected)
    assert str(expected) == str(Path(torch.hub.get_dir()) / "checkpoints" / expected.name)
    monkeypatch.delitem(sys.modules, "torch")  # as in a driver, which does not import torch
    assert hub_cache_path(IMAGENET_URLS["resnet-18"]) == str(expected)
    monkeypatch.delenv("TORCH_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub_cache_path(COCO_URL) == str(tmp_path / "xdg/torch/hub/checkpoints" / Path(COCO_URL).name)


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache on a machine that cannot reach the download server."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(hub_weights, "can_download", lambda url: False)
    return tmp_path / "hub" / "checkpoints"


def test_missing_weights_that_cannot_be_downloaded_stop_the_run_with_the_options(offline: Path) -> None:
    with pytest.raises(WeightsNotAvailableError) as caught:
        check_hub_weights(_config(pretagging=True, lightly_config={"model": {"name": "resnet-50"}}))
    message = str(caught.value)
    assert message.startswith(
        "lightly_config.model.weights: the file is not in the torch hub cache "
        f"({offline}/resnet50-0676ba61.pth) and download.pytorch.org cannot be reached from this "
        "machine to download it."
    )
    assert f"put the file from {IMAGENET_URLS['resnet-50']} at that path (or set TORCH_HOME)" in message
    assert "set lightly_config.model.weights=random" in message
    assert f"lightly_config.pretagging.weights: the file is not in the torch hub cache ({offline}/" in message
    assert "set lightly_config.pretagging.weights=random" in message


def test_weights_in_the_cache_or_not_used_are_not_asked_for(offline: Path) -> None:
    offline.mkdir(parents=True)
    torch.save({"weight": torch.zeros(1)}, offline / "resnet18-f37072fd.pth")
    check_hub_weights(_config())
    check_hub_weights(_config(lightly_config={"model": {"name": "resnet-34", "weights": "random"}}))
    check_hub_weights(_config(lightly_config={"model": {"name": "resnet-34"}}, checkpoint="models/a.ckpt"))
    check_hub_weights(_config(lightly_config={"model": {"name": "resnet-34"}}, embeddings="e.csv"))
    check_hub_weights(_config(pretagging=True, lightly_config={"pretagging": {"weights": "random"}}))
    with pytest.raises(WeightsNotAvailableError, match=r"^lightly_config\.pretagging\.weights: "):
        check_hub_weights(_config(pretagging=True))


def test_can_download_tries_a_connection_unless_a_proxy_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in hub_weights.PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert can_download(f"https://127.0.0.1:{port}/models/a.pth")
    assert not can_download(f"https://127.0.0.1:{port}/models/a.pth", timeout_s=1)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert can_download(f"https://127.0.0.1:{port}/models/a.pth")


def test_a_cached_file_torch_did_not_write_or_cut_short_is_found_before_ray(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    cached = Path(hub_cache_path(IMAGENET_URLS["resnet-18"]))
    cached.parent.mkdir(parents=True)
    config = _config()
    cached.write_bytes(b"garbage\n")
    problem = hub_weights.hub_weights_problem(config)
    assert problem is not None and problem.startswith(
        f"lightly_config.model.weights: the file in the torch hub cache ({cached}) is not a file torch "
        "wrote (it starts with b'garb'): delete it"
    )
    assert "lightly_config.model.weights=random" in problem
    torch.save({"weight": torch.zeros(3)}, cached)  # a zip archive, as torch writes today
    assert hub_weights.hub_weights_problem(config) is None
    whole = cached.read_bytes()
    cached.write_bytes(whole[: len(whole) // 2])  # an interrupted download
    problem = hub_weights.hub_weights_problem(config)
    assert problem is not None and "is a zip archive cut short (a partial download or copy?)" in problem
    torch.save({"weight": torch.zeros(3)}, cached, _use_new_zipfile_serialization=False)  # the older format
    assert hub_weights.hub_weights_problem(config) is None
