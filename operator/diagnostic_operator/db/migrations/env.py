"""Alembic environment. Used programmatically by ``diagnostic_operator.db.engine.upgrade`` (which passes
an open connection in ``config.attributes["connection"]``) and by the ``alembic`` command line with
``db/alembic.ini`` (URL from ``-x url=…``, ``sqlalchemy.url`` or ``DIAGNOSTIC_OPERATOR_DATABASE_URL``)."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection

from diagnostic_operator.db.engine import create_engine_for, normalize_url
from diagnostic_operator.db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    dialect = connection.dialect.name

    def include_object(obj: object, name: str | None, type_: str, reflected: bool, other: object) -> bool:
        # GIN indexes are PostgreSQL-only (Index.ddl_if); autogenerate on SQLite must not propose them.
        return not (type_ == "index" and dialect != "postgresql" and (name or "").endswith("_dimensions_gin"))

    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("DIAGNOSTIC_OPERATOR_DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise SystemExit("no database URL: pass -x url=… or set DIAGNOSTIC_OPERATOR_DATABASE_URL")
    return url


def run_migrations_offline() -> None:
    context.configure(url=normalize_url(_url()), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine_for(_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
