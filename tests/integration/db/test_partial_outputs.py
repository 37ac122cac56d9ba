"""Partial outputs on SQLite and PostgreSQL: their own natural key, never counted as ingested, replay-safe,
and migration 0002 keeps what 0001 stored."""

from __future__ import annotations

import hashlib

import pytest
from alembic import command
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import IntegrityError

from diagnostic_operator.db.engine import alembic_config, create_engine_for, current_revision, upgrade
from diagnostic_operator.db.ingest import ingest
from diagnostic_operator.db.lifecycle_writes import allocate_execution, record_attempt_start
from diagnostic_operator.db.models import Output, ScalarValue
from diagnostic_operator.db.partial_outputs import record_partial_outputs
from diagnostic_operator.db.queries import count_rows, get_execution
from diagnostic_operator.spec import AttemptResources, IngestCounts
from diagnostic_operator.store.base import StoredObject
from tests.integration.db.examples import make_spec, result_set, stored_objects

pytestmark = pytest.mark.integration

RES = AttemptResources(memory="1Gi", cpu="1", wall_clock="1h")


def stored(path: str, attempt: int = 1) -> tuple[str, StoredObject]:
    key = f"executions/ns/x/attempt-{attempt}/partial/{path}"
    return path, StoredObject(key=key, size=len(path), sha256=hashlib.sha256(path.encode()).hexdigest(),
                              uri=f"s3://bucket/{key}")


def rows(engine: Engine) -> list[tuple[int | None, str, str, bool]]:
    with engine.connect() as conn:
        found = conn.execute(select(Output.attempt_id, Output.output_type, Output.short_name, Output.partial)
                             .order_by(Output.id)).all()
    return [(a, t, s, bool(p)) for a, t, s, p in found]


def test_partial_files_are_recorded_once_per_attempt_and_never_counted_as_ingested(db_engine: Engine) -> None:
    alloc = allocate_execution(db_engine, namespace="ns", name="x", uid="u-x", spec=make_spec(),
                               output_location="s3://bucket/executions/ns/x")
    first = record_attempt_start(db_engine, alloc.execution_id, 1, resources=RES)
    second = record_attempt_start(db_engine, alloc.execution_id, 2, resources=RES)
    # the same paths from two failed attempts; one of them is also the short name of a later bundle output
    files = [stored("index.html"), stored("data/tas.nc"), stored("data/tas.nc")]
    assert record_partial_outputs(db_engine, execution_id=alloc.execution_id, attempt_id=first, files=files) == 2
    assert record_partial_outputs(db_engine, execution_id=alloc.execution_id, attempt_id=first, files=files) == 0
    again = [stored("index.html", 2), stored("bias_fields", 2)]
    assert record_partial_outputs(db_engine, execution_id=alloc.execution_id, attempt_id=second, files=again) == 2

    third = record_attempt_start(db_engine, alloc.execution_id, 3, resources=RES)
    results = result_set()  # its outputs include ("data", "bias_fields") and ("html", …, "index.html")
    report = ingest(db_engine, execution_id=alloc.execution_id, attempt_id=third, results=results,
                    objects=stored_objects(results))
    assert report.inserted.outputs == 4 and report.total.outputs == 4, "partial rows are not outputs of the run"
    assert count_rows(db_engine, alloc.execution_id) == IngestCounts(outputs=4, scalar_values=8,
                                                                          series_values=3)
    partial = [r for r in rows(db_engine) if r[3]]
    assert partial == [(first, "data", "index.html", True), (first, "data", "data/tas.nc", True),
                       (second, "data", "index.html", True), (second, "data", "bias_fields", True)]
    with db_engine.connect() as conn:
        values = conn.execute(select(ScalarValue.attempt_id, func.count()).group_by(ScalarValue.attempt_id)).all()
    assert [tuple(v) for v in values] == [(third, 8)], "values come from the successful attempt only"

    detail = get_execution(db_engine, "u-x")
    assert detail is not None
    assert [a.partial_files for a in detail.attempts] == [2, 2, None]
    assert detail.status().ingested.outputs == 4


def test_bundle_outputs_keep_their_natural_key(db_engine: Engine) -> None:
    alloc = allocate_execution(db_engine, namespace="ns", name="y", uid="u-y", spec=make_spec(),
                               output_location="x")
    attempt = record_attempt_start(db_engine, alloc.execution_id, 1, resources=RES)
    row = {"execution_id": alloc.execution_id, "attempt_id": attempt, "output_type": "data", "short_name": "s",
           "filename": "f", "long_name": "", "description": "", "dimensions": {}, "uri": "u", "size": 1,
           "sha256": "0" * 64}
    with db_engine.begin() as conn:
        conn.execute(Output.__table__.insert().values(row))
    with pytest.raises(IntegrityError), db_engine.begin() as conn:
        conn.execute(Output.__table__.insert().values({**row, "filename": "g"}))
    with pytest.raises(IntegrityError), db_engine.begin() as conn:  # the check constraint survived 0002
        conn.execute(Output.__table__.insert().values({**row, "short_name": "t", "output_type": "movie"}))


def test_migration_0002_keeps_0001_rows_and_downgrades(db_url: str) -> None:
    config = alembic_config(db_url)
    command.downgrade(config, "0001")
    engine = create_engine_for(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO execution_groups (provider, slug, diagnostic_version, group_key) "
                              "VALUES ('p', 's', '1', 'g')"))
            conn.execute(text("INSERT INTO executions (group_id, namespace, name, uid, spec) "
                              "VALUES (1, 'ns', 'n', 'u', '{}')"))
            conn.execute(text("INSERT INTO attempts (execution_id, number) VALUES (1, 1)"))
            conn.execute(text(
                "INSERT INTO outputs (execution_id, attempt_id, output_type, short_name, filename, long_name, "
                "description, dimensions, uri, size, sha256) VALUES (1, 1, 'plot', 'map', 'map.png', '', '', "
                "'{}', 'file:///map.png', 3, 'abc')"))
        upgrade(db_url)
        assert current_revision(db_url) == "0003"
        assert rows(engine) == [(1, "plot", "map", False)]
        assert record_partial_outputs(engine, execution_id=1, attempt_id=1, files=[stored("map")]) == 1
        command.downgrade(config, "0001")  # the partial row goes; the bundle row stays
        with engine.connect() as conn:
            left = conn.execute(text("SELECT short_name FROM outputs")).scalars().all()
        assert left == ["map"]
        upgrade(db_url)
        assert rows(engine) == [(1, "plot", "map", False)]
    finally:
        engine.dispose()
