"""The KubeRay manifests in k8s/, checked offline.

- RayJob and RayCluster against the KubeRay CRDs in ../shared/kuberay-crds/ (beside the
  checkout; skipped where it is not), with the API server's rules: unknown fields are rejected
  where the schema lists properties and does not preserve unknown fields, and fields with a
  default are not required (the server fills them in before it validates).
- Every pod template, the ConfigMap and the ServiceAccount with kubernetes-validate (the
  Kubernetes API schema, strict: unknown fields rejected).
- Cross-field: rayVersion and the images' Ray are the tested Ray, minReplicas <= replicas <=
  maxReplicas, GPUs in limits and requests alike, the entrypoint's script exists under jobs/
  and its --config is the mounted ConfigMap, whose config passes lightly_ray's validation,
  one service account with a workload identity and no credentials anywhere.

Each check is also shown to reject a broken copy, so that a passing check means something.
"""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from lightly_ray.errors import ConfigError
from lightly_ray.preflight import validate_config
from tests.unit.test_cluster_configs import image_problems, installed_ray_version

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
CRDS = Path(__file__).absolute().parents[3] / "shared" / "kuberay-crds"
needs_crds = pytest.mark.skipif(
    not CRDS.is_dir(),
    reason=f"the KubeRay CRDs are not beside the checkout ({CRDS}); the manifests' envelope is not checked",
)
KUBERNETES_VERSION = "1.33"
GPU = "nvidia.com/gpu"
WORKLOAD_IDENTITY_ANNOTATIONS = (
    "eks.amazonaws.com/role-arn",
    "iam.gke.io/gcp-service-account",
    "azure.workload.identity/client-id",
)
CREDENTIAL_VARIABLES = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_CLIENT_SECRET",
}
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRDs are 40,000 lines


def manifest(name: str) -> dict[str, Any]:
    """A copy of the one object in k8s/NAME.yaml."""
    return copy.deepcopy(_load_manifest(name))


@cache
def _load_manifest(name: str) -> dict[str, Any]:
    documents = [document for document in yaml.safe_load_all((K8S / f"{name}.yaml").read_text()) if document]
    assert len(documents) == 1, f"k8s/{name}.yaml: expected one object, found {len(documents)}"
    loaded: dict[str, Any] = documents[0]
    return loaded


def test_k8s_holds_the_manifests_these_tests_check() -> None:
    assert sorted(path.stem for path in K8S.glob("*.yaml")) == [
        "configmap",
        "raycluster",
        "rayjob",
        "serviceaccount",
    ]
    assert [manifest(name)["kind"] for name in ("rayjob", "raycluster")] == ["RayJob", "RayCluster"]


# --- the RayJob and RayCluster against the KubeRay CRDs -----------------------------------


@cache
def crd_schema(kind: str, version: str) -> dict[str, Any]:
    """The OpenAPI schema of a KubeRay kind, with the API server's rules made explicit."""
    crd = yaml.load((CRDS / f"ray.io_{kind.lower()}s.yaml").read_text(), Loader=Loader)
    assert crd["spec"]["names"]["kind"] == kind
    (served,) = [item for item in crd["spec"]["versions"] if item["name"] == version]
    schema: dict[str, Any] = with_api_server_rules(served["schema"]["openAPIV3Schema"])
    return schema


