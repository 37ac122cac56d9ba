"""The generated CRD in a real API server: examples accepted, defaults applied, invalid manifests and spec changes
rejected with messages naming the field and the value, printer columns, explain, short name and category."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from diagnostic_operator.manifest import ManifestError, parse_manifest
from tests.cluster.fixtures import Cluster, KubectlError, apply_crds, kubectl, wait_for

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / "diagnostic-operator.io_diagnosticexecutions.yaml"
CRD_NAME = "diagnosticexecutions.diagnostic-operator.io"
EXAMPLES = [REPO / "examples" / "global-mean-bias.yaml", *sorted((REPO / "examples" / "failing").glob("*.yaml"))]
IMMUTABLE = "is immutable: create a new DiagnosticExecution to run with different settings"

MINIMAL: dict[str, Any] = {
    "apiVersion": "diagnostic-operator.io/v1alpha1",
    "kind": "DiagnosticExecution",
    "metadata": {"name": "minimal"},
    "spec": {
        "diagnostic": {"provider": "example", "slug": "global-mean-bias"},
        "groupKey": "g",
        "image": "example-diagnostic:0.1",
        "command": ["python3", "-m", "example_diagnostic"],
    },
}


@pytest.fixture(scope="session")
def crd(cluster: Cluster) -> Iterator[str]:
    """The CRD, applied server-side (it is cluster-scoped and shared; the same generated file for everyone)."""
    apply_crds(CRD_FILE, CRD_NAME)
    yield CRD_NAME


def manifest(name: str = "minimal", **spec_changes: Any) -> dict[str, Any]:
    m = copy.deepcopy(MINIMAL)
    m["metadata"]["name"] = name
    m["spec"].update(spec_changes)
    return m


def with_resources(**r: Any) -> dict[str, Any]:
    return manifest(resources=r)


def create(m: dict[str, Any], namespace: str, *extra: str, dry_run: bool = False) -> subprocess.CompletedProcess[str]:
    """``kubectl create`` (or a server dry run); the first request after the CRD is established may 404 briefly."""
    argv = ["create", "-f", "-", *extra] + (["--dry-run=server"] if dry_run else [])
    deadline = time.monotonic() + 10
    while True:
        try:
            out = kubectl(*argv, namespace=namespace, input=json.dumps(m))
            return subprocess.CompletedProcess(argv, 0, out, "")
        except KubectlError as e:
            not_served = "the server could not find the requested resource" in e.stderr or \
                "no matches for kind" in e.stderr
            if not_served and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            return subprocess.CompletedProcess(argv, e.returncode, e.stdout, e.stderr)


def rejected(m: dict[str, Any], namespace: str, *extra: str) -> str:
    proc = create(m, namespace, *extra, dry_run=True)
    assert proc.returncode != 0, f"accepted: {json.dumps(m['spec'])}"
    return proc.stderr


# ------------------------------------------------------------------------------------------ accepted


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_manifests_are_accepted(crd: str, namespace: str, path: Path) -> None:
    out = kubectl("apply", "--dry-run=server", "--validate=strict", "-f", str(path), namespace=namespace)
    assert "created (server dry run)" in out


ACCEPTED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    # quantities are int-or-string, in apimachinery's grammar; the server keeps what was written
    ("cpu-2", with_resources(cpu=2), {"cpu": 2}),
    ("cpu-limit-4", with_resources(cpu="1", cpuLimit=4), {"cpu": "1", "cpuLimit": 4}),
    ("memory-in-bytes", with_resources(memory=1073741824), {"memory": 1073741824}),
    ("cpu-1e1", with_resources(cpu="1e1"), {"cpu": "1e1"}),
    ("cpu-plus-1", with_resources(cpu="+1"), {"cpu": "+1"}),
    ("cpu-quoted-0.5", with_resources(cpu="0.5"), {"cpu": "0.5"}),
]


@pytest.mark.parametrize(("m", "kept"), [case[1:] for case in ACCEPTED], ids=[case[0] for case in ACCEPTED])
def test_quantities_written_as_kubernetes_takes_them_are_accepted(
    crd: str, namespace: str, m: dict[str, Any], kept: dict[str, Any]
) -> None:
    m["metadata"]["name"] = "accepted"
    proc = create(m, namespace, "--validate=strict", "-o", "json", dry_run=True)
    assert proc.returncode == 0, proc.stderr
    resources = json.loads(proc.stdout)["spec"]["resources"]
    assert {k: resources[k] for k in kept} == kept
    parse_manifest(m)  # the models take it too


def test_the_server_applies_the_models_defaults(crd: str, namespace: str) -> None:
    proc = create(manifest(), namespace)
    assert proc.returncode == 0, proc.stderr
    spec = kubectl("get", "dx", "minimal", namespace=namespace, json=True)["spec"]
    assert spec["resources"] == {"memory": "4Gi", "cpu": "1", "wallClock": "6h", "gpu": 0}
    assert spec["retry"]["maxAttempts"] == 3 and spec["retry"]["maxMemory"] == "64Gi"
    assert spec["retry"]["backoff"] == {"initial": "10s", "max": "10m", "factor": 2}
    assert spec["diagnostic"]["version"] == "1"
    assert spec["results"] == {"metricBundle": "diagnostic.json", "outputBundle": "output.json",
                               "series": "series.json", "controlledVocabulary": "warn", "compat": "none"}
    assert (spec["pendingTimeout"], spec["cancel"], spec["runtime"], spec["args"], spec["env"]) == (
        "10m", False, {"shim": True}, [], [])
    assert (spec["volumes"], spec["envSources"]) == ([], [])
    assert "directory" not in spec["results"]  # absent, not null
    assert "datasetHash" not in spec and "cpuLimit" not in spec["resources"]  # absent, not null


# ------------------------------------------------------------------------------------------ rejected


INVALID: list[tuple[str, dict[str, Any], tuple[str, ...], list[str]]] = [
    ("memory-4GB", with_resources(memory="4GB"), (), ["spec.resources.memory", '"4GB"']),
    ("negative-gpu", with_resources(gpu=-1), (), ["spec.resources.gpu", "-1", "greater than or equal to 0"]),
    ("unknown-field", manifest(colour="blue"), ("--validate=strict",), ['unknown field "spec.colour"']),
    ("memory-above-max", manifest(resources={"memory": "8Gi"}, retry={"maxMemory": "4Gi"}), (),
     ["spec.resources.memory", "resources.memory (8Gi) is larger than retry.maxMemory (4Gi)"]),
    ("default-memory-above-max", manifest(retry={"maxMemory": "1Gi"}), (),
     ["spec.resources.memory", "resources.memory (4Gi) is larger than retry.maxMemory (1Gi)"]),
    ("duplicate-env", manifest(env=[{"name": "SEED", "value": "1"}, {"name": "SEED", "value": "2"}]), (),
     ["spec.env[1]", "Duplicate value", '"SEED"']),
    ("reserved-env", manifest(env=[{"name": "DIAGNOSTIC_OUTPUT_DIR", "value": "/tmp"}]), (),
     ["spec.env[0].name", "DIAGNOSTIC_OUTPUT_DIR", "set by the runner"]),
    ("name-70-characters", manifest(name="a" * 70), (), ["metadata.name", "a" * 70, "at most 63"]),
    ("name-not-a-dns-label", manifest(name="global.mean"), (), ["metadata.name", "global.mean", "DNS label"]),
    ("backoff-initial-above-max", manifest(retry={"backoff": {"initial": "20m", "max": "1m"}}), (),
     ["spec.retry.backoff.initial", "retry.backoff.initial (20m) is longer than retry.backoff.max (1m)"]),
    ("wall-clock-above-max", manifest(resources={"wallClock": "8h"}, retry={"maxWallClock": "2h"}), (),
     ["spec.resources.wallClock", "resources.wallClock (8h) is longer than retry.maxWallClock (2h)"]),
    ("absolute-result-path", manifest(results={"metricBundle": "/etc/passwd"}), (),
     ["spec.results.metricBundle", '"/etc/passwd"', "relative path"]),
    ("escaping-result-path", manifest(results={"series": "../series.json"}), (),
     ["spec.results.series", '"../series.json"', "relative path"]),
    ("duration-without-unit", manifest(pendingTimeout="10"), (), ["spec.pendingTimeout", '"10"']),
    ("vocabulary-mode", manifest(results={"controlledVocabulary": "loud"}), (),
     ["spec.results.controlledVocabulary", '"loud"', "supported values"]),
    ("empty-command", manifest(command=[]), (), ["spec.command"]),
    # absurd resources (spec.MAX_MEMORY, MAX_CPU, MAX_DURATION): CEL bounds, the same as the models'
    ("memory-1Ei", manifest(resources={"memory": "1Ei"}, retry={"maxMemory": "1Ei"}), (),
     ["spec.resources.memory", "resources.memory (1Ei) is more than the limit of 32Ti"]),
    ("cpu-1e9", with_resources(cpu="1e9"), (), ["spec.resources.cpu", "resources.cpu (1e9) is more than the limit of "
                                                                      "1024 CPUs"]),
    # an unquoted fraction is a JSON number: int-or-string has no place for it (the models say to quote it)
    ("cpu-unquoted-0.5", with_resources(cpu=0.5), (), ["spec.resources.cpu", "integer,string"]),
    ("memory-1e3M", with_resources(memory="1e3M"), (), ["spec.resources.memory", '"1e3M"']),
    ("cpu-a-billion", with_resources(cpu="1000000000"), (),
     ["spec.resources.cpu", "resources.cpu (1000000000) is more than the limit of 1024 CPUs"]),
    ("wall-clock-100y", with_resources(wallClock="100y"), (), ["spec.resources.wallClock", '"100y"']),
    ("wall-clock-876000h", with_resources(wallClock="876000h"), (),
     ["spec.resources.wallClock", "resources.wallClock (876000h) is longer than the limit of 30d"]),
    ("wall-clock-36500d", with_resources(wallClock="36500d"), (),
     ["spec.resources.wallClock", "resources.wallClock (36500d) is longer than the limit of 30d"]),
    # a mount path or results folder never lands on the product's own folders
    ("mount-on-the-output-folder", manifest(volumes=[{"name": "data", "mountPath": "/do/output"}]), (),
     ["spec.volumes[0].mountPath", "volumes[].mountPath (/do/output) is inside one of the product's own folders"]),
    ("mount-on-tmp", manifest(volumes=[{"name": "data", "mountPath": "/tmp/data"}]), (),
     ["spec.volumes[0].mountPath", "(/tmp/data) is inside one of the product's own folders"]),
    ("mount-not-normalised", manifest(volumes=[{"name": "data", "mountPath": "/data/../do"}]), (),
     ["spec.volumes[0].mountPath", "absolute, normalised folder"]),
    ("mount-relative", manifest(volumes=[{"name": "data", "mountPath": "data"}]), (),
     ["spec.volumes[0].mountPath", '"data"']),
    ("mount-twice", manifest(volumes=[{"name": "a", "mountPath": "/data"}, {"name": "b", "mountPath": "/data"}]), (),
     ["spec.volumes[1]", "Duplicate value"]),
    ("escaping-sub-path", manifest(volumes=[{"name": "data", "mountPath": "/data", "subPath": "../etc"}]), (),
     ["spec.volumes[0].subPath", "relative path inside the volume"]),
    ("env-source-twice", manifest(envSources=["esgf", "esgf"]), (), ["spec.envSources[1]", "Duplicate value"]),
    ("results-directory-in-do", manifest(results={"directory": "/do/bin"}), (),
     ["spec.results.directory", "(/do/bin) is inside one of the product's own folders"]),
]


@pytest.mark.parametrize(("m", "extra", "expected"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID])
def test_invalid_manifests_are_rejected_naming_field_and_value(
    crd: str, namespace: str, m: dict[str, Any], extra: tuple[str, ...], expected: list[str]
) -> None:
    error = rejected(m, namespace, *extra)
    for fragment in expected:
        assert fragment in error, f"{fragment!r} not in: {error}"


def named_field(text: str) -> str:
    """The first field path (``spec...`` or ``metadata...``) in a message."""
    found = re.search(r"\b(?:spec|metadata)(?:\.\w+|\[\d+\])*", text)
    assert found, f"no field named in: {text}"
    return found.group()


def model_error(m: dict[str, Any]) -> str | None:
    """The models' refusal as one line of dotted paths ("spec: env[1].name" reads "spec.env[1].name"), or None."""
    try:
        parse_manifest(m)
    except ManifestError as e:
        return re.sub(r"\b((?:spec|metadata)(?:\.\w+|\[\d+\])*): (?=[A-Za-z])", r"\1.", str(e))
    return None


