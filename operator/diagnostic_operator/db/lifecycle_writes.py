"""The lifecycle's writes: an execution allocated, its attempts started and ended, its phase and its end.

Every write is idempotent: calling it again after a crash or a replay changes nothing (get-or-create on
natural keys, ``INSERT … ON CONFLICT DO NOTHING``, values that fill in only what is still empty). Writes on
SQLite run in ``BEGIN IMMEDIATE`` transactions (see ``engine.py``). The writes that take an engine or a
Connection join the caller's transaction on a Connection, so ``end_attempt`` records an attempt's end and
the execution's in one commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from diagnostic_operator.db.errors import DatabaseError
from diagnostic_operator.db.models import Attempt, Execution, ExecutionGroup
from diagnostic_operator.db.transactions import (
    begin,
    dialect_insert,
    masked_url_of,
    parse_time,
    translate_errors,
    utc_now,
)
from diagnostic_operator.spec import AttemptResources, AttemptStatus, DiagnosticExecutionSpec, FailureClass, Phase

__all__ = [
    "Allocation",
    "AttemptStart",
    "ExecutionEnd",
    "allocate_execution",
    "end_attempt",
    "finish_execution",
    "record_attempt_end",
    "record_attempt_start",
    "record_refused",
    "resolve_attempt",
    "set_execution_phase",
]


@dataclass(frozen=True, slots=True)
class Allocation:
    group_id: int
    execution_id: int
    created: bool = False  # a new execution row was made by this call
    first_attempt_id: int | None = None  # attempt 1's row, when asked for and made by this call


@dataclass(frozen=True, slots=True)
class AttemptStart:
    """Attempt 1 of a new execution, recorded in the execution's own transaction (``allocate_execution``)."""

    resources: AttemptResources
    job: str | None = None


def allocate_execution(
    engine: Engine,
    *,
    namespace: str,
    name: str,
    uid: str,
    spec: DiagnosticExecutionSpec,
    output_location: str,
    first_attempt: AttemptStart | None = None,
) -> Allocation:
    """Get or create the group (provider, slug, group key) and the execution (by ``uid``).

    A newly allocated execution marks its group dirty. Calling it again returns the same ids. With
    ``first_attempt``, a new execution gets attempt 1's row in the same transaction (the operator's first
    Job then needs no second round trip); an execution that exists already is returned as it is.
    Four statements for a new execution (the operator makes one per execution arriving: it is on the
    creation-to-Job path).
    """
    d = spec.diagnostic
    with translate_errors(engine, f"allocating execution {namespace}/{name}"), engine.begin() as conn:
        existing = conn.execute(select(Execution.id, Execution.group_id).where(Execution.uid == uid)).first()
        if existing is not None:
            return Allocation(group_id=existing.group_id, execution_id=existing.id)
        upsert = dialect_insert(conn, ExecutionGroup).values(
            provider=d.provider, slug=d.slug, diagnostic_version=d.version, group_key=spec.group_key, dirty=True)
        group_id = conn.execute(
            upsert.on_conflict_do_update(
                index_elements=["provider", "slug", "group_key"],
                set_={"dirty": True, "diagnostic_version": d.version, "updated_at": utc_now()},
            ).returning(ExecutionGroup.id)
        ).scalar_one()
        now = utc_now()
        created = conn.execute(
            dialect_insert(conn, Execution)
            .values(
                group_id=group_id,
                namespace=namespace,
                name=name,
                uid=uid,
                dataset_hash=spec.dataset_hash,
                phase=Phase.PENDING.value,
                output_location=output_location,
                spec=spec.model_dump(mode="json", by_alias=True, exclude_defaults=False),
                attempt_count=0 if first_attempt is None else 1,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["uid"])
            .returning(Execution.id)
        ).scalar_one_or_none()
        if created is None:  # a concurrent caller made it first
            row = conn.execute(select(Execution.id, Execution.group_id).where(Execution.uid == uid)).one()
            return Allocation(group_id=row.group_id, execution_id=row.id)
        attempt_id = None
        if first_attempt is not None:
            r = first_attempt.resources
            attempt_id = conn.execute(
                dialect_insert(conn, Attempt)
                .values(execution_id=created, number=1, job=first_attempt.job, requested_memory=r.memory,
                        requested_cpu=r.cpu, requested_wall_clock=r.wall_clock, created_at=now)
                .returning(Attempt.id)
            ).scalar_one()
        return Allocation(group_id=group_id, execution_id=created, created=True, first_attempt_id=attempt_id)


