"""Failure class + history → decision, the next attempt's resources, and the backoff; the dirty rule.

Budgets (lifecycle.md): ``retry.maxAttempts`` counts the attempts that used the user's budget
(every class except Infrastructure); Infrastructure failures draw on ``retry.infrastructureRetries``
instead, so a flaky node never uses up the user's retries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from diagnostic_operator.quantities import format_duration, format_memory, memory_bytes, parse_duration
from diagnostic_operator.spec import Decision, DiagnosticExecutionSpec, FailureClass, Phase, ResourceHint


@dataclass(frozen=True, slots=True)
class Outcome:
    """The decision for one classified attempt."""

    decision: Decision
    phase: Phase                 # the execution's phase after this decision
    next_resources: ResourceHint | None = None  # for RETRY
    backoff_seconds: float = 0.0
    reason: str = ""             # why: shown when the decision is GIVE_UP or a changed RETRY


def attempts_used(classes: Sequence[FailureClass]) -> tuple[int, int]:
    """(attempts charged to the user's budget, infrastructure retries used) for past attempts."""
    infra = sum(1 for c in classes if c is FailureClass.INFRASTRUCTURE)
    return len(classes) - infra, infra


def backoff_seconds(spec: DiagnosticExecutionSpec, retries_so_far: int) -> float:
    """Exponential backoff before retry number ``retries_so_far`` (1-based), capped."""
    initial = parse_duration(spec.retry.backoff.initial)
    cap = parse_duration(spec.retry.backoff.max)
    exponent = max(retries_so_far - 1, 0)
    if exponent > 64:
        return cap
    return float(min(initial * spec.retry.backoff.factor ** exponent, cap))


def _grow_memory(spec: DiagnosticExecutionSpec, current: ResourceHint) -> ResourceHint | None:
    cap = memory_bytes(spec.retry.max_memory)
    now = current.memory_bytes
    if now >= cap:
        return None
    grown = min(math.ceil(now * spec.retry.memory_growth / 2**20) * 2**20, cap)
    if grown <= now:
        grown = min(now + 2**20, cap)
    return current.model_copy(update={"memory": format_memory(grown)})


def _grow_wall_clock(spec: DiagnosticExecutionSpec, current: ResourceHint) -> ResourceHint | None:
    growth = spec.retry.wall_clock_growth
    if growth <= 1.0:
        return None
    now = current.wall_clock_seconds
    cap = parse_duration(spec.retry.max_wall_clock) if spec.retry.max_wall_clock else math.inf
    if now >= cap:
        return None
    grown = min(math.ceil(now * growth), cap)
    return current.model_copy(update={"wall_clock": format_duration(grown)})


def decide(
    failure_class: FailureClass,
    spec: DiagnosticExecutionSpec,
    current: ResourceHint,
    history: Sequence[FailureClass],
    exit_code: int | None = None,
) -> Outcome:
    """Decide after an attempt. ``history`` holds the classes of all attempts so far, this one included."""
    user_used, infra_used = attempts_used(history)
    retries_so_far = len(history)
    user_left = spec.retry.max_attempts - user_used
    wait = backoff_seconds(spec, retries_so_far)

    def retry(resources: ResourceHint, reason: str) -> Outcome:
        return Outcome(Decision.RETRY, Phase.RETRYING, resources, wait, reason)

    def give_up(reason: str) -> Outcome:
        return Outcome(Decision.GIVE_UP, Phase.FAILED, None, 0.0, reason)

    match failure_class:
        case FailureClass.SUCCESS:
            return Outcome(Decision.SUCCESS, Phase.SUCCEEDED)
        case FailureClass.CANCELLED:
            return Outcome(Decision.CANCEL, Phase.CANCELLED, reason="cancelled")
        case FailureClass.OUT_OF_MEMORY:
            if user_left <= 0:
                return give_up(f"out of memory and no attempts left ({spec.retry.max_attempts} used)")
            grown = _grow_memory(spec, current)
            if grown is None:
                return give_up(f"out of memory at the cap retry.maxMemory={spec.retry.max_memory}")
            return retry(grown, f"out of memory: retrying with {grown.memory} (was {current.memory})")
        case FailureClass.TIMED_OUT:
            if user_left <= 0:
                return give_up(f"timed out and no attempts left ({spec.retry.max_attempts} used)")
            grown = _grow_wall_clock(spec, current)
            if grown is None:
                why = ("retry.wallClockGrowth is 1.0" if spec.retry.wall_clock_growth <= 1.0
                       else f"the cap retry.maxWallClock={spec.retry.max_wall_clock} is reached")
                return give_up(f"timed out after {current.wall_clock}; not retried because {why}")
            return retry(grown, f"timed out: retrying with wallClock {grown.wall_clock} (was {current.wall_clock})")
        case FailureClass.INFRASTRUCTURE:
            if infra_used > spec.retry.infrastructure_retries:
                return give_up(
                    "infrastructure failures exhausted "
                    f"retry.infrastructureRetries={spec.retry.infrastructure_retries}")
            return retry(current, "infrastructure failure: retrying (does not use the retry budget)")
        case FailureClass.CONFIGURATION:
            return give_up("configuration error: fix the image or the Pod configuration")
        case FailureClass.DIAGNOSTIC_ERROR:
            if exit_code is not None and exit_code in spec.retry.retryable_exit_codes:
                if user_left <= 0:
                    return give_up(f"exit code {exit_code} is retryable but no attempts are left")
                return retry(current, f"exit code {exit_code} is listed in retry.retryableExitCodes")
            return give_up("diagnostic error")
    raise AssertionError(f"unhandled failure class {failure_class}")  # pragma: no cover


def dirty_after(decision: Decision, dirty: bool) -> bool:
    """The dirty rule, in one place: SUCCESS and GIVE_UP clear it; RETRY keeps it set; CANCEL leaves it."""
    match decision:
        case Decision.SUCCESS | Decision.GIVE_UP:
            return False
        case Decision.RETRY:
            return True
        case Decision.CANCEL:
            return dirty
    raise AssertionError(f"unhandled decision {decision}")  # pragma: no cover