def test_the_model_and_the_server_agree_on_the_invalid_manifests(crd: str, namespace: str) -> None:
    """Each invalid manifest, sent to the API server (server-side dry-run create) and given to the models: both
    refuse it, and the field the server names is a field the models name."""
    disagree = []
    for name, m, extra, expected in INVALID:
        server = create(m, namespace, *extra, dry_run=True)
        model = model_error(m)
        if server.returncode == 0 or model is None:
            disagree.append(f"{name}: server {'accepts' if server.returncode == 0 else 'refuses'}, "
                            f"models {'accept' if model is None else 'refuse'}")
            continue
        field = named_field(expected[0])
        if field not in server.stderr or field not in model:
            disagree.append(f"{name}: {field} named by the server: {field in server.stderr}, by the models: "
                            f"{field in model}\n  server: {server.stderr.strip()}\n  models: {model}")
    assert not disagree, "\n".join(disagree)
    # and both take the manifest these cases were derived from
    assert create(manifest(), namespace, "--validate=strict", dry_run=True).returncode == 0
    assert model_error(manifest()) is None


# ------------------------------------------------------------------------------------------ immutability


def patch(namespace: str, patch_: dict[str, Any], *extra: str, name: str = "minimal") -> subprocess.CompletedProcess[str]:
    argv = ["patch", "dx", name, "--type=merge", "-p", json.dumps(patch_), *extra]
    try:
        return subprocess.CompletedProcess(argv, 0, kubectl(*argv, namespace=namespace), "")
    except KubectlError as e:
        return subprocess.CompletedProcess(argv, e.returncode, e.stdout, e.stderr)


