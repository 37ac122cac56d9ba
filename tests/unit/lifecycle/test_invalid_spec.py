"""A spec the API server accepted and the models refuse ends once: Failed, Configuration, InvalidSpec, every
refused field named; the same generation is never refused twice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from diagnostic_operator.lifecycle.conditions import kstatus
from diagnostic_operator.lifecycle.invalid_spec import MESSAGE_LIMIT, RecordRefusal, plan_refusal
from diagnostic_operator.lifecycle.plan import Emit, SetStatus
from diagnostic_operator.manifest import validation_problems
from diagnostic_operator.spec import DiagnosticExecutionSpec, FailureClass, Phase

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
SPEC = {"diagnostic": {"provider": "p", "slug": "s"}, "groupKey": "g", "image": "i:1", "command": ["run"]}


def problems_of(spec: dict[str, object]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        DiagnosticExecutionSpec.model_validate(spec)
    return validation_problems(caught.value, "spec")


def test_the_backoff_the_crd_lets_through_is_refused_naming_the_field() -> None:
    problems = problems_of({**SPEC, "retry": {"backoff": {"initial": "1d", "max": "1h"}}})
    assert problems == ["spec: retry.backoff.initial (1d) is longer than retry.backoff.max (1h)"]
    actions = plan_refusal({}, 1, problems, NOW)
    assert [type(a) for a in actions] == [RecordRefusal, SetStatus, Emit]
    record, status, event = actions
    assert isinstance(record, RecordRefusal) and isinstance(status, SetStatus) and isinstance(event, Emit)
    ended = status.status
    assert (ended.phase, ended.failure_class, ended.reason, ended.observed_generation) == (
        Phase.FAILED, FailureClass.CONFIGURATION, "InvalidSpec", 1)
    assert "retry.backoff.initial (1d)" in ended.message and ended.message == record.message == event.message
    assert (event.type, event.reason) == ("Warning", "InvalidSpec")
    assert ended.start_time == ended.completion_time == "2026-12-08T12:00:00Z"
    assert kstatus(ended.conditions, 1, ended.observed_generation) == "Failed"  # GitOps tools see it failed


@pytest.mark.parametrize(("status", "generation", "again"), [
    ({"phase": "Failed", "reason": "InvalidSpec", "observedGeneration": 1}, 1, False),  # said once
    ({"phase": "Failed", "reason": "InvalidSpec", "observedGeneration": 1}, 2, True),   # a new generation
    ({"phase": "Running", "reason": "Running", "observedGeneration": 1}, 1, True),     # it was running
    (None, 1, True),
])
def test_refused_once_per_generation(status: dict[str, object] | None, generation: int, again: bool) -> None:
    assert bool(plan_refusal(status, generation, ["spec.x: bad"], NOW)) is again


def test_every_field_is_named_and_the_message_fits_an_event() -> None:
    problems = problems_of({**SPEC, "image": "", "resources": {"memory": "4GB"}, "nonsense": 1})
    message = plan_refusal(None, 1, problems, NOW)[0]
    assert isinstance(message, RecordRefusal)
    for field in ("spec.image", "spec.resources.memory", "spec.nonsense"):
        assert field in message.message, message.message
    long = plan_refusal(None, 1, [f"spec.f{i}: {'x' * 100}" for i in range(30)], NOW)[0]
    assert isinstance(long, RecordRefusal) and len(long.message) == MESSAGE_LIMIT and long.message.endswith("…")
