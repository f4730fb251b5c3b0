"""The pieces of self-supervised training that need no Ray Train: views, network, shape, records."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import torch

from lightly_ray.config import RunConfig
from lightly_ray.config.lightly import CollateConfig, LightlyConfig, ModelConfig
from lightly_ray.config.resources import ResourcesConfig
from lightly_ray.config.support import unsupported_features
from lightly_ray.errors import ConfigError
from lightly_ray.models.backbones import EmbeddingModel
from lightly_ray.training.augment import augment_views, blur_sigmas, training_rows
from lightly_ray.training.in_run import check_training_storage, training_key
from lightly_ray.training.loop import make_optimizer
from lightly_ray.training.network import SimCLRNetwork, embedding_state
from lightly_ray.training.trainer import NodeShape, _complete, training_shape

DIVERSITY = {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}
IDENTITY = {
    "input_size": 32,
    "cj_prob": 0.0,
    "min_scale": 1.0,
    "random_gray_scale": 0.0,
    "gaussian_blur": 0.0,
    "hf_prob": 0.0,
    "vf_prob": 0.0,
    "rr_prob": 0.0,
}


def _images(count: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def test_views_without_augmentation_are_the_images_exactly() -> None:
    images = _images(6)
    views = augment_views({"image": images}, CollateConfig(**IDENTITY))  # type: ignore[arg-type]
    assert set(views) == {"view0", "view1"}
    np.testing.assert_array_equal(views["view0"], images)
    np.testing.assert_array_equal(views["view1"], images)


def test_views_leave_out_images_that_did_not_decode_and_differ_from_each_other() -> None:
    images = _images(5)
    ok = np.array([True, False, True, True, False])
    views = augment_views({"image": images, "ok": ok}, CollateConfig(input_size=32))
    assert views["view0"].shape == (3, 32, 32, 3) and views["view0"].dtype == np.uint8
    assert not np.array_equal(views["view0"], views["view1"]), "two random views of each image"


def test_views_are_made_at_the_input_size() -> None:
    views = augment_views({"image": _images(2, size=48)}, CollateConfig(input_size=24))
    assert views["view1"].shape == (2, 24, 24, 3)


def test_the_blur_kernel_size_sets_the_largest_sigma() -> None:
    assert blur_sigmas(CollateConfig(input_size=120, kernel_size=0.1)) == (0.1, 2.0)
    assert blur_sigmas(CollateConfig(input_size=8, kernel_size=0.01)) == (0.1, 0.1)


def test_the_network_trains_the_embedding_model_under_a_projection_head() -> None:
    model = ModelConfig(name="resnet-18", weights="random", out_dim=24, num_ftrs=8)
    network = SimCLRNetwork(model).eval()
    views = torch.from_numpy(_images(3))
    assert network(views).shape == (3, 8)
    state = embedding_state(network)
    assert set(state) == set(EmbeddingModel("resnet-18", 24).state_dict())
    plain = EmbeddingModel("resnet-18", 24).eval()
    plain.load_state_dict(state)
    pixels = views.permute(0, 3, 1, 2).float() / 255.0
    pixels = (pixels - network.mean) / network.std
    with torch.inference_mode():
        torch.testing.assert_close(plain(pixels), network.embedding(pixels))


@pytest.mark.parametrize(("name", "kind"), [("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW)])
def test_the_optimizer_is_named_in_the_config(name: str, kind: type) -> None:
    lightly = LightlyConfig.model_validate({"optimizer": {"name": name, "lr": 0.5, "weight_decay": 0.01}})
    optimizer = make_optimizer(lightly, torch.nn.Linear(2, 2))
    assert isinstance(optimizer, kind)
    assert optimizer.defaults["lr"] == 0.5 and optimizer.defaults["weight_decay"] == 0.01


def test_training_takes_a_worker_per_gpu_or_one_cpu_worker_on_every_core() -> None:
    lightly = LightlyConfig.model_validate({"trainer": {"gpus": 4}})
    gpu_nodes = [NodeShape(cpus=8, gpus=0), NodeShape(cpus=16, gpus=4), NodeShape(cpus=16, gpus=4)]
    on_gpus = training_shape(lightly, gpu_nodes)
    assert (on_gpus.workers, on_gpus.use_gpu, on_gpus.augment_tasks) == (8, True, 32)
    one_each = training_shape(LightlyConfig(), gpu_nodes)  # trainer.gpus 1: one GPU of each node
    assert (one_each.workers, one_each.use_gpu) == (2, True)
    no_gpus_asked = training_shape(LightlyConfig.model_validate({"trainer": {"gpus": 0}}), gpu_nodes)
    assert not no_gpus_asked.use_gpu and no_gpus_asked.torch_threads == 16
    cpu_node = [NodeShape(cpus=8, gpus=0)]
    on_cpus = training_shape(lightly, cpu_node)
    assert (on_cpus.workers, on_cpus.use_gpu, on_cpus.torch_threads) == (1, False, 8)
    assert on_cpus.augment_tasks == 0, "a CPU worker augments its own batches"
    assert on_cpus.local_mode, "one CPU worker on one node: in the task, without Train's actors"
    assert "1 CPU worker in one Ray task (Ray Train's local mode), 8 torch threads" in on_cpus.describe()
    two = training_shape(lightly, cpu_node, workers=2, torch_threads=3)
    assert two.torch_threads == 3 and not two.local_mode
    assert not training_shape(lightly, [NodeShape(cpus=8, gpus=0)] * 2).local_mode, "Train places it"
    assert not on_gpus.local_mode and not no_gpus_asked.local_mode


def test_epochs_an_earlier_attempt_ran_keep_their_loss() -> None:
    logged = [{"epoch": 3, "loss": 4.1, "images": 10, "seconds": 1.0}]
    records = _complete(logged, {"losses": [4.8, 4.5, 4.1]})
    assert records == [{"epoch": 1, "loss": 4.8}, {"epoch": 2, "loss": 4.5}, logged[0]]


def test_a_cluster_of_several_nodes_needs_a_shared_checkpoint_folder() -> None:
    selection = {"n_samples": 1, "strategies": [DIVERSITY]}
    worker = {"enable_training": True}
    config = RunConfig.model_validate({"worker_config": worker, "selection_config": selection})
    check_training_storage(config, 1)
    with pytest.raises(ConfigError, match=r"resources\.training\.storage_path: the cluster has 3 nodes"):
        check_training_storage(config, 3)
    resources = ResourcesConfig.model_validate({"training": {"storage_path": "s3://b/t"}})
    shared = config.model_copy(update={"resources": resources})
    check_training_storage(shared, 3)


def test_training_uses_the_images_or_the_crops_that_decoded() -> None:
    batch = {
        "image": _images(5),
        "ok": np.array([True, True, False, True, True]),
        "parent": np.array(["", "a.png", "a.png", "a.png", ""], dtype=object),
    }
    np.testing.assert_array_equal(training_rows(batch, crops=False), [True, False, False, False, True])
    np.testing.assert_array_equal(training_rows(batch, crops=True), [False, True, False, True, False])
    plain = {"image": _images(2), "ok": np.array([True, False])}
    np.testing.assert_array_equal(training_rows(plain, crops=False), [True, False])
    with pytest.raises(ValueError, match="cannot tell object crops from images"):
        training_rows(plain, crops=True)
    assert len(augment_views(batch, CollateConfig(input_size=32), crops=True)["view0"]) == 2


def test_training_on_crops_needs_training_and_the_crops_of_that_task() -> None:
    selection = {"n_samples": 1, "strategies": [DIVERSITY]}
    with pytest.raises(ValueError, match=r"training\.task_name names what training runs on"):
        RunConfig.model_validate(
            {"worker_config": {"training": {"task_name": "cars"}}, "selection_config": selection}
        )
    worker = {"enable_training": True, "training": {"task_name": "cars"}}
    config = RunConfig.model_validate({"worker_config": worker, "selection_config": selection})
    assert any("training.task_name 'cars'" in line for line in unsupported_features(config))
    worker["object_level"] = {"task_name": "cars"}
    config = RunConfig.model_validate({"worker_config": worker, "selection_config": selection})
    assert unsupported_features(config) == []


def test_a_rerun_of_the_same_work_finds_the_same_training_name() -> None:
    selection = {"n_samples": 1, "strategies": [DIVERSITY]}
    worker = {"enable_training": True}
    config = RunConfig.model_validate({"worker_config": worker, "selection_config": selection})
    listing = pa.table({"name": ["a.png", "b.png"], "size": [10, 20], "mtime_ns": [1, 2]})
    key = training_key(config, "s3://in", listing)
    assert training_key(config, "s3://in", listing) == key
    changed = listing.set_column(1, "size", pa.array([10, 21]))
    assert training_key(config, "s3://in", changed) != key
    assert training_key(config, "s3://other", listing) != key
    longer = config.model_copy(
        update={"lightly_config": LightlyConfig.model_validate({"trainer": {"max_epochs": 5}})}
    )
    assert training_key(longer, "s3://in", listing) != key
    for other in (
        {**worker, "training": {"task_name": "cars"}, "object_level": {"task_name": "cars"}},
        {**worker, "object_level": {"task_name": "cars", "padding": 0.2}},
    ):
        changed_config = RunConfig.model_validate({"worker_config": other, "selection_config": selection})
        assert training_key(changed_config, "s3://in", listing) != key
    named = {**worker, "object_level": {"task_name": "cars", "crop_dataset_name": "mine"}}
    unnamed = {**worker, "object_level": {"task_name": "cars"}}
    keys = [
        training_key(
            RunConfig.model_validate({"worker_config": w, "selection_config": selection}), "s3://in", listing
        )
        for w in (named, unnamed)
    ]
    assert keys[0] == keys[1], "where crops are written does not change what is trained"


def test_the_dry_run_plans_training_on_every_node_and_refuses_what_the_run_would() -> None:
    from lightly_ray.dry_run import _training

    selection = {"n_samples": 1, "strategies": [DIVERSITY]}
    worker = {"enable_training": True}
    config = RunConfig.model_validate(
        {"worker_config": worker, "selection_config": selection, "lightly_config": {"trainer": {"gpus": 2}}}
    )
    prepared: Any = SimpleNamespace(config=config)
    one = _training(prepared, [NodeShape(cpus=16, gpus=4)])
    assert one == "100 epochs of SimCLR on Ray Train, 2 GPU workers; augmentation in up to 14 CPU tasks"
    with pytest.raises(ConfigError, match="the cluster has 2 nodes"):
        _training(prepared, [NodeShape(cpus=16, gpus=4), NodeShape(cpus=8, gpus=1)])
    shared = config.model_copy(
        update={"resources": ResourcesConfig.model_validate({"training": {"storage_path": "s3://b/t"}})}
    )
    on_shared: Any = SimpleNamespace(config=shared)
    two = _training(on_shared, [NodeShape(cpus=16, gpus=4), NodeShape(cpus=8, gpus=1)])
    assert two.startswith("100 epochs of SimCLR on Ray Train, 3 GPU workers")


def test_a_cpu_training_process_takes_back_normal_priority_where_the_system_allows() -> None:
    script = (
        "import os, threading, time\n"
        "os.nice(15)\n"  # as Ray starts its workers
        "started = threading.Event()\n"
        "threading.Thread(target=lambda: (started.set(), time.sleep(5)), daemon=True).start()\n"
        "started.wait()\n"
        "from lightly_ray.training.loop import normal_priority\n"
        "changed = normal_priority()\n"
        "tasks = [int(t) for t in os.listdir('/proc/self/task')]\n"
        "print(changed, sorted({os.getpriority(os.PRIO_PROCESS, t) for t in tasks}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    if _may_lower_nice():  # allowed: every thread, the one started before too
        assert done.stdout.split() == ["True", "[0]"]
    else:  # not allowed: left as it was
        assert done.stdout.split() == ["False", "[15]"]


def _may_lower_nice() -> bool:
    """Whether this process may go back to nice 0 from 15: CAP_SYS_NICE, or RLIMIT_NICE of 20."""
    import resource

    status = Path("/proc/self/status").read_text()
    effective = int(next(line.split()[1] for line in status.splitlines() if line.startswith("CapEff")), 16)
    return bool(effective & (1 << 23)) or resource.getrlimit(resource.RLIMIT_NICE)[0] >= 20
