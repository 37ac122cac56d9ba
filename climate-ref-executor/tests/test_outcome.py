"""The operator's outcomes → Climate-REF's failure_reason and dirty flag (the table of docs/climate-ref.md)."""

from __future__ import annotations

from typing import Any

import pytest

from diagnostic_operator_climate_ref import exit_codes
from diagnostic_operator_climate_ref.outcome import (
    Action,
    FailureReason,
    ShimUsage,
    decide,
    log_location,
    phase_counts,
    queue_seconds,
    shim_usage,
)
from diagnostic_operator_climate_ref.run import exit_code_for


def dx(phase: str | None, failure_class: str | None = None, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "ref-1-x"},
            "status": {"phase": phase, "failureClass": failure_class, **status} if phase else {}}


@pytest.mark.parametrize(("obj", "has_result", "action", "reason", "dirty"), [
    # not finished
    (dx(None), False, Action.WAIT, None, None),
    (dx("Pending"), False, Action.WAIT, None, None),
    (dx("Running"), True, Action.WAIT, None, None),
    (dx("Retrying", "OutOfMemory"), False, Action.WAIT, None, None),
    # the entry point's result is Climate-REF's own: ingested as it is (success, diagnostic error, system error)
    (dx("Succeeded", "Success"), True, Action.INGEST, None, None),
    (dx("Failed", "DiagnosticError"), True, Action.INGEST, None, None),
    # no result: from the failure class
    (dx("Failed", "OutOfMemory"), False, Action.FAIL, FailureReason.SYSTEM_ERROR, True),
    (dx("Failed", "TimedOut"), False, Action.FAIL, FailureReason.SYSTEM_ERROR, True),
    (dx("Failed", "Infrastructure"), False, Action.FAIL, FailureReason.SYSTEM_ERROR, True),
    (dx("Failed", "Configuration"), False, Action.FAIL, FailureReason.SYSTEM_ERROR, True),
    (dx("Failed", "DiagnosticError"), False, Action.FAIL, FailureReason.SYSTEM_ERROR, True),
    (dx("Succeeded", "Success"), False, Action.FAIL, FailureReason.SYSTEM_ERROR, True),
    (dx("Failed", None), False, Action.FAIL, FailureReason.SYSTEM_ERROR, True),
    # cancelled or deleted by hand: Climate-REF's "cancelled", dirty left as it was
    (dx("Cancelled", "Cancelled"), False, Action.FAIL, FailureReason.CANCELLED, None),
    (dx("Cancelled", "Cancelled"), True, Action.FAIL, FailureReason.CANCELLED, None),
    (None, False, Action.FAIL, FailureReason.CANCELLED, None),
    # deleted after the entry point wrote its result: the result stands
    (None, True, Action.INGEST, None, None),
])
def test_decide(obj: dict[str, Any] | None, has_result: bool, action: Action, reason: FailureReason | None,
                dirty: bool | None) -> None:
    outcome = decide(obj, has_result)
    assert (outcome.action, outcome.reason, outcome.dirty) == (action, reason, dirty)


def test_failure_detail_names_class_reason_and_log() -> None:
    status = {"reason": "OOMKilled", "message": "killed at 64Gi", "attempt": 3,
              "attempts": [{"logLocation": "s3://b/1/log"}, {"logLocation": "s3://b/3/out.log"}, {}]}
    detail = decide(dx("Failed", "OutOfMemory", **status), False).detail
    assert "OutOfMemory" in detail and "OOMKilled" in detail and "killed at 64Gi" in detail
    assert "s3://b/3/out.log" in detail
    assert log_location({}) is None


@pytest.mark.parametrize(("successful", "retryable", "code"), [
    (True, False, exit_codes.SUCCESS),
    (True, True, exit_codes.SUCCESS),
    (False, False, exit_codes.DIAGNOSTIC_ERROR),
    (False, True, exit_codes.SYSTEM_ERROR),
])
def test_exit_codes(successful: bool, retryable: bool, code: int) -> None:
    assert exit_code_for(successful, retryable) == code
    assert (code in exit_codes.RETRYABLE) == (not successful and retryable)


def test_phase_counts() -> None:
    assert phase_counts([dx("Running"), dx("Running"), dx(None), None]) == {"Deleted": 1, "Pending": 1, "Running": 2}


@pytest.mark.parametrize(("obj", "expected"), [
    (None, None),
    (dx("Succeeded"), None),
    (dx("Succeeded", attempts=[{"telemetry": {"queueSeconds": 12.5}}, {"telemetry": {"queueSeconds": 3}}]), 12.5),
    (dx("Succeeded", attempts=[{"telemetry": {}}]), None),
])
def test_queue_seconds_of_the_first_attempt(obj: dict[str, Any] | None, expected: float | None) -> None:
    assert queue_seconds(obj) == expected


GIB = 1024**3


@pytest.mark.parametrize(("telemetry", "expected"), [
    ({"durationSeconds": 61.5, "cpuSeconds": 58.0, "peakMemoryBytes": 4 * GIB, "peakMemorySource": "cgroup-v2",
      "memoryLimitBytes": 4 * GIB}, ShimUsage(61.5, 58.0, 4 * GIB, "cgroup", 4 * GIB)),
    ({"durationSeconds": 10, "peakMemoryBytes": 300, "peakMemorySource": "rusage"},
     ShimUsage(10.0, None, 300, "rusage", None)),
    # a source Climate-REF cannot compare with its own: the peak is left out, the times kept
    ({"durationSeconds": 10, "peakMemoryBytes": 300, "peakMemorySource": "kubelet"},
     ShimUsage(10.0, None, None, "unavailable", None)),
    ({"durationSeconds": 10}, ShimUsage(10.0, None, None, "unavailable", None)),
    # Climate-REF needs a wall time; values that are not numbers are not guessed at
    ({"cpuSeconds": 3.0}, None),
    ({"durationSeconds": "10"}, None),
    ({"durationSeconds": 10, "peakMemoryBytes": True}, None),
    ({"durationSeconds": -1}, None),
    ({}, None),
])
def test_shim_usage_of_the_last_attempt(telemetry: dict[str, Any], expected: ShimUsage | None) -> None:
    status = {"attempts": [{"telemetry": {"durationSeconds": 999, "peakMemoryBytes": 1}}, {"telemetry": telemetry}]}
    assert shim_usage(status) == expected


def test_a_failure_without_result_carries_the_usage_and_a_cancellation_does_not() -> None:
    attempt = {"telemetry": {"durationSeconds": 5, "peakMemoryBytes": GIB, "peakMemorySource": "cgroup-v2"}}
    oom = decide({"metadata": {"name": "x"}, "status": {"phase": "Failed", "failureClass": "OutOfMemory",
                                                         "attempts": [attempt]}}, False)
    assert oom.usage == ShimUsage(5.0, None, GIB, "cgroup", None)
    cancelled = decide({"metadata": {"name": "x"}, "status": {"phase": "Cancelled", "attempts": [attempt]}}, False)
    assert cancelled.usage is None