def test_the_spec_is_immutable_except_cancel(crd: str, namespace: str) -> None:
    assert create(manifest(), namespace).returncode == 0
    for change, field in [({"resources": {"memory": "8Gi"}}, "resources"), ({"image": "other:2"}, "image"),
                          ({"datasetHash": "sha256:abc"}, "datasetHash"), ({"args": ["--fast"]}, "args"),
                          ({"env": [{"name": "A", "value": "1"}]}, "env")]:
        proc = patch(namespace, {"spec": change})
        assert proc.returncode != 0, f"spec.{field} changed"
        assert f"spec.{field}: Invalid value" in proc.stderr and f"spec.{field} {IMMUTABLE}" in proc.stderr, proc.stderr
    # metadata (labels, finalizers) still changes: the operator needs that
    assert patch(namespace, {"metadata": {"labels": {"team": "climate"}}}).returncode == 0
    assert patch(namespace, {"spec": {"cancel": True}}).returncode == 0
    assert kubectl("get", "dx", "minimal", namespace=namespace, json=True)["spec"]["cancel"] is True
    proc = patch(namespace, {"spec": {"cancel": False}})
    assert proc.returncode != 0 and "spec.cancel" in proc.stderr and "only change from false to true" in proc.stderr
    # the generation moved only with the spec change (cancel)
    assert kubectl("get", "dx", "minimal", namespace=namespace, json=True)["metadata"]["generation"] == 2


