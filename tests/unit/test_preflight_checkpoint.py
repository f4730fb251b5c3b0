"""A `worker_config.checkpoint` that torch cannot have written stops the run before Ray starts."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from lightly_ray.errors import ConfigError
from lightly_ray.preflight import validate_config
from lightly_ray.preflight.torch_files import not_torch_file
from lightly_ray.storage import Location

KEY = "worker_config.checkpoint"


def _saved() -> bytes:
    stream = io.BytesIO()
    torch.save({"state_dict": {"weight": torch.zeros(3, 3)}}, stream)
    return stream.getvalue()


def _problems(url: str) -> list[str]:
    config = {
        "worker_config": {"checkpoint": "models/model.ckpt"},
        "selection_config": {
            "n_samples": 2,
            "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
        },
    }
    try:
        validate_config(config, lightly=Location(url, writable=False))
    except ConfigError as error:
        return error.problems
    return []


def test_what_torch_wrote_passes_and_what_it_cannot_have_written_says_what_it_is() -> None:
    saved = _saved()
    assert not_torch_file(io.BytesIO(saved)) is None
    assert not_torch_file(io.BytesIO(b"\x80\x02}q\x00.")) is None  # torch's format before 1.6
    assert not_torch_file(io.BytesIO(saved[: len(saved) // 2])) == (
        "is a zip archive cut short (a partial download or copy?)"
    )
    assert not_torch_file(io.BytesIO(b"")) == "is empty"
    assert not_torch_file(io.BytesIO(b"\x08\x07\x12\x04onnx")) == (
        "is not a file torch wrote (it starts with b'\\x08\\x07\\x12\\x04')"
    )


@pytest.mark.parametrize("scheme", ["local", "s3"])
def test_a_checkpoint_cut_short_is_named_with_its_key_before_the_run(
    scheme: str, make_url: Callable[[str, str], str], tmp_path: Path
) -> None:
    url = make_url(scheme, "lr-lightly")
    location = Location(url, writable=True)
    saved = _saved()
    location.write_bytes("models/model.ckpt", saved)
    assert _problems(url) == []

    location.write_bytes("models/model.ckpt", saved[:-100])
    assert _problems(url) == [
        f"{KEY}: 'models/model.ckpt' in the lightly location is a zip archive cut short (a partial "
        "download or copy?); name a checkpoint written by torch.save (a lightly_ray run's "
        "checkpoint.ckpt, or a model's state dict)"
    ]
