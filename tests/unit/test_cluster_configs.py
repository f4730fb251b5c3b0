"""The container image and the Ray cluster launcher configs, checked offline.

- Dockerfile: its rayproject/ray base is the Ray the tests run with; pyproject.toml's ray bound
  admits that minor release only; .dockerignore keeps what the Dockerfile copies.
- cluster/*.yaml: valid against the schema inside the installed Ray (ray/autoscaler/ray-schema.json),
  accepted by the checks `ray up` makes before it contacts the cloud, and consistent across
  fields (head type, GPU resources against the instance type, worker bounds, the image's Ray).

Each check is also shown to reject a broken copy, so that a passing check means something.
"""

from __future__ import annotations

import copy
import fnmatch
import importlib.metadata
import importlib.util
import json
import re
import tomllib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
CLUSTER_CONFIGS = sorted((REPO / "cluster").glob("*.yaml"))
PROJECT_IMAGE = re.compile(
    r"^[a-z0-9.:/_-]+/lightly-ray:(?P<project>\d+\.\d+\.\d+)-ray(?P<ray>\d+\.\d+\.\d+)-py311-gpu$"
)
BASE_IMAGE = re.compile(r"^FROM\s+rayproject/ray:(?P<ray>\d+\.\d+\.\d+)-py311-gpu\s*$", re.MULTILINE)
ASSERTED_RAY = re.compile(r"ray\.__version__ == '(?P<ray>[^']+)'")

# vCPUs and GPUs of the instance types the configs use: a type missing here fails the test, so
# adding one means writing down what it has. GCP's GPUs are the node's guestAccelerators.
INSTANCES: dict[str, dict[str, tuple[int, int]]] = {
    "aws": {"m6i.4xlarge": (16, 0), "g5.4xlarge": (16, 1), "g5.12xlarge": (48, 4)},
    "gcp": {"n2-standard-16": (16, 0), "n1-standard-16": (16, 0), "n1-standard-32": (32, 0)},
    "azure": {
        "Standard_D16s_v5": (16, 0),
        "Standard_NC16as_T4_v3": (16, 1),
        "Standard_NC64as_T4_v3": (64, 4),
    },
}


def installed_ray_version() -> str:
    """The Ray the tests run with."""
    return importlib.metadata.version("ray")


def project_version() -> str:
    return str(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])


def dockerfile_ray_version(text: str) -> str:
    """The Ray version of the Dockerfile's rayproject/ray GPU base image."""
    matches = BASE_IMAGE.findall(text)
    assert len(matches) == 1, f"expected one `FROM rayproject/ray:X.Y.Z-py311-gpu`, found {matches}"
    return str(matches[0])


def image_problems(image: str, where: str) -> list[str]:
    """What is wrong with a reference to the project image (its tag names both versions)."""
    match = PROJECT_IMAGE.match(image)
    if match is None:
        return [f"{where}: {image!r} is not REGISTRY/lightly-ray:<version>-ray<version>-py311-gpu"]
    problems = []
    if match["ray"] != installed_ray_version():
        problems.append(f"{where}: image has Ray {match['ray']}, tested with {installed_ray_version()}")
    if match["project"] != project_version():
        problems.append(f"{where}: image has lightly-ray {match['project']}, pyproject {project_version()}")
    return problems


def ray_requirement() -> Requirement:
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (ray,) = [Requirement(item) for item in dependencies if Requirement(item).name == "ray"]
    return ray


# --- Dockerfile and pyproject.toml ---------------------------------------------------------


def test_dockerfile_base_image_is_the_tested_ray() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert dockerfile_ray_version(dockerfile) == installed_ray_version()


def test_dockerfile_base_check_rejects_another_version_or_base() -> None:
    other = "FROM rayproject/ray:2.9.0-py311-gpu\n"
    assert dockerfile_ray_version(other) != installed_ray_version()
    with pytest.raises(AssertionError, match="expected one"):
        dockerfile_ray_version("FROM rayproject/ray:latest-gpu\n")