def record_refused(engine: Engine, *, namespace: str, name: str, uid: str, spec: Mapping[str, Any],
                   reason: str, message: str) -> int:
    """The rows of an execution whose spec the models refuse, ended at once (Failed, Configuration, ``reason``).
    Its group comes from the spec's diagnostic and group key as far as they are text (else empty); a group
    made here is clean (nothing of it can run) and an existing group's dirty flag is left as it is. The raw
    spec is kept. Calling it again changes nothing."""
    diagnostic = spec.get("diagnostic")
    diagnostic = diagnostic if isinstance(diagnostic, Mapping) else {}

    def text(value: object, limit: int) -> str:
        return value[:limit] if isinstance(value, str) else ""

    key = {"provider": text(diagnostic.get("provider"), 63), "slug": text(diagnostic.get("slug"), 63),
           "group_key": text(spec.get("groupKey"), 253)}
    with translate_errors(engine, f"recording the refused execution {namespace}/{name}"), engine.begin() as conn:
        found = conn.execute(select(Execution.id, Execution.phase).where(Execution.uid == uid)).first()
        if found is not None and Phase(found.phase).terminal:
            return int(found.id)  # recorded (and ended) already
        execution_id = found.id if found is not None else None
        if execution_id is None:
            conn.execute(dialect_insert(conn, ExecutionGroup)
                         .values(**key, diagnostic_version=text(diagnostic.get("version"), 63), dirty=False)
                         .on_conflict_do_nothing(index_elements=["provider", "slug", "group_key"]))
            group_id = conn.execute(select(ExecutionGroup.id).filter_by(**key)).scalar_one()
            conn.execute(dialect_insert(conn, Execution)
                         .values(group_id=group_id, namespace=namespace, name=name, uid=uid,
                                 dataset_hash=text(spec.get("datasetHash"), 256) or None, phase=Phase.PENDING.value,
                                 spec=dict(spec), attempt_count=0, created_at=utc_now())
                         .on_conflict_do_nothing(index_elements=["uid"]))
            execution_id = conn.execute(select(Execution.id).where(Execution.uid == uid)).scalar_one()
    finish_execution(engine, execution_id, phase=Phase.FAILED, failure_class=FailureClass.CONFIGURATION,
                     reason=reason, message=message, dirty=None)
    return execution_id


def resolve_attempt(engine: Engine, uid: str, number: int) -> tuple[int, int]:
    """(execution id, attempt id) of attempt ``number`` of the execution with Kubernetes ``uid``.

    The ingest sidecar calls it: the operator creates an attempt's Job first and its rows a moment later
    (the Job does not wait for the database), so the Pod knows its execution by uid and attempt number only.
    Raises DatabaseError while the rows are not there yet (the caller retries within its budget)."""
    with translate_errors(engine, f"looking up attempt {number} of execution {uid}"), engine.connect() as conn:
        row = conn.execute(
            select(Execution.id, Attempt.id.label("attempt_id"))
            .join(Attempt, Attempt.execution_id == Execution.id)
            .where(Execution.uid == uid, Attempt.number == number)
        ).first()
    if row is None:
        raise DatabaseError(f"attempt {number} of execution {uid} is not in the database (yet)")
    return int(row.id), int(row.attempt_id)


