"""The test PostgreSQL service: missing binaries are a clear error, not a skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.services import postgres


def test_missing_binaries_name_tests_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(postgres.BINDIR_ENV, raising=False)
    monkeypatch.setattr(postgres.shutil, "which", lambda _name: None)
    monkeypatch.setattr(postgres.glob, "glob", lambda _pattern: [])
    with pytest.raises(postgres.PostgresUnavailable) as info:
        postgres.find_bindir()
    assert "tests/run" in str(info.value) and postgres.URL_ENV in str(info.value)


def test_bindir_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for exe in ("initdb", "pg_ctl", "postgres"):
        (tmp_path / exe).write_text("")
    monkeypatch.setenv(postgres.BINDIR_ENV, str(tmp_path))
    assert postgres.find_bindir() == tmp_path
