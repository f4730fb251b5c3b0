"""The plan's resources: defaults that fill the cluster, and the `resources` block that sets them."""

from __future__ import annotations

import re
from typing import Any

import pytest
import ray.data

from lightly_ray.config import load_config
from lightly_ray.errors import ConfigError
from lightly_ray.pipeline.build import plan_stages
from lightly_ray.pipeline.sizing import (
    BLOCKS_PER_DETECTOR,
    ClusterShape,
    block_samples,
    embed_shape,
    pretag_shape,
)
from lightly_ray.pipeline.stage import describe_stages

SELECTION = {
    "n_samples": 1,
    "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
}


def _config(resources: dict[str, Any] | None = None, **lightly: Any) -> Any:
    return load_config({"selection_config": SELECTION, "lightly_config": lightly}, resources=resources)


def test_two_cpus_one_actor_that_uses_both_cores() -> None:
    decode, embed = plan_stages(_config(), ClusterShape(cpus=2, gpus=0))
    # Both decode tasks fit beside the actor's CPU: 0.5 CPU each.
    assert decode.options["compute"].size == 2 and decode.options["num_cpus"] == 0.5
    compute = embed.options["compute"]
    assert isinstance(compute, ray.data.ActorPoolStrategy)
    assert (compute.min_size, compute.max_size) == (1, 1)
    assert embed.options["num_gpus"] == 0 and embed.options["batch_size"] == 128
    assert embed.options["fn_constructor_kwargs"]["torch_threads"] == 2
    assert "1 CPU per actor, 2 torch threads" in describe_stages([decode, embed])


def test_cpu_cluster_one_actor_per_four_cpus() -> None:
    shape = embed_shape(_config(), ClusterShape(cpus=16, gpus=0))
    assert (shape.max_actors, shape.torch_threads, shape.gpus) == (4, 4, 0.0)


def test_gpu_cluster_one_actor_per_gpu_share() -> None:
    assert embed_shape(_config(), ClusterShape(cpus=32, gpus=4)).max_actors == 4
    shared = embed_shape(_config({"embed": {"gpus_per_actor": 0.5}}), ClusterShape(cpus=32, gpus=4))
    assert (shared.max_actors, shared.gpus) == (8, 0.5)
    _, embed = plan_stages(_config(), ClusterShape(cpus=32, gpus=4))
    assert embed.options["num_gpus"] == 1.0 and "1 GPU per actor" in embed.resources()


def test_every_default_can_be_set() -> None:
    config = _config(
        {
            "decode": {"cpus_per_task": 0.5, "max_tasks": 3, "samples_per_block": 8},
            "embed": {
                "max_actors": 2,
                "min_actors": 2,
                "cpus_per_actor": 2,
                "torch_threads": 3,
                "batch_size": 64,
            },
        },
        loader={"batch_size": 16, "num_workers": 7},
    )
    decode, embed = plan_stages(config, ClusterShape(cpus=8, gpus=0))
    assert decode.options["compute"].size == 3 and decode.options["num_cpus"] == 0.5
    assert block_samples(config, ClusterShape(cpus=8, gpus=0), 10_000) == 8
    compute = embed.options["compute"]
    assert (compute.min_size, compute.max_size) == (2, 2)
    assert embed.options["num_cpus"] == 2 and embed.options["batch_size"] == 64
    assert embed.options["fn_constructor_kwargs"]["torch_threads"] == 3


def test_loader_keys_still_count() -> None:
    config = _config(loader={"num_workers": 5, "batch_size": 256})
    decode, embed = plan_stages(config, ClusterShape(cpus=8, gpus=0))
    assert decode.options["compute"].size == 5 and embed.options["batch_size"] == 256
    assert block_samples(_config(), ClusterShape(cpus=2, gpus=0), 100_000) == 512
    assert block_samples(_config(), ClusterShape(cpus=2, gpus=0), 100) == 13, "4 blocks per decode task"


