"""The reconcile as data: observed state (the execution, its Jobs and Pods) → the actions to take now.

``plan`` is a pure function of what exists, so it is restart-safe by construction: an operator killed
between creating a Job and writing the status finds the Job on its next pass and adopts it; a replayed
pass re-plans the same actions, and every action is idempotent (deterministic Job names, natural keys in
the database). Every tricky case is a row in ``tests/unit/lifecycle/test_plan.py``.

Truth, in order: the execution's status (what was decided and recorded), then the Jobs (the highest
attempt number that exists is the current attempt), then the Pods (the evidence of how an attempt ended).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from diagnostic_operator.contracts.publish_summary import PublishSummary, parse_summary
from diagnostic_operator.lifecycle.classify import Classification, classify
from diagnostic_operator.lifecycle.conditions import conditions_for
from diagnostic_operator.lifecycle.evidence import (
    STARTING_WAITING_REASONS,
    ContainerEnd,
    Evidence,
    PublishOutcome,
    publish_outcome,
)
from diagnostic_operator.lifecycle.policy import Outcome, decide, dirty_after
from diagnostic_operator.quantities import format_duration, parse_duration
from diagnostic_operator.site import NOT_COVERED
from diagnostic_operator.spec import (
    MAX_ATTEMPT_HISTORY,
    AttemptResources,
    AttemptStatus,
    AttemptTelemetry,
    Decision,
    DiagnosticExecutionSpec,
    DiagnosticExecutionStatus,
    FailureClass,
    Phase,
    ResourceHint,
)

#: The reasons of the status that starts an attempt (with its CreateJob).
STARTED_REASONS = frozenset({"Accepted", "Retrying"})
JOB_CREATION_GRACE_SECONDS = 60.0  # a Job younger than this that the informer has not shown yet is not "gone"


# ---------------------------------------------------------------------------------------------- observed


@dataclass(frozen=True, slots=True)
class ContainerView:
    name: str
    state: str = "waiting"           # waiting | running | terminated
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    started_at: str | None = None
    finished_at: str | None = None


@dataclass(frozen=True, slots=True)
class PodView:
    name: str
    attempt: int
    phase: str = "Pending"
    reason: str | None = None
    message: str | None = None
    node: str | None = None
    created: str | None = None
    start_time: str | None = None
    runner: ContainerView | None = None
    sidecar: ContainerView | None = None
    conditions: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)
    deleting: bool = False


@dataclass(frozen=True, slots=True)
class JobView:
    name: str
    attempt: int
    created: str | None = None
    suspended: bool = False
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    finished: bool = False
    deleting: bool = False


@dataclass(frozen=True, slots=True)
class Observed:
    name: str
    namespace: str
    uid: str
    generation: int | None
    spec: DiagnosticExecutionSpec
    status: DiagnosticExecutionStatus
    now: datetime
    jobs: dict[int, JobView] = field(default_factory=dict)
    pods: dict[int, list[PodView]] = field(default_factory=dict)
    deleting: bool = False
    output_location: str | None = None
    #: The Job name of an attempt (deterministic, the transport's naming). With it, the status that starts an
    #: attempt names its Job at once (the CreateJob before it made the Job), and the Job being seen, then its
    #: Pod being made and scheduled, need no status write until the attempt runs.
    job_name: Callable[[int], str] | None = None
    #: What the site's configuration does not cover in this spec (an unknown queue, volume or env source),
    #: naming the field and what is configured; None when it covers it. Such an execution fails at once.
    refusal: str | None = None
    #: Kubernetes objects the spec refers to through the site (a Secret of an env source), each with the spec
    #: field that picked it: a configuration failure that names one says which field it was.
    references: Mapping[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class CreateJob:
    attempt: int
    resources: ResourceHint


@dataclass(frozen=True, slots=True)
class RecordAttemptStart:
    """The attempt's database row (idempotent). It follows the attempt's CreateJob, and the Job does not wait
    for it: the Pod's sidecar finds the row by execution uid and attempt number when it ingests, long after."""

    attempt: int
    resources: ResourceHint
    job: str | None


@dataclass(frozen=True, slots=True)
class DeleteJob:
    name: str
    attempt: int


@dataclass(frozen=True, slots=True)
class RecordAttemptEnd:
    attempt: AttemptStatus


