"""executions list/show/values only read: they never migrate nor create a database, and a database that is
away, missing or unmigrated is an error (exit 1, not the usage-error code 2) that says which and what to do."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from diagnostic_operator.cli import app

READERS = [["executions", "list"], ["executions", "show", "x"], ["executions", "values", "x"]]


def invoke(argv: list[str], url: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*argv, "--database", url])
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize("argv", READERS, ids=" ".join)
def test_a_missing_sqlite_file_is_not_created(argv: list[str], tmp_path: Path) -> None:
    path = tmp_path / "none" / "db.sqlite"
    code, out = invoke(argv, f"sqlite:///{path}")
    assert code == 1, out
    assert f"error: no database at sqlite:///{path}: the file does not exist" in out
    assert not path.exists() and not path.parent.exists()


@pytest.mark.parametrize("argv", READERS, ids=" ".join)
def test_an_unmigrated_database_is_not_migrated(argv: list[str], tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    sqlite3.connect(path).close()
    code, out = invoke(argv, f"sqlite:///{path}")
    assert code == 1, out
    assert "holds no diagnostic-operator tables (it was never migrated): `diagnostic-operator db upgrade`" in out
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []


@pytest.mark.parametrize("argv", READERS, ids=" ".join)
def test_an_unreachable_server_names_the_real_flag(argv: list[str]) -> None:
    code, out = invoke(argv, "postgresql://user:secret@127.0.0.1:9/none")
    assert code == 1, out
    assert "Cannot read the database at postgresql://user:***@127.0.0.1:9/none" in out
    assert "(the URL comes from --database or DIAGNOSTIC_OPERATOR_DATABASE_URL)" in out
    assert "--database-url" not in out and "secret" not in out


def test_a_migrated_database_is_read(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert CliRunner().invoke(app, ["db", "upgrade", "--database", url]).exit_code == 0
    assert invoke(["executions", "list", "--json"], url) == (0, "[]")
    code, out = invoke(["executions", "show", "nothing"], url)
    assert (code, out) == (1, f"error: no execution 'nothing' in {url}")
