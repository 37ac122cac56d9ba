"""Ingest on SQLite: scalar and series values inserted with the driver's ``executemany``.

Each row is one ``INSERT … ON CONFLICT (execution_id, dimensions_hash) DO NOTHING``, in the caller's
transaction (``ingest``); missing values (None, NaN, ±inf) become SQL NULL, and JSON null inside series
arrays.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy import Connection

from diagnostic_operator.db.transactions import (
    driver_connection,
    dumps_json,
    finite_or_none,
    json_cache,
    series_values_json,
)
from diagnostic_operator.results.rows import ScalarRow, SeriesRow

__all__ = ["insert_scalars", "insert_series"]


def _executemany(conn: Connection, sql: str, params: Iterable[tuple[Any, ...]]) -> int:
    raw = cast(sqlite3.Connection, driver_connection(conn))
    cur = raw.cursor()
    try:
        cur.executemany(sql, params)
        return max(cur.rowcount, 0)
    finally:
        cur.close()


def insert_scalars(
    conn: Connection, execution_id: int, attempt_id: int, rows: list[ScalarRow]
) -> int:
    """Insert the attempt's scalar values; returns how many were new."""
    if not rows:
        return 0
    attrs = json_cache()
    return _executemany(
        conn,
        "INSERT INTO scalar_values (execution_id, attempt_id, kind, dimensions, dimensions_hash, value, "
        "attributes) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (execution_id, dimensions_hash) DO NOTHING",
        (
            (
                execution_id,
                attempt_id,
                r.kind,
                dumps_json(r.dimensions),
                r.key,
                finite_or_none(r.value),
                attrs(r.attributes),
            )
            for r in rows
        ),
    )


def insert_series(
    conn: Connection, execution_id: int, attempt_id: int, rows: list[SeriesRow], axis_ids: Mapping[str, int]
) -> int:
    """Insert the attempt's series values (``axis_ids``: index hash -> axis row); returns how many were new."""
    if not rows:
        return 0
    attrs = json_cache()
    return _executemany(
        conn,
        'INSERT INTO series_values (execution_id, attempt_id, kind, dimensions, dimensions_hash, "values", '
        "index_axis_id, attributes, value_units, value_long_name, index_units, calendar) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (execution_id, dimensions_hash) DO NOTHING",
        (
            (
                execution_id,
                attempt_id,
                r.kind,
                dumps_json(r.dimensions),
                r.key,
                series_values_json(r.values),
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
