"""The persistence the lifecycle needs. Every write is idempotent: calling it again after a crash or a
replay changes nothing (get-or-create on natural keys, ``INSERT … ON CONFLICT DO NOTHING``).

Writes on SQLite run in ``BEGIN IMMEDIATE`` transactions (see ``engine.py``); on PostgreSQL, concurrent
ingests of the same execution serialize on a transaction-level advisory lock.

``ingest`` is the hot path. On PostgreSQL it streams the rows with ``COPY`` into temporary tables and
moves them with one ``INSERT … SELECT … ON CONFLICT DO NOTHING`` per table; on SQLite it uses
``executemany``. Either way it is one transaction: on any error nothing is written.
"""

from __future__ import annotations

import json
import math
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, Text, func, literal, select, text, update
from sqlalchemy import cast as sa_cast
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError

from diagnostic_operator.db.engine import is_postgresql, mask_url, scrub
from diagnostic_operator.db.errors import DatabaseError, IngestError
from diagnostic_operator.db.models import (
    BUNDLE_OUTPUT,
    PARTIAL_OUTPUT,
    Attempt,
    Execution,
    ExecutionGroup,
    Output,
    ScalarValue,
    SeriesIndexAxis,
    SeriesValue,
)
from diagnostic_operator.results.rows import ResultSet, ScalarRow, SeriesRow
from diagnostic_operator.spec import (
    MAX_ATTEMPT_HISTORY,
    AttemptResources,
    AttemptStatus,
    AttemptTelemetry,
    Decision,
    DiagnosticExecutionSpec,
    DiagnosticExecutionStatus,
    FailureClass,
    IngestCounts,
    Phase,
)
from diagnostic_operator.store.base import StoredObject

#: First key of the advisory lock taken by ``ingest`` (second key: the execution id). "dx".
INGEST_LOCK_CLASS = 0x6478
_CHUNK = 1000  # rows per multi-VALUES statement (well under both databases' parameter limits)

__all__ = [
    "Allocation",
    "AttemptStart",
    "ExecutionDetail",
    "ExecutionEnd",
    "ExecutionSummary",
    "GroupInfo",
    "IngestReport",
    "ScalarResult",
    "allocate_execution",
    "count_rows",
    "end_attempt",
    "finish_execution",
    "get_execution",
    "ingest",
    "list_executions",
    "query_scalars",
    "record_attempt_end",
    "record_attempt_start",
    "set_execution_phase",
]


# ---------------------------------------------------------------------------------------------- results


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


@dataclass(frozen=True, slots=True)
class IngestReport:
    inserted: IngestCounts  # rows this call added (zero on a replay)
    total: IngestCounts  # rows the execution has now


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
            start = _parse_time(self.attempts[0].start_time)
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
            start_time=_iso(start),
            completion_time=_iso(self.finished_at),
        )


@dataclass(frozen=True, slots=True)
class ScalarResult:
    dimensions: dict[str, str]
    value: float | None
    attributes: dict[str, Any] | None
    kind: str
    attempt_id: int | None


# ---------------------------------------------------------------------------------------------- helpers


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    """Aware UTC (SQLite keeps no offset, so everything is stored as UTC and read back naive = UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _parse_time(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return _utc(value)
    return _utc(datetime.fromisoformat(value))


def _iso(value: datetime | None) -> str | None:
    value = _utc(value)
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _insert(conn: Connection, table: Any) -> Any:
    """A dialect-specific INSERT (both dialects have ``on_conflict_do_nothing``)."""
    return pg.insert(table) if conn.dialect.name == "postgresql" else sqlite_dialect.insert(table)


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _url_of(bind: Engine | Connection) -> str:
    return mask_url(bind.engine.url)


@contextmanager
def _begin(bind: Engine | Connection) -> Iterator[Connection]:
    """A transaction of its own on an engine; on a Connection, the caller's (several writes, one commit)."""
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.begin() as conn:
            yield conn


def _data_errors() -> tuple[type[BaseException], ...]:
    """Errors about the data itself. psycopg's are included only once psycopg is loaded (a SQLite run never
    imports it: that saves ~0.1 s of start-up for every local `run`)."""
    errors: tuple[type[BaseException], ...] = (IntegrityError, DataError, sqlite3.IntegrityError, sqlite3.DataError)
    pg = sys.modules.get("psycopg")
    return errors + ((pg.IntegrityError, pg.DataError) if pg is not None else ())