def with_api_server_rules(schema: Any) -> Any:
    """A copy of an OpenAPI v3 schema that Draft 7 validates as the Kubernetes API server does.

    Unknown fields are pruned (here: rejected) where an object lists `properties` and does not
    set `x-kubernetes-preserve-unknown-fields`; a field with a `default` is never missing,
    because the server fills it in first.
    """
    if isinstance(schema, list):
        return [with_api_server_rules(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    rewritten = {key: with_api_server_rules(value) for key, value in schema.items()}
    properties = schema.get("properties")
    if isinstance(properties, dict):
        if not schema.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in schema:
            rewritten["additionalProperties"] = False
        if "required" in schema:
            rewritten["required"] = [
                name for name in schema["required"] if "default" not in properties.get(name, {})
            ]
    return rewritten


def crd_errors(resource: dict[str, Any]) -> list[str]:
    group, version = resource["apiVersion"].split("/")
    assert group == "ray.io"
    validator = jsonschema.Draft7Validator(crd_schema(resource["kind"], version))
    return sorted(
        f"{'.'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(resource)
    )


@needs_crds
@pytest.mark.parametrize("name", ["rayjob", "raycluster"])
def test_manifest_matches_the_kuberay_crd(name: str) -> None:
    assert crd_errors(manifest(name)) == []


def _rename_shutdown(job: dict[str, Any]) -> None:
    job["spec"]["shutdownAfterJobFinish"] = job["spec"].pop("shutdownAfterJobFinishes")


def _replicas_as_text(job: dict[str, Any]) -> None:
    first_worker_group(job)["replicas"] = "2"


def _drop_group_name(job: dict[str, Any]) -> None:
    del first_worker_group(job)["groupName"]


def _misspell_container_field(job: dict[str, Any]) -> None:
    container = head_pod(job)["containers"][0]
    container["volumeMount"] = container.pop("volumeMounts")


def _unknown_upscaling_mode(job: dict[str, Any]) -> None:
    job["spec"]["rayClusterSpec"]["autoscalerOptions"] = {"upscalingMode": "Fast"}


BROKEN_CRD_COPIES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "misspelled field": (_rename_shutdown, "'shutdownAfterJobFinish' was unexpected"),
    "replicas as text": (_replicas_as_text, "'2' is not of type 'integer'"),
    "worker group without groupName": (_drop_group_name, "'groupName' is a required property"),
    "misspelled container field": (_misspell_container_field, "'volumeMount' was unexpected"),
    "value outside an enum": (_unknown_upscaling_mode, "'Fast' is not one of"),
}


@needs_crds
@pytest.mark.parametrize("broken", sorted(BROKEN_CRD_COPIES))
def test_crd_check_rejects_a_broken_copy(broken: str) -> None:
    change, expected = BROKEN_CRD_COPIES[broken]
    job = manifest("rayjob")
    change(job)
    errors = crd_errors(job)
    assert len(errors) == 1 and expected in errors[0], errors


@needs_crds
def test_crd_check_does_not_require_fields_with_a_default() -> None:
    cluster = manifest("raycluster")
    group = cluster["spec"]["workerGroupSpecs"][0]
    del group["minReplicas"], group["maxReplicas"]  # both have defaults in the CRD
    assert crd_errors(cluster) == []


# --- pod templates, ConfigMap and ServiceAccount with kubernetes-validate ------------------


def cluster_spec(resource: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = resource["spec"]
    return spec["rayClusterSpec"] if resource["kind"] == "RayJob" else spec


def head_pod(resource: dict[str, Any]) -> dict[str, Any]:
    """The head group's pod spec."""
    pod: dict[str, Any] = cluster_spec(resource)["headGroupSpec"]["template"]["spec"]
    return pod


def first_worker_group(resource: dict[str, Any]) -> dict[str, Any]:
    group: dict[str, Any] = cluster_spec(resource)["workerGroupSpecs"][0]
    return group


def pod_templates(resource: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, template) for the head group and every worker group."""
    spec = cluster_spec(resource)
    yield "head", spec["headGroupSpec"]["template"]
    for group in spec.get("workerGroupSpecs", []):
        yield f"worker group {group['groupName']}", group["template"]


def kubernetes_errors(resource: dict[str, Any]) -> list[str]:
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(map(str, error.path))}: {error.message}"]
    return []


def as_pod_template(template: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "check"}, "template": template}


TEMPLATES = [
    pytest.param(name, index, id=f"{name}: {where}")
    for name in ("rayjob", "raycluster")
    for index, (where, _) in enumerate(pod_templates(_load_manifest(name)))
]


@pytest.mark.parametrize(("name", "index"), TEMPLATES)
def test_pod_template_is_a_valid_pod(name: str, index: int) -> None:
    _, template = list(pod_templates(manifest(name)))[index]
    assert kubernetes_errors(as_pod_template(template)) == []


@pytest.mark.parametrize("name", ["configmap", "serviceaccount"])
def test_core_manifest_is_valid(name: str) -> None:
    assert kubernetes_errors(manifest(name)) == []


def test_pod_template_check_rejects_a_broken_copy() -> None:
    _, template = next(pod_templates(manifest("rayjob")))
    misspelled = copy.deepcopy(template)
    resources = misspelled["spec"]["containers"][0]["resources"]
    resources["limit"] = resources.pop("limits")
    assert kubernetes_errors(as_pod_template(misspelled)) != []
    nameless = copy.deepcopy(template)
    del nameless["spec"]["containers"][0]["name"]
    assert kubernetes_errors(as_pod_template(nameless)) != []
    wrong_type = copy.deepcopy(template)
    wrong_type["spec"]["containers"][0]["ports"][0]["containerPort"] = "gcs"
    assert kubernetes_errors(as_pod_template(wrong_type)) != []


# --- cross-field checks -------------------------------------------------------------------


def image_workdir() -> str:
    """Where the Dockerfile puts the repository's files in the image."""
    (workdir,) = re.findall(r"^WORKDIR\s+(\S+)", (REPO / "Dockerfile").read_text(), flags=re.MULTILINE)
    return str(workdir)


def containers(template: dict[str, Any]) -> list[dict[str, Any]]:
    spec = template["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def manifest_problems(
    resource: dict[str, Any], configmap: dict[str, Any], service_account: dict[str, Any]
) -> list[str]:
    """Cross-field mistakes of a RayJob or RayCluster; an empty list when there are none."""
    problems: list[str] = []
    spec = cluster_spec(resource)
    ray_version = spec.get("rayVersion")
    if ray_version != installed_ray_version():
        problems.append(f"rayVersion {ray_version!r}, tested with Ray {installed_ray_version()}")
    account = service_account["metadata"]["name"]
    gpu_groups = 0
    for where, template in pod_templates(resource):
        if template["spec"].get("serviceAccountName") != account:
            problems.append(f"{where}: serviceAccountName is not {account!r}")
        for container in containers(template):
            problems += image_problems(container["image"], f"{where}: {container['name']}")
            resources = container.get("resources", {})
            limits, requests = resources.get("limits", {}), resources.get("requests", {})
            if GPU in limits or GPU in requests:
                if str(limits.get(GPU)) != str(requests.get(GPU)):
                    problems.append(
                        f"{where}: {GPU} limits {limits.get(GPU)} and requests {requests.get(GPU)} differ"
                    )
                if where == "head":
                    problems.append(f"head: requests {GPU}; the head is a CPU node")
                else:
                    gpu_groups += 1
    if gpu_groups == 0:
        problems.append(f"no worker group requests {GPU}")
    for group in spec.get("workerGroupSpecs", []):
        # The CRD's defaults, as the API server fills them in.
        low, count, high = (
            group.get("minReplicas", 0),
            group.get("replicas", 0),
            group.get("maxReplicas", 2**31 - 1),
        )
        if not low <= count <= high:
            problems.append(
                f"worker group {group['groupName']}: need minReplicas {low} <= replicas {count} <= "
                f"maxReplicas {high}"
            )
    if resource["kind"] == "RayJob":
        job = resource["spec"]
        if job.get("shutdownAfterJobFinishes") is not True:
            problems.append("shutdownAfterJobFinishes is not true: the cluster would outlive the job")
        if not job.get("ttlSecondsAfterFinished", 0) > 0:
            problems.append("ttlSecondsAfterFinished is not positive")
        problems += entrypoint_problems(job.get("entrypoint", ""), spec, configmap)
    problems += credential_problems(resource)
    return problems


def entrypoint_problems(entrypoint: str, spec: dict[str, Any], configmap: dict[str, Any]) -> list[str]:
    """The entrypoint runs a script of jobs/ that the image holds, with the mounted config."""
    words = shlex.split(entrypoint)
    if len(words) < 2 or words[0] != "python":
        return [f"entrypoint {entrypoint!r} is not `python SCRIPT ...`"]
    problems = []
    script = PurePosixPath(words[1])
    in_image = (
        script.is_relative_to(image_workdir()) and (REPO / script.relative_to(image_workdir())).is_file()
    )
    if script.parent != PurePosixPath(image_workdir()) / "jobs" or not in_image:
        problems.append(f"entrypoint script {script} is not a file of jobs/ at the image's {image_workdir()}")
    options = {word.split("=")[0] for word in words[2:] if word.startswith("--")}
    for required in ("--input", "--lightly", "--config"):
        if required not in options:
            problems.append(f"entrypoint has no {required}")
    config = next((words[index + 1] for index, word in enumerate(words[:-1]) if word == "--config"), None)
    if config is not None:
        problems += mounted_config_problems(PurePosixPath(config), spec, configmap)
    return problems


def mounted_config_problems(
    config: PurePosixPath, spec: dict[str, Any], configmap: dict[str, Any]
) -> list[str]:
    """The --config file is a key of the ConfigMap, mounted in the head pod (the driver's)."""
    template = spec["headGroupSpec"]["template"]
    configmap_name = configmap["metadata"]["name"]
    volumes = {
        volume["name"]
        for volume in template["spec"].get("volumes", [])
        if volume.get("configMap", {}).get("name") == configmap_name
    }
    mounts = [
        PurePosixPath(mount["mountPath"])
        for container in template["spec"]["containers"]
        for mount in container.get("volumeMounts", [])
        if mount["name"] in volumes
    ]
    if config.parent not in mounts:
        return [f"--config {config}: the head pod mounts ConfigMap {configmap_name} at {mounts}"]
    if config.name not in configmap.get("data", {}):
        return [f"--config {config}: ConfigMap {configmap_name} has no key {config.name}"]
    return []


def credential_problems(value: Any, where: str = "") -> list[str]:
    """Keys and secrets have no place in the manifests: the pods use workload identity."""
    problems = []
    if isinstance(value, dict):
        if value.get("name") in CREDENTIAL_VARIABLES:
            problems.append(f"{where}: sets {value['name']}")
        for key, item in value.items():
            if key in ("secretKeyRef", "secret"):
                problems.append(f"{where}.{key}: reads a Secret")
            problems += credential_problems(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems += credential_problems(item, f"{where}[{index}]")
    return problems


@pytest.mark.parametrize("name", ["rayjob", "raycluster"])
def test_manifest_fields_agree(name: str) -> None:
    assert manifest_problems(manifest(name), manifest("configmap"), manifest("serviceaccount")) == []


def test_service_account_carries_a_workload_identity() -> None:
    account = manifest("serviceaccount")
    annotations = account["metadata"].get("annotations", {})
    assert set(WORKLOAD_IDENTITY_ANNOTATIONS) & set(annotations)
    assert credential_problems(account) == []
    assert credential_problems(manifest("configmap")) == []


def test_configmap_config_passes_lightly_ray_validation(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(manifest("configmap")["data"]["run.yaml"])
    _, not_yet_supported = validate_config(config)
    assert not_yet_supported == []


def test_configmap_check_rejects_a_broken_config(tmp_path: Path) -> None:
    broken = yaml.safe_load(manifest("configmap")["data"]["run.yaml"])
    broken["selection_config"]["n_sample"] = broken["selection_config"].pop("proportion_samples")
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(broken))
    with pytest.raises(ConfigError, match="did you mean 'n_samples'"):
        validate_config(config)


def test_the_jobs_cluster_and_the_long_lived_cluster_run_the_same_pods() -> None:
    job, cluster = cluster_spec(manifest("rayjob")), cluster_spec(manifest("raycluster"))
    assert job["rayVersion"] == cluster["rayVersion"]
    assert job["headGroupSpec"] == cluster["headGroupSpec"]
    job_groups = [(group["groupName"], group["template"]) for group in job["workerGroupSpecs"]]
    assert job_groups == [(group["groupName"], group["template"]) for group in cluster["workerGroupSpecs"]]


def _job_spec(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(job: dict[str, Any]) -> None:
        job["spec"][key] = value

    return change


def _group(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(job: dict[str, Any]) -> None:
        first_worker_group(job)[key] = value

    return change


def _worker_resources(job: dict[str, Any]) -> dict[str, Any]:
    resources: dict[str, Any] = first_worker_group(job)["template"]["spec"]["containers"][0]["resources"]
    return resources


def _gpu_limits_only(job: dict[str, Any]) -> None:
    del _worker_resources(job)["requests"][GPU]


def _gpu_counts_differ(job: dict[str, Any]) -> None:
    _worker_resources(job)["limits"][GPU] = 2


def _head_container(job: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = head_pod(job)["containers"][0]
    return container


def _head_gpu(job: dict[str, Any]) -> None:
    head = _head_container(job)["resources"]
    head["limits"][GPU] = head["requests"][GPU] = 1


def _image(image: str) -> Callable[[dict[str, Any]], None]:
    def change(job: dict[str, Any]) -> None:
        _head_container(job)["image"] = image

    return change


def _entrypoint(old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def change(job: dict[str, Any]) -> None:
        assert old in job["spec"]["entrypoint"]
        job["spec"]["entrypoint"] = job["spec"]["entrypoint"].replace(old, new)

    return change


def _other_configmap(job: dict[str, Any]) -> None:
    head_pod(job)["volumes"][0]["configMap"]["name"] = "other"


def _account(job: dict[str, Any]) -> None:
    first_worker_group(job)["template"]["spec"]["serviceAccountName"] = "default"


def _secret_key(job: dict[str, Any]) -> None:
    _head_container(job)["env"] = [
        {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "aws", "key": "secret"}}}
    ]


BROKEN_JOBS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "rayVersion not the tested Ray": (
        lambda job: job["spec"]["rayClusterSpec"].update(rayVersion="2.9.0"),
        "rayVersion '2.9.0'",
    ),
    "image of another Ray": (
        _image("example.com/lightly-ray:0.1.0-ray2.9.0-py311-gpu"),
        "image has Ray 2.9.0",
    ),
    "not the project image": (_image("rayproject/ray:2.60.0-py311-gpu"), "is not REGISTRY"),
    "replicas above max": (_group("replicas", 3), "replicas 3 <= maxReplicas 2"),
    "min above replicas": (_group("minReplicas", 3), "minReplicas 3 <= replicas 2"),
    "GPU in limits only": (_gpu_limits_only, "requests None differ"),
    "GPU counts differ": (_gpu_counts_differ, "limits 2 and requests 1 differ"),
    "GPU on the head": (_head_gpu, "the head is a CPU node"),
    "no cleanup": (_job_spec("shutdownAfterJobFinishes", False), "cluster would outlive the job"),
    "no ttl": (_job_spec("ttlSecondsAfterFinished", 0), "ttlSecondsAfterFinished"),
    "script not in jobs/": (_entrypoint("jobs/curate.py", "jobs/curation.py"), "is not a file of jobs/"),
    "config not mounted": (_entrypoint("/etc/lightly-ray/run.yaml", "/etc/run.yaml"), "mounts ConfigMap"),
    "config not a ConfigMap key": (_entrypoint("/run.yaml", "/config.yaml"), "has no key config.yaml"),
    "config mount of another ConfigMap": (_other_configmap, "mounts ConfigMap lightly-ray-run-config at []"),
    "no --input": (_entrypoint("--input", "--inputs"), "entrypoint has no --input"),
    "other service account": (_account, "serviceAccountName is not 'lightly-ray'"),
    "a key from a Secret": (_secret_key, "sets AWS_SECRET_ACCESS_KEY"),
}


@pytest.mark.parametrize("broken", sorted(BROKEN_JOBS))
def test_cross_field_checks_reject_a_broken_copy(broken: str) -> None:
    change, expected = BROKEN_JOBS[broken]
    job = manifest("rayjob")
    change(job)
    problems = manifest_problems(job, manifest("configmap"), manifest("serviceaccount"))
    assert any(expected in problem for problem in problems), problems