def record_attempt_start(
    engine: Engine | Connection,
    execution_id: int,
    number: int,
    *,
    resources: AttemptResources,
    job: str | None = None,
    pod: str | None = None,
    node: str | None = None,
    started_at: datetime | str | None = None,
) -> int:
    """Get or create attempt ``number`` of the execution; returns its id. Fields given later (the pod once
    it exists, the node once scheduled) fill in what is still empty; nothing known is overwritten."""
    if number < 1:
        raise ValueError(f"attempt numbers start at 1, got {number}")
    started = parse_time(started_at)
    with (
        translate_errors(engine, f"recording attempt {number} of execution {execution_id}"),
        begin(engine) as conn,
    ):
        attempt_id = conn.execute(
            dialect_insert(conn, Attempt)
            .values(
                execution_id=execution_id,
                number=number,
                job=job,
                pod=pod,
                node=node,
                requested_memory=resources.memory,
                requested_cpu=resources.cpu,
                requested_wall_clock=resources.wall_clock,
                started_at=started,
                created_at=utc_now(),
            )
            .on_conflict_do_nothing(index_elements=["execution_id", "number"])
            .returning(Attempt.id)
        ).scalar_one_or_none()
        if attempt_id is None:
            attempt_id = conn.execute(
                select(Attempt.id).where(Attempt.execution_id == execution_id, Attempt.number == number)
            ).scalar_one()
            conn.execute(
                update(Attempt)
                .where(Attempt.id == attempt_id)
                .values(
                    job=func.coalesce(Attempt.job, job),
                    pod=func.coalesce(Attempt.pod, pod),
                    node=func.coalesce(Attempt.node, node),
                    started_at=func.coalesce(Attempt.started_at, started),
                )
            )
        conn.execute(
            update(Execution)
            .where(Execution.id == execution_id, Execution.attempt_count < number)
            .values(attempt_count=number)
        )
        if started is not None:
            conn.execute(
                update(Execution)
                .where(Execution.id == execution_id, Execution.started_at.is_(None))
                .values(started_at=started)
            )
        return int(attempt_id)


def record_attempt_end(engine: Engine | Connection, attempt_id: int, status: AttemptStatus) -> None:
    """Record how an attempt ended: exit, classification, decision, telemetry. Replaying writes the
    same values again; the first recorded end time is kept."""
    values = _attempt_end_values(status)
    with translate_errors(engine, f"recording the end of attempt {attempt_id}"), begin(engine) as conn:
        result = conn.execute(update(Attempt).where(Attempt.id == attempt_id).values(**values))
        if result.rowcount == 0:
            raise DatabaseError(f"attempt {attempt_id} does not exist in {masked_url_of(engine)}")


def _attempt_end_values(status: AttemptStatus) -> dict[str, Any]:
    t = status.telemetry
    values: dict[str, Any] = {
        "exit_code": status.exit_code,
        "signal": status.signal,
        "termination_reason": status.reason,
        "message": status.message,
        "failure_class": status.failure_class.value if status.failure_class else None,
        "decision": status.decision.value if status.decision else None,
        "duration_seconds": t.duration_seconds,
        "cpu_seconds": t.cpu_seconds,
        "peak_memory_bytes": t.peak_memory_bytes,
        "peak_memory_source": t.peak_memory_source,
        "memory_limit_bytes": t.memory_limit_bytes,
        "queue_seconds": t.queue_seconds,
        "ended_at": func.coalesce(Attempt.ended_at, parse_time(status.end_time) or utc_now()),
    }
    for column, given in (
        ("job", status.job),
        ("pod", status.pod),
        ("node", status.node),
        ("log_location", status.log_location),
    ):
        if given is not None:
            values[column] = given
    if status.start_time is not None:
        values["started_at"] = func.coalesce(Attempt.started_at, parse_time(status.start_time))
    if status.resources is not None:
        values.update(
            requested_memory=status.resources.memory,
            requested_cpu=status.resources.cpu,
            requested_wall_clock=status.resources.wall_clock,
        )
    return values


