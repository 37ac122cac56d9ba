"""Kubernetes objects → the plan's views (pure). Only the fields the lifecycle reads are kept, which is
also what keeps the operator's in-memory indices small at thousands of executions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from diagnostic_operator.lifecycle.plan import ContainerView, JobView, PodView
from diagnostic_operator.transports.kubernetes.names import ATTEMPT_LABEL, EXECUTION_UID_LABEL

RUNNER = "runner"
SIDECAR = "ingest"


def _attempt(meta: Mapping[str, Any]) -> int | None:
    value = (meta.get("labels") or {}).get(ATTEMPT_LABEL)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def execution_uid(body: Mapping[str, Any]) -> str | None:
    """The execution an object belongs to (its uid label), or None for objects that are not ours."""
    uid = ((body.get("metadata") or {}).get("labels") or {}).get(EXECUTION_UID_LABEL)
    return str(uid) if uid else None


def container_view(status: Mapping[str, Any]) -> ContainerView:
    state = status.get("state") or {}
    name = str(status.get("name", ""))
    if "terminated" in state:
        t = state["terminated"] or {}
        return ContainerView(name, "terminated", t.get("reason"), t.get("message"), t.get("exitCode"),
                             t.get("signal"), t.get("startedAt"), t.get("finishedAt"))
    if "running" in state:
        return ContainerView(name, "running", started_at=(state["running"] or {}).get("startedAt"))
    waiting = state.get("waiting") or {}
    return ContainerView(name, "waiting", waiting.get("reason"), waiting.get("message"))


def pod_view(body: Mapping[str, Any]) -> PodView | None:
    meta = body.get("metadata") or {}
    attempt = _attempt(meta)
    if attempt is None:
        return None
    status = body.get("status") or {}
    containers = {str(c.get("name")): container_view(c) for c in status.get("containerStatuses") or []}
    conditions = {str(c.get("type")): (str(c.get("status")), c.get("reason"), c.get("message"))
                  for c in status.get("conditions") or []}
    return PodView(
        name=str(meta.get("name", "")), attempt=attempt, phase=str(status.get("phase") or "Pending"),
        reason=status.get("reason"), message=status.get("message"),
        node=(body.get("spec") or {}).get("nodeName"), created=meta.get("creationTimestamp"),
        start_time=status.get("startTime"), runner=containers.get(RUNNER), sidecar=containers.get(SIDECAR),
        conditions=conditions, deleting=bool(meta.get("deletionTimestamp")))


def job_view(body: Mapping[str, Any]) -> JobView | None:
    meta = body.get("metadata") or {}
    attempt = _attempt(meta)
    if attempt is None:
        return None
    status = body.get("status") or {}
    finished = any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                   for c in status.get("conditions") or [])
    return JobView(
        name=str(meta.get("name", "")), attempt=attempt, created=meta.get("creationTimestamp"),
        suspended=bool((body.get("spec") or {}).get("suspend")), active=int(status.get("active") or 0),
        succeeded=int(status.get("succeeded") or 0), failed=int(status.get("failed") or 0),
        finished=finished, deleting=bool(meta.get("deletionTimestamp")))
