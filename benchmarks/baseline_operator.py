"""The baseline of benchmarks/operator_scale.py: the least a Kopf operator can do for a DiagnosticExecution —
create one Job for it, with the same API client as our operator (Kopf's own aiohttp client, through
``transports/kubernetes/api.py``; lightkube until session 6, when our operator moved off it), and nothing else.

    kopf run --standalone --namespace NS benchmarks/baseline_operator.py

The Job's Pod goes where ``BASELINE_POD`` (JSON: nodeSelector, tolerations, annotations) says, so that it ends
on the same kwok nodes, after the same delay, as the Pods of the operator under test.

``BASELINE_WRITES=1`` adds the API traffic issue 4 asks of any operator of this CRD, and nothing else: a finalizer
(a no-op deletion handler, so that Kopf adds it), Pod watching, and per transition (Pending with its Job,
Running, Succeeded) one status PATCH and one Event, the same count of writes our operator makes per execution.
It tells how much of our latency is those writes on the shared API server, and how much is our own code.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

import kopf

from diagnostic_operator.transports.kubernetes.api import ApiError, KubeApi, path, status_of

POD = json.loads(os.environ.get("BASELINE_POD", "{}"))
WRITES = os.environ.get("BASELINE_WRITES", "") == "1"
GROUP, VERSION, PLURAL = "diagnostic-operator.io", "v1alpha1", "diagnosticexecutions"
EXECUTION = "diagnostic-operator.io/execution"
UID = "diagnostic-operator.io/execution-uid"


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="baseline.bench")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="baseline.bench")
    settings.posting.level = logging.WARNING
    settings.watching.label_selectors["v1", "pods"] = EXECUTION  # only the executions' Pods (WRITES)
    memo["api"] = KubeApi(settings)
    memo["phases"] = {}


def job_manifest(name: str, image: str, command: list[str], pod: dict[str, Any]) -> dict[str, Any]:
    """The one Job of execution ``name`` (also what benchmarks/scale.py's direct client loop creates)."""
    labels = {"diagnostic-operator.io/execution": name}
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": f"{name}-a1", "labels": labels},
        "spec": {"backoffLimit": 0, "template": {
            "metadata": {"labels": labels, "annotations": pod.get("annotations", {})},
            "spec": {"restartPolicy": "Never", "nodeSelector": pod.get("nodeSelector", {}),
                     "tolerations": pod.get("tolerations", []),
                     "containers": [{"name": "runner", "image": image, "command": list(command)}]}}},
    }


async def create_job(body: kopf.Body, name: str, namespace: str, memo: kopf.Memo, **_: Any) -> None:
    job = job_manifest(name, body["spec"]["image"], list(body["spec"]["command"]), POD)
    kopf.adopt(job, owner=body)
    if WRITES:  # the Pod events name their execution's uid, for the Events about it
        job["spec"]["template"]["metadata"]["labels"][UID] = body.metadata.uid
    try:
        await memo["api"].create(path("batch", "v1", "jobs", namespace), job)
    except ApiError as exc:
        if status_of(exc) != 409:
            raise
    if WRITES:
        await transition(memo, body, namespace, name, "Pending", f"attempt 1: Job {name}-a1 created")


if not WRITES:
    kopf.on.create(GROUP, VERSION, PLURAL)(create_job)  # type: ignore[arg-type]
else:
    # Kopf runs creation handlers only once its finalizer is on (a PATCH and its watch event later); our
    # operator's daemon starts at the first event. So does this baseline's creation, from the first event.
    @kopf.on.event(GROUP, VERSION, PLURAL)  # type: ignore[arg-type]
    async def first_sight(body: kopf.Body, name: str, namespace: str, memo: kopf.Memo, type: str | None,
                          **kwargs: Any) -> None:
        if type == "DELETED" or body.get("status") or name in memo["phases"] or body.metadata.deletion_timestamp:
            return
        await create_job(body=body, name=name, namespace=namespace, memo=memo, **kwargs)


def status_document(phase: str, name: str, message: str) -> dict[str, Any]:
    """A status of the size and shape of ours at that phase (conditions, one attempt)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    done = phase == "Succeeded"

    def condition(kind: str, status: bool, reason: str) -> dict[str, Any]:
        return {"type": kind, "status": "True" if status else "False", "reason": reason, "message": message,
                "lastTransitionTime": now, "observedGeneration": 1}

    return {"phase": phase, "observedGeneration": 1, "attempt": 1, "message": message, "conditions": [
        condition("Ready", done, phase), condition("Reconciling", not done, phase),
        condition("Stalled", False, phase), condition("Succeeded", done, phase)],
        "attempts": [{"number": 1, "job": f"{name}-a1", "pod": None if phase == "Pending" else f"{name}-a1-pod",
                      "start": now, "end": now if done else None, "decision": "SUCCESS" if done else None,
                      "resources": {"memory": "1Gi", "cpu": "1", "wallClock": "1h"}}]}


async def transition(memo: kopf.Memo, body: Any, namespace: str, name: str, phase: str, message: str) -> None:
    """One status PATCH and one Event, once per execution and phase."""
    seen = memo["phases"]
    if seen.get(name) == phase:
        return
    seen[name] = phase
    await memo["api"].merge_patch(path(GROUP, VERSION, PLURAL, namespace, name, "status"),
                                  {"status": status_document(phase, name, message)})
    kopf.event(body, type="Normal", reason=phase, message=message)


if WRITES:
    @kopf.on.delete(GROUP, VERSION, PLURAL)  # type: ignore[arg-type]
    async def deleted(**_: Any) -> None:
        """Nothing to do: registered so that Kopf puts a finalizer on every execution, as ours has."""

    @kopf.on.event("", "v1", "pods", labels={EXECUTION: kopf.PRESENT})
    async def pod_changed(body: kopf.Body, memo: kopf.Memo, namespace: str, **_: Any) -> None:
        labels = body.get("metadata", {}).get("labels") or {}
        execution = labels.get(EXECUTION, "")
        phase = (body.get("status") or {}).get("phase")
        owner = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DiagnosticExecution",
                 "metadata": {"name": execution, "namespace": namespace, "uid": labels.get(UID, "")}}
        if phase == "Running":
            await transition(memo, owner, namespace, execution, "Running", f"attempt 1: Pod {body.metadata.name}")
        elif phase == "Succeeded":
            await transition(memo, owner, namespace, execution, "Succeeded", "attempt 1 succeeded")
