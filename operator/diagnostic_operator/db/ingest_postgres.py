"""Ingest on PostgreSQL: scalar and series values streamed with ``COPY``.

Concurrent ingests of one execution serialize on a transaction-level advisory lock (``lock_execution``).
The first ingest of an execution copies its rows straight into the value tables; a replay, or rows already
present, go through a temporary table and one ``INSERT … SELECT … ON CONFLICT DO NOTHING`` per table.
Either way the rows are written in the caller's transaction (``ingest``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any, cast

from sqlalchemy import Connection, text

from diagnostic_operator.db.queries import count_in_table
from diagnostic_operator.db.transactions import driver_connection, dumps_json, json_cache, series_values_json
from diagnostic_operator.results.rows import ScalarRow, SeriesRow

#: First key of the advisory lock taken by ``ingest`` (second key: the execution id). "dx".
INGEST_LOCK_CLASS = 0x6478

__all__ = ["INGEST_LOCK_CLASS", "copy_scalars", "copy_series", "lock_execution"]

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


def lock_execution(conn: Connection, execution_id: int) -> None:
    """Take the execution's advisory lock until the transaction ends (concurrent ingests of it wait here)."""
    lock = {"c": INGEST_LOCK_CLASS, "e": execution_id}
    conn.execute(text("SELECT pg_advisory_xact_lock(:c, :e)"), lock)


def copy_scalars(conn: Connection, execution_id: int, attempt_id: int, rows: list[ScalarRow]) -> tuple[int, int]:
    """Copy the attempt's scalar values; returns (inserted, scalar values of the execution now)."""
    return _copy(
        conn,
        table="scalar_values",
        columns=_SCALAR_COLUMNS,
        types=_SCALAR_TYPES,
        execution_id=execution_id,
        attempt_id=attempt_id,
        count=len(rows),
        tuples=_scalar_tuples(rows),
    )


def copy_series(
    conn: Connection, execution_id: int, attempt_id: int, rows: list[SeriesRow], axis_ids: Mapping[str, int]
) -> tuple[int, int]:
    """Copy the attempt's series values (``axis_ids``: index hash -> axis row); returns (inserted, series
    values of the execution now)."""
    return _copy(
        conn,
        table="series_values",
        columns=_SERIES_COLUMNS,
        types=_SERIES_TYPES,
        execution_id=execution_id,
        attempt_id=attempt_id,
        count=len(rows),
        tuples=_series_tuples(rows, axis_ids),
    )


def _scalar_tuples(rows: list[ScalarRow]) -> Iterator[tuple[Any, ...]]:
    attrs = json_cache()
    for r in rows:
        v = r.value
        if v is not None and not math.isfinite(v):
            v = None
        yield (r.kind, r.key, dumps_json(r.dimensions), v, attrs(r.attributes))


def _series_tuples(rows: list[SeriesRow], axis_ids: Mapping[str, int]) -> Iterator[tuple[Any, ...]]:
    attrs = json_cache()
    for r in rows:
        yield (
            r.kind,
            r.key,
            dumps_json(r.dimensions),
            series_values_json(r.values),
            axis_ids[r.index_key],
            attrs(r.attributes),
            r.value_units,
            r.value_long_name,
            r.index_units,
            r.calendar,
        )


def _copy(
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
        return 0, count_in_table(conn, table, execution_id)
    import psycopg  # only PostgreSQL gets here

    raw = cast(psycopg.Connection[Any], driver_connection(conn))
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
    return inserted, count_in_table(conn, table, execution_id)
