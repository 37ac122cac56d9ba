"""Build one attempt's Job (docs/pod-layout.md): pure, deterministic, no Kubernetes client.

``build_job`` returns a complete ``batch/v1`` Job as a plain dict; the same inputs always give the same
dict, so a replayed dispatch creates nothing new. ``job_resources`` reads back what an attempt asked for.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from diagnostic_operator import site
from diagnostic_operator.spec import FULL_API_VERSION, KIND, DiagnosticExecutionSpec, ResourceHint, VolumeMount

from .config import ConfigurationError, KueueRoute, NodeRoute, OperatorConfig, runner_security_context
from .names import (
    KUEUE_QUEUE_LABEL,
    RESOURCES_ANNOTATION,
    VOLUME_BIN,
    VOLUME_HOME,
    VOLUME_OUTPUT,
    VOLUME_RUNNER_TMP,
    VOLUME_TMP,
    attempt_labels,
    job_name,
)

OUTPUT_DIR = "/do/output"
BIN_DIR = "/do/bin"
TMP_DIR = "/tmp"
HOME_DIR = "/do/home"
SHIM = f"{BIN_DIR}/shim.sh"
SHIM_GRACE_SECONDS = 10
PUBLISH_RESERVE_SECONDS = 30  # of the publish grace, kept for recording the last batch and the summary
TERMINATION_LOG = "/dev/termination-log"

INIT_CONTAINER = "install-shim"
RUNNER_CONTAINER = "runner"
SIDECAR_CONTAINER = "ingest"


def shim_command(spec: DiagnosticExecutionSpec, resources: ResourceHint) -> list[str]:
    """The runner's command: the shim wrapping ``spec.command``, or the bare command without the shim."""
    if not spec.runtime.shim:
        return list(spec.command)
    return ["/bin/sh", SHIM, "--deadline", str(_ceil_seconds(resources.wall_clock_seconds)),
            "--grace", str(SHIM_GRACE_SECONDS), "--", *spec.command]


def runner_resources(resources: ResourceHint, gpu_resource: str = "nvidia.com/gpu") -> dict[str, Any]:
    """The ResourceHint table: memory request = limit; cpu request; cpu limit only when asked; gpu limit."""
    requests = {"cpu": resources.cpu, "memory": resources.memory}
    limits = {"memory": resources.memory}
    if resources.cpu_limit is not None:
        limits["cpu"] = resources.cpu_limit
    if resources.gpu > 0:
        limits[gpu_resource] = str(resources.gpu)
    return {"requests": requests, "limits": limits}


def active_deadline_seconds(resources: ResourceHint, config: OperatorConfig) -> int:
    """The Pod's deadline: wall clock + publish grace + init allowance, whole seconds."""
    return (_ceil_seconds(resources.wall_clock_seconds) + config.publish_grace_seconds
            + config.init_allowance_seconds)


def publish_budget_seconds(config: OperatorConfig) -> int:
    """How long the sidecar may spend on a failed attempt's partial files, from the start of its publish
    step. The runner ends at the latest the shim's grace after the wall clock; the Pod's deadline is the
    publish grace after the wall clock (both counted from the runner's start, within the init allowance):
    so the grace, less the shim's grace, less a reserve for the rows of the last batch and the summary."""
    return max(0, config.publish_grace_seconds - SHIM_GRACE_SECONDS - PUBLISH_RESERVE_SECONDS)


def resources_annotation(resources: ResourceHint) -> str:
    """``<memory>/<cpu>/<wallClock>``: what this attempt asked for."""
    return f"{resources.memory}/{resources.cpu}/{resources.wall_clock}"


