"""Networks built on the meta device skip their initialisers; real tensors are initialised as ever."""

from __future__ import annotations

import subprocess
import sys
import threading

import torch
from torch import nn
from torch.nn import init

from lightly_ray.models.meta_build import INITIALISERS, meta_device


def test_an_embedding_model_loads_without_importing_torch_dynamo() -> None:
    # torch._dynamo costs an actor 1.4 s of its start; the first normal_ on meta imports it.
    script = (
        "import sys, torch\n"
        "from lightly_ray.config.lightly import ModelConfig\n"
        "from lightly_ray.models.backbones import build_state, load_model\n"
        "config = ModelConfig(name='resnet-18', weights='random', out_dim=8)\n"
        "state = build_state(config, 0, None)\n"
        "assert 'torch._dynamo' not in sys.modules, 'imported while building the state'\n"
        "network = load_model(config, state, torch.device('cpu'))\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_modules_on_meta_have_no_data_and_take_their_weights() -> None:
    with meta_device():
        layer = nn.Linear(3, 2)
    assert layer.weight.is_meta
    weights = {"weight": torch.ones(2, 3), "bias": torch.zeros(2)}
    layer.load_state_dict(weights, assign=True)
    assert torch.equal(layer(torch.ones(1, 3)), torch.full((1, 2), 3.0))


def test_real_tensors_are_initialised_inside_and_outside_the_context() -> None:
    torch.manual_seed(0)
    expected = nn.Linear(16, 16).weight.detach().clone()
    built: dict[str, torch.Tensor] = {}

    def elsewhere() -> None:  # another thread, while this one builds on meta
        torch.manual_seed(0)
        built["thread"] = nn.Linear(16, 16).weight.detach().clone()

    with meta_device():
        torch.manual_seed(0)
        built["here"] = nn.Linear(16, 16, device="cpu").weight.detach().clone()
        worker = threading.Thread(target=elsewhere)
        worker.start()
        worker.join()
    assert torch.equal(built["here"], expected)
    assert torch.equal(built["thread"], expected)


def test_the_initialisers_are_restored_after_nested_and_concurrent_use() -> None:
    originals = {name: getattr(init, name) for name in INITIALISERS}
    with meta_device():
        with meta_device():
            assert init.normal_ is not originals["normal_"]
        assert init.normal_ is not originals["normal_"], "still in use by the outer block"
    assert {name: getattr(init, name) for name in INITIALISERS} == originals
