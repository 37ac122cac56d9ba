"""Engine helpers that need no database server."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sqlalchemy import text

from diagnostic_operator.db.engine import (
    MIGRATIONS_DIR,
    alembic_config,
    check,
    create_engine_for,
    head_revision,
    mask_url,
    normalize_url,
    upgrade,
)
from diagnostic_operator.db.errors import DatabaseError


@pytest.mark.parametrize("url", ["postgresql://u:p@h:5432/db", "postgres://u:p@h/db",
                                 "postgresql+psycopg2://u:p@h/db"])
def test_postgresql_urls_use_psycopg3(url: str) -> None:
    assert normalize_url(url).drivername == "postgresql+psycopg"


def test_unsupported_and_malformed_urls() -> None:
    with pytest.raises(DatabaseError, match="unsupported database 'mysql'"):
        normalize_url("mysql://root:hunter2@h/db")
    with pytest.raises(DatabaseError) as info:
        normalize_url("not a url")
    assert "not a database URL" in str(info.value)


def test_mask_url_hides_the_password() -> None:
    assert mask_url("postgresql://alice:s3cr3t@db:5432/x") == "postgresql://alice:***@db:5432/x"
    assert "s3cr3t" not in mask_url("postgresql://alice:s3cr3t@db/x?sslmode=require")
    assert mask_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_check_unreachable_postgresql_names_the_url_masked() -> None:
    url = f"postgresql://alice:s3cr3t@127.0.0.1:{_closed_port()}/results"
    with pytest.raises(DatabaseError) as info:
        check(url)
    message = str(info.value)
    assert "s3cr3t" not in message
    assert "postgresql://alice:***@127.0.0.1" in message and "/results" in message
    assert "refused" in message.lower()
    assert "\n" not in message


def test_sqlite_engine_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'dir' / 'x.db'}"  # parent folders are created
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        check(url)
    finally:
        engine.dispose()


def test_sqlite_unreachable_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DatabaseError, match="Cannot"):
        check(f"sqlite:///{blocker}/x.db")


def test_migrations_ship_with_the_package(tmp_path: Path) -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0001_initial.py").is_file()
    assert alembic_config().get_main_option("script_location") == str(MIGRATIONS_DIR)
    assert (MIGRATIONS_DIR / "versions" / "0002_partial_outputs.py").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0003_runner.py").is_file()
    assert head_revision() == "0003"
    url = f"sqlite:///{tmp_path / 'x.db'}"
    upgrade(url)
    upgrade(url)
