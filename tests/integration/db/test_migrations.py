"""Migrations on SQLite and a real PostgreSQL: idempotent, concurrent-safe, and equal to the models."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, delete, func, inspect, select, text
from sqlalchemy.engine import make_url

from diagnostic_operator.db.engine import create_engine_for, current_revision, head_revision, upgrade
from diagnostic_operator.db.ingest import ingest
from diagnostic_operator.db.lifecycle_writes import allocate_execution, record_attempt_start
from diagnostic_operator.db.models import Base, Execution, ScalarValue, SeriesValue
from diagnostic_operator.db.queries import get_execution
from diagnostic_operator.spec import AttemptResources
from tests.integration.db.examples import make_spec, result_set, stored_objects

pytestmark = pytest.mark.integration

TABLES = {"execution_groups", "executions", "attempts", "outputs", "scalar_values", "series_index_axes",
          "series_values", "alembic_version"}


def test_upgrade_twice_is_a_no_op(db_url: str, db_engine: Engine) -> None:
    upgrade(db_url)  # the fixture already migrated once
    upgrade(db_url)
    assert current_revision(db_url) == head_revision() == "0003"
    assert set(inspect(db_engine).get_table_names()) == TABLES


def test_migration_matches_the_models(db_engine: Engine) -> None:
    with db_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    if db_engine.dialect.name == "sqlite":  # the GIN indexes exist on PostgreSQL only (Index.ddl_if)
        diff = [d for d in diff if not (d[0] == "add_index" and d[1].name.endswith("_dimensions_gin"))]
    assert diff == []


def test_gin_indexes_on_postgresql(pg_engine: Engine) -> None:
    with pg_engine.connect() as conn:
        defs = dict(conn.execute(text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE '%_dimensions_gin'")).all())
        types = dict(conn.execute(text(
            "SELECT table_name, data_type FROM information_schema.columns WHERE column_name = 'dimensions'"
            " AND table_name IN ('scalar_values', 'series_values')")).all())
    assert set(defs) == {"ix_scalar_values_dimensions_gin", "ix_series_values_dimensions_gin"}
    assert all("USING gin" in d and "jsonb_path_ops" in d for d in defs.values())
    assert types == {"scalar_values": "jsonb", "series_values": "jsonb"}


def test_concurrent_upgrades_from_two_processes(postgres_url: str) -> None:
    admin = create_engine_for(postgres_url, isolation_level="AUTOCOMMIT")
    name = "dxop_concurrent_upgrade"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    script = textwrap.dedent(f"""
        from diagnostic_operator.db.engine import upgrade
        upgrade({url!r})
    """)
    try:
        procs = [subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], errors
        assert current_revision(url) == head_revision()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_deleting_an_execution_deletes_its_values(db_engine: Engine) -> None:
    a = allocate_execution(db_engine, namespace="d", name="n", uid="u", spec=make_spec(),
                           output_location="x")
    b = allocate_execution(db_engine, namespace="d", name="m", uid="v", spec=make_spec(),
                           output_location="x")
    results = result_set()
    for alloc in (a, b):
        attempt = record_attempt_start(db_engine, alloc.execution_id, 1,
                                       resources=AttemptResources(memory="1Gi", cpu="1", wall_clock="1h"))
        ingest(db_engine, execution_id=alloc.execution_id, attempt_id=attempt, results=results,
               objects=stored_objects(results))
    with db_engine.begin() as conn:
        conn.execute(delete(Execution).where(Execution.id == a.execution_id))
    with db_engine.connect() as conn:
        for model in (ScalarValue, SeriesValue):
            left = conn.execute(select(model.execution_id, func.count()).group_by(model.execution_id)).all()
            assert [tuple(r) for r in left] == [(b.execution_id, 8 if model is ScalarValue else 3)]
    assert get_execution(db_engine, "u") is None