def test_a_dataset_hash_given_at_creation_cannot_be_removed(crd: str, namespace: str) -> None:
    assert create(manifest(datasetHash="sha256:abc"), namespace).returncode == 0
    proc = patch(namespace, {"spec": {"datasetHash": None}})
    assert proc.returncode != 0 and f"spec.datasetHash {IMMUTABLE}" in proc.stderr, proc.stderr


# ------------------------------------------------------------------------------------------ kubectl views


def test_kubectl_explain_prints_the_descriptions(crd: str) -> None:
    memory = wait_for(lambda: kubectl("explain", "diagnosticexecution.spec.resources.memory", check=False),
                      timeout=30, describe="kubectl explain to know the new CRD")
    assert "Memory request and limit, e.g. 4Gi." in memory
    spec = kubectl("explain", "dx.spec")
    assert "immutable after creation" in " ".join(spec.split())


def test_printer_columns_short_name_and_category(crd: str, namespace: str) -> None:
    assert create(manifest("gmb"), namespace).returncode == 0
    status = {"phase": "Retrying", "attempt": 2, "failureClass": "OutOfMemory", "reason": "OOMKilled",
              "message": "retrying with 6Gi", "duration": "4m12s", "startTime": "2020-01-01T00:00:00Z"}
    proc = patch(namespace, {"status": status}, "--subresource=status", name="gmb")
    assert proc.returncode == 0, proc.stderr
    table = kubectl("get", "dx", namespace=namespace).splitlines()
    assert table[0].split() == ["NAME", "PHASE", "ATTEMPT", "CLASS", "REASON", "STARTED", "AGE"]
    assert table[1].split()[:5] == ["gmb", "Retrying", "2", "OutOfMemory", "OOMKilled"]
    assert "y" in table[1].split()[5]  # started in 2020: an age in years (e.g. 6y342d), live
    wide = kubectl("get", "dx", "-o", "wide", namespace=namespace).splitlines()
    assert wide[0].split() == ["NAME", "PHASE", "ATTEMPT", "CLASS", "REASON", "STARTED", "AGE", "DURATION", "MESSAGE",
                               "DIAGNOSTIC"]
    assert "4m12s" in wide[1]
    assert "retrying with 6Gi" in wide[1] and wide[1].split()[-1] == "global-mean-bias"
    for resource in ("diagnostics", "diagnosticexecutions", "diagnosticexecution", "dx"):
        assert "gmb" in kubectl("get", resource, "-o", "name", namespace=namespace), resource
    # the status subresource got the status (with the model's defaults), the spec is untouched by it
    obj = kubectl("get", "dx", "gmb", namespace=namespace, json=True)
    assert obj["status"]["phase"] == "Retrying" and obj["status"]["attempts"] == []
    assert obj["metadata"]["generation"] == 1


def test_status_is_typed(crd: str, namespace: str) -> None:
    assert create(manifest("typed"), namespace).returncode == 0
    proc = patch(namespace, {"status": {"phase": "Exploded"}}, "--subresource=status", name="typed")
    assert proc.returncode != 0 and "status.phase" in proc.stderr and '"Exploded"' in proc.stderr, proc.stderr
