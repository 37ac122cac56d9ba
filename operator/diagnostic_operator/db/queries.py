"""What the database holds, read back: executions, their attempts, and the rows they ingested.

``list_executions`` and ``get_execution`` serve the ``executions`` commands; ``ExecutionDetail.status``
rebuilds an execution's status document from its rows. ``query_scalars`` filters scalar values by their
dimensions, and ``count_rows`` counts what an execution has ingested.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, Text, func, literal, select, text
from sqlalchemy import cast as sa_cast
from sqlalchemy.dialects import postgresql as pg

from diagnostic_operator.db.engine import is_postgresql
from diagnostic_operator.db.models import (
    BUNDLE_OUTPUT,
    PARTIAL_OUTPUT,
    Attempt,
    Execution,
    ExecutionGroup,
    Output,
    ScalarValue,
    SeriesValue,
)
from diagnostic_operator.db.transactions import as_utc, dumps_json, iso_utc, parse_time, translate_errors
from diagnostic_operator.spec import (
    MAX_ATTEMPT_HISTORY,
    AttemptResources,
    AttemptStatus,
    AttemptTelemetry,
    Decision,
    DiagnosticExecutionStatus,
    FailureClass,
    IngestCounts,
    Phase,
)

__all__ = [
    "ExecutionDetail",
    "ExecutionSummary",
    "GroupInfo",
    "ScalarResult",
    "count_in_table",
    "count_results",
    "count_rows",
    "get_execution",
    "list_executions",
    "query_scalars",
]


@dataclass(frozen=True, slots=True)
class GroupInfo:
    id: int
    provider: str
    slug: str
    diagnostic_version: str
    group_key: str
    dirty: bool


@dataclass(frozen=True, slots=True)
class ExecutionSummary:
    id: int
    namespace: str
    name: str
    uid: str
    provider: str
    slug: str
    group_key: str
    phase: Phase
    failure_class: FailureClass | None
    successful: bool | None
    attempts: int
    dirty: bool
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class ExecutionDetail:
    id: int
    namespace: str
    name: str
    uid: str
    dataset_hash: str | None
    phase: Phase
    failure_class: FailureClass | None
    reason: str | None
    message: str | None
    successful: bool | None
    output_location: str | None
    spec: dict[str, Any]
    attempt_count: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    group: GroupInfo
    attempts: list[AttemptStatus] = field(default_factory=list)
    counts: IngestCounts = field(default_factory=IngestCounts)

    def status(self) -> DiagnosticExecutionStatus:
        """The status document (what ``executions show --json`` prints), rebuilt from the database."""
        start = self.started_at
        if start is None and self.attempts and self.attempts[0].start_time:
            start = parse_time(self.attempts[0].start_time)
        return DiagnosticExecutionStatus(
            phase=self.phase,
            attempt=max(self.attempt_count, max((a.number for a in self.attempts), default=0)),
            attempts=self.attempts[-MAX_ATTEMPT_HISTORY:],
            failure_class=self.failure_class,
            reason=self.reason,
            message=self.message,
            output_location=self.output_location,
            ingested=self.counts,
            database_execution_id=self.id,
            start_time=iso_utc(start),
            completion_time=iso_utc(self.finished_at),
        )


@dataclass(frozen=True, slots=True)
class ScalarResult:
    dimensions: dict[str, str]
    value: float | None
    attributes: dict[str, Any] | None
    kind: str
    attempt_id: int | None


_TABLES: dict[str, Table] = {
    "outputs": cast(Table, Output.__table__),
    "scalar_values": cast(Table, ScalarValue.__table__),
    "series_values": cast(Table, SeriesValue.__table__),
}


def count_in_table(conn: Connection, table: str, execution_id: int) -> int:
    """Rows of the execution in ``table``; for ``outputs`` the bundle outputs only (partial files are
    counted per attempt, ``_partial_counts``)."""
    t = _TABLES[table]
    stmt = select(func.count()).select_from(t).where(t.c.execution_id == execution_id)
    if table == "outputs":
        stmt = stmt.where(text(BUNDLE_OUTPUT))
    return int(conn.execute(stmt).scalar_one())


def count_results(conn: Connection, execution_id: int) -> IngestCounts:
    """What the execution has ingested: bundle outputs (not partial files), scalar and series values."""
    return IngestCounts(
        outputs=count_in_table(conn, "outputs", execution_id),
        scalar_values=count_in_table(conn, "scalar_values", execution_id),
        series_values=count_in_table(conn, "series_values", execution_id),
    )


def _partial_counts(conn: Connection, execution_id: int) -> dict[int, int]:
    """Attempt id → how many partial files (docs/object-store.md) are recorded for it."""
    rows = conn.execute(
        select(Output.attempt_id, func.count())
        .where(Output.execution_id == execution_id, text(PARTIAL_OUTPUT), Output.attempt_id.is_not(None))
        .group_by(Output.attempt_id)
    ).all()
    return {int(attempt_id): int(n) for attempt_id, n in rows}


def count_rows(engine: Engine, execution_id: int) -> IngestCounts:
    """How many outputs, scalar values and series values the execution has."""
    with translate_errors(engine, f"counting results of execution {execution_id}"), engine.connect() as conn:
        return count_results(conn, execution_id)


def list_executions(engine: Engine, limit: int = 50) -> list[ExecutionSummary]:
    """The newest executions first."""
    stmt = (
        select(
            Execution.id,
            Execution.namespace,
            Execution.name,
            Execution.uid,
            Execution.phase,
            Execution.failure_class,
            Execution.successful,
            Execution.attempt_count,
            Execution.created_at,
            Execution.finished_at,
            ExecutionGroup.provider,
            ExecutionGroup.slug,
            ExecutionGroup.group_key,
            ExecutionGroup.dirty,
        )
        .join(ExecutionGroup, ExecutionGroup.id == Execution.group_id)
        .order_by(Execution.id.desc())
        .limit(limit)
    )
    with translate_errors(engine, "listing executions"), engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [
        ExecutionSummary(
            id=r.id,
            namespace=r.namespace,
            name=r.name,
            uid=r.uid,
            provider=r.provider,
            slug=r.slug,
            group_key=r.group_key,
            phase=Phase(r.phase),
            failure_class=FailureClass(r.failure_class) if r.failure_class else None,
            successful=r.successful,
            attempts=r.attempt_count,
            dirty=r.dirty,
            created_at=cast(datetime, as_utc(r.created_at)),
            finished_at=as_utc(r.finished_at),
        )
        for r in rows
    ]


def _find_execution_id(conn: Connection, ref: str) -> int | None:
    ref = ref.strip()
    if ref.isdigit():
        found = conn.execute(select(Execution.id).where(Execution.id == int(ref))).scalar_one_or_none()
        if found is not None:
            return int(found)
    found = conn.execute(select(Execution.id).where(Execution.uid == ref)).scalar_one_or_none()
    if found is not None:
        return int(found)
    stmt = select(Execution.id).order_by(Execution.id.desc()).limit(1)
    if "/" in ref:
        namespace, _, name = ref.partition("/")
        stmt = stmt.where(Execution.namespace == namespace, Execution.name == name)
    else:
        stmt = stmt.where(Execution.name == ref)
    found = conn.execute(stmt).scalar_one_or_none()
    return None if found is None else int(found)


def _attempt_status(a: Any, partial_files: int | None = None) -> AttemptStatus:
    resources = None
    if a.requested_memory or a.requested_cpu or a.requested_wall_clock:
        resources = AttemptResources(
            memory=a.requested_memory or "",
            cpu=a.requested_cpu or "",
            wall_clock=a.requested_wall_clock or "",
        )
    return AttemptStatus(
        number=a.number,
        job=a.job,
        pod=a.pod,
        node=a.node,
        start_time=iso_utc(a.started_at),
        end_time=iso_utc(a.ended_at),
        exit_code=a.exit_code,
        signal=a.signal,
        reason=a.termination_reason,
        message=a.message,
        failure_class=FailureClass(a.failure_class) if a.failure_class else None,
        decision=Decision(a.decision) if a.decision else None,
        resources=resources,
        telemetry=AttemptTelemetry(
            duration_seconds=a.duration_seconds,
            cpu_seconds=a.cpu_seconds,
            peak_memory_bytes=a.peak_memory_bytes,
            peak_memory_source=a.peak_memory_source,
            memory_limit_bytes=a.memory_limit_bytes,
            queue_seconds=a.queue_seconds,
        ),
        log_location=a.log_location,
        partial_files=partial_files or None,
    )


def get_execution(engine: Engine, ref: str) -> ExecutionDetail | None:
    """Find an execution by numeric id, uid, ``namespace/name`` or name (the newest when a name repeats)."""
    with translate_errors(engine, f"reading execution {ref!r}"), engine.connect() as conn:
        execution_id = _find_execution_id(conn, ref)
        if execution_id is None:
            return None
        e = conn.execute(select(Execution).where(Execution.id == execution_id)).one()
        g = conn.execute(select(ExecutionGroup).where(ExecutionGroup.id == e.group_id)).one()
        attempts = conn.execute(
            select(Attempt).where(Attempt.execution_id == execution_id).order_by(Attempt.number)
        ).all()
        counts = count_results(conn, execution_id)
        partial = _partial_counts(conn, execution_id)
    return ExecutionDetail(
        id=e.id,
        namespace=e.namespace,
        name=e.name,
        uid=e.uid,
        dataset_hash=e.dataset_hash,
        phase=Phase(e.phase),
        failure_class=FailureClass(e.failure_class) if e.failure_class else None,
        reason=e.reason,
        message=e.message,
        successful=e.successful,
        output_location=e.output_location,
        spec=dict(e.spec),
        attempt_count=e.attempt_count,
        created_at=cast(datetime, as_utc(e.created_at)),
        started_at=as_utc(e.started_at),
        finished_at=as_utc(e.finished_at),
        group=GroupInfo(
            id=g.id,
            provider=g.provider,
            slug=g.slug,
            diagnostic_version=g.diagnostic_version,
            group_key=g.group_key,
            dirty=g.dirty,
        ),
        attempts=[_attempt_status(a, partial.get(a.id)) for a in attempts],
        counts=counts,
    )


def query_scalars(
    engine: Engine,
    execution_id: int,
    where_dimensions: Mapping[str, str] | None = None,
    *,
    kind: str | None = None,
) -> list[ScalarResult]:
    """Scalar values of an execution whose dimensions contain ``where_dimensions`` (JSONB containment
    ``@>`` on PostgreSQL, ``json_extract`` on SQLite), in insertion order."""
    table = cast(Table, ScalarValue.__table__)
    stmt = select(table).where(table.c.execution_id == execution_id).order_by(table.c.id)
    if kind is not None:
        stmt = stmt.where(table.c.kind == kind)
    wanted = dict(where_dimensions or {})
    if wanted and is_postgresql(engine):
        stmt = stmt.where(table.c.dimensions.op("@>")(sa_cast(literal(dumps_json(wanted), Text()), pg.JSONB())))
    elif wanted:
        for key, value in sorted(wanted.items()):
            path = '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
            stmt = stmt.where(func.json_extract(table.c.dimensions, path) == value)
    with translate_errors(engine, f"querying scalars of execution {execution_id}"), engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [
        ScalarResult(
            dimensions=r.dimensions,
            value=r.value,
            attributes=r.attributes,
            kind=r.kind,
            attempt_id=r.attempt_id,
        )
        for r in rows
        if all(r.dimensions.get(k) == v for k, v in wanted.items())  # exact, also for unusual keys
    ]