def build_job(
    *,
    namespace: str,
    name: str,
    uid: str,
    spec: DiagnosticExecutionSpec,
    attempt: int,
    resources: ResourceHint,
    config: OperatorConfig,
    owner_api_version: str = FULL_API_VERSION,
    owner_kind: str = KIND,
) -> dict[str, Any]:
    """The ``batch/v1`` Job of attempt ``attempt`` of the execution ``namespace/name`` (uid ``uid``).

    The Job does not name the attempt's database rows: it is made before them (nothing waits for the database
    on the way to a Job), and the ingest sidecar finds them by the execution's uid and the attempt number.
    ``resources`` is this attempt's ResourceHint (the spec's, grown after an OOM or a timeout); its
    ``queue`` is routed through ``config.queues``. Raises ConfigurationError for a spec the configuration
    does not cover (``covered`` says so first: the operator ends such an execution before building its Job).
    """
    problems = site.problems(spec, config.site)
    if problems:
        raise ConfigurationError("; ".join(problems))
    defaults = config.pod_defaults
    route = _route(resources.queue, config)
    labels = attempt_labels(name, uid, attempt)
    annotation = {RESOURCES_ANNOTATION: resources_annotation(resources)}

    job_labels = dict(labels)
    if isinstance(route, KueueRoute):
        job_labels[KUEUE_QUEUE_LABEL] = route.kueue.local_queue

    node_selector = dict(defaults.node_selector)
    tolerations = copy.deepcopy(defaults.tolerations)
    priority_class = defaults.priority_class_name
    if isinstance(route, NodeRoute):
        node_selector.update(route.node_selector)
        tolerations += [t for t in copy.deepcopy(route.tolerations) if t not in tolerations]
        priority_class = route.priority_class_name or priority_class

    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "shareProcessNamespace": True,
        "activeDeadlineSeconds": active_deadline_seconds(resources, config),
        "serviceAccountName": defaults.service_account_name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": config.pod_security.pod_context(),
    }
    if defaults.runtime_class_name:
        pod_spec["runtimeClassName"] = defaults.runtime_class_name
    if defaults.host_network:
        pod_spec["hostNetwork"] = True
        pod_spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    if node_selector:
        pod_spec["nodeSelector"] = dict(sorted(node_selector.items()))
    if tolerations:
        pod_spec["tolerations"] = tolerations
    if priority_class:
        pod_spec["priorityClassName"] = priority_class
    if defaults.image_pull_secrets:
        pod_spec["imagePullSecrets"] = copy.deepcopy(defaults.image_pull_secrets)
    pod_spec["initContainers"] = [_install_shim(config)]
    pod_spec["containers"] = [
        _runner(spec, resources, config),
        _sidecar(namespace=namespace, name=name, uid=uid, spec=spec, attempt=attempt, config=config),
    ]
    own = (VOLUME_BIN, VOLUME_OUTPUT, VOLUME_TMP, VOLUME_HOME, VOLUME_RUNNER_TMP)
    used = sorted({mount.name for mount in (*config.mounts, *spec.volumes)})
    pod_spec["volumes"] = [{"name": volume, "emptyDir": {}} for volume in own] + [
        config.volumes[name].pod_volume(name) for name in used]

    job_spec: dict[str, Any] = {
        "backoffLimit": 0,
        "suspend": isinstance(route, KueueRoute),
    }
    if config.job_ttl_seconds is not None:
        job_spec["ttlSecondsAfterFinished"] = config.job_ttl_seconds
    job_spec["template"] = {
        "metadata": {
            "labels": {**defaults.labels, **labels},
            "annotations": {**defaults.annotations, **annotation},
        },
        "spec": pod_spec,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(name, attempt),
            "namespace": namespace,
            "labels": job_labels,
            "annotations": dict(annotation),
            "ownerReferences": [{
                "apiVersion": owner_api_version,
                "kind": owner_kind,
                "name": name,
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }],
        },
        "spec": job_spec,
    }


def covered(spec: DiagnosticExecutionSpec, resources: ResourceHint, config: OperatorConfig) -> str | None:
    """Why the site's configuration does not cover this spec (its queue, volumes, env sources), naming the
    field and what is configured; None when it does. Such a spec fails at once (class Configuration)."""
    problems = site.problems(spec, config.site)
    if resources.queue is not None and resources.queue not in config.queues:
        problems.insert(0, _unknown_queue(resources.queue, config))
    return "; ".join(problems) or None


def job_resources(job: Mapping[str, Any], base: ResourceHint | None = None) -> ResourceHint | None:
    """What an attempt's Job (or Pod) asked for, from its ``diagnostic-operator.io/resources`` annotation.

    The annotation carries memory, cpu and wall clock; the other fields (cpuLimit, gpu, queue) come from
    ``base`` (the spec's ResourceHint) when given. None when the annotation is missing or unreadable.
    """
    text = _annotation(job)
    if text is None or text.count("/") != 2:
        return None
    memory, cpu, wall_clock = text.split("/")
    try:
        read = ResourceHint.model_validate({"memory": memory, "cpu": cpu, "wallClock": wall_clock})
    except ValueError:
        return None
    if base is None:
        return read
    return base.model_copy(update={"memory": read.memory, "cpu": read.cpu, "wall_clock": read.wall_clock})


# ----------------------------------------------------------------------------------------------- parts


def _route(queue: str | None, config: OperatorConfig) -> KueueRoute | NodeRoute | None:
    if queue is None:
        return None
    route = config.queues.get(queue)
    if route is None:
        raise ConfigurationError(_unknown_queue(queue, config))
    return route


def _unknown_queue(queue: str, config: OperatorConfig) -> str:
    known = ", ".join(sorted(config.queues)) or "none"
    return (f"resources.queue: unknown queue {queue!r}: the operator's configuration has no such queue "
            f"(configured queues: {known})")


def _mount(mount: VolumeMount, read_only: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"name": mount.name, "mountPath": mount.mount_path}
    if read_only:
        item["readOnly"] = True
    if mount.sub_path:
        item["subPath"] = mount.sub_path
    return item


def _site_mounts(spec: DiagnosticExecutionSpec, config: OperatorConfig) -> list[dict[str, Any]]:
    return [_mount(mount, site.read_only(mount, volume)) for mount, volume in site.mount_items(spec, config.site)]


