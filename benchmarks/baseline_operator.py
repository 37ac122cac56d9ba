"""The baseline of benchmarks/operator_scale.py: the least a Kopf operator can do for a DiagnosticExecution —
create one Job for it, with the same API client as our operator (Kopf's own aiohttp client, through
``transports/kubernetes/api.py``; lightkube until session 6, when our operator moved off it), and nothing else.

    kopf run --standalone --namespace NS benchmarks/baseline_operator.py

The Job's Pod goes where ``BASELINE_POD`` (JSON: nodeSelector, tolerations, annotations) says, so that it ends
on the same kwok nodes, after the same delay, as the Pods of the operator under test.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import kopf

from diagnostic_operator.transports.kubernetes.api import ApiError, KubeApi, path, status_of

POD = json.loads(os.environ.get("BASELINE_POD", "{}"))


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="baseline.bench")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="baseline.bench")
    settings.posting.level = logging.WARNING
    memo["api"] = KubeApi(settings)


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


@kopf.on.create("diagnostic-operator.io", "v1alpha1", "diagnosticexecutions")  # type: ignore[arg-type]
async def create_job(body: kopf.Body, name: str, namespace: str, memo: kopf.Memo, **_: Any) -> None:
    job = job_manifest(name, body["spec"]["image"], list(body["spec"]["command"]), POD)
    kopf.adopt(job, owner=body)
    try:
        await memo["api"].create(path("batch", "v1", "jobs", namespace), job)
    except ApiError as exc:
        if status_of(exc) != 409:
            raise