def _db_errors() -> tuple[type[BaseException], ...]:
    pg = sys.modules.get("psycopg")
    return (SQLAlchemyError, sqlite3.Error) + ((pg.Error,) if pg is not None else ())


@contextmanager
def _translate(bind: Engine | Connection, doing: str) -> Iterator[None]:
    """Turn driver errors into DatabaseError / IngestError with the URL (password masked)."""
    engine = bind.engine
    try:
        yield
    except DatabaseError:
        raise
    except _data_errors() as exc:
        cause = scrub(_first_line(exc), engine.url)
        raise IngestError(f"{doing} in {_url_of(engine)} failed, nothing was written: {cause}") from exc
    except _db_errors() as exc:
        cause = scrub(_first_line(exc), engine.url)
        raise DatabaseError(f"{doing} in {_url_of(engine)} failed: {cause}") from exc


def _first_line(exc: BaseException) -> str:
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text_ = str(inner).strip()
    return text_.splitlines()[0] if text_ else type(inner).__name__


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _dumps(value: object) -> str:
    """Compact JSON; NaN/±inf raise ValueError. One shared encoder: json.dumps with options builds a new
    encoder per call, which costs more than the encoding of a small dict."""
    return _ENCODE(value)


def _chunks(rows: Sequence[dict[str, Any]], size: int = _CHUNK) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


# ---------------------------------------------------------------------------------------------- writes


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
    with _translate(engine, f"allocating execution {namespace}/{name}"), engine.begin() as conn:
        existing = conn.execute(select(Execution.id, Execution.group_id).where(Execution.uid == uid)).first()
        if existing is not None:
            return Allocation(group_id=existing.group_id, execution_id=existing.id)
        upsert = _insert(conn, ExecutionGroup).values(
            provider=d.provider, slug=d.slug, diagnostic_version=d.version, group_key=spec.group_key, dirty=True)
        group_id = conn.execute(
            upsert.on_conflict_do_update(
                index_elements=["provider", "slug", "group_key"],
                set_={"dirty": True, "diagnostic_version": d.version, "updated_at": _now()},
            ).returning(ExecutionGroup.id)
        ).scalar_one()
        now = _now()
        created = conn.execute(
            _insert(conn, Execution)
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
                _insert(conn, Attempt)
                .values(execution_id=created, number=1, job=first_attempt.job, requested_memory=r.memory,
                        requested_cpu=r.cpu, requested_wall_clock=r.wall_clock, created_at=now)
                .returning(Attempt.id)
            ).scalar_one()
        return Allocation(group_id=group_id, execution_id=created, created=True, first_attempt_id=attempt_id)


