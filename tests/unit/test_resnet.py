"""The plain-torch ResNets are torchvision's: same parameters, same seeded weights, same outputs."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torchvision

from lightly_ray.models.resnet import DEPTHS, ResNet


@pytest.mark.parametrize("builder", sorted(DEPTHS))
def test_same_parameters_and_seeded_weights_as_torchvision(builder: str) -> None:
    torch.manual_seed(7)
    ours = ResNet(builder).state_dict()
    torch.manual_seed(7)
    theirs = getattr(torchvision.models, builder)(weights=None).state_dict()
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        assert torch.equal(ours[key], value), key


@pytest.mark.parametrize("builder", ["resnet18", "resnet50"])
def test_same_outputs_as_torchvision(builder: str) -> None:
    theirs = getattr(torchvision.models, builder)(weights=None)
    for module in theirs.modules():  # statistics that differ from the initial ones
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
    ours = ResNet(builder)
    ours.load_state_dict(theirs.state_dict())
    images = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(ours.eval()(images), theirs.eval()(images))


def test_the_embedding_actor_module_does_not_import_torchvision() -> None:
    code = "import sys, lightly_ray.pipeline.embed; print('torchvision' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
