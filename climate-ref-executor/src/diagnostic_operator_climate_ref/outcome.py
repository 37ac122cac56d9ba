"""What a finished DiagnosticExecution means to Climate-REF: pure, table-tested (docs/climate-ref.md).

When the entry point wrote a result, that result is Climate-REF's own (``execute_locally``'s), and
``handle_execution_result`` records it exactly as Climate-REF's own executors do: success, or
``diagnostic_error`` (not retried), or ``system_error`` (the group left dirty, retried at the next solve).
Without a result the Pod never finished the entry point (killed at the memory cap or the deadline, lost,
never started, cancelled) and the failure is recorded from the operator's failure class.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, TypeGuard

from diagnostic_operator.spec import FailureClass, Phase


class Action(StrEnum):
    WAIT = "wait"          # not finished
    INGEST = "ingest"      # the entry point's result: handle_execution_result
    FAIL = "fail"          # no result: record a failure with ``reason``


class FailureReason(StrEnum):
    """Climate-REF's ``ExecutionFailureReason`` values (climate_ref/models/execution.py)."""

    DIAGNOSTIC_ERROR = "diagnostic_error"
    SYSTEM_ERROR = "system_error"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class ShimUsage:
    """What the operator's shim measured of the attempt that ended the execution: Climate-REF's resource usage
    of a failure without a result (the Pod never got to write Climate-REF's own measurement)."""

    wall_seconds: float
    cpu_seconds: float | None
    peak_memory_bytes: int | None
    memory_source: Literal["cgroup", "rusage", "unavailable"]  # values of Climate-REF's MemorySource
    memory_limit_bytes: int | None


@dataclass(frozen=True)
class Outcome:
    action: Action
    reason: FailureReason | None = None
    #: The group's dirty flag after recording: True = run again at the next solve; None = leave it as it is.
    dirty: bool | None = None
    detail: str = ""
    usage: ShimUsage | None = None


#: Failure class (without a result) → (reason, dirty). Everything outside the diagnostic's own logic is a
#: system error, which Climate-REF retries at the next solve, as its own executors do for a killed worker, an
#: OOM or a timeout. A cancellation is Climate-REF's "marked failed by hand" and leaves the flag alone.
#: ``handle_execution_result`` records a system error as ``not_started`` when the output folder does not
#: exist (the entry point never reached ``execute_locally``: an image that did not pull, a Pod never run).
NO_RESULT: dict[FailureClass, tuple[FailureReason, bool | None]] = {
    FailureClass.OUT_OF_MEMORY: (FailureReason.SYSTEM_ERROR, True),
    FailureClass.TIMED_OUT: (FailureReason.SYSTEM_ERROR, True),
    FailureClass.INFRASTRUCTURE: (FailureReason.SYSTEM_ERROR, True),
    FailureClass.CONFIGURATION: (FailureReason.SYSTEM_ERROR, True),
    # A non-zero exit without a result: the entry point did not get to write one (killed, or it crashed
    # before running the diagnostic), so nothing says the diagnostic itself failed.
    FailureClass.DIAGNOSTIC_ERROR: (FailureReason.SYSTEM_ERROR, True),
    FailureClass.CANCELLED: (FailureReason.CANCELLED, None),
    # Success without a result file: the result was lost between the Pod and here.
    FailureClass.SUCCESS: (FailureReason.SYSTEM_ERROR, True),
}


def decide(dx: dict[str, Any] | None, has_result: bool) -> Outcome:
    """The outcome of a DiagnosticExecution object (``None``: it was deleted) with or without a result."""
    if dx is None:
        if has_result:
            return Outcome(Action.INGEST)
        return Outcome(Action.FAIL, FailureReason.CANCELLED, None,
                       "the DiagnosticExecution was deleted before it finished")
    status = dx.get("status") or {}
    phase = status.get("phase")
    if phase not in {p.value for p in Phase if p.terminal}:
        return Outcome(Action.WAIT)
    if has_result and phase != Phase.CANCELLED:
        return Outcome(Action.INGEST)
    klass = status.get("failureClass")
    if phase == Phase.CANCELLED:
        klass = FailureClass.CANCELLED
    try:
        failure = FailureClass(klass) if klass else FailureClass.INFRASTRUCTURE
    except ValueError:
        failure = FailureClass.INFRASTRUCTURE
    reason, dirty = NO_RESULT[failure]
    name = (dx.get("metadata") or {}).get("name", "?")
    detail = (f"DiagnosticExecution {name} ended {phase}, class {failure.value}, reason "
              f"{status.get('reason') or '-'}: {status.get('message') or 'no message'}; "
              f"attempts {status.get('attempt', 0)}; log: {log_location(status) or 'none'}")
    usage = shim_usage(status) if failure is not FailureClass.CANCELLED else None
    return Outcome(Action.FAIL, reason, dirty, detail, usage)


def shim_usage(status: dict[str, Any]) -> ShimUsage | None:
    """The last attempt's telemetry as Climate-REF's resource usage; None without a wall time (Climate-REF
    requires one) or with values that are not numbers."""
    attempts = status.get("attempts") or []
    telemetry = (attempts[-1].get("telemetry") or {}) if attempts else {}
    wall, cpu = telemetry.get("durationSeconds"), telemetry.get("cpuSeconds")
    peak, limit = telemetry.get("peakMemoryBytes"), telemetry.get("memoryLimitBytes")
    source = str(telemetry.get("peakMemorySource") or "")
    if not _number(wall) or not all(v is None or _number(v) for v in (cpu, peak, limit)):
        return None
    kind: Literal["cgroup", "rusage", "unavailable"]
    if peak is None:
        kind = "unavailable"
    elif source.startswith("cgroup"):
        kind = "cgroup"
    elif source.startswith("rusage"):
        kind = "rusage"
    else:
        kind, peak = "unavailable", None  # a source Climate-REF cannot compare with its own
    return ShimUsage(float(wall), None if cpu is None else float(cpu), None if peak is None else int(peak), kind,
                     None if limit is None else int(limit))


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def log_location(status: dict[str, Any]) -> str | None:
    """The last attempt's log in the operator's store, when it has one."""
    for attempt in reversed(status.get("attempts") or []):
        location = attempt.get("logLocation")
        if location:
            return str(location)
    return None


def queue_seconds(dx: dict[str, Any] | None) -> float | None:
    """Creation to the first attempt's start, as the operator measured it (Climate-REF records it as the
    execution's queue latency); None when unknown."""
    attempts = ((dx or {}).get("status") or {}).get("attempts") or []
    value = ((attempts[0].get("telemetry") or {}).get("queueSeconds")) if attempts else None
    return float(value) if isinstance(value, int | float) else None


def phase_counts(objects: list[dict[str, Any] | None]) -> dict[str, int]:
    """How many DiagnosticExecutions are in each phase (``Deleted`` for the vanished), for progress."""
    counts: dict[str, int] = {}
    for dx in objects:
        phase = "Deleted" if dx is None else str((dx.get("status") or {}).get("phase") or Phase.PENDING.value)
        counts[phase] = counts.get(phase, 0) + 1
    return dict(sorted(counts.items()))