def finish_execution(
    engine: Engine | Connection,
    execution_id: int,
    *,
    phase: Phase,
    failure_class: FailureClass | None,
    reason: str | None,
    message: str | None,
    dirty: bool | None,
) -> None:
    """Record the execution's end (Succeeded, Failed or Cancelled) and, unless ``dirty`` is None, the
    group's dirty flag. An execution ends once: a replay with the same phase rewrites the same values,
    a different terminal phase after the first is ignored."""
    if not phase.terminal:
        raise ValueError(
            f"finish_execution needs a terminal phase, got {phase.value}; use set_execution_phase"
        )
    others = [p.value for p in Phase if p.terminal and p is not phase]
    with translate_errors(engine, f"finishing execution {execution_id}"), begin(engine) as conn:
        # one statement on the usual path: ends it unless it already ended otherwise
        group_id = conn.execute(
            update(Execution)
            .where(Execution.id == execution_id, Execution.phase.not_in(others))
            .values(
                phase=phase.value,
                failure_class=failure_class.value if failure_class else None,
                reason=reason,
                message=message,
                successful=phase is Phase.SUCCEEDED,
                finished_at=func.coalesce(Execution.finished_at, utc_now()),
            )
            .returning(Execution.group_id)
        ).scalar_one_or_none()
        if group_id is None:
            if conn.execute(select(Execution.id).where(Execution.id == execution_id)).first() is None:
                raise DatabaseError(f"execution {execution_id} does not exist in {masked_url_of(engine)}")
            return  # it ended otherwise first: that end stands
        if dirty is not None:
            conn.execute(
                update(ExecutionGroup)
                .where(ExecutionGroup.id == group_id)
                .values(dirty=dirty, updated_at=utc_now())
            )


@dataclass(frozen=True, slots=True)
class ExecutionEnd:
    """How the execution ended (``finish_execution``'s arguments), for ``end_attempt``."""

    phase: Phase
    failure_class: FailureClass | None
    reason: str | None
    message: str | None
    dirty: bool | None


def end_attempt(
    engine: Engine,
    execution_id: int,
    record: AttemptStatus,
    *,
    resources: AttemptResources,
    finish: ExecutionEnd | None = None,
) -> int:
    """An attempt's end as the operator records it, in ONE transaction: the attempt's row (made if a restart
    lost it), how it ended and, when the execution ends with it, the execution's end. Replays write the same
    values (each part is idempotent). Returns the attempt's id."""
    with translate_errors(engine, f"recording the end of attempt {record.number} of execution {execution_id}"), \
            engine.begin() as conn:
        # usually the attempt's row is there (made when it started): one UPDATE fills in and ends it
        attempt_id = conn.execute(
            update(Attempt)
            .where(Attempt.execution_id == execution_id, Attempt.number == record.number)
            .values(**_attempt_end_values(record))
            .returning(Attempt.id)
        ).scalar_one_or_none()
        if attempt_id is None:  # a restart lost it: make it, then end it
            attempt_id = record_attempt_start(conn, execution_id, record.number, resources=resources,
                                              job=record.job, pod=record.pod, node=record.node,
                                              started_at=record.start_time)
            record_attempt_end(conn, attempt_id, record)
        if finish is not None:
            finish_execution(conn, execution_id, phase=finish.phase, failure_class=finish.failure_class,
                             reason=finish.reason, message=finish.message, dirty=finish.dirty)
    return attempt_id


def set_execution_phase(
    engine: Engine,
    execution_id: int,
    *,
    phase: Phase,
    reason: str | None = None,
    message: str | None = None,
    failure_class: FailureClass | None = None,
) -> None:
    """Record a non-terminal phase (Pending, Running, Retrying). Does nothing once the execution has
    ended, so a late or replayed update cannot reopen it. Running sets the start time once."""
    if phase.terminal:
        raise ValueError(f"{phase.value} is terminal; use finish_execution")
    terminal = [p.value for p in Phase if p.terminal]
    values: dict[str, Any] = {
        "phase": phase.value,
        "reason": reason,
        "message": message,
        "failure_class": failure_class.value if failure_class else None,
    }
    if phase is Phase.RUNNING:
        values["started_at"] = func.coalesce(Execution.started_at, utc_now())
    with translate_errors(engine, f"updating execution {execution_id}"), engine.begin() as conn:
        conn.execute(
            update(Execution)
            .where(Execution.id == execution_id, Execution.phase.not_in(terminal))
            .values(**values)
        )
