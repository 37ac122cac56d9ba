"""The reconcile as data: every tricky situation of one execution is a row here."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from diagnostic_operator.lifecycle.conditions import kstatus
from diagnostic_operator.lifecycle.plan import (
    ContainerView,
    CreateJob,
    DeleteJob,
    Emit,
    FailPermanently,
    Finish,
    JobView,
    Observed,
    PodView,
    RecordAttemptEnd,
    RecordAttemptStart,
    Requeue,
    SetStatus,
    iso,
    plan,
)
from diagnostic_operator.spec import (
    AttemptResources,
    AttemptStatus,
    Decision,
    DiagnosticExecutionSpec,
    DiagnosticExecutionStatus,
    FailureClass,
    Phase,
)
from diagnostic_operator.transports.kubernetes.names import job_name
from tests.helpers import publish_summary, summary_message

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
SPEC = DiagnosticExecutionSpec.model_validate({
    "diagnostic": {"provider": "example", "slug": "bias"}, "groupKey": "g", "image": "img:1",
    "command": ["run"], "resources": {"memory": "4Gi", "wallClock": "1h"},
    "retry": {"backoff": {"initial": "10s", "max": "1m"}}, "pendingTimeout": "10m",
})


def obs(status: DiagnosticExecutionStatus | None = None, jobs: dict | None = None, pods: dict | None = None,
        now: datetime = NOW, spec: DiagnosticExecutionSpec = SPEC, deleting: bool = False,
        job_name: Callable[[int], str] | None = None) -> Observed:
    return Observed(name="gmb", namespace="ns", uid="u-1", generation=1, spec=spec,
                    status=status or DiagnosticExecutionStatus(), now=now, jobs=jobs or {}, pods=pods or {},
                    deleting=deleting, job_name=job_name)


#: The operator's naming, as it passes it (reconcile): gmb-a1, gmb-a2, …
named = functools.partial(job_name, "gmb")


def started(number: int = 1, memory: str = "4Gi", at: datetime = NOW - timedelta(minutes=5), **extra: object
            ) -> DiagnosticExecutionStatus:
    record = AttemptStatus(number=number, job=f"gmb-a{number}", startTime=iso(at),
                           resources=AttemptResources(memory=memory, cpu="1", wall_clock="1h"))
    return DiagnosticExecutionStatus(**({"phase": Phase.RUNNING, "attempt": number, "attempts": [record]} | extra))


def job(number: int = 1, **kw: object) -> dict[int, JobView]:
    return {number: JobView(name=f"gmb-a{number}", attempt=number, created=iso(NOW - timedelta(minutes=5)), **kw)}


PLAN_SUMMARY = publish_summary(peakMemoryBytes=70_000_000, peakMemorySource="cgroup-v1", memoryLimitBytes=4 * 2**30)


def summary(**kw: object) -> str:
    return summary_message(PLAN_SUMMARY, **kw)


def pod(number: int = 1, phase: str = "Succeeded", runner: ContainerView | None = None,
        sidecar: ContainerView | None = None, **kw: object) -> dict[int, list[PodView]]:
    return {number: [PodView(name=f"gmb-a{number}-xyz", attempt=number, phase=phase, node="do-real-node",
                             created=iso(NOW - timedelta(minutes=4)), start_time=iso(NOW - timedelta(minutes=4)),
                             runner=runner, sidecar=sidecar, **kw)]}


def done(exit_code: int = 0, reason: str = "Completed") -> ContainerView:
    return ContainerView("runner", "terminated", reason, exit_code=exit_code,
                         started_at=iso(NOW - timedelta(minutes=3)), finished_at=iso(NOW - timedelta(minutes=1)))


def sidecar_done(message: str | None) -> ContainerView:
    return ContainerView("ingest", "terminated", "Completed", message=message, exit_code=0)


def kinds(actions: list) -> list[str]:
    return [type(a).__name__ for a in actions]


def status_of(actions: list) -> DiagnosticExecutionStatus:
    return next(a.status for a in actions if isinstance(a, SetStatus))


def test_new_execution_creates_attempt_1_with_the_resource_hint() -> None:
    actions = plan(obs())
    create = next(a for a in actions if isinstance(a, CreateJob))
    assert (create.attempt, create.resources.memory) == (1, "4Gi")
    status = status_of(actions)
    assert (status.phase, status.attempt, status.reason) == (Phase.PENDING, 1, "Accepted")
    assert any(isinstance(a, Emit) and a.reason == "Accepted" for a in actions)
    assert kstatus(status.conditions, 1, status.observed_generation) == "InProgress"
    # the Job first, its database row after (the Job does not wait for the database)
    assert kinds(actions)[:3] == ["CreateJob", "RecordAttemptStart", "SetStatus"]
    row = next(a for a in actions if isinstance(a, RecordAttemptStart))
    assert (row.attempt, row.resources.memory, row.job) == (1, "4Gi", status.attempts[0].job)


def test_job_created_but_status_not_written_is_adopted_not_duplicated() -> None:
    actions = plan(obs(jobs=job(1)))
    assert not any(isinstance(a, CreateJob) for a in actions)
    assert status_of(actions).attempt == 1
    # the operator may have stopped before the attempt's row was written, too: it is made (idempotently)
    row = next(a for a in actions if isinstance(a, RecordAttemptStart))
    assert (row.attempt, row.job) == (1, job(1)[1].name)


def test_recorded_attempt_whose_job_is_not_visible_yet_is_created_again_idempotently() -> None:
    status = started(at=NOW - timedelta(seconds=5))
    fresh = status.attempts[0].model_copy(update={"job": None})  # as _start_attempt records it: not seen yet
    assert kinds(plan(obs(status.model_copy(update={"attempts": [fresh]}))))[:1] == ["CreateJob"]


def test_job_deleted_by_hand_soon_after_it_was_seen_is_not_recreated() -> None:
    """Found by the fault suite: the creation grace covers a Job not seen yet, not one the status names."""
    actions = plan(obs(started(at=NOW - timedelta(seconds=20))))
    assert not any(isinstance(a, CreateJob) for a in actions), actions
    end = next(a for a in actions if isinstance(a, RecordAttemptEnd)).attempt
    assert (end.failure_class, end.reason, end.decision) == (FailureClass.INFRASTRUCTURE, "JobVanished", Decision.RETRY)


def test_job_deleted_by_hand_is_an_infrastructure_failure_and_retried() -> None:
    actions = plan(obs(started()))
    end = next(a for a in actions if isinstance(a, RecordAttemptEnd)).attempt
    assert (end.failure_class, end.reason, end.decision) == (FailureClass.INFRASTRUCTURE, "JobVanished", Decision.RETRY)
    assert status_of(actions).phase is Phase.RETRYING
    assert any(isinstance(a, Requeue) and a.after_seconds == 10 for a in actions)


def test_running_pod_sets_running_once() -> None:
    running = pod(phase="Running", runner=ContainerView("runner", "running"))
    first = plan(obs(started(phase=Phase.PENDING), jobs=job(1, active=1), pods=running))
    assert status_of(first).phase is Phase.RUNNING and any(isinstance(a, Emit) and a.reason == "Running" for a in first)
    again = plan(obs(status_of(first), jobs=job(1, active=1), pods=running))
    assert kinds(again) == ["Requeue"], "no status write when nothing changed"


def test_pod_made_and_scheduled_while_pending_writes_no_status_until_it_runs() -> None:
    """Two status PATCHes per execution fewer at scale: the Pod's name and node are recorded with Running.
    Without the transport's naming the Job's name is recorded when it is seen (one write)."""
    accepted = status_of(plan(obs()))
    seen = status_of(plan(obs(accepted, jobs=job(1))))
    assert (seen.phase, seen.reason, seen.attempts[0].job) == (Phase.PENDING, "Pending", "gmb-a1")
    for node in (None, "do-real-node"):  # the Pod is made, then scheduled
        waiting = {1: [PodView(name="gmb-a1-xyz", attempt=1, phase="Pending", node=node, created=iso(NOW))]}
        assert kinds(plan(obs(seen, jobs=job(1, active=1), pods=waiting))) == ["Requeue"]
    running = pod(phase="Running", runner=ContainerView("runner", "running"))
    now_running = status_of(plan(obs(seen, jobs=job(1, active=1), pods=running)))
    assert (now_running.phase, now_running.attempts[0].pod, now_running.attempts[0].node) == (
        Phase.RUNNING, "gmb-a1-xyz", "do-real-node")


@pytest.mark.parametrize("first", [True, False])
def test_named_attempt_needs_no_status_write_between_its_start_and_running(first: bool) -> None:
    """With the transport's naming the status that starts an attempt names its Job; the Job being seen and its
    Pod being made and scheduled write nothing (at 500 executions: one status PATCH per attempt fewer)."""
    if first:
        actions = plan(obs(job_name=named))
    else:  # attempt 2 after an eviction's backoff
        evicted = started(phase=Phase.RETRYING, reason="Evicted")
        ended = evicted.attempts[0].model_copy(update={
            "end_time": iso(NOW - timedelta(minutes=1)), "failure_class": FailureClass.INFRASTRUCTURE,
            "decision": Decision.RETRY})
        actions = plan(obs(evicted.model_copy(update={"attempts": [ended]}), jobs=job(1, finished=True, failed=1),
                           job_name=named))
    number = 1 if first else 2
    assert next(a for a in actions if isinstance(a, CreateJob)).attempt == number
    begun = status_of(actions)
    assert (begun.reason, begun.attempts[-1].job) == ("Accepted" if first else "Retrying", f"gmb-a{number}")
    jobs = job(1, finished=True, failed=1) if not first else {}
    jobs = jobs | job(number, active=1)
    for pods in ({}, {number: [PodView(name="p", attempt=number, phase="Pending", node=None, created=iso(NOW))]},
                 {number: [PodView(name="p", attempt=number, phase="Pending", node="n1", created=iso(NOW))]}):
        assert kinds(plan(obs(begun, jobs=jobs, pods=pods, job_name=named))) == ["Requeue"], pods
    running = {number: [PodView(name="p", attempt=number, phase="Running", node="n1", created=iso(NOW),
                                runner=ContainerView("runner", "running"))]}
    now_running = status_of(plan(obs(begun, jobs=jobs, pods=running, job_name=named)))
    assert (now_running.phase, now_running.reason, now_running.attempts[-1].pod) == (Phase.RUNNING, "Running", "p")


def test_named_attempt_still_reports_an_unschedulable_pod() -> None:
    """Keeping "Accepted" while the Pod is on its way must not hide why it is stuck."""
    begun = status_of(plan(obs(job_name=named)))
    stuck = {1: [PodView(name="p", attempt=1, phase="Pending", node=None, created=iso(NOW),
                         conditions={"PodScheduled": ("False", "Unschedulable", "0/3 nodes are available")})]}
    actions = plan(obs(begun, jobs=job(1, active=1), pods=stuck, job_name=named))
    assert status_of(actions).reason == "Unschedulable"
    assert any(isinstance(a, Emit) and a.reason == "Unschedulable" for a in actions)


def test_success_finishes_with_counts_telemetry_and_clears_dirty() -> None:
    actions = plan(obs(started(), jobs=job(1, finished=True, succeeded=1),
                       pods=pod(runner=done(), sidecar=sidecar_done(summary()))))
    finish = next(a for a in actions if isinstance(a, Finish))
    assert (finish.phase, finish.failure_class, finish.dirty) == (Phase.SUCCEEDED, FailureClass.SUCCESS, False)
    status = status_of(actions)
    assert status.ingested.scalar_values == 24 and status.output_location == "s3://b/p/attempt-1"
    tel = status.attempts[0].telemetry
    assert tel.duration_seconds == 12.5 and tel.peak_memory_bytes == 70_000_000 and tel.queue_seconds == 120
    assert kstatus(status.conditions, 1, status.observed_generation) == "Current"
    assert {c.type: c.status for c in status.conditions}["Ready"] == "True"
    assert status.ingested.dropped == 0


def test_items_the_compat_reader_dropped_reach_the_status() -> None:
    counts = {"outputs": 6, "scalarValues": 24, "seriesValues": 4, "dropped": 3}
    actions = plan(obs(started(), jobs=job(1, finished=True, succeeded=1),
                       pods=pod(runner=done(), sidecar=sidecar_done(summary(counts=counts)))))
    assert status_of(actions).ingested.dropped == 3


@pytest.mark.parametrize(("extra", "cpu", "peak"), [
    ({"cpuSeconds": 41.7}, 41.7, 70_000_000),  # the exit record's CPU time, passed on by the sidecar
    ({}, None, 70_000_000),  # a record without it (a shim of an older version)
    ({"cpuSeconds": "lots"}, None, None),  # garbled: no telemetry from the summary, the attempt still ends
])
def test_cpu_seconds_reach_the_attempts_telemetry(extra: dict[str, object], cpu: float | None,
                                                  peak: int | None) -> None:
    actions = plan(obs(started(), jobs=job(1, finished=True, succeeded=1),
                       pods=pod(runner=done(), sidecar=sidecar_done(summary(**extra)))))
    tel = status_of(actions).attempts[0].telemetry
    assert (tel.cpu_seconds, tel.peak_memory_bytes) == (cpu, peak)
    assert tel.queue_seconds == 120  # read from the Pod whatever the summary says
    end = next(a for a in actions if isinstance(a, RecordAttemptEnd)).attempt
    assert end.telemetry.cpu_seconds == cpu  # and the database row gets the same


def test_oom_retries_after_backoff_with_more_memory() -> None:
    oom = plan(obs(started(), jobs=job(1, finished=True, failed=1),
                   pods=pod(phase="Failed", runner=done(137, "OOMKilled"), sidecar=sidecar_done(
                       summary(exitRecordPresent=False, ingested=False, exitCode=None)))))
    end = next(a for a in oom if isinstance(a, RecordAttemptEnd)).attempt
    assert (end.failure_class, end.decision) == (FailureClass.OUT_OF_MEMORY, Decision.RETRY)
    assert any(isinstance(a, Requeue) and a.after_seconds == 10 for a in oom)
    ended = NOW - timedelta(minutes=1)  # the runner's finish time: the backoff counts from there
    later = obs(status_of(oom), jobs=job(1, finished=True, failed=1), now=ended + timedelta(seconds=5))
    assert kinds(plan(later)) == ["Requeue"]
    due = obs(status_of(oom), jobs=job(1, finished=True, failed=1), now=ended + timedelta(seconds=11))
    create = next(a for a in plan(due) if isinstance(a, CreateJob))
    assert (create.attempt, create.resources.memory) == (2, "6Gi")


def test_image_pull_error_waits_then_fails_after_pending_timeout() -> None:
    waiting = ContainerView("runner", "waiting", "ErrImagePull", "image not found")
    early = {1: [PodView("gmb-a1-x", 1, "Pending", created=iso(NOW - timedelta(minutes=2)), runner=waiting)]}
    actions = plan(obs(started(), jobs=job(1, active=1), pods=early))
    assert status_of(actions).reason == "ErrImagePull" and "pendingTimeout" in status_of(actions).message
    [warning] = [a for a in actions if isinstance(a, Emit)]
    assert (warning.type, warning.reason) == ("Warning", "ErrImagePull") and "pendingTimeout" in warning.message
    already = plan(obs(status_of(actions), jobs=job(1, active=1), pods=early))
    assert not any(isinstance(a, Emit) for a in already), "one warning when the wait starts, not one per pass"
    late = {1: [PodView("gmb-a1-x", 1, "Pending", created=iso(NOW - timedelta(minutes=11)), runner=waiting)]}
    actions = plan(obs(started(), jobs=job(1, active=1), pods=late))
    assert any(isinstance(a, DeleteJob) for a in actions)
    finish = next(a for a in actions if isinstance(a, Finish))
    assert (finish.phase, finish.failure_class, finish.reason) == (Phase.FAILED, FailureClass.CONFIGURATION,
                                                                   "ErrImagePull")
    assert kstatus(status_of(actions).conditions, 1, 1) == "Failed"


@pytest.mark.parametrize("reason", ["PodInitializing", "ContainerCreating"])
def test_a_runner_on_its_way_to_start_is_not_warned_about(reason: str) -> None:
    """The init container runs, the image is unpacked: no Warning, no pendingTimeout countdown, no failure."""
    waiting = ContainerView("runner", "waiting", reason, "")
    for age in (timedelta(seconds=5), timedelta(minutes=11)):
        pods = {1: [PodView("gmb-a1-x", 1, "Pending", created=iso(NOW - age), runner=waiting)]}
        actions = plan(obs(started(), jobs=job(1, active=1), pods=pods))
        assert not any(isinstance(a, Emit) for a in actions), actions
        assert not any(isinstance(a, Finish | DeleteJob) for a in actions)
        status = status_of(actions) if any(isinstance(a, SetStatus) for a in actions) else started()
        assert status.phase is Phase.PENDING and status.reason != reason
        assert "pendingTimeout" not in (status.message or "")


def test_unschedulable_keeps_waiting_past_the_pending_timeout() -> None:
    pending = {1: [PodView("gmb-a1-x", 1, "Pending", message="0/3 nodes are available",
                           created=iso(NOW - timedelta(hours=2)),
                           conditions={"PodScheduled": ("False", "Unschedulable", "0/3 nodes")})]}
    actions = plan(obs(started(), jobs=job(1, active=1), pods=pending))
    assert status_of(actions).reason == "Unschedulable"
    assert not any(isinstance(a, Finish | DeleteJob) for a in actions)


def test_unschedulable_without_a_scheduler_message_says_so() -> None:
    pending = {1: [PodView("gmb-a1-x", 1, "Pending", created=iso(NOW),
                           conditions={"PodScheduled": ("False", "Unschedulable", "")})]}
    message = status_of(plan(obs(started(), jobs=job(1, active=1), pods=pending))).message
    assert "None" not in message and message.endswith("not scheduled")


def test_eviction_is_retried_on_the_infrastructure_budget() -> None:
    evicted = pod(phase="Failed", reason="Evicted", runner=done(137, "Error"),
                  conditions={"DisruptionTarget": ("True", "TerminationByKubelet", "evicted")})
    actions = plan(obs(started(), jobs=job(1, finished=True, failed=1), pods=evicted))
    end = next(a for a in actions if isinstance(a, RecordAttemptEnd)).attempt
    assert (end.failure_class, end.reason, end.decision) == (FailureClass.INFRASTRUCTURE, "Evicted", Decision.RETRY)


def test_diagnostic_error_gives_up_and_clears_dirty() -> None:
    actions = plan(obs(started(), jobs=job(1, finished=True, failed=1),
                       pods=pod(phase="Failed", runner=done(3, "Error"),
                                sidecar=sidecar_done(summary(exitCode=3, ingested=False)))))
    finish = next(a for a in actions if isinstance(a, Finish))
    assert (finish.phase, finish.reason, finish.dirty) == (Phase.FAILED, "ExitCode3", False)


@pytest.mark.parametrize(("partial", "shown"), [
    ({"partialFiles": 5, "partialSkipped": 1}, 5),
    ({"partialFiles": 0, "partialSkipped": 0}, None),  # the folder was empty: nothing to show
    ({}, None),  # a sidecar of a version without partial files
    ({"partialFiles": "five"}, None),
    ({"partialFiles": True}, None),
])
def test_a_failed_attempt_shows_its_partial_files_and_keeps_its_class(partial: dict[str, object],
                                                                      shown: int | None) -> None:
    message = summary(exitCode=3, ingested=False, counts={"outputs": 0, "scalarValues": 0, "seriesValues": 0},
                      partialError="the store was slow" if partial else None, **partial)
    actions = plan(obs(started(), jobs=job(1, finished=True, failed=1),
                       pods=pod(phase="Failed", runner=done(3, "Error"), sidecar=sidecar_done(message))))
    end = next(a for a in actions if isinstance(a, RecordAttemptEnd)).attempt
    assert (end.failure_class, end.reason, end.partial_files) == (FailureClass.DIAGNOSTIC_ERROR, "ExitCode3", shown)
    status = status_of(actions)
    assert status.attempts[0].partial_files == shown
    assert status.ingested.scalar_values == 0 and status.ingested.outputs == 0


def test_sidecar_without_summary_is_an_infrastructure_failure() -> None:
    actions = plan(obs(started(), jobs=job(1, finished=True, failed=1),
                       pods=pod(phase="Failed", runner=done(0), sidecar=ContainerView(
                           "ingest", "terminated", "Error", exit_code=1))))
    end = next(a for a in actions if isinstance(a, RecordAttemptEnd)).attempt
    assert (end.failure_class, end.reason) == (FailureClass.INFRASTRUCTURE, "PublishFailed")


@pytest.mark.parametrize("deleting", [False, True])
def test_cancel_stops_the_job_and_records_cancelled(deleting: bool) -> None:
    spec = SPEC if deleting else SPEC.model_copy(update={"cancel": True})
    actions = plan(obs(started(), jobs=job(1, active=1), spec=spec, deleting=deleting))
    assert any(isinstance(a, DeleteJob) and a.name == "gmb-a1" for a in actions)
    finish = next(a for a in actions if isinstance(a, Finish))
    assert (finish.phase, finish.dirty) == (Phase.CANCELLED, None), "cancel leaves dirty as it was"
    assert next(a for a in actions if isinstance(a, RecordAttemptEnd)).attempt.decision is Decision.CANCEL


def test_finished_execution_only_tidies_up() -> None:
    status = started(phase=Phase.CANCELLED)
    assert kinds(plan(obs(status, jobs=job(1, active=1)))) == ["DeleteJob"]
    assert plan(obs(status, jobs=job(1, finished=True))) == []


def test_timeout_from_pod_deadline() -> None:
    actions = plan(obs(started(), jobs=job(1, finished=True, failed=1),
                       pods=pod(phase="Failed", reason="DeadlineExceeded", runner=done(137, "Error"))))
    end = next(a for a in actions if isinstance(a, RecordAttemptEnd)).attempt
    assert (end.failure_class, end.decision) == (FailureClass.TIMED_OUT, Decision.GIVE_UP)


def test_replanning_a_concluded_attempt_changes_nothing() -> None:
    first = plan(obs(started(), jobs=job(1, finished=True, failed=1),
                     pods=pod(phase="Failed", runner=done(3, "Error"),
                              sidecar=sidecar_done(summary(exitCode=3, ingested=False)))))
    again = plan(obs(status_of(first), jobs=job(1, finished=True, failed=1)))
    assert again == [], "a terminal execution is not re-decided"


@pytest.mark.parametrize("pod_phase", ["Succeeded", "Failed"])
def test_a_job_whose_pod_ended_is_never_deleted(pod_phase: str) -> None:
    """Found on the cluster: the Pod ends a moment before the Job controller marks the Job finished. Neither the
    conclusion nor the tidy-up of a finished execution may delete that Job (it would lose the attempt's Pod)."""
    pods = pod(phase=pod_phase, runner=done(0 if pod_phase == "Succeeded" else 1),
               sidecar=ContainerView("ingest", "terminated", "Completed", exit_code=0, message=summary(
                   exitCode=0 if pod_phase == "Succeeded" else 1, ingested=pod_phase == "Succeeded")))
    concluded = plan(obs(started(), jobs=job(1, active=1), pods=pods))
    assert any(isinstance(a, Finish) for a in concluded)
    assert not any(isinstance(a, DeleteJob) for a in concluded)
    for phase in (Phase.SUCCEEDED, Phase.FAILED):
        assert plan(obs(started(phase=phase), jobs=job(1, active=1), pods=pods)) == []


def test_a_job_whose_sidecar_ended_is_not_deleted_while_the_pod_phase_lags() -> None:
    pods = pod(phase="Running", runner=done(0), sidecar=ContainerView(
        "ingest", "terminated", "Completed", exit_code=0, message=summary()))
    actions = plan(obs(started(), jobs=job(1, active=1), pods=pods))
    assert any(isinstance(a, Finish) for a in actions)
    assert not any(isinstance(a, DeleteJob) for a in actions)


@pytest.mark.parametrize("runner_exit", [0, 3, 124, 137])
def test_runner_ended_sidecar_publishing_waits_for_the_summary(runner_exit: int) -> None:
    """Found on the cluster: concluding from the runner's exit alone called a timeout a DiagnosticError and
    deleted the Job under the sidecar. While the sidecar publishes, the attempt is Running/Publishing."""
    pods = pod(phase="Running", runner=done(runner_exit, "Error" if runner_exit else "Completed"),
               sidecar=ContainerView("ingest", "running"))
    actions = plan(obs(started(), jobs=job(1, active=1), pods=pods))
    assert not any(isinstance(a, RecordAttemptEnd | Finish | DeleteJob) for a in actions), actions
    status = next(a for a in actions if isinstance(a, SetStatus)).status
    assert (status.phase, status.reason) == (Phase.RUNNING, "Publishing")
    assert next(a for a in actions if isinstance(a, Requeue)).after_seconds <= 5


def test_the_exit_record_inside_the_sidecar_summary_is_read() -> None:
    """Found on the cluster: the summary's own ``schema`` made ExitRecord validation fail, so the shim's timeout
    was lost and a deadline kill (exit 143) was called a DiagnosticError."""
    pods = pod(phase="Succeeded", runner=done(143, "Error"), sidecar=ContainerView(
        "ingest", "terminated", "Completed", exit_code=0,
        message=summary(exitCode=143, signal=15, timedOut=True, deadlineSeconds=3, ingested=False)))
    end = next(a for a in plan(obs(started(), jobs=job(1, finished=True), pods=pods))
               if isinstance(a, RecordAttemptEnd)).attempt
    assert end.failure_class is FailureClass.TIMED_OUT, end


# ------------------------------------------------------------------------------ the site does not cover the spec

REFUSAL = "resources.queue: unknown queue 'gpu': the operator's configuration has no such queue (configured queues: none)"


def refused(status: DiagnosticExecutionStatus | None = None, now: datetime = NOW) -> Observed:
    return replace(obs(status, now=now, job_name=named), refusal=REFUSAL)


def test_a_spec_the_site_does_not_cover_fails_at_once_as_configuration_and_says_why_once() -> None:
    actions = plan(refused())
    assert kinds(actions) == ["FailPermanently", "SetStatus", "Emit"]
    fail = actions[0]
    assert isinstance(fail, FailPermanently)
    assert (fail.failure_class, fail.reason, fail.dirty) == (FailureClass.CONFIGURATION, "Configuration", False)
    assert fail.message == f"The site's configuration does not cover this spec: {REFUSAL}"
    status = status_of(actions)
    assert (status.phase, status.failure_class, status.reason, status.attempt) == (
        Phase.FAILED, FailureClass.CONFIGURATION, "Configuration", 0)
    assert status.message == fail.message and status.completion_time == iso(NOW)
    assert kstatus(status.conditions, 1, status.observed_generation) == "Failed"
    event = actions[2]
    assert isinstance(event, Emit) and (event.type, event.reason, event.message) == (
        "Warning", "Configuration", fail.message)
    # the next pass sees a finished execution: nothing more is said or written
    assert plan(replace(refused(status), now=NOW + timedelta(minutes=1))) == []


def test_a_retry_the_site_no_longer_covers_ends_the_execution_instead_of_starting() -> None:
    ended = started(1).attempts[0].model_copy(update={
        "end_time": iso(NOW - timedelta(minutes=2)), "failure_class": FailureClass.OUT_OF_MEMORY,
        "decision": Decision.RETRY})
    status = started(1, attempts=[ended], phase=Phase.RETRYING)
    actions = plan(refused(status))
    assert kinds(actions) == ["FailPermanently", "SetStatus", "Emit"]
    assert not any(isinstance(a, CreateJob) for a in actions)
    # while the backoff runs, nothing is decided yet
    assert kinds(plan(refused(status, now=NOW - timedelta(minutes=2)))) == ["Requeue"]


def test_a_running_attempt_is_not_stopped_by_a_refusal() -> None:
    actions = plan(replace(obs(started(1), jobs=job(1), pods=pod(1, phase="Running", runner=ContainerView(
        "runner", state="running"))), refusal=REFUSAL))
    assert "FailPermanently" not in kinds(actions)


@pytest.mark.parametrize(("kubelet", "named"), [
    ('secret "esgf-credentials" not found', True),
    ("couldn't find key ESGF_TOKEN in Secret ns/esgf-credentials", True),
    ('secret "other" not found', False),
])
def test_a_missing_env_secret_is_told_in_the_specs_terms(kubelet: str, named: bool) -> None:
    waiting = ContainerView("runner", "waiting", "CreateContainerConfigError", kubelet)
    late = {1: [PodView("gmb-a1-x", 1, "Pending", created=iso(NOW - timedelta(minutes=11)), runner=waiting)]}
    observed = replace(obs(started(), jobs=job(1, active=1), pods=late),
                       references={"esgf-credentials": "envSources[0] ('esgf': Secret 'esgf-credentials')"})
    finish = next(a for a in plan(observed) if isinstance(a, Finish))
    assert (finish.failure_class, finish.reason) == (FailureClass.CONFIGURATION, "CreateContainerConfigError")
    assert kubelet in finish.message
    assert ("(spec envSources[0] ('esgf': Secret 'esgf-credentials'))" in finish.message) is named