def _results_mount(spec: DiagnosticExecutionSpec, config: OperatorConfig) -> dict[str, Any] | None:
    """The volume holding ``results.directory``, read-only at the same path, for the sidecar."""
    directory = spec.results.directory
    if directory is None:
        return None
    holder = site.innermost(directory, (m for m, _ in site.mount_items(spec, config.site)), lambda m: m.mount_path)
    return _mount(holder, True) if holder else None


def _install_shim(config: OperatorConfig) -> dict[str, Any]:
    return {
        "name": INIT_CONTAINER,
        "image": config.image,
        "imagePullPolicy": config.image_pull_policy,
        "command": ["diagnostic-operator", "install-shim", BIN_DIR, OUTPUT_DIR],
        "resources": copy.deepcopy(config.sidecar_resources),
        "securityContext": copy.deepcopy(config.security_context),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": VOLUME_BIN, "mountPath": BIN_DIR},
            {"name": VOLUME_OUTPUT, "mountPath": OUTPUT_DIR},
            {"name": VOLUME_TMP, "mountPath": TMP_DIR},
        ],
    }


def _runner(spec: DiagnosticExecutionSpec, resources: ResourceHint, config: OperatorConfig) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": RUNNER_CONTAINER,
        "image": spec.image,
        "imagePullPolicy": config.pod_defaults.image_pull_policy,
        "command": shim_command(spec, resources),
    }
    if spec.args:
        container["args"] = list(spec.args)
    env: list[dict[str, Any]] = [{"name": var.name, "value": var.value} for var in spec.env]
    for name in spec.env_sources:
        env += config.env_sources[name].env()
    if not any(var.name == "HOME" for var in spec.env):
        env.append({"name": "HOME", "value": HOME_DIR})  # writable whatever the image's user
    env.append({"name": "DIAGNOSTIC_OUTPUT_DIR", "value": OUTPUT_DIR})
    if spec.results.directory is not None:
        env.append({"name": "DIAGNOSTIC_RESULTS_DIR", "value": spec.results.directory})
    container.update({
        "env": env,
        "workingDir": OUTPUT_DIR,
        "resources": runner_resources(resources, config.gpu_resource),
        "securityContext": runner_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": VOLUME_BIN, "mountPath": BIN_DIR, "readOnly": True},
            {"name": VOLUME_OUTPUT, "mountPath": OUTPUT_DIR},
            {"name": VOLUME_HOME, "mountPath": HOME_DIR},
            {"name": VOLUME_RUNNER_TMP, "mountPath": TMP_DIR},
            *_site_mounts(spec, config),
        ],
    })
    return container


def _sidecar(*, namespace: str, name: str, uid: str, spec: DiagnosticExecutionSpec, attempt: int,
             config: OperatorConfig) -> dict[str, Any]:
    env = {
        "DIAGNOSTIC_OUTPUT_DIR": OUTPUT_DIR,
        "DIAGNOSTIC_EXECUTION_NAMESPACE": namespace,
        "DIAGNOSTIC_EXECUTION_NAME": name,
        "DIAGNOSTIC_EXECUTION_UID": uid,
        "DIAGNOSTIC_ATTEMPT": str(attempt),
        "DIAGNOSTIC_RESULTS": spec.results.model_dump_json(by_alias=True),
        "DIAGNOSTIC_PUBLISH_BUDGET_SECONDS": str(publish_budget_seconds(config)),
    }
    if not spec.runtime.shim:  # no exit record will come: the sidecar judges the runner's end from /proc
        env["DIAGNOSTIC_RUNNER_SHIM"] = "false"
    store = spec.output.store or config.default_store
    if store:  # else the Secret may carry DIAGNOSTIC_OPERATOR_STORE_URL
        env["DIAGNOSTIC_OPERATOR_STORE_URL"] = store
    container: dict[str, Any] = {
        "name": SIDECAR_CONTAINER,
        "image": config.image,
        "imagePullPolicy": config.image_pull_policy,
        "command": ["diagnostic-operator", "sidecar"],
        "env": [{"name": key, "value": value} for key, value in env.items()],
    }
    if config.database_secret:
        container["envFrom"] = [{"secretRef": {"name": config.database_secret}}]
    container.update({
        "resources": copy.deepcopy(config.sidecar_resources),
        "securityContext": copy.deepcopy(config.security_context),
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "File",
        "volumeMounts": [
            {"name": VOLUME_OUTPUT, "mountPath": OUTPUT_DIR, "readOnly": True},
            {"name": VOLUME_TMP, "mountPath": TMP_DIR},
            *([results] if (results := _results_mount(spec, config)) else []),
        ],
    })
    return container


def _annotation(obj: Mapping[str, Any]) -> str | None:
    for meta in (obj.get("metadata"), ((obj.get("spec") or {}).get("template") or {}).get("metadata")):
        value = ((meta or {}).get("annotations") or {}).get(RESOURCES_ANNOTATION)
        if isinstance(value, str):
            return value
    return None


def _ceil_seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds))