def resolve_attempt(engine: Engine, uid: str, number: int) -> tuple[int, int]:
    """(execution id, attempt id) of attempt ``number`` of the execution with Kubernetes ``uid``.

    The ingest sidecar calls it: the operator creates an attempt's Job first and its rows a moment later
    (the Job does not wait for the database), so the Pod knows its execution by uid and attempt number only.
    Raises DatabaseError while the rows are not there yet (the caller retries within its budget)."""
    with _translate(engine, f"looking up attempt {number} of execution {uid}"), engine.connect() as conn:
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
    started = _parse_time(started_at)
    with (
        _translate(engine, f"recording attempt {number} of execution {execution_id}"),
        _begin(engine) as conn,
    ):
        attempt_id = conn.execute(
            _insert(conn, Attempt)
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
                created_at=_now(),
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
    with _translate(engine, f"recording the end of attempt {attempt_id}"), _begin(engine) as conn:
        result = conn.execute(update(Attempt).where(Attempt.id == attempt_id).values(**values))
        if result.rowcount == 0:
            raise DatabaseError(f"attempt {attempt_id} does not exist in {_url_of(engine)}")


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
        "ended_at": func.coalesce(Attempt.ended_at, _parse_time(status.end_time) or _now()),
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
        values["started_at"] = func.coalesce(Attempt.started_at, _parse_time(status.start_time))
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
    with _translate(engine, f"finishing execution {execution_id}"), _begin(engine) as conn:
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
                finished_at=func.coalesce(Execution.finished_at, _now()),
            )
            .returning(Execution.group_id)
        ).scalar_one_or_none()
        if group_id is None:
            if conn.execute(select(Execution.id).where(Execution.id == execution_id)).first() is None:
                raise DatabaseError(f"execution {execution_id} does not exist in {_url_of(engine)}")
            return  # it ended otherwise first: that end stands
        if dirty is not None:
            conn.execute(
                update(ExecutionGroup)
                .where(ExecutionGroup.id == group_id)
                .values(dirty=dirty, updated_at=_now())
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
    with _translate(engine, f"recording the end of attempt {record.number} of execution {execution_id}"), \
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
        values["started_at"] = func.coalesce(Execution.started_at, _now())
    with _translate(engine, f"updating execution {execution_id}"), engine.begin() as conn:
        conn.execute(
            update(Execution)
            .where(Execution.id == execution_id, Execution.phase.not_in(terminal))
            .values(**values)
        )


# ---------------------------------------------------------------------------------------------- ingest


@dataclass(slots=True)
class _Prepared:
    scalars: list[ScalarRow]
    series: list[SeriesRow]
    outputs: list[dict[str, Any]]
    axes: dict[str, tuple[str, list[Any]]]  # index hash -> (name, values)


def _prepare(
    results: ResultSet, objects: Mapping[str, StoredObject], execution_id: int, attempt_id: int
) -> _Prepared:
    outputs = []
    seen_outputs: set[tuple[str, str]] = set()
    for row in results.outputs:
        obj = objects.get(row.filename)
        if obj is None:
            raise IngestError(
                f"output {row.output_type}/{row.short_name}: {row.filename!r} has no uploaded object "
                "(publish every file of the output bundle before ingesting); nothing was written"
            )
        if (row.output_type, row.short_name) in seen_outputs:
            continue
        seen_outputs.add((row.output_type, row.short_name))
        outputs.append(
            {
                "execution_id": execution_id,
                "attempt_id": attempt_id,
                "output_type": row.output_type,
                "short_name": row.short_name,
                "filename": row.filename,
                "long_name": row.long_name,
                "description": row.description,
                "dimensions": dict(row.dimensions),
                "uri": obj.uri,
                "size": obj.size,
                "sha256": obj.sha256,
            }
        )
    scalars = list({(r.key or _missing_key(r)): r for r in reversed(results.scalars)}.values())
    scalars.reverse()  # first occurrence wins, original order kept
    series = list({(r.key or _missing_key(r)): r for r in reversed(results.series)}.values())
    series.reverse()
    axes: dict[str, tuple[str, list[Any]]] = {}
    for s in series:
        if not s.index_key:
            raise IngestError(
                f"series {s.dimensions}: row has no index hash (build rows with SeriesRow.make)"
            )
        axes.setdefault(s.index_key, (s.index_name, list(s.index)))
    return _Prepared(scalars, series, outputs, axes)


def _missing_key(row: ScalarRow | SeriesRow) -> str:
    raise IngestError(
        f"row {row.dimensions}: no natural-key hash (build rows with ScalarRow.make/SeriesRow.make)"
    )


def ingest(
    engine: Engine,
    *,
    execution_id: int,
    attempt_id: int,
    results: ResultSet,
    objects: Mapping[str, StoredObject],
) -> IngestReport:
    """Register outputs and insert scalar and series values of one attempt, in ONE transaction.

    ``objects`` maps each ``OutputRow.filename`` to its uploaded object. Rows are identified by their
    natural keys (``ON CONFLICT DO NOTHING``): ingesting the same attempt again inserts nothing.
    Missing values (None, NaN, ±inf) are stored as SQL NULL, and as JSON null inside series arrays.
    Raises :class:`IngestError` (nothing written) when the data cannot be stored, :class:`DatabaseError`
    when the database fails.
    """
    prepared = _prepare(results, objects, execution_id, attempt_id)
    postgresql = is_postgresql(engine)
    with _translate(engine, f"ingesting results of execution {execution_id}"), engine.begin() as conn:
        if postgresql:
            lock = {"c": INGEST_LOCK_CLASS, "e": execution_id}
            conn.execute(text("SELECT pg_advisory_xact_lock(:c, :e)"), lock)
        _check_parents(conn, execution_id, attempt_id)
        outputs = _insert_outputs(conn, prepared.outputs)
        axis_ids = _upsert_axes(conn, prepared.axes)
        if postgresql:
            scalars, scalars_total = _copy_pg(
                conn,
                table="scalar_values",
                columns=_SCALAR_COLUMNS,
                types=_SCALAR_TYPES,
                execution_id=execution_id,
                attempt_id=attempt_id,
                count=len(prepared.scalars),
                tuples=_scalar_tuples(prepared.scalars),
            )
            series, series_total = _copy_pg(
                conn,
                table="series_values",
                columns=_SERIES_COLUMNS,
                types=_SERIES_TYPES,
                execution_id=execution_id,
                attempt_id=attempt_id,
                count=len(prepared.series),
                tuples=_series_tuples(prepared.series, axis_ids),
            )
        else:
            scalars = _insert_scalars_sqlite(conn, execution_id, attempt_id, prepared.scalars)
            series = _insert_series_sqlite(conn, execution_id, attempt_id, prepared.series, axis_ids)
            scalars_total = _count_one(conn, "scalar_values", execution_id)
            series_total = _count_one(conn, "series_values", execution_id)
        total = IngestCounts(
            outputs=_count_one(conn, "outputs", execution_id),
            scalar_values=scalars_total,
            series_values=series_total,
        )
    return IngestReport(
        inserted=IngestCounts(outputs=outputs, scalar_values=scalars, series_values=series), total=total
    )


def _check_parents(conn: Connection, execution_id: int, attempt_id: int) -> None:
    """What the value tables' foreign keys would check, once: the attempt exists and belongs to the
    execution. On PostgreSQL both rows are locked FOR KEY SHARE until commit, as a foreign key would."""
    stmt = (
        select(Attempt.id)
        .join(Execution, Execution.id == Attempt.execution_id)
        .where(Attempt.id == attempt_id, Execution.id == execution_id)
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(key_share=True, read=True)
    if conn.execute(stmt).first() is None:
        raise IngestError(
            f"attempt {attempt_id} of execution {execution_id} does not exist (record the attempt before "
            "ingesting its results); nothing was written"
        )


_TABLES: dict[str, Table] = {
    "outputs": cast(Table, Output.__table__),
    "scalar_values": cast(Table, ScalarValue.__table__),
    "series_values": cast(Table, SeriesValue.__table__),
}


def _count_one(conn: Connection, table: str, execution_id: int) -> int:
    """Rows of the execution in ``table``; for ``outputs`` the bundle outputs only (partial files are
    counted per attempt, ``_partial_counts``)."""
    t = _TABLES[table]
    stmt = select(func.count()).select_from(t).where(t.c.execution_id == execution_id)
    if table == "outputs":
        stmt = stmt.where(text(BUNDLE_OUTPUT))
    return int(conn.execute(stmt).scalar_one())


def _insert_outputs(conn: Connection, rows: list[dict[str, Any]]) -> int:
    inserted = 0
    for chunk in _chunks(rows):
        result = conn.execute(
            _insert(conn, Output)
            .values(list(chunk))
            .on_conflict_do_nothing(index_elements=["execution_id", "output_type", "short_name"],
                                    index_where=text(BUNDLE_OUTPUT))
            .returning(Output.id)  # rowcount of a multi-VALUES insert is not reliable on every driver
        )
        inserted += len(result.all())
    return inserted


def _upsert_axes(conn: Connection, axes: dict[str, tuple[str, list[Any]]]) -> dict[str, int]:
    """Insert-or-ignore the index axes (sorted by hash, so concurrent ingests lock in the same order),
    then read their ids."""
    hashes = sorted(axes)
    for chunk in _chunks([{"hash": h, "name": axes[h][0], "values": axes[h][1]} for h in hashes]):
        conn.execute(
            _insert(conn, SeriesIndexAxis).values(list(chunk)).on_conflict_do_nothing(index_elements=["hash"])
        )
    ids: dict[str, int] = {}
    for start in range(0, len(hashes), _CHUNK):
        part = hashes[start : start + _CHUNK]
        for h, axis_id in conn.execute(
            select(SeriesIndexAxis.hash, SeriesIndexAxis.id).where(SeriesIndexAxis.hash.in_(part))
        ):
            ids[h] = axis_id
    return ids


def _json_cache() -> Any:
    cache: dict[int, str | None] = {}

    def dump(value: Mapping[str, Any] | None) -> str | None:
        if value is None:
            return None
        key = id(value)
        got = cache.get(key)
        if got is None:
            got = cache[key] = _dumps(value)
        return got

    return dump


def _driver(conn: Connection) -> Any:
    return conn.connection.driver_connection


_SCALAR_COLUMNS = ("kind", "dimensions_hash", "dimensions", "value", "attributes")
_SCALAR_TYPES = ("text", "text", "jsonb", "float8", "json")
_SERIES_COLUMNS = (
    "kind",
    "dimensions_hash",
    "dimensions",
    "values",
    "index_axis_id",
    "attributes",
    "value_units",
    "value_long_name",
    "index_units",
    "calendar",
)
_SERIES_TYPES = ("text", "text", "jsonb", "json", "integer", "json", "text", "text", "text", "text")


def _scalar_tuples(rows: list[ScalarRow]) -> Iterator[tuple[Any, ...]]:
    attrs = _json_cache()
    for r in rows:
        v = r.value
        if v is not None and not math.isfinite(v):
            v = None
        yield (r.kind, r.key, _dumps(r.dimensions), v, attrs(r.attributes))


def _series_tuples(rows: list[SeriesRow], axis_ids: Mapping[str, int]) -> Iterator[tuple[Any, ...]]:
    attrs = _json_cache()
    for r in rows:
        yield (
            r.kind,
            r.key,
            _dumps(r.dimensions),
            _series_values_json(r.values),
            axis_ids[r.index_key],
            attrs(r.attributes),
            r.value_units,
            r.value_long_name,
            r.index_units,
            r.calendar,
        )


def _copy_pg(
    conn: Connection,
    *,
    table: str,
    columns: tuple[str, ...],
    types: tuple[str, ...],
    execution_id: int,
    attempt_id: int,
    count: int,
    tuples: Iterator[tuple[Any, ...]],
) -> tuple[int, int]:
    """Insert ``count`` rows into ``table``; returns (inserted, rows of the execution now).

    First ingest of the execution (the usual case): ``COPY`` straight into the table, under a savepoint.
    No conflict is possible there (the caller holds the execution's advisory lock and rows were
    deduplicated), but should one happen anyway the savepoint is rolled back and the general path runs.
    General path (a replay, or rows already present): ``COPY`` into a temporary table, then
    ``INSERT … SELECT … ON CONFLICT (execution_id, dimensions_hash) DO NOTHING``.
    """
    if count == 0:
        return 0, _count_one(conn, table, execution_id)
    import psycopg  # only PostgreSQL gets here

    raw = cast(psycopg.Connection[Any], _driver(conn))
    cols = ", ".join(f'"{c}"' for c in columns)
    rows = list(tuples)
    with raw.cursor() as cur:
        # table and column names below are this module's constants, never input
        cur.execute(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE execution_id = %s)", (execution_id,))  # noqa: S608
        existing = cast(tuple[bool], cur.fetchone())[0]
        if not existing:
            cur.execute("SAVEPOINT dxop_copy")
            try:
                with cur.copy(f"COPY {table} (execution_id, attempt_id, {cols}) FROM STDIN") as copy:
                    write = copy.write_row
                    for row in rows:
                        write((execution_id, attempt_id, *row))
            except psycopg.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT dxop_copy")
            else:
                cur.execute("RELEASE SAVEPOINT dxop_copy")
                return count, count
        temp = f"_dxop_{table}"
        definition = ", ".join(f'"{c}" {t}' for c, t in zip(columns, types, strict=True))
        cur.execute(f"CREATE TEMP TABLE {temp} ({definition}) ON COMMIT DROP")
        with cur.copy(f"COPY {temp} ({cols}) FROM STDIN") as copy:
            write = copy.write_row
            for row in rows:
                write(row)
        cur.execute(
            f"INSERT INTO {table} (execution_id, attempt_id, {cols}) SELECT %s, %s, {cols} FROM {temp} "  # noqa: S608
            "ON CONFLICT (execution_id, dimensions_hash) DO NOTHING",
            (execution_id, attempt_id),
        )
        inserted = max(cur.rowcount, 0)
        cur.execute(f"DROP TABLE {temp}")
    return inserted, _count_one(conn, table, execution_id)


def _series_values_json(values: list[float | None]) -> str:
    try:
        return _dumps(values)
    except ValueError:  # NaN or ±inf inside: missing
        return _dumps([_finite(v) for v in values])


def _executemany_sqlite(conn: Connection, sql: str, params: Iterable[tuple[Any, ...]]) -> int:
    raw = cast(sqlite3.Connection, _driver(conn))
    cur = raw.cursor()
    try:
        cur.executemany(sql, params)
        return max(cur.rowcount, 0)
    finally:
        cur.close()


def _insert_scalars_sqlite(
    conn: Connection, execution_id: int, attempt_id: int, rows: list[ScalarRow]
) -> int:
    if not rows:
        return 0
    attrs = _json_cache()
    return _executemany_sqlite(
        conn,
        "INSERT INTO scalar_values (execution_id, attempt_id, kind, dimensions, dimensions_hash, value, "
        "attributes) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (execution_id, dimensions_hash) DO NOTHING",
        (
            (
                execution_id,
                attempt_id,
                r.kind,
                _dumps(r.dimensions),
                r.key,
                _finite(r.value),
                attrs(r.attributes),
            )
            for r in rows
        ),
    )


def _insert_series_sqlite(
    conn: Connection, execution_id: int, attempt_id: int, rows: list[SeriesRow], axis_ids: Mapping[str, int]
) -> int:
    if not rows:
        return 0
    attrs = _json_cache()
    return _executemany_sqlite(
        conn,
        'INSERT INTO series_values (execution_id, attempt_id, kind, dimensions, dimensions_hash, "values", '
        "index_axis_id, attributes, value_units, value_long_name, index_units, calendar) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (execution_id, dimensions_hash) DO NOTHING",
        (
            (
                execution_id,
                attempt_id,
                r.kind,
                _dumps(r.dimensions),
                r.key,
                _series_values_json(r.values),
                axis_ids[r.index_key],
                attrs(r.attributes),
                r.value_units,
                r.value_long_name,
                r.index_units,
                r.calendar,
            )
            for r in rows
        ),
    )


def _count(conn: Connection, execution_id: int) -> IngestCounts:
    """What the execution has ingested: bundle outputs (not partial files), scalar and series values."""
    return IngestCounts(
        outputs=_count_one(conn, "outputs", execution_id),
        scalar_values=_count_one(conn, "scalar_values", execution_id),
        series_values=_count_one(conn, "series_values", execution_id),
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
    with _translate(engine, f"counting results of execution {execution_id}"), engine.connect() as conn:
        return _count(conn, execution_id)


# ---------------------------------------------------------------------------------------------- queries


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
    with _translate(engine, "listing executions"), engine.connect() as conn:
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
            created_at=cast(datetime, _utc(r.created_at)),
            finished_at=_utc(r.finished_at),
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
        start_time=_iso(a.started_at),
        end_time=_iso(a.ended_at),
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
    with _translate(engine, f"reading execution {ref!r}"), engine.connect() as conn:
        execution_id = _find_execution_id(conn, ref)
        if execution_id is None:
            return None
        e = conn.execute(select(Execution).where(Execution.id == execution_id)).one()
        g = conn.execute(select(ExecutionGroup).where(ExecutionGroup.id == e.group_id)).one()
        attempts = conn.execute(
            select(Attempt).where(Attempt.execution_id == execution_id).order_by(Attempt.number)
        ).all()
        counts = _count(conn, execution_id)
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
        created_at=cast(datetime, _utc(e.created_at)),
        started_at=_utc(e.started_at),
        finished_at=_utc(e.finished_at),
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
        stmt = stmt.where(table.c.dimensions.op("@>")(sa_cast(literal(_dumps(wanted), Text()), pg.JSONB())))
    elif wanted:
        for key, value in sorted(wanted.items()):
            path = '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
            stmt = stmt.where(func.json_extract(table.c.dimensions, path) == value)
    with _translate(engine, f"querying scalars of execution {execution_id}"), engine.connect() as conn:
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
