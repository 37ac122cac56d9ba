"""Kubernetes objects → plan views, from object shapes the API server really returns."""

from diagnostic_operator.transports.kubernetes.names import ATTEMPT_LABEL, EXECUTION_UID_LABEL
from diagnostic_operator.transports.kubernetes.observe import execution_uid, job_view, pod_view

LABELS = {ATTEMPT_LABEL: "2", EXECUTION_UID_LABEL: "u-1"}

OOM_POD = {
    "metadata": {"name": "gmb-a2-abcde", "labels": LABELS, "creationTimestamp": "2026-11-22T12:00:00Z"},
    "spec": {"nodeName": "do-real-node"},
    "status": {
        "phase": "Failed", "startTime": "2026-11-22T12:00:01Z",
        "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet"},
                       {"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [
            {"name": "runner", "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137,
                                                        "startedAt": "2026-11-22T12:00:02Z",
                                                        "finishedAt": "2026-11-22T12:00:09Z"}}},
            {"name": "ingest", "state": {"terminated": {"reason": "Completed", "exitCode": 0, "message": "{}"}}},
        ],
    },
}


def test_pod_view_reads_runner_sidecar_conditions() -> None:
    view = pod_view(OOM_POD)
    assert view is not None
    assert (view.attempt, view.phase, view.node) == (2, "Failed", "do-real-node")
    assert view.runner is not None and (view.runner.state, view.runner.reason, view.runner.exit_code) == (
        "terminated", "OOMKilled", 137)
    assert view.sidecar is not None and view.sidecar.message == "{}"
    assert view.conditions["DisruptionTarget"] == ("True", "TerminationByKubelet", None)
    assert execution_uid(OOM_POD) == "u-1"


def test_waiting_runner_and_unlabelled_objects() -> None:
    pending = {"metadata": {"name": "p", "labels": {ATTEMPT_LABEL: "1"}},
               "status": {"phase": "Pending", "containerStatuses": [
                   {"name": "runner", "state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}}}]}}
    view = pod_view(pending)
    assert view is not None and view.runner is not None
    assert (view.runner.state, view.runner.reason) == ("waiting", "ErrImagePull")
    assert pod_view({"metadata": {"name": "other"}}) is None
    assert pod_view({"metadata": {"name": "x", "labels": {ATTEMPT_LABEL: "not-a-number"}}}) is None


def test_job_view_finished_and_suspended() -> None:
    failed = {"metadata": {"name": "gmb-a1", "labels": {ATTEMPT_LABEL: "1"}, "creationTimestamp": "t"},
              "spec": {"suspend": False},
              "status": {"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}
    view = job_view(failed)
    assert view is not None and view.finished and view.failed == 1 and not view.suspended
    queued = {"metadata": {"name": "gmb-a1", "labels": {ATTEMPT_LABEL: "1"}}, "spec": {"suspend": True}, "status": {}}
    view = job_view(queued)
    assert view is not None and view.suspended and not view.finished and view.active == 0
