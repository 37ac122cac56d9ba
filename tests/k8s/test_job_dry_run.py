"""The built attempt Jobs are valid Kubernetes objects: the API server accepts them (``--dry-run=server``,
strict field validation) and keeps every field we set.

Neither ``kubernetes`` nor ``lightkube-models`` is a dependency, so the OpenAPI check is the real API
server's. Each Job's Pod template is also dry-run as a Pod, which runs the Pod admission plugins (service
account, priority, security) that a Job's template never meets until the Job controller creates the Pod.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from diagnostic_operator.spec import DiagnosticExecutionSpec, ResourceHint
from diagnostic_operator.transports.kubernetes import OperatorConfig, build_job
from diagnostic_operator.transports.kubernetes.names import KUEUE_QUEUE_LABEL
from tests.cluster.fixtures import TEST_NODE_TOLERATION, KubectlError, kubectl

pytestmark = pytest.mark.cluster

UID = "0b6f1c1e-6d0a-4c1e-9a43-5b2a3c4d5e6f"
SPEC: dict[str, Any] = {
    "diagnostic": {"provider": "example", "slug": "global-mean-bias"},
    "groupKey": "cesm2-historical",
    "image": "example-diagnostic:0.1",
    "command": ["python3", "-m", "example_diagnostic"],
    "args": ["--region", "global"],
    "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
    "output": {"store": "s3://diagnostics/results"},
}
QUEUES = {
    "batch": {"kueue": {"localQueue": "batch-lq"}},
    "big-memory": {"nodeSelector": {"memory": "high"}, "tolerations": [{"key": "big", "operator": "Exists"}]},
}
SITE = {
    "tolerations": [TEST_NODE_TOLERATION,
                    {"key": "dedicated", "operator": "Equal", "value": "science", "effect": "NoExecute",
                     "tolerationSeconds": 60}],
    "nodeSelector": {"kubernetes.io/arch": "amd64"},
    "serviceAccountName": "science-runner",
    "imagePullSecrets": ["regcred"],
    "hostNetwork": True,
    "labels": {"team": "climate"},
    "annotations": {"example.org/cost-centre": "42"},
}

#: Every volume source and both env source kinds; NFS cannot be mounted on the test node, so this dry-run and
#: the builder's table test are its proof.
DATA_SITE = {
    "volumes": {
        "cmip6": {"nfs": {"server": "nfs.example.org", "path": "/export/cmip6", "readOnly": True}},
        "scratch": {"persistentVolumeClaim": {"claimName": "ref-scratch"}},
        "ref-config": {"configMap": {"name": "ref-config"}},
        "certs": {"secret": {"secretName": "esgf-certs"}},
        "work": {"emptyDir": {"sizeLimit": "20Gi"}},
    },
    "mounts": [{"name": "cmip6", "mountPath": "/data/cmip6"}],
    "envSources": {"esgf": {"secret": "esgf-credentials", "keys": ["ESGF_USER", "ESGF_TOKEN"]},
                   "endpoints": {"configMap": "ref-endpoints", "keys": ["REF_API_URL"]}},
    "podSecurity": {"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 2000, "supplementalGroups": [5000]},
}
DATA_SPEC = {
    "volumes": [{"name": "scratch", "mountPath": "/ref/scratch", "subPath": "example"},
                {"name": "ref-config", "mountPath": "/ref/config"}, {"name": "certs", "mountPath": "/ref/certs"},
                {"name": "work", "mountPath": "/work"}],
    "envSources": ["esgf", "endpoints"],
    "results": {"directory": "/ref/scratch/global-mean/run-1"},
}

VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    # name: (spec changes, resource hint, operator configuration)
    "default": ({}, {}, {}),
    "kueue": ({}, {"queue": "batch"}, {"queues": QUEUES, "databaseSecret": "do-db"}),
    "gpu": ({}, {"gpu": 2, "cpu": "500m", "cpuLimit": "2", "memory": "1536Mi", "wallClock": "90m"}, {}),
    "shim-off": ({"runtime": {"shim": False}, "args": []}, {}, {"jobTTLSeconds": 600}),
    "site": ({}, {"queue": "big-memory"},
             {"podDefaults": SITE, "queues": QUEUES, "databaseSecret": "do-db", "defaultStore": "s3://d/p"}),
    "data": (DATA_SPEC, {}, DATA_SITE),
}


def build(variant: str, namespace: str) -> dict[str, Any]:
    spec_changes, resource_fields, config_fields = VARIANTS[variant]
    spec = DiagnosticExecutionSpec.model_validate({**SPEC, **spec_changes})
    return build_job(namespace=namespace, name=f"gmst-{variant}", uid=UID, spec=spec, attempt=2,
                     resources=ResourceHint.model_validate(resource_fields), config=OperatorConfig.from_mapping(config_fields))


def missing(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Paths where the server's object lacks or changed something we set."""
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return [path]
        return [p for key, value in ours.items() for p in missing(value, theirs.get(key), f"{path}.{key}")]
    if isinstance(ours, list):
        if not isinstance(theirs, list) or len(theirs) != len(ours):
            return [path]
        return [p for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) for p in missing(a, b, f"{path}[{i}]")]
    return [] if ours == theirs else [f"{path}: {ours!r} != {theirs!r}"]