def test_dockerfile_installs_the_cloud_extra_and_the_jobs() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert '".[cloud]"' in dockerfile
    workdir = re.findall(r"^WORKDIR\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert workdir == ["/home/ray/lightly-ray"]
    assert re.search(r"^COPY\s.*\sjobs\s+\./jobs$", dockerfile, flags=re.MULTILINE)


def test_pyproject_ray_bound_admits_exactly_the_tested_minor() -> None:
    specifier = ray_requirement().specifier
    tested = Version(installed_ray_version())
    major, minor = tested.major, tested.minor
    assert tested in specifier
    assert Version(f"{major}.{minor}.0") in specifier
    assert Version(f"{major}.{minor + 1}.0") not in specifier
    assert Version(f"{major}.{minor - 1}.99") not in specifier
    assert {"data", "client", "train"} <= ray_requirement().extras


def copied_sources(dockerfile: str) -> list[str]:
    """The build-context paths the Dockerfile's COPY lines read."""
    sources = []
    for line in dockerfile.splitlines():
        words = [word for word in line.split() if not word.startswith("--")]
        if words and words[0] == "COPY":
            sources += [source.rstrip("/") for source in words[1:-1]]
    return sources


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves `path` (or the folder it is in) out of the build context."""
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.removeprefix("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, glob) for prefix in prefixes):
            ignored = not negated
    return ignored


def dockerignore_patterns(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_dockerignore_keeps_what_the_dockerfile_copies_and_nothing_big() -> None:
    patterns = dockerignore_patterns((REPO / ".dockerignore").read_text())
    sources = copied_sources((REPO / "Dockerfile").read_text())
    assert sources == ["pyproject.toml", "README.md", "lightly_ray", "jobs"]
    assert [source for source in sources if dockerignored(source, patterns)] == []
    for left_out in (".venv", "node_modules", ".git", "tests", "lightly-ray-demo", "lightly_ray/__pycache__"):
        assert dockerignored(left_out, patterns), left_out


def test_dockerignore_check_sees_a_copied_path_left_out() -> None:
    patterns = dockerignore_patterns((REPO / ".dockerignore").read_text())
    assert dockerignored("jobs", [*patterns, "jobs/"])
    assert dockerignored("jobs", ["*"])
    assert not dockerignored("jobs", ["*", "!jobs/"])


# --- cluster/*.yaml ------------------------------------------------------------------------


@cache
def ray_schema() -> dict[str, Any]:
    """The cluster config schema shipped inside the installed Ray."""
    spec = importlib.util.find_spec("ray")
    assert spec is not None and spec.origin is not None
    schema: dict[str, Any] = json.loads(
        (Path(spec.origin).parent / "autoscaler" / "ray-schema.json").read_text()
    )
    return schema


def schema_errors(config: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(ray_schema())
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(config)
    ]


def load_cluster_config(path: Path) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    return config


def test_there_is_a_config_per_cloud() -> None:
    assert [path.stem for path in CLUSTER_CONFIGS] == ["aws", "azure", "gcp"]


@pytest.mark.parametrize("path", CLUSTER_CONFIGS, ids=lambda path: path.stem)
def test_cluster_config_matches_rays_schema(path: Path) -> None:
    config = load_cluster_config(path)
    assert config["provider"]["type"] == path.stem
    assert schema_errors(config) == []


@pytest.mark.parametrize("path", CLUSTER_CONFIGS, ids=lambda path: path.stem)
def test_ray_up_accepts_the_config_before_it_contacts_the_cloud(path: Path) -> None:
    # What `ray up` does first: fill in the provider's defaults, then validate. Ray is pinned to
    # one minor release, so these internal functions are those of the Ray the image runs.
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(load_cluster_config(path)))


@pytest.mark.parametrize("path", CLUSTER_CONFIGS, ids=lambda path: path.stem)
def test_cluster_config_fields_agree(path: Path) -> None:
    assert cluster_config_problems(load_cluster_config(path)) == []


def node_type_hardware(provider: str, node_config: dict[str, Any]) -> tuple[str, int, int]:
    """The instance type of a node type, and its vCPUs and GPUs."""
    if provider == "aws":
        instance = node_config["InstanceType"]
    elif provider == "gcp":
        instance = node_config["machineType"]
    else:
        instance = node_config["azure_arm_parameters"]["vmSize"]
    known = INSTANCES[provider]
    assert instance in known, (
        f"{provider} instance type {instance} is not in INSTANCES: add its vCPUs and GPUs"
    )
    cpus, gpus = known[instance]
    if provider == "gcp":
        gpus = sum(int(item["acceleratorCount"]) for item in node_config.get("guestAccelerators", []))
    return instance, cpus, gpus


def cluster_config_problems(config: dict[str, Any]) -> list[str]:
    """Cross-field mistakes the schema cannot see; an empty list when there are none."""
    problems: list[str] = []
    provider = config["provider"]["type"]
    node_types: dict[str, dict[str, Any]] = config["available_node_types"]
    head_type = config.get("head_node_type")
    if head_type not in node_types:
        problems.append(f"head_node_type {head_type!r} is not one of {sorted(node_types)}")
    global_max = config["max_workers"]
    min_sum = 0
    gpu_types = 0
    for name, node_type in node_types.items():
        instance, cpus, gpus = node_type_hardware(provider, node_type["node_config"])
        declared = node_type["resources"]
        if name == head_type:
            if gpus or declared.get("GPU", 0):
                problems.append(f"{name}: the head should be a CPU node, {instance} has {gpus} GPUs")
            continue
        minimum, maximum = node_type.get("min_workers", 0), node_type.get("max_workers", global_max)
        min_sum += minimum
        if not 0 <= minimum <= maximum <= global_max:
            problems.append(
                f"{name}: need 0 <= min_workers {minimum} <= max_workers {maximum} <= {global_max}"
            )
        if declared.get("GPU", 0) != gpus:
            problems.append(f"{name}: declares GPU {declared.get('GPU', 0)}, {instance} has {gpus}")
        if declared.get("CPU") != cpus:
            problems.append(f"{name}: declares CPU {declared.get('CPU')}, {instance} has {cpus}")
        if gpus:
            gpu_types += 1
            if provider == "gcp" and {"onHostMaintenance": "TERMINATE"} not in node_type["node_config"].get(
                "scheduling", []
            ):
                problems.append(f"{name}: a GCP GPU node needs scheduling onHostMaintenance: TERMINATE")
    if gpu_types == 0:
        problems.append("no GPU worker node type")
    if min_sum > global_max:
        problems.append(f"min_workers add up to {min_sum}, more than max_workers {global_max}")
    docker = config.get("docker", {})
    images = {key: docker[key] for key in ("image", "head_image", "worker_image") if key in docker}
    for name, node_type in node_types.items():
        if "worker_image" in node_type.get("docker", {}):
            images[f"{name}.docker.worker_image"] = node_type["docker"]["worker_image"]
    if "image" not in images:
        problems.append("docker.image is not set: the nodes would not run the project image")
    for where, image in images.items():
        problems += image_problems(image, f"docker.{where}" if "." not in where else where)
    asserted = ASSERTED_RAY.findall(" ".join(config.get("setup_commands", [])))
    if asserted != [installed_ray_version()]:
        problems.append(f"setup_commands check Ray {asserted}, tested with {installed_ray_version()}")
    return problems


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = config
        for key in parents:
            target = target[key]
        target[last] = value

    return change


def _first_gpu_type(config: dict[str, Any]) -> dict[str, Any]:
    return next(node for node in config["available_node_types"].values() if node["resources"].get("GPU"))


def _gpu_type_change(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(config: dict[str, Any]) -> None:
        _first_gpu_type(config)[key] = value

    return change


def _drop_gpu_resource(config: dict[str, Any]) -> None:
    del _first_gpu_type(config)["resources"]["GPU"]


def _all_min_workers(config: dict[str, Any]) -> None:
    for name, node in config["available_node_types"].items():
        if name != config["head_node_type"]:
            node["min_workers"] = node["max_workers"] = config["max_workers"]


BROKEN_CLUSTER_CONFIGS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "head type missing": (_set("head_node_type", "ray.head.gone"), "head_node_type"),
    "GPU type without GPU resource": (_drop_gpu_resource, "declares GPU 0"),
    "GPU count not the instance's": (_gpu_type_change("resources", {"CPU": 16, "GPU": 8}), "declares GPU 8"),
    "min above max": (_gpu_type_change("min_workers", 9), "min_workers 9"),
    "type max above global max": (_gpu_type_change("max_workers", 99), "max_workers 99"),
    "mins above global max": (_all_min_workers, "add up to"),
    "image of another Ray": (
        _set("docker.image", "example.com/lightly-ray:0.1.0-ray2.9.0-py311-gpu"),
        "image has Ray 2.9.0",
    ),
    "not the project image": (_set("docker.image", "rayproject/ray:2.60.0-gpu"), "is not REGISTRY"),
    "setup checks another Ray": (
        _set("setup_commands", ["python -c \"import ray; assert ray.__version__ == '2.9.0'\""]),
        "setup_commands check Ray ['2.9.0']",
    ),
}


@pytest.mark.parametrize("path", CLUSTER_CONFIGS, ids=lambda path: path.stem)
@pytest.mark.parametrize("broken", sorted(BROKEN_CLUSTER_CONFIGS))
def test_cross_field_checks_reject_a_broken_copy(path: Path, broken: str) -> None:
    change, expected = BROKEN_CLUSTER_CONFIGS[broken]
    config = copy.deepcopy(load_cluster_config(path))
    change(config)
    problems = cluster_config_problems(config)
    assert any(expected in problem for problem in problems), problems


def test_schema_check_rejects_a_broken_copy() -> None:
    config = copy.deepcopy(load_cluster_config(REPO / "cluster" / "aws.yaml"))
    gpu_type = _first_gpu_type(config)
    gpu_type["min_worker"] = gpu_type.pop("min_workers")  # a misspelled key
    gpu_type["resources"]["GPU"] = "1"  # a count as a string
    config["docker"]["pull"] = True  # a key of old Ray versions
    errors = schema_errors(config)
    assert len(errors) == 3, errors
    assert any("'min_worker' was unexpected" in error for error in errors), errors
    assert any("'1' is not of type 'integer'" in error for error in errors), errors