@dataclass(frozen=True, slots=True)
class Finish:
    phase: Phase
    failure_class: FailureClass | None
    reason: str
    message: str
    dirty: bool | None


@dataclass(frozen=True, slots=True)
class FailPermanently:
    """The execution cannot run as specified (its spec asks for what the site's configuration does not have):
    it ends now, Failed, never retried. The shell allocates its database rows if it has none and records the
    end in one transaction; the SetStatus and Emit after it say why, once."""

    failure_class: FailureClass
    reason: str
    message: str
    dirty: bool | None


@dataclass(frozen=True, slots=True)
class SetStatus:
    status: DiagnosticExecutionStatus


@dataclass(frozen=True, slots=True)
class Emit:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Requeue:
    after_seconds: float


Action = (CreateJob | RecordAttemptStart | DeleteJob | RecordAttemptEnd | Finish | FailPermanently | SetStatus | Emit
          | Requeue)


# ---------------------------------------------------------------------------------------------- helpers


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _seconds_between(start: str | None, end: str | None) -> float | None:
    a, b = parse_time(start), parse_time(end)
    if a is None or b is None:
        return None
    return max((b - a).total_seconds(), 0.0)


def _current_attempt(obs: Observed) -> int:
    return max([obs.status.attempt, *obs.jobs.keys()], default=0)


def _attempt_record(status: DiagnosticExecutionStatus, number: int) -> AttemptStatus | None:
    for record in status.attempts:
        if record.number == number:
            return record
    return None


def _resources_of(record: AttemptStatus | None, fallback: ResourceHint) -> ResourceHint:
    if record is None or record.resources is None:
        return fallback
    return fallback.model_copy(update={"memory": record.resources.memory, "cpu": record.resources.cpu,
                                       "wall_clock": record.resources.wall_clock})


def _history(status: DiagnosticExecutionStatus) -> list[FailureClass]:
    return [a.failure_class for a in sorted(status.attempts, key=lambda a: a.number) if a.failure_class]


def _summary(pod: PodView | None) -> PublishSummary | None:
    """The publish summary in the sidecar's termination message; None when there is none (or it is not one)."""
    return parse_summary(pod.sidecar.message).summary if pod is not None and pod.sidecar is not None else None


def evidence_from_pod(pod: PodView | None, job: JobView | None, now: datetime, cancelled: bool = False) -> Evidence:
    """What the Pod (alone) says about how the attempt went."""
    if pod is None:
        finished_without_pod = job is None or job.finished or job.failed > 0
        return Evidence(pod_missing=finished_without_pod, cancelled=cancelled,
                        pod_phase=None if finished_without_pod else "Pending")
    summary = _summary(pod) if pod.sidecar and pod.sidecar.state == "terminated" else None
    record = None
    publish = None
    if summary is not None:
        record = summary.exit_record()
        publish = publish_outcome(summary)
    elif pod.sidecar is not None and pod.sidecar.state == "terminated":
        publish = PublishOutcome(log_published=False, infrastructure_error=(
            f"the ingest sidecar ended ({pod.sidecar.reason}, exit {pod.sidecar.exit_code}) without a summary"))
    runner = None
    waiting_reason = waiting_message = None
    if pod.runner is not None:
        if pod.runner.state == "terminated":
            runner = ContainerEnd(pod.runner.reason, pod.runner.exit_code, pod.runner.signal, pod.runner.message)
        elif pod.runner.state == "waiting":
            waiting_reason, waiting_message = pod.runner.reason, pod.runner.message
    disruption = pod.conditions.get("DisruptionTarget")
    scheduled = pod.conditions.get("PodScheduled")
    created = parse_time(pod.created)
    pending = (now - created).total_seconds() if created is not None and pod.phase == "Pending" else 0.0
    return Evidence(
        exit_record=record, runner=runner, pod_phase=pod.phase, pod_reason=pod.reason, pod_message=pod.message,
        disruption=(disruption[1] or "DisruptionTarget") if disruption and disruption[0] == "True" else None,
        waiting_reason=waiting_reason, waiting_message=waiting_message, pending_seconds=pending,
        unschedulable=bool(scheduled and scheduled[0] == "False" and scheduled[1] == "Unschedulable"),
        publish=publish, cancelled=cancelled,
        pod_missing=pod.deleting and pod.phase not in ("Succeeded", "Failed") and runner is None)


