"""The attempt Job builder against docs/pod-layout.md and the ResourceHint table (docs/lifecycle.md)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from lightkube.models import batch_v1, core_v1  # the OpenAPI models (the dev extra): missing, the tests fail

from diagnostic_operator.spec import DiagnosticExecutionSpec, ResourceHint, ResultFiles
from diagnostic_operator.transports.kubernetes import (
    ConfigurationError,
    OperatorConfig,
    build_job,
    job_resources,
)
from diagnostic_operator.transports.kubernetes.names import (
    ATTEMPT_LABEL,
    KUEUE_QUEUE_LABEL,
    RESOURCES_ANNOTATION,
    attempt_labels,
    selector,
)

UID = "0b6f1c1e-6d0a-4c1e-9a43-5b2a3c4d5e6f"
BASE_SPEC: dict[str, Any] = {
    "diagnostic": {"provider": "example", "slug": "global-mean-bias"},
    "groupKey": "cesm2-historical",
    "image": "example-diagnostic:0.1",
    "command": ["python3", "-m", "example_diagnostic"],
}
QUEUES = {
    "batch": {"kueue": {"localQueue": "batch-lq"}},
    "big-memory": {"nodeSelector": {"memory": "high", "zone": "b"}, "priorityClassName": "low",
                   "tolerations": [{"key": "big", "operator": "Exists", "effect": "NoSchedule"}]},
}


def make_spec(**changes: Any) -> DiagnosticExecutionSpec:
    return DiagnosticExecutionSpec.model_validate({**BASE_SPEC, **changes})


def make_config(**changes: Any) -> OperatorConfig:
    return OperatorConfig.from_mapping(changes)


def build(spec: DiagnosticExecutionSpec | None = None, *, resources: ResourceHint | None = None,
          config: OperatorConfig | None = None, attempt: int = 1, name: str = "gmst-bias") -> dict[str, Any]:
    spec = spec or make_spec()
    return build_job(namespace="science", name=name, uid=UID, spec=spec, attempt=attempt,
                     resources=resources or spec.resources, config=config or OperatorConfig())


def pod(job: dict[str, Any]) -> dict[str, Any]:
    return job["spec"]["template"]["spec"]


def container(job: dict[str, Any], name: str) -> dict[str, Any]:
    spec = pod(job)
    found = [c for c in spec["containers"] + spec["initContainers"] if c["name"] == name]
    assert len(found) == 1
    return found[0]


def env(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c.get("env", [])}


def hint(**fields: Any) -> ResourceHint:
    return ResourceHint.model_validate(fields)


# ------------------------------------------------------------------------------------------ layout


def test_the_default_job_follows_the_pod_layout() -> None:
    job = build()
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    meta = job["metadata"]
    assert meta["name"] == "gmst-bias-a1" and meta["namespace"] == "science"
    assert meta["labels"] == attempt_labels("gmst-bias", UID, 1)
    assert meta["annotations"] == {RESOURCES_ANNOTATION: "4Gi/1/6h"}
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["suspend"] is False
    assert "ttlSecondsAfterFinished" not in job["spec"]
    template = job["spec"]["template"]
    assert template["metadata"] == {"labels": attempt_labels("gmst-bias", UID, 1),
                                    "annotations": {RESOURCES_ANNOTATION: "4Gi/1/6h"}}
    spec = pod(job)
    assert spec["restartPolicy"] == "Never" and spec["shareProcessNamespace"] is True
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == "diagnostic-execution"
    assert spec["activeDeadlineSeconds"] == 6 * 3600 + 300 + 60
    for absent in ("hostNetwork", "nodeSelector", "tolerations", "priorityClassName", "imagePullSecrets"):
        assert absent not in spec
    assert [c["name"] for c in spec["initContainers"]] == ["install-shim"]
    assert [c["name"] for c in spec["containers"]] == ["runner", "ingest"]
    assert spec["volumes"] == [{"name": "do-bin", "emptyDir": {}}, {"name": "do-output", "emptyDir": {}},
                               {"name": "tmp", "emptyDir": {}}, {"name": "do-home", "emptyDir": {}},
                               {"name": "do-tmp", "emptyDir": {}}]
    # the restricted Pod Security Standard, at the Pod's level (the containers add theirs)
    assert spec["securityContext"] == {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                                       "seccompProfile": {"type": "RuntimeDefault"}}
    assert "runtimeClassName" not in spec


def test_install_shim_init_container() -> None:
    init = container(build(), "install-shim")
    assert init["image"] == "diagnostic-operator:0.1.0" and init["imagePullPolicy"] == "IfNotPresent"
    assert init["command"] == ["diagnostic-operator", "install-shim", "/do/bin", "/do/output"]
    assert {m["name"]: m["mountPath"] for m in init["volumeMounts"]} == {
        "do-bin": "/do/bin", "do-output": "/do/output", "tmp": "/tmp"}
    assert init["securityContext"] == OperatorConfig().security_context


def test_runner_container() -> None:
    spec = make_spec(args=["--region", "global"], env=[{"name": "B", "value": "2"}, {"name": "A", "value": "1"}])
    runner = container(build(spec), "runner")
    assert runner["image"] == "example-diagnostic:0.1" and runner["imagePullPolicy"] == "IfNotPresent"
    assert runner["command"] == ["/bin/sh", "/do/bin/shim.sh", "--deadline", "21600", "--grace", "10", "--",
                                 "python3", "-m", "example_diagnostic"]
    assert runner["args"] == ["--region", "global"]
    # the spec's order, then a writable HOME and DIAGNOSTIC_OUTPUT_DIR
    assert runner["env"] == [{"name": "B", "value": "2"}, {"name": "A", "value": "1"},
                             {"name": "HOME", "value": "/do/home"},
                             {"name": "DIAGNOSTIC_OUTPUT_DIR", "value": "/do/output"}]
    assert runner["workingDir"] == "/do/output"
    assert runner["terminationMessagePolicy"] == "FallbackToLogsOnError"
    # restricted: never root, no privilege escalation, no capabilities, the runtime's seccomp profile
    assert runner["securityContext"] == {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                                         "capabilities": {"drop": ["ALL"]},
                                         "seccompProfile": {"type": "RuntimeDefault"}}
    assert runner["volumeMounts"] == [{"name": "do-bin", "mountPath": "/do/bin", "readOnly": True},
                                      {"name": "do-output", "mountPath": "/do/output"},
                                      {"name": "do-home", "mountPath": "/do/home"},
                                      {"name": "do-tmp", "mountPath": "/tmp"}]


def test_no_args_no_env_gives_only_the_output_dir() -> None:
    runner = container(build(), "runner")
    assert "args" not in runner
    assert runner["env"] == [{"name": "HOME", "value": "/do/home"},
                             {"name": "DIAGNOSTIC_OUTPUT_DIR", "value": "/do/output"}]


def test_without_the_shim_the_command_is_bare() -> None:
    spec = make_spec(runtime={"shim": False}, args=["x"])
    runner = container(build(spec), "runner")
    assert runner["command"] == ["python3", "-m", "example_diagnostic"] and runner["args"] == ["x"]
    assert env(runner)["DIAGNOSTIC_OUTPUT_DIR"] == "/do/output"
    # the Pod deadline still applies
    assert pod(build(spec))["activeDeadlineSeconds"] == 21960


def test_sidecar_container() -> None:
    spec = make_spec(results={"metricBundle": "out/metrics.json", "series": None, "controlledVocabulary": "fail"},
                     output={"store": "s3://bucket/prefix"})
    config = make_config(databaseSecret="do-db", defaultStore="s3://default/x", image="site/do:2",
                         imagePullPolicy="Always")
    sidecar = container(build(spec, config=config, attempt=3, name="gmst-bias"), "ingest")
    assert sidecar["image"] == "site/do:2" and sidecar["imagePullPolicy"] == "Always"
    assert sidecar["command"] == ["diagnostic-operator", "sidecar"]
    assert [e["name"] for e in sidecar["env"]] == [
        "DIAGNOSTIC_OUTPUT_DIR", "DIAGNOSTIC_EXECUTION_NAMESPACE", "DIAGNOSTIC_EXECUTION_NAME",
        "DIAGNOSTIC_EXECUTION_UID", "DIAGNOSTIC_ATTEMPT", "DIAGNOSTIC_RESULTS", "DIAGNOSTIC_PUBLISH_BUDGET_SECONDS",
        "DIAGNOSTIC_OPERATOR_STORE_URL"]
    values = env(sidecar)
    assert values["DIAGNOSTIC_OUTPUT_DIR"] == "/do/output"
    assert values["DIAGNOSTIC_EXECUTION_NAMESPACE"] == "science" and values["DIAGNOSTIC_EXECUTION_NAME"] == "gmst-bias"
    assert values["DIAGNOSTIC_EXECUTION_UID"] == UID and values["DIAGNOSTIC_ATTEMPT"] == "3"
    # no database ids: the Job is made before its rows; the sidecar finds them by uid and attempt
    assert values["DIAGNOSTIC_OPERATOR_STORE_URL"] == "s3://bucket/prefix"  # the spec's store wins
    assert values["DIAGNOSTIC_PUBLISH_BUDGET_SECONDS"] == "260"  # publish grace 5m - shim grace 10s - 30s
    results = json.loads(values["DIAGNOSTIC_RESULTS"])
    assert results == {"directory": None, "metricBundle": "out/metrics.json", "outputBundle": "output.json",
                       "series": None, "controlledVocabulary": "fail", "compat": "none"}
    assert ResultFiles.model_validate_json(values["DIAGNOSTIC_RESULTS"]) == spec.results
    assert sidecar["envFrom"] == [{"secretRef": {"name": "do-db"}}]
    assert not any("DATABASE" in name for name in values)  # never from the spec
    assert sidecar["terminationMessagePath"] == "/dev/termination-log"
    assert sidecar["terminationMessagePolicy"] == "File"
    assert sidecar["securityContext"]["readOnlyRootFilesystem"] is True
    assert sidecar["resources"] == {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
    assert sidecar["volumeMounts"] == [{"name": "do-output", "mountPath": "/do/output", "readOnly": True},
                                       {"name": "tmp", "mountPath": "/tmp"}]


def test_sidecar_store_falls_back_to_the_default_then_to_the_secret() -> None:
    assert env(container(build(config=make_config(defaultStore="s3://default/x")), "ingest"))[
        "DIAGNOSTIC_OPERATOR_STORE_URL"] == "s3://default/x"
    sidecar = container(build(), "ingest")
    assert "DIAGNOSTIC_OPERATOR_STORE_URL" not in env(sidecar) and "envFrom" not in sidecar


def test_owner_reference() -> None:
    (owner,) = build()["metadata"]["ownerReferences"]
    assert owner == {"apiVersion": "diagnostic-operator.io/v1alpha1", "kind": "DiagnosticExecution",
                     "name": "gmst-bias", "uid": UID, "controller": True, "blockOwnerDeletion": True}
    spec = make_spec()
    other = build_job(namespace="n", name="x", uid=UID, spec=spec, attempt=1, resources=spec.resources,
                      config=OperatorConfig(),
                      owner_api_version="example.org/v1", owner_kind="Other")
    assert other["metadata"]["ownerReferences"][0]["apiVersion"] == "example.org/v1"
    assert other["metadata"]["ownerReferences"][0]["kind"] == "Other"


def test_long_names_are_cut_and_labels_select_the_job() -> None:
    name = "a-very-long-execution-name-that-goes-on-and-on-and-on-beyond-the-limit"
    job = build(name=name, attempt=12)
    assert len(job["metadata"]["name"]) <= 63 and job["metadata"]["name"].endswith("-a12")
    assert env(container(job, "ingest"))["DIAGNOSTIC_EXECUTION_NAME"] == name  # the full name
    assert job["metadata"]["ownerReferences"][0]["name"] == name
    for labels in (job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]):
        assert all(len(v) <= 63 for v in labels.values())
        assert labels[ATTEMPT_LABEL] == "12"
        for term in selector(UID).split(","):
            key, value = term.split("=")
            assert labels[key] == value


# ----------------------------------------------------------------------------- ResourceHint table


@pytest.mark.parametrize(("fields", "requests", "limits"), [
    ({}, {"cpu": "1", "memory": "4Gi"}, {"memory": "4Gi"}),
    ({"memory": "4Gi"}, {"cpu": "1", "memory": "4Gi"}, {"memory": "4Gi"}),
    ({"memory": "1536Mi", "cpu": "500m"}, {"cpu": "500m", "memory": "1536Mi"}, {"memory": "1536Mi"}),
    ({"cpu": "2", "cpuLimit": "4"}, {"cpu": "2", "memory": "4Gi"}, {"memory": "4Gi", "cpu": "4"}),
    ({"gpu": 2}, {"cpu": "1", "memory": "4Gi"}, {"memory": "4Gi", "nvidia.com/gpu": "2"}),
    ({"gpu": 0}, {"cpu": "1", "memory": "4Gi"}, {"memory": "4Gi"}),
])
def test_resource_hint_table(fields: dict[str, Any], requests: dict[str, str], limits: dict[str, str]) -> None:
    resources = container(build(resources=hint(**fields)), "runner")["resources"]
    assert resources == {"requests": requests, "limits": limits}


def test_gpu_resource_name_comes_from_the_config() -> None:
    resources = container(build(resources=hint(gpu=1), config=make_config(gpuResource="amd.com/gpu")), "runner")
    assert resources["resources"]["limits"] == {"memory": "4Gi", "amd.com/gpu": "1"}


@pytest.mark.parametrize(("wall_clock", "deadline", "active"), [
    ("6h", 21600, 21600 + 300 + 60),
    ("90s", 90, 90 + 360),
    ("1h30m", 5400, 5400 + 360),
    ("90.5s", 91, 91 + 360),
    ("500ms", 1, 1 + 360),
    ("2d", 172800, 172800 + 360),
])
def test_wall_clock_becomes_the_shim_deadline_and_the_pod_deadline(wall_clock: str, deadline: int,
                                                                   active: int) -> None:
    job = build(resources=hint(wallClock=wall_clock))
    command = container(job, "runner")["command"]
    assert command[command.index("--deadline") + 1] == str(deadline)
    assert pod(job)["activeDeadlineSeconds"] == active
    assert isinstance(pod(job)["activeDeadlineSeconds"], int)


def test_publish_grace_and_init_allowance_come_from_the_config() -> None:
    job = build(resources=hint(wallClock="1h"), config=make_config(publishGrace="10m", initAllowance="2m30s"))
    assert pod(job)["activeDeadlineSeconds"] == 3600 + 600 + 150


@pytest.mark.parametrize(("grace", "budget"), [("10m", "560"), ("5m", "260"), ("40s", "0"), ("1m", "20")])
def test_the_sidecars_partial_budget_is_the_publish_grace_less_the_shims_grace_and_a_reserve(
        grace: str, budget: str) -> None:
    sidecar = container(build(config=make_config(publishGrace=grace)), "ingest")
    assert env(sidecar)["DIAGNOSTIC_PUBLISH_BUDGET_SECONDS"] == budget


def test_the_attempt_resources_not_the_spec_resources_are_used() -> None:
    spec = make_spec(resources={"memory": "4Gi", "wallClock": "1h"})
    grown = spec.resources.model_copy(update={"memory": "6Gi", "wall_clock": "2h"})
    job = build(spec, resources=grown, attempt=2)
    assert container(job, "runner")["resources"]["limits"]["memory"] == "6Gi"
    assert job["metadata"]["annotations"][RESOURCES_ANNOTATION] == "6Gi/1/2h"
    assert job["spec"]["template"]["metadata"]["annotations"][RESOURCES_ANNOTATION] == "6Gi/1/2h"


# ----------------------------------------------------------------------------------- queues


def test_a_kueue_queue_suspends_the_job_and_labels_it() -> None:
    job = build(resources=hint(queue="batch"), config=make_config(queues=QUEUES))
    assert job["spec"]["suspend"] is True
    assert job["metadata"]["labels"][KUEUE_QUEUE_LABEL] == "batch-lq"
    assert KUEUE_QUEUE_LABEL not in job["spec"]["template"]["metadata"]["labels"]
    assert "nodeSelector" not in pod(job) and "priorityClassName" not in pod(job)


def test_a_node_queue_sets_selector_priority_and_tolerations() -> None:
    job = build(resources=hint(queue="big-memory"), config=make_config(queues=QUEUES))
    assert job["spec"]["suspend"] is False and KUEUE_QUEUE_LABEL not in job["metadata"]["labels"]
    spec = pod(job)
    assert spec["nodeSelector"] == {"memory": "high", "zone": "b"}
    assert spec["priorityClassName"] == "low"
    assert spec["tolerations"] == [{"key": "big", "operator": "Exists", "effect": "NoSchedule"}]


@pytest.mark.parametrize(("queues", "configured"), [(QUEUES, "batch, big-memory"), ({}, "none")])
def test_an_unknown_queue_is_a_configuration_error(queues: dict[str, Any], configured: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        build(resources=hint(queue="gpu"), config=make_config(queues=queues))
    assert "'gpu'" in str(info.value) and f"configured queues: {configured}" in str(info.value)


def test_no_queue_no_routing() -> None:
    job = build(config=make_config(queues=QUEUES))
    assert job["spec"]["suspend"] is False and "nodeSelector" not in pod(job)


# ---------------------------------------------------------------------------------- podDefaults

SITE = {
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "science", "effect": "NoSchedule"},
                    {"key": "big", "operator": "Exists", "effect": "NoSchedule"}],
    "nodeSelector": {"zone": "a", "kubernetes.io/arch": "amd64"},
    "serviceAccountName": "runner-sa",
    "imagePullSecrets": ["regcred"],
    "hostNetwork": True,
    "priorityClassName": "normal",
    "labels": {"team": "climate"},
    "annotations": {"example.org/cost-centre": "42"},
    "imagePullPolicy": "Always",
}


def test_pod_defaults_apply_to_every_pod() -> None:
    job = build(config=make_config(podDefaults=SITE))
    spec = pod(job)
    assert spec["hostNetwork"] is True and spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert spec["tolerations"] == SITE["tolerations"]
    assert spec["nodeSelector"] == {"kubernetes.io/arch": "amd64", "zone": "a"}
    assert spec["serviceAccountName"] == "runner-sa" and spec["automountServiceAccountToken"] is False
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["priorityClassName"] == "normal"
    template = job["spec"]["template"]["metadata"]
    assert template["labels"] == {"team": "climate", **attempt_labels("gmst-bias", UID, 1)}
    assert template["annotations"] == {"example.org/cost-centre": "42", RESOURCES_ANNOTATION: "4Gi/1/6h"}
    assert "team" not in job["metadata"]["labels"]  # site labels are for the Pod
    assert container(job, "runner")["imagePullPolicy"] == "Always"
    assert container(job, "ingest")["imagePullPolicy"] == "IfNotPresent"  # the product image's own policy


def test_pod_defaults_merge_with_a_queue() -> None:
    job = build(resources=hint(queue="big-memory"), config=make_config(podDefaults=SITE, queues=QUEUES))
    spec = pod(job)
    # appended, without repeating a toleration both have
    assert spec["tolerations"] == SITE["tolerations"]
    queue_only = make_config(podDefaults={"tolerations": SITE["tolerations"][:1]}, queues=QUEUES)
    assert pod(build(resources=hint(queue="big-memory"), config=queue_only))["tolerations"] == SITE["tolerations"]
    # merged; the queue wins a key both set
    assert spec["nodeSelector"] == {"kubernetes.io/arch": "amd64", "memory": "high", "zone": "b"}
    assert spec["priorityClassName"] == "low"  # the queue's, over the site's default
    assert spec["hostNetwork"] is True


def test_job_ttl() -> None:
    assert build(config=make_config(jobTTLSeconds=600))["spec"]["ttlSecondsAfterFinished"] == 600


# ---------------------------------------------------------------------------------- determinism


def test_same_inputs_give_the_identical_job() -> None:
    config = make_config(podDefaults=SITE, queues=QUEUES, databaseSecret="db", defaultStore="s3://b/p")
    spec = make_spec(env=[{"name": "X", "value": "1"}], resources={"queue": "big-memory", "gpu": 1})
    first = build(spec, config=config)
    second = build(make_spec(env=[{"name": "X", "value": "1"}], resources={"queue": "big-memory", "gpu": 1}),
                   config=make_config(podDefaults=SITE, queues=QUEUES, databaseSecret="db", defaultStore="s3://b/p"))
    assert first == second
    assert json.dumps(first) == json.dumps(second)  # also the key order


def test_the_job_shares_nothing_mutable_with_the_config() -> None:
    config = make_config(podDefaults=SITE, queues=QUEUES)
    before = config.model_dump()
    job = build(resources=hint(queue="big-memory"), config=config)
    spec = pod(job)
    spec["tolerations"].append({"key": "x"})
    spec["tolerations"][0]["key"] = "changed"
    spec["nodeSelector"]["zone"] = "z"
    spec["imagePullSecrets"][0]["name"] = "changed"
    container(job, "ingest")["securityContext"]["runAsUser"] = 0
    container(job, "install-shim")["resources"]["requests"]["cpu"] = "9"
    assert config.model_dump() == before
    assert build(resources=hint(queue="big-memory"), config=config) == build(
        resources=hint(queue="big-memory"), config=make_config(podDefaults=SITE, queues=QUEUES))


def _walk(value: Any, path: str = "") -> list[str]:
    """Paths of values Kubernetes would not accept as written: None, floats, non-string map values."""
    bad = []
    if value is None or isinstance(value, float):
        bad.append(path)
    elif isinstance(value, dict):
        for key, item in value.items():
            bad.extend(_walk(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            bad.extend(_walk(item, f"{path}[{i}]"))
    return bad


@pytest.mark.parametrize("variant", ["default", "kueue", "gpu", "noshim", "site"])
def test_structural_sanity(variant: str) -> None:
    config = make_config(podDefaults=SITE, queues=QUEUES, databaseSecret="db")
    job = {
        "default": build,
        "kueue": lambda: build(resources=hint(queue="batch"), config=config),
        "gpu": lambda: build(resources=hint(gpu=2, cpuLimit="2")),
        "noshim": lambda: build(make_spec(runtime={"shim": False})),
        "site": lambda: build(config=config),
    }[variant]()
    assert _walk(job) == []
    spec = pod(job)
    volumes = {v["name"] for v in spec["volumes"]}
    names = [c["name"] for c in spec["initContainers"] + spec["containers"]]
    assert len(names) == len(set(names))
    for c in spec["initContainers"] + spec["containers"]:
        assert {m["name"] for m in c["volumeMounts"]} <= volumes
        assert all(isinstance(v, str) for part in c["resources"].values() for v in part.values())
        assert all(isinstance(e["value"], str) for e in c.get("env", []))
    for labels in (job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]):
        assert all(isinstance(v, str) and len(v) <= 63 for v in labels.values())
    json.dumps(job)


# ------------------------------------------------------------------------------- reading back


def test_job_resources_reads_back_what_the_attempt_asked_for() -> None:
    spec = make_spec(resources={"memory": "2Gi", "cpu": "500m", "wallClock": "1h", "gpu": 1, "queue": "batch",
                                "cpuLimit": "2"})
    grown = spec.resources.model_copy(update={"memory": "3Gi"})
    job = build(spec, resources=grown, config=make_config(queues=QUEUES), attempt=2)
    read = job_resources(job)
    assert read is not None and (read.memory, read.cpu, read.wall_clock) == ("3Gi", "500m", "1h")
    assert read.gpu == 0 and read.queue is None  # not in the annotation
    assert job_resources(job, base=spec.resources) == grown
    # a Pod (the template's metadata) carries the same annotation
    assert job_resources({"metadata": job["spec"]["template"]["metadata"]}, base=spec.resources) == grown


@pytest.mark.parametrize("annotation", [None, "", "4Gi/1", "4Gi/1/6h/x", "lots/1/6h", "4Gi/1/forever"])
def test_job_resources_without_a_readable_annotation(annotation: str | None) -> None:
    job = copy.deepcopy(build())
    job["spec"]["template"]["metadata"]["annotations"].pop(RESOURCES_ANNOTATION)
    if annotation is None:
        job["metadata"]["annotations"].pop(RESOURCES_ANNOTATION)
    else:
        job["metadata"]["annotations"][RESOURCES_ANNOTATION] = annotation
    assert job_resources(job) is None


@pytest.mark.parametrize("variant", ["default", "kueue", "gpu", "noshim", "site"])
def test_lightkube_models_keep_every_field(variant: str) -> None:
    """Structural check against the Kubernetes OpenAPI models (lightkube-models): every field has the right
    name and type, since ``Job.from_dict`` rejects wrong types and silently drops unknown fields."""
    config = make_config(podDefaults=SITE, queues=QUEUES, databaseSecret="db", jobTTLSeconds=60)
    job = {
        "default": build,
        "kueue": lambda: build(resources=hint(queue="batch"), config=config),
        "gpu": lambda: build(resources=hint(gpu=2, cpuLimit="2")),
        "noshim": lambda: build(make_spec(runtime={"shim": False})),
        "site": lambda: build(make_spec(args=["a"], env=[{"name": "X", "value": "1"}]), config=config),
    }[variant]()
    assert batch_v1.Job.from_dict(job).to_dict() == job
    template = job["spec"]["template"]
    assert core_v1.PodSpec.from_dict(template["spec"]).to_dict() == template["spec"]
