"""GitOps: the Argo CD health check (docs/argocd-health.lua) and the kstatus rules on the statuses the lifecycle
writes in every phase, and the examples/gitops kustomization.

The cluster layer (tests/k8s/test_chart.py) runs the same two functions on real objects from the test cluster.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from diagnostic_operator.lifecycle.plan import (
    ContainerView,
    JobView,
    Observed,
    PodView,
    SetStatus,
    iso,
    plan,
)
from diagnostic_operator.manifest import load_manifests
from diagnostic_operator.spec import (
    AttemptResources,
    AttemptStatus,
    DiagnosticExecutionSpec,
    DiagnosticExecutionStatus,
    Phase,
)
from tests.helpers import summary_message

from .status_rules import argocd_health, kstatus

ROOT = Path(__file__).resolve().parents[3]
GITOPS = ROOT / "examples" / "gitops"
NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
SPEC = DiagnosticExecutionSpec.model_validate({
    "diagnostic": {"provider": "example", "slug": "bias"}, "groupKey": "g", "image": "img:1",
    "command": ["run"], "resources": {"memory": "4Gi", "wallClock": "1h"},
    "retry": {"backoff": {"initial": "10s", "max": "1m"}}, "pendingTimeout": "10m",
})


def _observed(status: DiagnosticExecutionStatus | None = None, jobs: dict[int, JobView] | None = None,
              pods: dict[int, list[PodView]] | None = None, spec: DiagnosticExecutionSpec = SPEC,
              generation: int = 1) -> Observed:
    return Observed(name="gmb", namespace="ns", uid="u-1", generation=generation, spec=spec,
                    status=status or DiagnosticExecutionStatus(), now=NOW, jobs=jobs or {}, pods=pods or {},
                    deleting=False)


def _started(phase: Phase = Phase.RUNNING) -> DiagnosticExecutionStatus:
    record = AttemptStatus(number=1, job="gmb-a1", startTime=iso(NOW - timedelta(minutes=5)),
                           resources=AttemptResources(memory="4Gi", cpu="1", wall_clock="1h"))
    return DiagnosticExecutionStatus(phase=phase, attempt=1, attempts=[record], observedGeneration=1)


def _job(**kw: Any) -> dict[int, JobView]:
    return {1: JobView(name="gmb-a1", attempt=1, created=iso(NOW - timedelta(minutes=5)), **kw)}


def _pod(phase: str, runner: ContainerView, sidecar: ContainerView | None = None) -> dict[int, list[PodView]]:
    return {1: [PodView(name="gmb-a1-x", attempt=1, phase=phase, node="n", created=iso(NOW - timedelta(minutes=4)),
                        start_time=iso(NOW - timedelta(minutes=4)), runner=runner, sidecar=sidecar)]}


def _ended(code: int, reason: str) -> ContainerView:
    return ContainerView("runner", "terminated", reason, exit_code=code,
                         started_at=iso(NOW - timedelta(minutes=3)), finished_at=iso(NOW - timedelta(minutes=1)))


def _sidecar(**changes: Any) -> ContainerView:
    return ContainerView("ingest", "terminated", "Completed", exit_code=0,
                         message=summary_message(**changes))


def _status(observed: Observed) -> DiagnosticExecutionStatus:
    return next(a.status for a in plan(observed) if isinstance(a, SetStatus))


def _object(status: DiagnosticExecutionStatus | None, generation: int = 1, **metadata: Any) -> dict[str, Any]:
    """The DiagnosticExecution as the API server returns it, with the status the operator patches in."""
    obj: dict[str, Any] = {"apiVersion": "diagnostic-operator.io/v1alpha1", "kind": "DiagnosticExecution",
                           "metadata": {"name": "gmb", "namespace": "ns", "generation": generation, **metadata},
                           "spec": SPEC.model_dump(by_alias=True, exclude_none=True, mode="json")}
    if status is not None:
        obj["status"] = status.model_dump(by_alias=True, exclude_none=True, mode="json")
    return obj


SCENARIOS = {
    "pending": lambda: _status(_observed()),
    "running": lambda: _status(_observed(_started(Phase.PENDING), _job(active=1),
                                         _pod("Running", ContainerView("runner", "running")))),
    "retrying": lambda: _status(_observed(_started(), _job(finished=True, failed=1), _pod(
        "Failed", _ended(137, "OOMKilled"), _sidecar(exitRecordPresent=False, ingested=False, exitCode=None)))),
    "succeeded": lambda: _status(_observed(_started(), _job(finished=True, succeeded=1),
                                           _pod("Succeeded", _ended(0, "Completed"), _sidecar()))),
    "failed": lambda: _status(_observed(_started(), _job(finished=True, failed=1), _pod(
        "Failed", _ended(3, "Error"), _sidecar(exitCode=3, ingested=False)))),
    "cancelled": lambda: _status(_observed(_started(), _job(active=1), spec=SPEC.model_copy(update={"cancel": True}))),
}
EXPECTED = {  # phase, kstatus, Argo CD health
    "pending": (Phase.PENDING, "InProgress", "Progressing"),
    "running": (Phase.RUNNING, "InProgress", "Progressing"),
    "retrying": (Phase.RETRYING, "InProgress", "Progressing"),
    "succeeded": (Phase.SUCCEEDED, "Current", "Healthy"),
    "failed": (Phase.FAILED, "Failed", "Degraded"),
    "cancelled": (Phase.CANCELLED, "Failed", "Suspended"),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_phase_reads_the_same_in_kstatus_and_argocd(scenario: str) -> None:
    status = SCENARIOS[scenario]()
    phase, expected_kstatus, expected_health = EXPECTED[scenario]
    assert status.phase is phase
    assert status.observed_generation == 1
    obj = _object(status)
    assert kstatus(obj) == expected_kstatus
    health = argocd_health(obj)
    assert health["status"] == expected_health, health
    assert health["message"]


def test_failed_message_names_the_class_and_reason() -> None:
    health = argocd_health(_object(SCENARIOS["failed"]()))
    assert health["message"].startswith("attempt 1: DiagnosticError: ExitCode3"), health


def test_a_newer_generation_is_in_progress_until_observed() -> None:
    """Only spec.cancel can change after creation (CEL); until the operator observes it, both tools wait."""
    obj = _object(SCENARIOS["running"](), generation=2)
    assert kstatus(obj) == "InProgress"
    assert argocd_health(obj)["status"] == "Progressing"
    done = _object(SCENARIOS["succeeded"](), generation=2)
    assert kstatus(done) == "InProgress" and argocd_health(done)["status"] == "Progressing"


def test_no_status_yet() -> None:
    """Before the operator writes anything, kstatus has nothing to go on (Current, its documented default for a
    custom resource without conditions); the Argo CD check says Progressing."""
    obj = _object(None)
    assert kstatus(obj) == "Current"
    assert argocd_health(obj) == {"status": "Progressing",
                                  "message": "Waiting for the operator to accept the execution"}


def test_being_deleted() -> None:
    obj = _object(SCENARIOS["running"](), deletionTimestamp="2026-11-22T12:00:00Z")
    assert kstatus(obj) == "Terminating"
    assert argocd_health(obj)["status"] == "Progressing"


def test_unknown_phase_is_unknown() -> None:
    obj = _object(SCENARIOS["running"]())
    obj["status"]["phase"] = "Exploded"
    assert argocd_health(obj)["status"] == "Unknown"


def test_stalled_condition_without_terminal_phase_is_degraded() -> None:
    obj = _object(SCENARIOS["running"]())
    for condition in obj["status"]["conditions"]:
        if condition["type"] == "Stalled":
            condition["status"] = "True"
        if condition["type"] == "Reconciling":
            condition["status"] = "False"
    assert kstatus(obj) == "Failed"
    assert argocd_health(obj)["status"] == "Degraded"


# ------------------------------------------------------------------------------------------------ examples/gitops


def _kustomization() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((GITOPS / "kustomization.yaml").read_text())
    return data


def test_gitops_kustomization_lists_files_that_exist() -> None:
    kustomization = _kustomization()
    assert kustomization["namespace"]
    for resource in kustomization["resources"]:
        assert (GITOPS / resource).is_file(), resource
    namespaces = [d for r in kustomization["resources"] for d in yaml.safe_load_all((GITOPS / r).read_text())
                  if d and d.get("kind") == "Namespace"]
    assert [n["metadata"]["name"] for n in namespaces] == [kustomization["namespace"]]


def test_gitops_executions_are_valid_manifests() -> None:
    executions = []
    for resource in _kustomization()["resources"]:
        docs = [d for d in yaml.safe_load_all((GITOPS / resource).read_text()) if d]
        if any(d.get("kind") == "DiagnosticExecution" for d in docs):
            executions += load_manifests(GITOPS / resource)
    assert len(executions) >= 2
    assert len({e.metadata.name for e in executions}) == len(executions)


def test_gitops_chart_values_match_the_chart_schema() -> None:
    chart = ROOT / "charts" / "diagnostic-operator"
    values = yaml.safe_load((chart / "values.yaml").read_text())
    override = yaml.safe_load((GITOPS / "operator-values.yaml").read_text())

    def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        for key, value in extra.items():
            base[key] = merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key),
                                                                                          dict) else value
        return base

    jsonschema.validate(merge(copy.deepcopy(values), override),
                        json.loads((chart / "values.schema.json").read_text()))
    assert override["secret"]["existingSecret"]
