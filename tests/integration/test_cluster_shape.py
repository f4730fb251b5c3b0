"""The plan reads an autoscaling cluster's ceiling from Ray's cluster config in the GCS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import ray
from ray.core.generated import autoscaler_pb2
from ray.experimental import internal_kv

from lightly_ray.config import load_config
from lightly_ray.pipeline.sizing import ClusterShape, autoscaling_ceiling, embed_shape

pytestmark = pytest.mark.usefixtures("ray_instance")


@pytest.fixture
def autoscaler_config() -> Iterator[autoscaler_pb2.ClusterConfig]:
    """An autoscaler's cluster config in the GCS, as Ray's autoscaler v2 keeps it; removed after."""
    config = autoscaler_pb2.ClusterConfig()
    head = config.node_group_configs.add(name="head", max_count=1)
    head.resources["CPU"] = 2
    gpus = config.node_group_configs.add(name="gpu-workers", min_count=0, max_count=4)
    gpus.resources.update({"CPU": 8, "GPU": 1, "model_node": 1})
    namespace = ray._raylet.GCS_AUTOSCALER_STATE_NAMESPACE.encode()
    key = ray._raylet.GCS_AUTOSCALER_CLUSTER_CONFIG_KEY.encode()
    internal_kv._internal_kv_put(key, config.SerializeToString(), overwrite=True, namespace=namespace)
    try:
        yield config
    finally:
        internal_kv._internal_kv_del(key, namespace=namespace)


def test_a_local_cluster_has_no_ceiling() -> None:
    assert autoscaling_ceiling() is None
    shape = ClusterShape.current()
    assert shape.now == {} and "autoscaling" not in shape.describe()


def test_pools_are_sized_for_the_grown_cluster(autoscaler_config: autoscaler_pb2.ClusterConfig) -> None:
    assert autoscaling_ceiling() == {"CPU": 34.0, "GPU": 4.0, "model_node": 4.0}
    shape = ClusterShape.current()
    assert (shape.cpus, shape.gpus, shape.custom["model_node"]) == (34, 4, 4.0)
    assert shape.now == {"CPU": 2.0, "GPU": 0.0}  # the test's Ray instance: 2 CPUs, no GPU
    assert shape.describe() == "2 CPUs, 0 GPUs now, up to 34 CPUs, 4 GPUs (autoscaling)"
    # One GPU actor per GPU the cluster can grow to, although none is up yet: Ray Data starts
    # one and asks the autoscaler for the nodes of the others as the pool grows.
    selection = {
        "n_samples": 1,
        "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
    }
    embed = embed_shape(load_config({"selection_config": selection}), shape)
    assert (embed.min_actors, embed.max_actors, embed.gpus) == (1, 4, 1.0)
