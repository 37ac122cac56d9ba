"""Ingest: one attempt's outputs, scalar values and series values written in one transaction.

``ingest`` is the hot path. It checks the rows (every output has its uploaded object, every row its
natural-key hash), drops repeated rows, checks that the attempt belongs to the execution, registers the
outputs and the series' index axes, then hands the values to the dialect's module: ``ingest_postgres``
(``COPY``) or ``ingest_sqlite`` (``executemany``). Rows are identified by their natural keys
(``ON CONFLICT DO NOTHING``), so ingesting the same attempt again inserts nothing; on any error nothing is
written. On PostgreSQL, concurrent ingests of the same execution serialize on a transaction-level advisory
lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, select, text

from diagnostic_operator.db import ingest_postgres, ingest_sqlite
from diagnostic_operator.db.engine import is_postgresql
from diagnostic_operator.db.errors import IngestError
from diagnostic_operator.db.models import BUNDLE_OUTPUT, Attempt, Execution, Output, SeriesIndexAxis
from diagnostic_operator.db.queries import count_in_table
from diagnostic_operator.db.transactions import CHUNK_ROWS, chunks, dialect_insert, translate_errors
from diagnostic_operator.results.rows import ResultSet, ScalarRow, SeriesRow
from diagnostic_operator.spec import IngestCounts
from diagnostic_operator.store.base import StoredObject

__all__ = ["IngestReport", "ingest"]


@dataclass(frozen=True, slots=True)
class IngestReport:
    inserted: IngestCounts  # rows this call added (zero on a replay)
    total: IngestCounts  # rows the execution has now


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
    with translate_errors(engine, f"ingesting results of execution {execution_id}"), engine.begin() as conn:
        if postgresql:
            ingest_postgres.lock_execution(conn, execution_id)
        _check_parents(conn, execution_id, attempt_id)
        outputs = _insert_outputs(conn, prepared.outputs)
        axis_ids = _upsert_axes(conn, prepared.axes)
        if postgresql:
            scalars, scalars_total = ingest_postgres.copy_scalars(conn, execution_id, attempt_id, prepared.scalars)
            series, series_total = ingest_postgres.copy_series(
                conn, execution_id, attempt_id, prepared.series, axis_ids)
        else:
            scalars = ingest_sqlite.insert_scalars(conn, execution_id, attempt_id, prepared.scalars)
            series = ingest_sqlite.insert_series(conn, execution_id, attempt_id, prepared.series, axis_ids)
            scalars_total = count_in_table(conn, "scalar_values", execution_id)
            series_total = count_in_table(conn, "series_values", execution_id)
        total = IngestCounts(
            outputs=count_in_table(conn, "outputs", execution_id),
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


def _insert_outputs(conn: Connection, rows: list[dict[str, Any]]) -> int:
    inserted = 0
    for chunk in chunks(rows):
        result = conn.execute(
            dialect_insert(conn, Output)
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
    for chunk in chunks([{"hash": h, "name": axes[h][0], "values": axes[h][1]} for h in hashes]):
        conn.execute(
            dialect_insert(conn, SeriesIndexAxis).values(list(chunk)).on_conflict_do_nothing(index_elements=["hash"])
        )
    ids: dict[str, int] = {}
    for start in range(0, len(hashes), CHUNK_ROWS):
        part = hashes[start : start + CHUNK_ROWS]
        for h, axis_id in conn.execute(
            select(SeriesIndexAxis.hash, SeriesIndexAxis.id).where(SeriesIndexAxis.hash.in_(part))
        ):
            ids[h] = axis_id
    return ids