def test_impossible_resources_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"gpus_per_actor: 1 asks for GPUs, and the cluster has none"):
        embed_shape(_config({"embed": {"gpus_per_actor": 1}}), ClusterShape(cpus=8, gpus=0))
    with pytest.raises(ConfigError, match=r"min_actors \(3\) exceeds max_actors \(2\)"):
        embed_shape(_config({"embed": {"min_actors": 3}}), ClusterShape(cpus=8, gpus=0))
    with pytest.raises(ConfigError, match=r"resources.embed: min_actors \(3\) exceeds max_actors \(1\)"):
        _config({"embed": {"min_actors": 3, "max_actors": 1}})
    with pytest.raises(ConfigError, match=r"resources.decode.samples_per_blok"):
        _config({"decode": {"samples_per_blok": 3}})


def test_overrides_find_the_resources_block() -> None:
    overrides = ["embed.max_actors=3", "resources.decode.max_tasks=2"]
    config = load_config({"selection_config": SELECTION}, overrides=overrides)
    assert config.resources.embed.max_actors == 3 and config.resources.decode.max_tasks == 2


def _pretagging(resources: dict[str, Any] | None = None) -> Any:
    raw = {
        "selection_config": SELECTION,
        "worker_config": {"pretagging": True},
        "lightly_config": {"pretagging": {"image_size": 800}},
    }
    return load_config(raw, resources=resources)


def test_pretagging_puts_detector_actors_between_decode_and_embed() -> None:
    # On GPUs: decode tasks on the CPUs hand the detector actors decoded rows.
    decode, pretag, embed = plan_stages(_pretagging(), ClusterShape(cpus=16, gpus=1))
    assert decode.options["fn_kwargs"]["detect_size"] == 800 and "detect_image" in decode.makes
    assert pretag.name == "pretag" and "detect_image" in pretag.needs and "pretag_count" in pretag.makes
    assert pretag.options["fn_constructor_kwargs"]["decode"] is None
    assert pretag.options["batch_size"] == 4
    # Blocks carry each sample's 800 x 800 detector picture: at most 128 MB of them (69), in
    # whole detector batches of 4, also for small inputs.
    assert block_samples(_pretagging(), ClusterShape(cpus=2, gpus=0), 10_000) == 68
    assert block_samples(_pretagging(), ClusterShape(cpus=2, gpus=0), 24) == 4
    text = describe_stages([decode, pretag, embed])
    assert "faster-rcnn actors, 1 to 2" in text and "2. decode   tasks" in text


def test_cpu_detectors_decode_their_own_blocks() -> None:
    pretag, embed = plan_stages(_pretagging(), ClusterShape(cpus=2, gpus=0))
    assert pretag.name == "decode+pretag" and pretag.needs == ("source", "video segment")
    decode = pretag.options["fn_constructor_kwargs"]["decode"]
    assert decode["detect_size"] == 800 and decode["input_size"] == 64
    # The detector pictures stay in the actor; the rows go on with the pixels and detections.
    assert "detect_image" not in pretag.makes and {"image", "pretag_count"} <= set(pretag.makes)
    # A block of units a call, as a decode task took; its rows are detected 4 at a time.
    assert pretag.options["batch_size"] is None and pretag.options["udf_modifying_row_count"]
    assert pretag.options["num_cpus"] == 0.5 and embed.options["num_cpus"] == 0.5
    text = describe_stages([pretag, embed])
    assert (
        "2. decode+pretag faster-rcnn actors, 2 to 2" in text
        and "1 torch thread" in text
        and "1 torch threads" not in text
    )
    # Decode tasks of their own when resources.decode sizes them, or when the detectors are
    # pinned to nodes by a custom resource (the other nodes decode).
    for resources in (
        {"decode": {"max_tasks": 2}},
        {"decode": {"cpus_per_task": 0.25}},
        {"pretag": {"custom_resources": {"model_node": 0.5}}},
    ):
        cluster = ClusterShape(cpus=2, gpus=0, custom={"model_node": 1.0})
        names = [stage.name for stage in plan_stages(_pretagging(resources), cluster)]
        assert names == ["decode", "pretag", "embed"], resources


