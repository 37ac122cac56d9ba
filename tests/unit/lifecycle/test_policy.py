"""Decisions, budgets, resource growth and the dirty rule."""

import pytest

from diagnostic_operator.lifecycle.policy import attempts_used, backoff_seconds, decide, dirty_after
from diagnostic_operator.spec import Decision as D
from diagnostic_operator.spec import DiagnosticExecutionSpec, Phase
from diagnostic_operator.spec import FailureClass as FC


def make_spec(**retry: object) -> DiagnosticExecutionSpec:
    return DiagnosticExecutionSpec.model_validate({
        "diagnostic": {"provider": "example", "slug": "bias"}, "groupKey": "g", "image": "img:1",
        "command": ["true"], "resources": {"memory": "1Gi", "wallClock": "1h"},
        "retry": {"maxMemory": "4Gi", **retry},
    })


SPEC = make_spec()
R = SPEC.resources


@pytest.mark.parametrize(("history", "expected", "phase"), [
    ([FC.SUCCESS], D.SUCCESS, Phase.SUCCEEDED),
    ([FC.CANCELLED], D.CANCEL, Phase.CANCELLED),
    ([FC.OUT_OF_MEMORY], D.RETRY, Phase.RETRYING),
    ([FC.OUT_OF_MEMORY] * 3, D.GIVE_UP, Phase.FAILED),          # maxAttempts 3 used
    ([FC.TIMED_OUT], D.GIVE_UP, Phase.FAILED),                   # wallClockGrowth 1.0: not retried
    ([FC.INFRASTRUCTURE], D.RETRY, Phase.RETRYING),
    ([FC.INFRASTRUCTURE] * 5, D.RETRY, Phase.RETRYING),           # 5 infrastructure retries allowed
    ([FC.INFRASTRUCTURE] * 6, D.GIVE_UP, Phase.FAILED),
    ([FC.OUT_OF_MEMORY, FC.OUT_OF_MEMORY] + [FC.INFRASTRUCTURE] * 4, D.RETRY, Phase.RETRYING),
    ([FC.CONFIGURATION], D.GIVE_UP, Phase.FAILED),
    ([FC.DIAGNOSTIC_ERROR], D.GIVE_UP, Phase.FAILED),
])
def test_decision_table(history: list[FC], expected: D, phase: Phase) -> None:
    out = decide(history[-1], SPEC, R, history, exit_code=1)
    assert (out.decision, out.phase) == (expected, phase)


def test_infrastructure_does_not_use_the_user_budget() -> None:
    history = [FC.INFRASTRUCTURE, FC.INFRASTRUCTURE, FC.OUT_OF_MEMORY, FC.OUT_OF_MEMORY]
    assert attempts_used(history) == (2, 2)
    assert decide(FC.OUT_OF_MEMORY, SPEC, R, history).decision is D.RETRY


def test_oom_grows_memory_up_to_the_cap() -> None:
    out = decide(FC.OUT_OF_MEMORY, SPEC, R, [FC.OUT_OF_MEMORY])
    assert out.next_resources is not None and out.next_resources.memory == "1536Mi"
    big = R.model_copy(update={"memory": "3Gi"})
    out = decide(FC.OUT_OF_MEMORY, SPEC, big, [FC.OUT_OF_MEMORY])
    assert out.next_resources is not None and out.next_resources.memory == "4Gi"  # capped
    at_cap = R.model_copy(update={"memory": "4Gi"})
    out = decide(FC.OUT_OF_MEMORY, SPEC, at_cap, [FC.OUT_OF_MEMORY])
    assert out.decision is D.GIVE_UP and "maxMemory" in out.reason


def test_timeout_grows_wall_clock_when_allowed() -> None:
    spec = make_spec(wallClockGrowth=2.0, maxWallClock="3h")
    out = decide(FC.TIMED_OUT, spec, spec.resources, [FC.TIMED_OUT])
    assert out.decision is D.RETRY and out.next_resources is not None
    assert out.next_resources.wall_clock == "2h"
    capped = spec.resources.model_copy(update={"wall_clock": "3h"})
    assert decide(FC.TIMED_OUT, spec, capped, [FC.TIMED_OUT]).decision is D.GIVE_UP


@pytest.mark.parametrize(("code", "expected"), [(3, D.RETRY), (4, D.GIVE_UP)])
def test_retryable_exit_codes(code: int, expected: D) -> None:
    spec = make_spec(retryableExitCodes=[3])
    assert decide(FC.DIAGNOSTIC_ERROR, spec, spec.resources, [FC.DIAGNOSTIC_ERROR], exit_code=code).decision is expected
    exhausted = [FC.DIAGNOSTIC_ERROR] * 3
    assert decide(FC.DIAGNOSTIC_ERROR, spec, spec.resources, exhausted, exit_code=3).decision is D.GIVE_UP


def test_backoff_is_exponential_and_capped() -> None:
    spec = make_spec(backoff={"initial": "10s", "max": "1m", "factor": 2})
    assert [backoff_seconds(spec, n) for n in (1, 2, 3, 4, 5, 100)] == [10, 20, 40, 60, 60, 60]


@pytest.mark.parametrize(("decision", "before", "after"), [
    (D.SUCCESS, True, False), (D.GIVE_UP, True, False), (D.RETRY, True, True), (D.RETRY, False, True),
    (D.CANCEL, True, True), (D.CANCEL, False, False),
])
def test_dirty_rule(decision: D, before: bool, after: bool) -> None:
    assert dirty_after(decision, before) is after