def _positive(value: int | None) -> int | None:
    """A count from the summary, when it is positive (absent or zero: None)."""
    return value if value is not None and value > 0 else None


def _latest_pod(obs: Observed, attempt: int) -> PodView | None:
    pods = obs.pods.get(attempt, [])
    return max(pods, key=lambda p: p.created or "") if pods else None


def _telemetry(pod: PodView | None, job: JobView | None, record: AttemptStatus) -> AttemptTelemetry:
    summary = _summary(pod)
    tel = AttemptTelemetry()
    if summary is not None:  # the exit record's numbers, as the sidecar passed them on
        tel = AttemptTelemetry(duration_seconds=summary.wall_seconds, cpu_seconds=summary.cpu_seconds,
                               peak_memory_bytes=summary.peak_memory_bytes,
                               peak_memory_source=summary.peak_memory_source,
                               memory_limit_bytes=summary.memory_limit_bytes)
    runner_start = pod.runner.started_at if pod and pod.runner else None
    runner_end = pod.runner.finished_at if pod and pod.runner else None
    updates: dict[str, object] = {}
    if tel.duration_seconds is None:
        updates["duration_seconds"] = _seconds_between(runner_start, runner_end)
    created = job.created if job else record.start_time
    updates["queue_seconds"] = _seconds_between(created, runner_start or (pod.start_time if pod else None))
    return tel.model_copy(update={k: v for k, v in updates.items() if v is not None})


def _status(obs: Observed, **changes: object) -> DiagnosticExecutionStatus:
    """The next status: the current one with ``changes``, conditions recomputed, bounded history."""
    status = obs.status.model_copy(update=changes)
    attempts = sorted(status.attempts, key=lambda a: a.number)[-MAX_ATTEMPT_HISTORY:]
    phase = status.phase
    reason = status.reason or str(phase)
    message = status.message or ""
    now = iso(obs.now)
    start = status.start_time or now
    end = status.completion_time or (now if phase.terminal else None)
    duration = _seconds_between(start, end or now)
    return status.model_copy(update={
        "attempts": attempts,
        "observed_generation": obs.generation,
        "start_time": start,
        "duration": format_duration(duration) if duration is not None else None,
        "output_location": status.output_location or obs.output_location,
        "conditions": conditions_for(phase, reason, message, obs.generation, now, obs.status.conditions),
    })


def _still_working(obs: Observed, number: int, job: JobView) -> bool:
    """The Job has something left to stop: not finished, not being deleted, and no Pod of it has ended (the
    Job controller marks a Job complete a moment after its Pod ends; that Job is done, not to be deleted)."""
    if job.finished or job.deleting:
        return False
    return not any(p.phase in ("Succeeded", "Failed") or (p.sidecar is not None and p.sidecar.state == "terminated")
                   for p in obs.pods.get(number, []))


def _replace_attempt(status: DiagnosticExecutionStatus, record: AttemptStatus) -> list[AttemptStatus]:
    return [*(a for a in status.attempts if a.number != record.number), record]


# ---------------------------------------------------------------------------------------------- plan