def test_cpu_detectors_are_one_single_threaded_actor_per_cpu() -> None:
    pretag, embed = plan_stages(_pretagging(), ClusterShape(cpus=8, gpus=0))
    compute = pretag.options["compute"]
    # All started before the first batch: the detector is the slowest step, the pool would grow.
    assert (compute.min_size, compute.max_size) == (8, 8)
    assert pretag.options["fn_constructor_kwargs"]["torch_threads"] == 1
    # The embedding actors beside them: one per 4 CPUs as without pretagging, one thread each.
    assert (
        embed.options["compute"].max_size == 2
        and embed.options["fn_constructor_kwargs"]["torch_threads"] == 1
    )
    # Beside detectors on GPUs, a CPU embedding actor keeps its share of every core.
    gpu_detectors = _pretagging({"embed": {"gpus_per_actor": 0}})
    assert embed_shape(gpu_detectors, ClusterShape(cpus=8, gpus=2)).torch_threads == 4
    # At most one per 2 GiB of Ray's memory.
    small = ClusterShape(cpus=8, gpus=0, memory=5 * 2**30)
    assert pretag_shape(_pretagging(), small).max_actors == 2
    # An autoscaling cluster starts one and grows the pool as the work waits.
    grown = pretag_shape(_pretagging(), ClusterShape(cpus=8, gpus=0, now={"CPU": 2.0, "GPU": 0.0}))
    assert (grown.min_actors, grown.max_actors) == (1, 8)
    # What resources.pretag sets wins.
    shape = pretag_shape(
        _pretagging({"pretag": {"max_actors": 2, "torch_threads": 4}}), ClusterShape(cpus=8, gpus=0)
    )
    assert (shape.min_actors, shape.max_actors, shape.torch_threads) == (2, 2, 4)
    shape = pretag_shape(_pretagging({"pretag": {"min_actors": 1}}), ClusterShape(cpus=8, gpus=0))
    assert (shape.min_actors, shape.max_actors) == (1, 8)


def test_no_more_detector_actors_than_blocks() -> None:
    pretag, _ = plan_stages(_pretagging(), ClusterShape(cpus=8, gpus=0), blocks=3)
    assert (pretag.options["compute"].min_size, pretag.options["compute"].max_size) == (3, 3)
    pretag, _ = plan_stages(_pretagging(), ClusterShape(cpus=8, gpus=0), blocks=30)
    assert (pretag.options["compute"].min_size, pretag.options["compute"].max_size) == (8, 8)


