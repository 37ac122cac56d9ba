"""Plan rows found by the fault suite (tests/k8s/test_faults.py).

A row the plan gets wrong is marked ``xfail(strict=True)`` until ``plan`` is fixed (then it XPASSes and
fails, and the mark goes). Fixed so far: a Job deleted by hand soon after it was seen is not re-created.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from diagnostic_operator.lifecycle.plan import CreateJob, Observed, RecordAttemptEnd, iso, plan
from diagnostic_operator.spec import (
    AttemptResources,
    AttemptStatus,
    Decision,
    DiagnosticExecutionSpec,
    DiagnosticExecutionStatus,
    FailureClass,
    Phase,
)

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
SPEC = DiagnosticExecutionSpec.model_validate({
    "diagnostic": {"provider": "example", "slug": "bias"}, "groupKey": "g", "image": "img:1",
    "command": ["run"], "resources": {"memory": "4Gi", "wallClock": "1h"},
    "retry": {"backoff": {"initial": "10s", "max": "1m"}}, "pendingTimeout": "10m",
})


def seen_running(started_seconds_ago: float) -> DiagnosticExecutionStatus:
    """Attempt 1 started ``started_seconds_ago``, and its Job and Pod were observed (the status names them:
    ``_still_running`` writes ``job``/``pod``/``node`` only from an observed Job)."""
    record = AttemptStatus(number=1, job="gmb-a1", pod="gmb-a1-xyz", node="do-kwok-node-0",
                           startTime=iso(NOW - timedelta(seconds=started_seconds_ago)),
                           resources=AttemptResources(memory="4Gi", cpu="1", wall_clock="1h"))
    return DiagnosticExecutionStatus(phase=Phase.RUNNING, attempt=1, attempts=[record], reason="Running")


def test_job_deleted_by_hand_soon_after_it_was_seen_is_not_recreated() -> None:
    obs = Observed(name="gmb", namespace="ns", uid="u-1", generation=1, spec=SPEC, status=seen_running(20),
                   now=NOW, jobs={}, pods={})
    actions = plan(obs)
    assert not any(isinstance(a, CreateJob) for a in actions), actions
    end = next(a for a in actions if isinstance(a, RecordAttemptEnd)).attempt
    assert (end.failure_class, end.reason, end.decision) == (
        FailureClass.INFRASTRUCTURE, "JobVanished", Decision.RETRY)


def test_a_job_not_seen_yet_is_still_created_again_within_the_grace() -> None:
    """The counterpart that must stay true: recorded by this operator, never observed, young → CreateJob."""
    record = AttemptStatus(number=1, job=None, startTime=iso(NOW - timedelta(seconds=20)),
                           resources=AttemptResources(memory="4Gi", cpu="1", wall_clock="1h"))
    status = DiagnosticExecutionStatus(phase=Phase.PENDING, attempt=1, attempts=[record])
    obs = Observed(name="gmb", namespace="ns", uid="u-1", generation=1, spec=SPEC, status=status, now=NOW)
    assert any(isinstance(a, CreateJob) for a in plan(obs))