def plan(obs: Observed) -> list[Action]:
    spec, status = obs.spec, obs.status
    current = _current_attempt(obs)

    # Finished: only tidy up (a cancelled execution's Job may still be running).
    if status.phase.terminal:
        return [DeleteJob(job.name, n) for n, job in obs.jobs.items() if _still_working(obs, n, job)]

    if obs.deleting or spec.cancel:
        return _cancel(obs, current)

    # Nothing started yet: attempt 1, if the site's configuration covers the spec.
    if current == 0:
        if obs.refusal is not None:
            return _refuse(obs)
        return _start_attempt(obs, 1, spec.resources, first=True)

    record = _attempt_record(status, current)
    job = obs.jobs.get(current)

    # The attempt was decided already: wait out the backoff, then start the next one.
    if record is not None and record.decision is not None:
        if record.decision is not Decision.RETRY:
            return []  # decided terminal; the status write that records it is in flight
        outcome = decide(record.failure_class or FailureClass.INFRASTRUCTURE, spec,
                         _resources_of(record, spec.resources), _history(status), record.exit_code)
        due = (parse_time(record.end_time) or obs.now) + timedelta(seconds=outcome.backoff_seconds)
        if obs.now < due:
            return [Requeue((due - obs.now).total_seconds())]
        if obs.refusal is not None:  # e.g. the configuration changed while the execution waited
            return _refuse(obs)
        return _start_attempt(obs, current + 1, outcome.next_resources or _resources_of(record, spec.resources))

    # The status does not know this attempt yet: the operator stopped between creating the Job and writing
    # the status. Adopt the Job.
    if record is None and job is not None:
        record = AttemptStatus(number=current, job=job.name, startTime=job.created or iso(obs.now),
                               resources=None)
        return [RecordAttemptStart(current, spec.resources, job.name),  # its row may be missing too
                SetStatus(_status(obs, attempt=current, attempts=_replace_attempt(status, record),
                                  phase=Phase.PENDING if status.phase is Phase.PENDING else status.phase)),
                Requeue(0)]

    assert record is not None
    if job is None:
        started = parse_time(record.start_time) or obs.now
        seen = record.job is not None  # the status named the Job: it was made (or seen), so now it is gone
        if not seen and (obs.now - started).total_seconds() < JOB_CREATION_GRACE_SECONDS:
            # Recorded but not seen yet: create it again (a no-op if it exists; deterministic name).
            return [CreateJob(current, _resources_of(record, spec.resources)), Requeue(5)]
        return _conclude(obs, current, record, None, Classification(
            FailureClass.INFRASTRUCTURE, "JobVanished", "The attempt's Job was deleted before it finished."))

    pod = _latest_pod(obs, current)
    if _publishing(pod):
        # The runner ended; the sidecar is publishing its log (and outputs). Its summary decides the class
        # (a timeout or an invalid bundle look like plain exit codes from the runner alone): wait for it. A
        # sidecar that hangs is ended by the Pod's activeDeadlineSeconds.
        assert pod is not None
        return _still_running(obs, current, record, job, pod, evidence_from_pod(pod, job, obs.now), publishing=True)
    evidence = evidence_from_pod(pod, job, obs.now)
    classification = classify(evidence, parse_duration(spec.pending_timeout))
    if classification is None:
        return _still_running(obs, current, record, job, pod, evidence)
    return _conclude(obs, current, record, pod, classification, job)


def _start_attempt(obs: Observed, number: int, resources: ResourceHint, first: bool = False) -> list[Action]:
    record = AttemptStatus(
        number=number, job=obs.job_name(number) if obs.job_name else None, startTime=iso(obs.now),
        resources=AttemptResources(memory=resources.memory, cpu=resources.cpu, wall_clock=resources.wall_clock))
    message = (f"Attempt {number} started: memory {resources.memory}, cpu {resources.cpu}, "
               f"wall clock {resources.wall_clock}.")
    status = _status(obs, phase=Phase.PENDING, attempt=number, attempts=_replace_attempt(obs.status, record),
                     reason="Accepted" if first else "Retrying", message=message,
                     failure_class=None if first else obs.status.failure_class)
    actions: list[Action] = [CreateJob(number, resources), RecordAttemptStart(number, resources, record.job),
                             SetStatus(status),
                             Emit("Normal", "Accepted" if first else "Retrying", message), Requeue(30)]
    return actions


def _refuse(obs: Observed) -> list[Action]:
    """No attempt can start: end the execution now as a configuration failure (no retry can fix it)."""
    message = f"{NOT_COVERED}{obs.refusal}"  # the local run's wording too
    status = _status(obs, phase=Phase.FAILED, failure_class=FailureClass.CONFIGURATION, reason="Configuration",
                     message=message, completion_time=iso(obs.now))
    return [FailPermanently(FailureClass.CONFIGURATION, "Configuration", message,
                            dirty_after(Decision.GIVE_UP, True)),
            SetStatus(status), Emit("Warning", "Configuration", message)]


def _publishing(pod: PodView | None) -> bool:
    """The runner has ended and the ingest sidecar is still at work, in a Pod that is not being deleted."""
    return (pod is not None and not pod.deleting and pod.phase not in ("Succeeded", "Failed")
            and pod.runner is not None and pod.runner.state == "terminated"
            and pod.sidecar is not None and pod.sidecar.state != "terminated")


