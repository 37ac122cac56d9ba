"""The operator's configuration: defaults, YAML loading, errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from diagnostic_operator.transports.kubernetes.config import (
    CONFIG_ENV,
    ConfigurationError,
    KueueRoute,
    NodeRoute,
    OperatorConfig,
    load_config,
)

GOOD = """
image: registry.example.org/diagnostic-operator:0.2.0
imagePullPolicy: Always
publishGrace: 10m
initAllowance: 2m30s
gpuResource: amd.com/gpu
databaseSecret: diagnostic-operator-db
defaultStore: s3://diagnostics/results
queues:
  batch: {kueue: {localQueue: batch-lq}}
  big-memory:
    nodeSelector: {memory: high}
    priorityClassName: low
    tolerations: [{key: big, operator: Exists, effect: NoSchedule}]
podDefaults:
  tolerations: [{key: dedicated, operator: Equal, value: science, effect: NoSchedule}]
  nodeSelector: {kubernetes.io/arch: amd64}
  serviceAccountName: runner
  imagePullSecrets: [regcred, {name: other}]
  hostNetwork: true
  priorityClassName: normal
  labels: {team: climate}
  annotations: {example.org/cost-centre: "42"}
  imagePullPolicy: Always
securityContext: {runAsNonRoot: true, runAsUser: 1000}
sidecarResources: {requests: {cpu: 100m, memory: 256Mi}, limits: {memory: 1Gi}}
jobTTLSeconds: 3600
keepJobs: false
"""


def test_defaults() -> None:
    config = OperatorConfig()
    assert config.image == "diagnostic-operator:0.1.0" and config.image_pull_policy == "IfNotPresent"
    assert (config.publish_grace_seconds, config.init_allowance_seconds) == (300, 60)
    assert config.gpu_resource == "nvidia.com/gpu"
    assert config.database_secret is None and config.default_store is None and config.queues == {}
    assert config.pod_defaults.service_account_name == "diagnostic-execution"
    assert config.pod_defaults.host_network is False and config.pod_defaults.image_pull_policy == "IfNotPresent"
    assert config.security_context == {
        "runAsNonRoot": True, "runAsUser": 65532, "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert config.sidecar_resources == {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
    assert config.job_ttl_seconds is None and config.keep_jobs is True


def test_defaults_are_not_shared_between_instances() -> None:
    one, two = OperatorConfig(), OperatorConfig()
    one.security_context["runAsUser"] = 0
    assert two.security_context["runAsUser"] == 65532


def test_full_yaml(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(GOOD)
    config = OperatorConfig.from_yaml(path)
    assert config.image == "registry.example.org/diagnostic-operator:0.2.0"
    assert (config.publish_grace_seconds, config.init_allowance_seconds) == (600, 150)
    assert isinstance(config.queues["batch"], KueueRoute) and config.queues["batch"].kueue.local_queue == "batch-lq"
    big = config.queues["big-memory"]
    assert isinstance(big, NodeRoute) and big.node_selector == {"memory": "high"} and big.priority_class_name == "low"
    assert config.pod_defaults.image_pull_secrets == [{"name": "regcred"}, {"name": "other"}]
    assert config.pod_defaults.host_network is True and config.pod_defaults.labels == {"team": "climate"}
    assert config.job_ttl_seconds == 3600 and config.keep_jobs is False
    assert config.sidecar_resources["limits"] == {"memory": "1Gi"}


def test_load_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "operator.yaml"
    path.write_text("image: site/diagnostic-operator:1\n")
    assert load_config(env={CONFIG_ENV: str(path)}).image == "site/diagnostic-operator:1"
    assert load_config(env={}).image == "diagnostic-operator:0.1.0"
    assert load_config(env={CONFIG_ENV: ""}) == OperatorConfig()
    # an explicit path wins over the environment
    other = tmp_path / "other.yaml"
    other.write_text("gpuResource: amd.com/gpu\n")
    assert load_config(other, env={CONFIG_ENV: str(path)}).gpu_resource == "amd.com/gpu"


def test_an_empty_file_means_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing here\n")
    assert OperatorConfig.from_yaml(path) == OperatorConfig()


@pytest.mark.parametrize(("text", "field", "why"), [
    ("publishGrace: five minutes\n", "publishGrace", "is not a duration"),
    ("imagePullPolicy: Sometimes\n", "imagePullPolicy", "Always"),
    ("podDefaults: {hostNetwork: maybe}\n", "podDefaults.hostNetwork", "boolean"),
    ("podDefaults: {hostNetwrok: true}\n", "podDefaults.hostNetwrok", "unknown field"),
    ("imagePulPolicy: Always\n", "imagePulPolicy", "unknown field"),
    ("podDefaults: {tolerations: [{kye: x}]}\n", "podDefaults.tolerations", "unknown key(s) kye"),
    ("podDefaults: {labels: {diagnostic-operator.io/attempt: '1'}}\n", "podDefaults.labels", "set by the operator"),
    ("podDefaults: {imagePullSecrets: [{secret: x}]}\n", "podDefaults.imagePullSecrets", "Secret name"),
    ("queues: {gpu: {kueue: {localqueue: x}}}\n", "queues.gpu.kueue.localQueue", "Field required"),
    ("queues: {gpu: {nodeSelector: {gpu: true}}}\n", "queues.gpu.nodeSelector.gpu", "string"),
    ("queues: {gpu: big}\n", "queues.gpu", "a queue is {kueue"),
    ("queues: {GPU: {}}\n", "queues.GPU", "pattern"),
    ("sidecarResources: {requests: {cpu: lots}}\n", "sidecarResources", "requests.cpu"),
    ("sidecarResources: {request: {cpu: 1}}\n", "sidecarResources", "unknown key(s) request"),
    ("jobTTLSeconds: -1\n", "jobTTLSeconds", "greater than or equal to 0"),
])
def test_bad_configuration_names_the_field(tmp_path: Path, text: str, field: str, why: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as info:
        OperatorConfig.from_yaml(path)
    message = str(info.value)
    assert str(path) in message
    assert f"  {field}: " in message, message
    assert why in message, message


def test_not_a_mapping_and_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- image\n")
    with pytest.raises(ConfigurationError, match="expected a mapping"):
        OperatorConfig.from_yaml(path)
    path.write_text("image: [unclosed\n")
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        OperatorConfig.from_yaml(path)
    with pytest.raises(ConfigurationError, match="cannot read"):
        OperatorConfig.from_yaml(tmp_path / "missing.yaml")
