"""A spec the API server accepted and the operator's models refuse (a CRD older or newer than the operator, a
hand edit of the status, a rule the CRD's schema cannot express). The execution ends once: Failed, class
Configuration, reason InvalidSpec, each refused field named; it is recorded in the database like any failed
execution. Nothing runs, and nothing is said again for the same generation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from diagnostic_operator.lifecycle.conditions import conditions_for
from diagnostic_operator.lifecycle.plan import Emit, SetStatus, iso
from diagnostic_operator.spec import DiagnosticExecutionStatus, FailureClass, Phase

INVALID_SPEC = "InvalidSpec"
MESSAGE_LIMIT = 1000  # an Event's message is cut there; the status says the same


@dataclass(frozen=True, slots=True)
class RecordRefusal:
    """Write the execution's rows, ended (Failed, Configuration, InvalidSpec), from the raw spec."""

    message: str


def message_for(problems: Sequence[str]) -> str:
    text = ("The operator refuses the spec that the API server accepted: " + "; ".join(problems)
            + ". Nothing was run; create the execution again with a corrected spec.")
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT - 1] + "…"


def plan_refusal(status: Mapping[str, Any] | None, generation: int | None, problems: Sequence[str],
                 now: datetime) -> list[RecordRefusal | SetStatus | Emit]:
    """What to do about an execution whose spec (or status) the models refuse: record it, end it and say why,
    or nothing when this generation was refused already."""
    current = status or {}
    if (current.get("phase") == Phase.FAILED.value and current.get("reason") == INVALID_SPEC
            and current.get("observedGeneration") == generation):
        return []
    message = message_for(problems)
    at = iso(now)
    ended = DiagnosticExecutionStatus(
        phase=Phase.FAILED, observedGeneration=generation, failureClass=FailureClass.CONFIGURATION,
        reason=INVALID_SPEC, message=message, startTime=at, completionTime=at, duration="0s",
        conditions=conditions_for(Phase.FAILED, INVALID_SPEC, message, generation, at))
    return [RecordRefusal(message), SetStatus(ended), Emit("Warning", INVALID_SPEC, message)]