def test_detector_blocks_leave_no_actor_with_a_long_last_block() -> None:
    two_cpus = ClusterShape(cpus=2, gpus=0)
    # 200 images for two detector actors: blocks of one detector batch, not 9 blocks of 24 of
    # which one actor could take 5 and the other 4.
    assert block_samples(_pretagging(), two_cpus, 200) == 4
    assert -(-200 // block_samples(_pretagging(), two_cpus, 200)) >= BLOCKS_PER_DETECTOR * 2
    # Large inputs: blocks as large as the detector pictures allow.
    assert block_samples(_pretagging(), two_cpus, 100_000) == 68


def test_pretagging_shares_each_gpu_between_the_two_models() -> None:
    _, pretag, embed = plan_stages(_pretagging(), ClusterShape(cpus=32, gpus=4))
    assert pretag.options["num_gpus"] == 0.5 and embed.options["num_gpus"] == 0.5
    assert pretag.options["compute"].max_size == 8 and embed.options["compute"].max_size == 8
    _, pretag, _ = plan_stages(_pretagging({"pretag": {"gpus_per_actor": 1}}), ClusterShape(cpus=32, gpus=4))
    assert pretag.options["num_gpus"] == 1 and pretag.options["compute"].max_size == 4
    with pytest.raises(ConfigError, match=r"resources\.pretag\.gpus_per_actor"):
        plan_stages(_pretagging({"pretag": {"gpus_per_actor": 1}}), ClusterShape(cpus=8, gpus=0))


def test_pretagging_refuses_actors_that_leave_no_cpu_to_decoding() -> None:
    resources = {"pretag": {"cpus_per_actor": 1, "max_actors": 1}, "embed": {"cpus_per_actor": 1}}
    # The detector actor decodes its own blocks: no decode task needs room beside it.
    assert len(plan_stages(_pretagging(resources), ClusterShape(cpus=2, gpus=0))) == 2
    tasks = {**resources, "decode": {"max_tasks": 2}}
    with pytest.raises(
        ConfigError,
        match=re.escape("reserve 2 of the cluster's 2 CPUs, which leaves less than a decode task's 0.05"),
    ):
        plan_stages(_pretagging(tasks), ClusterShape(cpus=2, gpus=0))
    explicit = {
        **resources,
        "decode": {"cpus_per_task": 1},
        "pretag": {"cpus_per_actor": 0.5, "max_actors": 1},
    }
    with pytest.raises(
        ConfigError,
        match=re.escape("reserve 1.5 of the cluster's 2 CPUs, which leaves less than a decode task's 1"),
    ):
        plan_stages(_pretagging(explicit), ClusterShape(cpus=2, gpus=0))


def test_model_actors_can_be_pinned_to_nodes_with_a_custom_resource() -> None:
    pinned = {"custom_resources": {"model_node": 0.5}}
    config = _pretagging({"pretag": pinned, "embed": pinned})
    cluster = ClusterShape(cpus=6, gpus=0, custom={"model_node": 1.0})
    _, pretag, embed = plan_stages(config, cluster)
    assert pretag.options["resources"] == {"model_node": 0.5} == embed.options["resources"]
    # As many actors as the cluster's model_node holds: two halves.
    assert pretag.options["compute"].max_size == 2
    assert "0.5 CPU per actor + 0.5 model_node" in describe_stages([pretag])
    with pytest.raises(
        ConfigError, match=r"resources.embed.custom_resources: an actor needs 0.5 'model_node'"
    ):
        plan_stages(config, ClusterShape(cpus=6, gpus=0))
    with pytest.raises(ConfigError, match="custom resource"):
        _pretagging({"embed": {"custom_resources": {"GPU": 1}}})


def test_retries_bound_lost_decode_tasks_and_model_actor_restarts() -> None:
    decode, embed = plan_stages(_config(), ClusterShape(cpus=8, gpus=0))
    assert decode.options["max_retries"] == 10
    assert (embed.options["max_restarts"], embed.options["max_task_retries"]) == (10, 10)
    decode, embed = plan_stages(
        _config({"retries": {"tasks": -1, "actors": 0}}), ClusterShape(cpus=8, gpus=0)
    )
    assert decode.options["max_retries"] == -1
    assert (embed.options["max_restarts"], embed.options["max_task_retries"]) == (0, 0)
    with pytest.raises(ConfigError, match="retries"):
        _config({"retries": {"tasks": -2}})


def test_blocks_for_a_growing_cluster_are_not_a_few_samples() -> None:
    grown = ClusterShape(cpus=1024, gpus=8, now={"CPU": 2.0, "GPU": 0.0})
    assert block_samples(_config(), grown, 10_000) == 32  # 10,000 / (4 x 1024) would be 3
    assert block_samples(_config(), ClusterShape(cpus=1024, gpus=8), 10_000) == 3  # no autoscaler: as before


def test_decode_tasks_share_what_the_first_actors_leave() -> None:
    decode, _ = plan_stages(_config(), ClusterShape(cpus=16, gpus=1))  # a GPU actor reserves 1 CPU
    assert decode.options["compute"].size == 16 and decode.options["num_cpus"] == 0.9375
    decode, _ = plan_stages(_config(), ClusterShape(cpus=16, gpus=0))  # 4 CPU actors, 1 started
    assert decode.options["num_cpus"] == 0.9375
    decode, _ = plan_stages(_config(), ClusterShape(cpus=64, gpus=0))
    assert decode.options["num_cpus"] == 0.9844
    decode, _ = plan_stages(_config({"decode": {"cpus_per_task": 1}}), ClusterShape(cpus=2, gpus=0))
    assert decode.options["num_cpus"] == 1  # as configured