def dry_run(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    out = kubectl("apply", "--dry-run=server", "--validate=strict", "-o", "json", "-f", "-",
                  namespace=namespace, input=json.dumps(obj))
    result: dict[str, Any] = json.loads(out)
    return result


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_api_server_accepts_the_job(variant: str, namespace: str) -> None:
    job = build(variant, namespace)
    server = dry_run(job, namespace)
    assert server["kind"] == "Job" and server["metadata"]["name"] == f"gmst-{variant}-a2"
    # nothing we set was dropped or changed (apart from metadata the server owns)
    ours = {key: value for key, value in job.items() if key != "metadata"}
    assert missing(ours, server) == []
    assert missing(job["metadata"]["labels"], server["metadata"]["labels"]) == []
    assert missing(job["metadata"]["ownerReferences"], server["metadata"]["ownerReferences"]) == []
    if variant == "kueue":
        assert server["spec"]["suspend"] is True and server["metadata"]["labels"][KUEUE_QUEUE_LABEL] == "batch-lq"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_api_server_accepts_its_pod(variant: str, namespace: str) -> None:
    job = build(variant, namespace)
    template = job["spec"]["template"]
    account = template["spec"]["serviceAccountName"]
    kubectl("create", "serviceaccount", account, namespace=namespace)
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {**template["metadata"], "name": f"{job['metadata']['name']}-pod"},
           "spec": template["spec"]}
    server = dry_run(pod, namespace)
    ours = {key: value for key, value in template["spec"].items() if key != "tolerations"}
    assert missing(ours, server["spec"]) == []
    # admission appends the not-ready/unreachable tolerations (DefaultTolerationSeconds) after ours
    tolerations = template["spec"].get("tolerations", [])
    assert server["spec"]["tolerations"][: len(tolerations)] == tolerations
    # an extended resource's request defaults to its limit: the GPU count is requested as well
    resources = template["spec"]["containers"][0]["resources"]
    gpus = {key: value for key, value in resources["limits"].items() if key == "nvidia.com/gpu"}
    assert server["spec"]["containers"][0]["resources"] == {
        "requests": {**resources["requests"], **gpus}, "limits": resources["limits"]}


@pytest.mark.parametrize(("variant", "allowed"), [("default", True), ("kueue", True), ("gpu", True),
                                                   ("shim-off", True), ("site", False), ("data", False)])
def test_restricted_pod_security_admits_the_pod_unless_the_site_asks_for_more(
        variant: str, allowed: bool, namespace: str) -> None:
    """The `restricted` Pod Security Standard admits an execution Pod as built; what it refuses is what the site
    chose: the host network ("site") or an NFS volume in the Pod ("data": wrap the export in a PV, docs/data.md)."""
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted", namespace=None)
    job = build(variant, namespace)
    template = job["spec"]["template"]
    kubectl("create", "serviceaccount", template["spec"]["serviceAccountName"], namespace=namespace)
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {**template["metadata"], "name": f"{job['metadata']['name']}-pod"}, "spec": template["spec"]}
    if allowed:
        dry_run(pod, namespace)
        return
    with pytest.raises(KubectlError) as refused:
        dry_run(pod, namespace)
    assert "violates PodSecurity" in str(refused.value) and "restricted" in str(refused.value)
    assert ("host namespaces" if variant == "site" else 'restricted volume types (volume "cmip6" uses restricted '
            'volume type "nfs")') in str(refused.value)
