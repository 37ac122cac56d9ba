"""Evidence → one failure class: the table of lifecycle.md, in one function.

The rules are ordered; the first that matches wins:

1. cancelled                                          → Cancelled
2. the diagnostic exited 0 and its results were ingested → Success (whatever happened to the Pod afterwards)
3. a container that cannot start (image, config) past the pending timeout, or StartError → Configuration
   (before the timeout: still pending, no class)
4. out of memory: runner ``OOMKilled``, an OOM kill in the exit record, or an allocation failure in
   the log of a run limited by RLIMIT_AS                  → OutOfMemory (exit 137 alone is only a hint)
5. timed out: the shim's deadline, or the Pod's ``DeadlineExceeded`` → TimedOut
6. the platform took the Pod: Evicted, DisruptionTarget, ContainerStatusUnknown, the Pod vanished,
   or the runner ended with no exit record and no exit code (the log is missing) → Infrastructure
7. the runner exited non-zero                          → DiagnosticError
8. exit 0 but the publish step could not reach the database or store → Infrastructure
9. exit 0 but a bundle is missing or invalid           → DiagnosticError
10. exit 0 and no publish outcome yet                  → undecided (None): wait for the sidecar
"""

from __future__ import annotations

from dataclasses import dataclass

from diagnostic_operator.lifecycle.evidence import (
    ALLOCATION_FAILURE_MARKERS,
    CONFIGURATION_WAITING_REASONS,
    INFRASTRUCTURE_POD_REASONS,
    START_FAILURE_REASONS,
    Evidence,
)
from diagnostic_operator.spec import FailureClass


@dataclass(frozen=True, slots=True)
class Classification:
    failure_class: FailureClass
    reason: str   # CamelCase, short: shown in `kubectl get` and stored on the attempt
    message: str  # one sentence for a person
    exit_code: int | None = None


def _exit_code(ev: Evidence) -> int | None:
    if ev.exit_record is not None and ev.exit_record.exit_code is not None:
        return ev.exit_record.exit_code
    if ev.runner is not None:
        return ev.runner.exit_code
    return None


def _allocation_failure(ev: Evidence) -> bool:
    if not ev.rlimit_memory or not ev.log_tail:
        return False
    code = _exit_code(ev)
    return code not in (None, 0) and any(marker in ev.log_tail for marker in ALLOCATION_FAILURE_MARKERS)


def classify(ev: Evidence, pending_timeout_seconds: float) -> Classification | None:
    """The failure class of a finished attempt, or None while it is not finished."""
    code = _exit_code(ev)
    record = ev.exit_record

    if ev.cancelled:
        return Classification(FailureClass.CANCELLED, "Cancelled", "The execution was cancelled.", code)

    if code == 0 and ev.publish is not None and ev.publish.ingested and not (record and record.timed_out):
        return Classification(FailureClass.SUCCESS, "Succeeded",
                              "The diagnostic succeeded and its results were published and ingested.", 0)

    if ev.waiting_reason in CONFIGURATION_WAITING_REASONS and code is None and record is None:
        if ev.pending_seconds >= pending_timeout_seconds:
            detail = f": {ev.waiting_message}" if ev.waiting_message else ""
            return Classification(
                FailureClass.CONFIGURATION, ev.waiting_reason or "Configuration",
                f"The runner container could not start for {ev.pending_seconds:.0f}s "
                f"({ev.waiting_reason}){detail}.")
        return None
    if ev.runner is not None and ev.runner.reason in START_FAILURE_REASONS:
        return Classification(FailureClass.CONFIGURATION, ev.runner.reason or "StartError",
                              f"The runner container could not run its command: {ev.runner.message or ''}".strip(),
                              code)

    if (ev.runner is not None and ev.runner.reason == "OOMKilled") or (record and record.oom_kills):
        limit = record.memory_limit_bytes if record else None
        shown = f" of {limit // 2**20} MiB" if limit else ""
        return Classification(FailureClass.OUT_OF_MEMORY, "OOMKilled",
                              f"The diagnostic ran out of memory: the kernel killed it at its limit{shown}.", code)
    if _allocation_failure(ev):
        return Classification(FailureClass.OUT_OF_MEMORY, "AllocationFailed",
                              "The diagnostic failed to allocate memory under its limit (RLIMIT_AS).", code)

    if (record is not None and record.timed_out) or ev.pod_reason == "DeadlineExceeded":
        deadline = record.deadline_seconds if record and record.deadline_seconds else None
        shown = f" of {deadline:.0f}s" if deadline else ""
        return Classification(FailureClass.TIMED_OUT, "DeadlineExceeded",
                              f"The diagnostic ran past its wall-clock limit{shown}.", code)

    if ev.pod_reason in INFRASTRUCTURE_POD_REASONS:
        return Classification(FailureClass.INFRASTRUCTURE, ev.pod_reason or "Evicted",
                              f"The platform stopped the Pod: {ev.pod_message or ev.pod_reason}.", code)
    if ev.disruption:
        return Classification(FailureClass.INFRASTRUCTURE, "DisruptionTarget",
                              f"The Pod was disrupted ({ev.disruption}).", code)
    if ev.runner is not None and ev.runner.reason == "ContainerStatusUnknown":
        return Classification(FailureClass.INFRASTRUCTURE, "ContainerStatusUnknown",
                              "The runner container's state was lost (node problem).", code)
    if ev.pod_missing and record is None:
        return Classification(FailureClass.INFRASTRUCTURE, "PodVanished",
                              "The attempt's Pod disappeared before it finished.", code)
    if code is None:
        if ev.runner is None and ev.pod_phase in (None, "Pending", "Running"):
            return None  # still running
        return Classification(FailureClass.INFRASTRUCTURE, "NoExitRecord",
                              "The runner ended without an exit record or exit code (the log is missing).", None)

    if code != 0:
        hint = " (137 often means killed; no OOM was recorded)" if code == 137 else ""
        return Classification(FailureClass.DIAGNOSTIC_ERROR, f"ExitCode{code}",
                              f"The diagnostic exited with code {code}{hint}.", code)

    if ev.publish is None:
        return None
    if ev.publish.infrastructure_error:
        return Classification(FailureClass.INFRASTRUCTURE, "PublishFailed",
                              f"Publishing the results failed: {ev.publish.infrastructure_error}", 0)
    if ev.publish.bundle_error:
        return Classification(FailureClass.DIAGNOSTIC_ERROR, "InvalidResults",
                              f"The diagnostic exited 0 but its results are invalid: {ev.publish.bundle_error}", 0)
    return Classification(FailureClass.INFRASTRUCTURE, "NotIngested",
                          "The diagnostic exited 0 but its results were not ingested.", 0)