def _still_running(obs: Observed, number: int, record: AttemptStatus, job: JobView,
                   pod: PodView | None, ev: Evidence, publishing: bool = False) -> list[Action]:
    waiting = ev.waiting_reason if ev.waiting_reason not in STARTING_WAITING_REASONS else None
    if publishing and pod is not None:
        phase, reason = Phase.RUNNING, "Publishing"
        message = f"Attempt {number}'s diagnostic ended; publishing its log and results."
    elif job.suspended:
        phase, reason, message = Phase.PENDING, "Queued", "The Job waits for admission by its queue (Kueue)."
    elif pod is None or pod.phase == "Pending":
        phase = Phase.PENDING
        if ev.unschedulable:
            reason = "Unschedulable"
            message = f"No node can run the attempt yet: {(pod.message if pod else None) or 'not scheduled'}"
        elif waiting:
            timeout = parse_duration(obs.spec.pending_timeout)
            reason = waiting
            message = (f"The runner cannot start ({waiting}: {ev.waiting_message or ''}); "
                       f"the attempt fails after pendingTimeout {obs.spec.pending_timeout} "
                       f"({max(timeout - ev.pending_seconds, 0):.0f}s left).")
        elif obs.status.phase is Phase.PENDING and obs.status.reason in STARTED_REASONS and record.job:
            # The Job was made (the status names it) and its Pod is on its way: "Accepted"/"Retrying" and
            # their message (the attempt's resources) still say it; a "starting" write adds nothing.
            reason, message = obs.status.reason, obs.status.message or ""
        else:
            reason, message = "Pending", f"Attempt {number} is starting."
    else:
        phase, reason, message = Phase.RUNNING, "Running", f"Attempt {number} is running on {pod.node or 'a node'}."
    updated = record.model_copy(update={"job": job.name, "pod": pod.name if pod else None,
                                        "node": pod.node if pod else None})
    changes: dict[str, object] = {"phase": phase, "reason": reason, "message": message,
                                  "attempts": _replace_attempt(obs.status, updated)}
    actions: list[Action] = []
    if phase is Phase.RUNNING and obs.status.phase is not Phase.RUNNING:
        actions.append(Emit("Normal", "Running", message))
    if reason == "Unschedulable" and obs.status.reason != "Unschedulable":
        actions.append(Emit("Warning", "Unschedulable", message))
    if waiting and reason == waiting and obs.status.reason != reason:
        actions.append(Emit("Warning", reason, message))
    new_status = _status(obs, **changes)
    # While the attempt stays Pending for the same reason, its Pod being made and then scheduled is not worth a
    # status write each (two PATCHes per execution at 500 executions): the next transition records them.
    still_pending = phase is Phase.PENDING and obs.status.phase is Phase.PENDING and reason == obs.status.reason
    if _differs(new_status, obs.status, placement=not still_pending):
        actions.append(SetStatus(new_status))
    wait = 5.0 if publishing else 30.0
    if waiting:
        wait = max(min(parse_duration(obs.spec.pending_timeout) - ev.pending_seconds, 30.0), 1.0)
    actions.append(Requeue(wait))
    return actions


def _differs(a: DiagnosticExecutionStatus, b: DiagnosticExecutionStatus, placement: bool = True) -> bool:
    """Status changed in anything but timestamps (avoid a write per pass); with ``placement=False`` a change
    of only the attempts' Pod and node does not count either."""
    keep = {"phase", "reason", "message", "attempt", "attempts", "failure_class", "observed_generation",
            "output_location", "ingested", "database_execution_id"}
    left, right = a.model_dump(include=keep), b.model_dump(include=keep)
    if not placement:
        for dumped in (left, right):
            dumped["attempts"] = [{k: v for k, v in item.items() if k not in ("pod", "node")}
                                  for item in dumped.get("attempts") or []]
    return bool(left != right)


_EVENT = {FailureClass.SUCCESS: ("Normal", "Succeeded"), FailureClass.OUT_OF_MEMORY: ("Warning", "OutOfMemory"),
          FailureClass.TIMED_OUT: ("Warning", "TimedOut"), FailureClass.INFRASTRUCTURE: ("Warning", "Infrastructure"),
          FailureClass.CONFIGURATION: ("Warning", "Configuration"),
          FailureClass.DIAGNOSTIC_ERROR: ("Warning", "DiagnosticError"),
          FailureClass.CANCELLED: ("Normal", "Cancelled")}


