"""kstatus-compatible conditions for a phase: what Flux, Argo CD and `kstatus` read without plugins.

kstatus rules: ``Reconciling=True`` → InProgress; ``Stalled=True`` → Failed; otherwise Current (with
``observedGeneration`` equal to ``metadata.generation``). ``Ready`` is the summary most UIs show;
``Succeeded``/``Failed`` say how a finished execution ended.
"""

from __future__ import annotations

from diagnostic_operator.spec import Condition, Phase

CONDITION_TYPES = ("Ready", "Reconciling", "Stalled", "Succeeded", "Failed")


def conditions_for(phase: Phase, reason: str, message: str, generation: int | None, now: str,
                   previous: list[Condition] | None = None) -> list[Condition]:
    """The full set of conditions for ``phase``; ``lastTransitionTime`` is kept when a status is unchanged."""
    running = phase in (Phase.PENDING, Phase.RUNNING, Phase.RETRYING)
    wanted: dict[str, tuple[str, str, str]] = {
        "Ready": ("True", "Succeeded", message) if phase is Phase.SUCCEEDED else ("False", reason, message),
        "Reconciling": ("True", reason, message) if running else ("False", str(phase), ""),
        "Stalled": ("True", reason, message) if phase in (Phase.FAILED, Phase.CANCELLED) else ("False", "", ""),
        "Succeeded": ("True", reason, message) if phase is Phase.SUCCEEDED else ("False", "", ""),
        "Failed": ("True", reason, message) if phase is Phase.FAILED else ("False", "", ""),
    }
    before = {c.type: c for c in previous or []}
    result = []
    for kind in CONDITION_TYPES:
        status, why, text = wanted[kind]
        old = before.get(kind)
        since = old.last_transition_time if old is not None and old.status == status else now
        result.append(Condition(type=kind, status=status,
                                reason=why or ("Running" if running else str(phase)), message=text,
                                lastTransitionTime=since, observedGeneration=generation))
    return result


def kstatus(phase_conditions: list[Condition], generation: int | None, observed_generation: int | None) -> str:
    """What the kstatus library computes for these conditions: InProgress, Failed or Current."""
    if generation is not None and observed_generation != generation:
        return "InProgress"
    by_type = {c.type: c.status for c in phase_conditions}
    if by_type.get("Reconciling") == "True":
        return "InProgress"
    if by_type.get("Stalled") == "True":
        return "Failed"
    return "Current"
