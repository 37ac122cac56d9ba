"""The database user of ingest needs only CONNECT (+ TEMPORARY), USAGE on the schema, SELECT/INSERT/UPDATE on
the tables and USAGE/SELECT on the sequences: everything the local run, the operator and the ingest sidecar
do works with exactly these rights, and DDL (what only the migration needs) is refused.

The migration runs as the owner of the schema (here the server's superuser), once, before anything else."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from diagnostic_operator.db.engine import check, create_engine_for, upgrade
from diagnostic_operator.db.errors import DatabaseError
from diagnostic_operator.db.ingest import ingest
from diagnostic_operator.db.lifecycle_writes import (
    allocate_execution,
    finish_execution,
    record_attempt_end,
    record_attempt_start,
    set_execution_phase,
)
from diagnostic_operator.db.queries import get_execution, list_executions
from diagnostic_operator.spec import AttemptResources, AttemptStatus, FailureClass, IngestCounts, Phase
from tests.integration.db.examples import make_spec, result_set, stored_objects

pytestmark = pytest.mark.integration

RES = AttemptResources(memory="4Gi", cpu="1", wall_clock="6h")

#: The grants, as a site's DBA would run them after the migration (docs/security.md quotes them).
GRANTS = """
REVOKE ALL ON DATABASE "{db}" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE "{db}" TO "{role}";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO "{role}";
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO "{role}";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}";
"""


@pytest.fixture
def ingest_role(postgres_url: str, pg_url: str) -> Iterator[tuple[str, str]]:
    """(URL of the migrated test database as the least-privilege role, the role's name)."""
    role = f"dxop_ingest_{os.getpid()}"
    db = make_url(pg_url).database
    admin = create_engine_for(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE'))
            for statement in GRANTS.format(db=db, role=role).strip().splitlines():
                conn.execute(text(statement))
        yield make_url(pg_url).set(username=role, password=None).render_as_string(hide_password=False), role
    finally:
        server = create_engine_for(postgres_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
        admin.dispose()
        with server.connect() as conn:  # DROP ROLE must not run inside the database it owns objects in
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        server.dispose()


@pytest.fixture
def engine(ingest_role: tuple[str, str]) -> Iterator[Engine]:
    engine = create_engine_for(ingest_role[0])
    try:
        yield engine
    finally:
        engine.dispose()


def test_the_whole_lifecycle_and_ingest_work_with_the_least_rights(ingest_role: tuple[str, str],
                                                                    engine: Engine) -> None:
    url, role = ingest_role
    with engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar_one() == role
        assert conn.execute(text("SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles "
                                 "WHERE rolname = current_user")).scalar_one() is False
    check(url)  # the start-up schema check reads alembic_version
    upgrade(url)  # already at head: recognised with one SELECT, no DDL attempted

    alloc = allocate_execution(engine, namespace="ns", name="lp", uid="uid-lp", spec=make_spec(),
                               output_location="s3://bucket/p")
    attempt = record_attempt_start(engine, alloc.execution_id, 1, resources=RES)
    set_execution_phase(engine, alloc.execution_id, phase=Phase.RUNNING)
    results = result_set()
    objects = stored_objects(results)
    first = ingest(engine, execution_id=alloc.execution_id, attempt_id=attempt, results=results,
                   objects=objects)  # COPY straight into the tables, advisory lock, FOR KEY SHARE
    assert first.inserted == IngestCounts(outputs=4, scalar_values=8, series_values=3)
    replay = ingest(engine, execution_id=alloc.execution_id, attempt_id=attempt, results=results,
                    objects=objects)  # the general path: a TEMP table, INSERT ... ON CONFLICT DO NOTHING
    assert replay.inserted == IngestCounts() and replay.total == first.total
    record_attempt_end(engine, attempt, AttemptStatus(number=1, exitCode=0,
                                                           failureClass=FailureClass.SUCCESS))
    finish_execution(engine, alloc.execution_id, phase=Phase.SUCCEEDED, failure_class=FailureClass.SUCCESS,
                     reason="Succeeded", message="done", dirty=False)
    detail = get_execution(engine, "uid-lp")
    assert detail is not None and detail.status().phase is Phase.SUCCEEDED and detail.counts == first.total
    assert list_executions(engine)[0].phase is Phase.SUCCEEDED


@pytest.mark.parametrize("statement", [
    "CREATE TABLE evil (id integer)",
    "CREATE SCHEMA evil",
    "DROP TABLE scalar_values",
    "ALTER TABLE scalar_values ADD COLUMN evil integer",
    "CREATE INDEX evil ON scalar_values (value)",
    "TRUNCATE scalar_values",
    "DELETE FROM executions",
    "CREATE FUNCTION evil() RETURNS integer LANGUAGE sql AS 'SELECT 1'",
    "UPDATE alembic_version SET version_num = 'x' WHERE false",  # allowed: UPDATE is granted (no DDL)
])
def test_ddl_and_deletes_are_refused(engine: Engine, statement: str) -> None:
    allowed = statement.startswith("UPDATE")
    with engine.connect() as conn:
        if allowed:
            conn.execute(text(statement))
            return
        with pytest.raises(ProgrammingError, match=r"permission denied|must be owner"):
            conn.execute(text(statement))


def test_the_migration_itself_is_refused_to_the_ingest_role(postgres_url: str, ingest_role: tuple[str, str]) -> None:
    """A fresh database the role may connect to: creating the schema (the migration) is refused."""
    _, role = ingest_role
    name = f"dxop_lp_empty_{os.getpid()}"
    admin = create_engine_for(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        owner_url = make_url(postgres_url).set(database=name)
        db_admin = create_engine_for(owner_url, isolation_level="AUTOCOMMIT")
        with db_admin.connect() as conn:
            for statement in GRANTS.format(db=name, role=role).strip().splitlines():
                conn.execute(text(statement))
        db_admin.dispose()
        role_url = owner_url.set(username=role, password=None).render_as_string(hide_password=False)
        with pytest.raises((DatabaseError, ProgrammingError), match="permission denied"):
            upgrade(role_url)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