def _conclude(obs: Observed, number: int, record: AttemptStatus, pod: PodView | None,
              classification: Classification, job: JobView | None = None) -> list[Action]:
    spec, status = obs.spec, obs.status
    resources = _resources_of(record, spec.resources)
    history = [*_history(status), classification.failure_class]
    outcome: Outcome = decide(classification.failure_class, spec, resources, history, classification.exit_code)
    summary = _summary(pod)
    finished = record.model_copy(update={
        "job": job.name if job else record.job, "pod": pod.name if pod else record.pod,
        "node": pod.node if pod else record.node,
        "end_time": (pod.runner.finished_at if pod and pod.runner and pod.runner.finished_at else iso(obs.now)),
        "exit_code": classification.exit_code, "reason": classification.reason,
        "message": classification.message, "failure_class": classification.failure_class,
        "decision": outcome.decision, "telemetry": _telemetry(pod, job, record),
        "log_location": (summary.log_location or None) if summary else None,
        "partial_files": _positive(summary.partial_files) if summary else None,
    })
    if classification.failure_class is FailureClass.CONFIGURATION:
        classification = _with_field(classification, obs.references)
    event_type, event_reason = _EVENT[classification.failure_class]
    text = classification.message if outcome.decision in (Decision.SUCCESS, Decision.CANCEL) else (
        f"{classification.message} {outcome.reason[:1].upper()}{outcome.reason[1:]}.")
    actions: list[Action] = [RecordAttemptEnd(finished)]
    if job is not None and _still_working(obs, number, job):
        actions.append(DeleteJob(job.name, number))  # e.g. stuck on an image pull: stop it
    changes: dict[str, object] = {
        "attempts": _replace_attempt(status, finished), "phase": outcome.phase,
        "failure_class": classification.failure_class, "reason": classification.reason, "message": text,
    }
    if summary is not None and summary.reports_counts:
        changes["ingested"] = summary.counts
    if summary is not None and summary.output_location:
        changes["output_location"] = summary.output_location
    if outcome.phase.terminal:
        changes["completion_time"] = iso(obs.now)
        actions.append(Finish(outcome.phase, classification.failure_class, classification.reason, text,
                              dirty_after(outcome.decision, True)))
    actions.append(SetStatus(_status(obs, **changes)))
    actions.append(Emit(event_type, event_reason, text))  # the class says what happened; the text what follows
    if outcome.decision is Decision.RETRY:
        actions.append(Requeue(outcome.backoff_seconds))
    return actions


def _with_field(classification: Classification, references: Mapping[str, str]) -> Classification:
    """The kubelet names the object (``secret "esgf" not found``, ``... in Secret ns/esgf``); say which field of
    the spec brought it in."""
    fields = [field for obj, field in references.items()
              if f'"{obj}"' in classification.message or f"/{obj}" in classification.message]
    if not fields:
        return classification
    message = classification.message.rstrip(".")
    return replace(classification, message=f"{message} (spec {', '.join(fields)}).")


def _cancel(obs: Observed, current: int) -> list[Action]:
    actions: list[Action] = [DeleteJob(job.name, n) for n, job in obs.jobs.items()
                             if not job.finished and not job.deleting]
    record = _attempt_record(obs.status, current)
    message = ("The execution was deleted." if obs.deleting else "The execution was cancelled (spec.cancel).")
    changes: dict[str, object] = {"phase": Phase.CANCELLED, "failure_class": FailureClass.CANCELLED,
                                  "reason": "Cancelled", "message": message, "completion_time": iso(obs.now)}
    if record is not None and record.decision is None:
        ended = record.model_copy(update={"end_time": iso(obs.now), "failure_class": FailureClass.CANCELLED,
                                          "decision": Decision.CANCEL, "reason": "Cancelled", "message": message})
        actions.append(RecordAttemptEnd(ended))
        changes["attempts"] = _replace_attempt(obs.status, ended)
    actions += [Finish(Phase.CANCELLED, FailureClass.CANCELLED, "Cancelled", message, None),
                SetStatus(_status(obs, **changes)), Emit("Normal", "Cancelled", message)]
    return actions
