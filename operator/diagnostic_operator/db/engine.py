"""Engines, migrations and the reachability check.

``sqlite:///path`` (a local file: WAL, foreign keys on, busy timeout, write transactions taken with
``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing) and ``postgresql://…`` (mapped to the
psycopg 3 driver) are supported. Every message masks the password.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

from diagnostic_operator.db.errors import DatabaseError
from diagnostic_operator.settings import mask_url as settings_mask_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
ALEMBIC_INI = Path(__file__).resolve().parent / "alembic.ini"

#: Key of the PostgreSQL advisory lock held while migrating ("dxop" + 1).
MIGRATION_LOCK_KEY = 0x6478_6F70_0000_0001
SQLITE_BUSY_TIMEOUT_MS = 30_000

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def normalize_url(url: str | URL) -> URL:
    """Parse ``url`` and map ``postgresql://`` / ``postgres://`` to the psycopg 3 driver."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError as exc:
        raise DatabaseError(f"{mask_url(str(url))} is not a database URL: {exc}") from None
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername not in ("sqlite", "sqlite+pysqlite"):
        raise DatabaseError(
            f"{mask_url(str(url))}: unsupported database {parsed.drivername!r}; "
            "use sqlite:///path/to/file.db or postgresql://user:password@host:port/database"
        )
    return parsed


def mask_url(url: str | URL) -> str:
    """The URL with its password replaced by ``***``; never raises (one rule: ``settings.mask_url``)."""
    return settings_mask_url(url if isinstance(url, str) else url.render_as_string(hide_password=False))


def scrub(message: str, url: str | URL) -> str:
    """Remove the URL's password from ``message`` (drivers sometimes echo connection strings)."""
    try:
        password = (make_url(url) if isinstance(url, str) else url).password
    except Exception:
        password = None
    if password:
        message = message.replace(str(password), "***")
    return message


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see _sqlite_on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock at BEGIN: two writers queue (busy timeout) instead of one failing
    # with "database is locked" when it upgrades a read transaction. Readers are not blocked (WAL).
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine_for(url: str | URL, **kwargs: Any) -> Engine:
    """A new engine for ``url`` (SQLite file or PostgreSQL), configured for this package."""
    parsed = normalize_url(url)
    if parsed.drivername.startswith("sqlite"):
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {}).setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    connect_args = kwargs.setdefault("connect_args", {})
    connect_args.setdefault("connect_timeout", 10)
    connect_args.setdefault("application_name", "diagnostic-operator")
    return create_engine(parsed, **kwargs)


def pool_size_for(url: str | URL, threads: int) -> dict[str, int]:
    """Engine options for ``threads`` concurrent callers: a PostgreSQL pool that holds a connection for each
    (SQLite keeps its own per-thread pool: nothing to size)."""
    if normalize_url(url).drivername.startswith("sqlite"):
        return {}
    return {"pool_size": threads, "max_overflow": 4}


def engine_for(url: str | URL) -> Engine:
    """A process-wide shared engine for ``url`` (created on first use)."""
    key = normalize_url(url).render_as_string(hide_password=False)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = create_engine_for(url)
        return engine


def alembic_config(url: str | URL | None = None) -> Config:
    from alembic.config import Config

    """An Alembic config that works from the installed package (no ini file needed)."""
    config = Config(str(ALEMBIC_INI)) if ALEMBIC_INI.is_file() else Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        rendered = normalize_url(url).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def _unreachable(url: str | URL, exc: BaseException, doing: str) -> DatabaseError:
    cause = scrub(" ".join(str(getattr(exc, "orig", None) or exc).split()), url).strip()
    end = "" if cause.endswith((".", "?", "!")) else "."
    return DatabaseError(
        f"Cannot {doing} the database at {mask_url(url)}: {cause}{end} Check that the server is running and "
        "reachable from here, and that the user, password and database name in the URL are right "
        "(the URL comes from --database or DIAGNOSTIC_OPERATOR_DATABASE_URL)."
    )


SCHEMA_HEAD = "0003"  # the newest migration's revision; a test checks it against Alembic's own head


def _at_head(conn: Connection) -> bool:
    try:
        row = conn.execute(text("SELECT version_num FROM alembic_version")).fetchone()
    except SQLAlchemyError:
        return False
    return row is not None and row[0] == SCHEMA_HEAD


def upgrade(url: str | URL, *, engine: Engine | None = None) -> None:
    """Apply every migration (``alembic upgrade head``). Idempotent; on PostgreSQL concurrent callers
    serialize on an advisory lock, so two processes starting at once do not race. A database already at
    the head is recognised with one query, without loading Alembic."""
    from alembic import command

    own = engine is None
    engine = engine or create_engine_for(url)
    try:
        with engine.connect() as conn:
            if _at_head(conn):
                return
        with engine.begin() as conn:
            if is_postgresql(engine):
                lock = {"key": _signed64(MIGRATION_LOCK_KEY)}
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), lock)
            config = alembic_config(url)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise _unreachable(url, exc, "migrate") from exc
    finally:
        if own:
            engine.dispose()


def require_current(url: str | URL) -> Engine:
    """An engine for a database that is at this version's schema, for commands that only read: they never
    migrate (nor create a SQLite file). Raises :class:`DatabaseError` saying what is wrong: unreachable, no
    such SQLite file, never migrated, or at another schema."""
    parsed = normalize_url(url)
    if parsed.drivername.startswith("sqlite"):
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:") \
                and not Path(database).expanduser().is_file():
            raise DatabaseError(f"no database at {mask_url(url)}: the file does not exist (nothing has run with "
                                "this database yet; --database or DIAGNOSTIC_OPERATOR_DATABASE_URL chooses another)")
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            if _at_head(conn):
                return engine
        found = current_revision(url, engine=engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise _unreachable(url, exc, "read") from exc
    except DatabaseError:
        engine.dispose()
        raise
    engine.dispose()
    if found is None:
        raise DatabaseError(f"the database at {mask_url(url)} holds no diagnostic-operator tables (it was never "
                            "migrated): `diagnostic-operator db upgrade` creates them, and so does a `run`")
    how = ("a newer diagnostic-operator migrated it" if found > SCHEMA_HEAD  # revisions are zero-padded numbers
           else "`diagnostic-operator db upgrade` migrates it")
    raise DatabaseError(f"the database at {mask_url(url)} is at schema {found}, this version reads {SCHEMA_HEAD}: "
                        f"{how}")


def current_revision(url: str | URL, *, engine: Engine | None = None) -> str | None:
    """The schema revision the database is at, or None when it was never migrated."""
    own = engine is None
    engine = engine or create_engine_for(url)
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise _unreachable(url, exc, "read") from exc
    finally:
        if own:
            engine.dispose()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def check(url: str | URL, *, engine: Engine | None = None) -> None:
    """Raise :class:`DatabaseError` unless the database at ``url`` answers a query."""
    own = engine is None
    try:
        engine = engine or create_engine_for(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise _unreachable(url, exc, "reach") from exc
    except OSError as exc:
        raise _unreachable(url, exc, "reach") from exc
    finally:
        if own and engine is not None:
            engine.dispose()


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= (1 << 63) else value
