"""`diagnostic-operator run` of attempts that fail after writing files: what they made is kept under the
attempt's partial/ prefix and recorded as partial rows, and no value is ingested, with SQLite + a local
folder and with PostgreSQL + the S3 server. A successful attempt publishes no partial file (and reports its
CPU seconds alike in the run's report and in `executions show`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from diagnostic_operator.db.engine import create_engine_for
from diagnostic_operator.db.models import Output
from diagnostic_operator.store import open_store
from tests.integration.local.test_local_run import EXAMPLES, cli, files_under, local_env, run_json, show

pytestmark = pytest.mark.integration
__all__ = ["local_env"]  # the fixture, shared with the other local-run tests

# Valid bundles (the example diagnostic), then more files, a symlink out of the folder, then exit 3.
EXIT_3 = ("python3 -m example_diagnostic && mkdir -p extra && echo note > extra/note.txt "
          "&& ln -s /etc/passwd leak && exit 3")
# A marker, the example's files, then a sleep that the 20 s wall clock cuts short.
SLOW = "echo started > started.txt && python3 -m example_diagnostic && exec sleep 120"


def manifest(tmp_path: Path, base: str, name: str, script: str, **resources: str) -> Path:
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / "failing" / base).read_text())
    doc["metadata"]["name"] = name
    doc["spec"]["command"] = ["/bin/sh", "-c", script]
    doc["spec"].pop("args", None)
    doc["spec"]["resources"].update(resources)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def partial_of(keys: list[str]) -> list[str]:
    return sorted(k.split("/partial/", 1)[1] for k in keys if "/attempt-1/partial/" in k)


def assert_nothing_ingested(name: str, env: dict[str, str], partial: list[str]) -> None:
    status = show(name, env)["status"]
    assert status["ingested"] == {"outputs": 0, "scalarValues": 0, "seriesValues": 0, "dropped": 0}
    assert status["attempts"][0]["partialFiles"] == len(partial)
    values = cli("executions", "values", name, "--json", env=env)
    assert values.returncode == 0 and values.stdout.strip() == "[]", values.stdout
    engine = create_engine_for(env["DIAGNOSTIC_OPERATOR_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Output.filename, Output.partial, Output.uri)).all()
    finally:
        engine.dispose()
    assert sorted(r.filename for r in rows) == partial
    assert all(r.partial for r in rows) and all("/attempt-1/partial/" in r.uri for r in rows)


def test_exit_nonzero_after_writing_keeps_the_files_as_partial(local_env: dict[str, str], tmp_path: Path) -> None:
    code, data, err = run_json(manifest(tmp_path, "exit-nonzero.yaml", "wrote-then-failed", EXIT_3), local_env)
    assert code == 1, err
    assert (data["phase"], data["failureClass"], data["reason"]) == ("Failed", "DiagnosticError", "ExitCode3")
    stored = files_under(tmp_path / "store")
    partial = partial_of(stored)
    # the bundles parse, and still are only files here; the shim's files are not published twice; the
    # symlink is not followed
    assert {"diagnostic.json", "output.json", "series.json", "extra/note.txt"} <= set(partial)
    assert any(p.endswith(".png") for p in partial)
    assert not {"out.log", "leak"} & set(partial) and not any(".diagnostic-operator" in p for p in partial)
    assert sum(f.endswith("attempt-1/out.log") for f in stored) == 1
    assert sum(f.endswith("attempt-1/exit.json") for f in stored) == 1
    assert not any("/outputs/" in f for f in stored)
    assert data["attempts"][0]["partialFiles"] == len(partial)
    assert_nothing_ingested(data["name"], local_env, partial)
    with sqlite3.connect(local_env["DIAGNOSTIC_OPERATOR_DATABASE_URL"].removeprefix("sqlite:///")) as db:
        assert db.execute("SELECT count(*) FROM scalar_values").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM series_values").fetchone() == (0,)


def test_a_timed_out_attempt_keeps_what_it_wrote(local_env: dict[str, str], tmp_path: Path) -> None:
    code, data, err = run_json(manifest(tmp_path, "timeout.yaml", "wrote-then-slept", SLOW, wallClock="20s"),
                               local_env)
    assert code == 1, err
    assert (data["failureClass"], data["reason"]) == ("TimedOut", "DeadlineExceeded")
    partial = partial_of(files_under(tmp_path / "store"))
    assert "started.txt" in partial and "out.log" not in partial
    assert_nothing_ingested(data["name"], local_env, partial)


def test_a_successful_attempt_publishes_no_partial_file(local_env: dict[str, str], tmp_path: Path) -> None:
    code, data, err = run_json(EXAMPLES / "global-mean-bias.yaml", local_env)
    assert code == 0, err
    assert "partialFiles" not in data["attempts"][0]
    stored = files_under(tmp_path / "store")
    assert not any("/partial/" in f for f in stored) and any("/outputs/" in f for f in stored)
    status = show(data["name"], local_env)["status"]
    assert status["ingested"]["scalarValues"] == 24 and "partialFiles" not in status["attempts"][0]
    # the CPU time of the run, the same in the run's report and in the database (executions show)
    cpu = data["attempts"][0]["telemetry"]["cpuSeconds"]
    assert cpu > 0 and status["attempts"][0]["telemetry"]["cpuSeconds"] == cpu


def test_postgres_and_s3_keep_a_failed_attempts_files(postgres_url: str, s3_store_url: Any, tmp_path: Path) -> None:
    env = {"DIAGNOSTIC_OPERATOR_DATABASE_URL": postgres_url, "DIAGNOSTIC_OPERATOR_STORE_URL": s3_store_url.url,
           "DIAGNOSTIC_OPERATOR_HOME": str(tmp_path / "home"), **s3_store_url.env}
    code, data, err = run_json(manifest(tmp_path, "exit-nonzero.yaml", "wrote-then-failed-s3", EXIT_3), env)
    assert code == 1, err
    store = open_store(s3_store_url.url, env=s3_store_url.env)
    keys = store.list_keys("executions/")
    partial = partial_of(keys)
    assert {"diagnostic.json", "extra/note.txt"} <= set(partial) and "leak" not in partial
    assert not any("/outputs/" in k for k in keys)
    note = next(k for k in keys if k.endswith("/partial/extra/note.txt"))
    assert store.get_bytes(note) == b"note\n"
    status = show(data["name"], env)["status"]
    assert status["ingested"]["scalarValues"] == 0 and status["attempts"][0]["partialFiles"] == len(partial)
