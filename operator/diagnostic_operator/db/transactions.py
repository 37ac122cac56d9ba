"""What every database module shares: transactions, error translation and the encoding of values.

``begin`` gives a call its own transaction on an engine, or joins the caller's on a Connection (several
writes, one commit). ``translate_errors`` turns driver errors into :class:`DatabaseError` or
:class:`IngestError`, naming the database by its URL with the password masked. The rest are small helpers of
the statements: a dialect-specific INSERT, chunks of rows for multi-VALUES statements, compact JSON, and
timestamps in UTC.
"""

from __future__ import annotations

import json
import math
import sqlite3
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError

from diagnostic_operator.db.engine import mask_url, scrub
from diagnostic_operator.db.errors import DatabaseError, IngestError

CHUNK_ROWS = 1000  # rows per multi-VALUES statement (well under both databases' parameter limits)

__all__ = [
    "CHUNK_ROWS",
    "as_utc",
    "begin",
    "chunks",
    "dialect_insert",
    "driver_connection",
    "dumps_json",
    "finite_or_none",
    "iso_utc",
    "json_cache",
    "masked_url_of",
    "parse_time",
    "series_values_json",
    "translate_errors",
    "utc_now",
]


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Aware UTC (SQLite keeps no offset, so everything is stored as UTC and read back naive = UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_time(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return as_utc(value)
    return as_utc(datetime.fromisoformat(value))


def iso_utc(value: datetime | None) -> str | None:
    value = as_utc(value)
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def dialect_insert(conn: Connection, table: Any) -> Any:
    """A dialect-specific INSERT (both dialects have ``on_conflict_do_nothing``)."""
    return pg.insert(table) if conn.dialect.name == "postgresql" else sqlite_dialect.insert(table)


def finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def masked_url_of(bind: Engine | Connection) -> str:
    return mask_url(bind.engine.url)


@contextmanager
def begin(bind: Engine | Connection) -> Iterator[Connection]:
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
def translate_errors(bind: Engine | Connection, doing: str) -> Iterator[None]:
    """Turn driver errors into DatabaseError / IngestError with the URL (password masked)."""
    engine = bind.engine
    try:
        yield
    except DatabaseError:
        raise
    except _data_errors() as exc:
        cause = scrub(_first_line(exc), engine.url)
        raise IngestError(f"{doing} in {masked_url_of(engine)} failed, nothing was written: {cause}") from exc
    except _db_errors() as exc:
        cause = scrub(_first_line(exc), engine.url)
        raise DatabaseError(f"{doing} in {masked_url_of(engine)} failed: {cause}") from exc


def _first_line(exc: BaseException) -> str:
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text_ = str(inner).strip()
    return text_.splitlines()[0] if text_ else type(inner).__name__


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def dumps_json(value: object) -> str:
    """Compact JSON; NaN/±inf raise ValueError. One shared encoder: json.dumps with options builds a new
    encoder per call, which costs more than the encoding of a small dict."""
    return _ENCODE(value)


def chunks(rows: Sequence[dict[str, Any]], size: int = CHUNK_ROWS) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def json_cache() -> Any:
    cache: dict[int, str | None] = {}

    def dump(value: Mapping[str, Any] | None) -> str | None:
        if value is None:
            return None
        key = id(value)
        got = cache.get(key)
        if got is None:
            got = cache[key] = dumps_json(value)
        return got

    return dump


def driver_connection(conn: Connection) -> Any:
    return conn.connection.driver_connection


def series_values_json(values: list[float | None]) -> str:
    try:
        return dumps_json(values)
    except ValueError:  # NaN or ±inf inside: missing
        return dumps_json([finite_or_none(v) for v in values])
