"""Repeatable KEY=VALUE options: a malformed item is refused with the option's name and an example, before
anything is read (``crd --apply --annotate``: tests/unit/test_incluster.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from diagnostic_operator.cli import app


@pytest.mark.parametrize(("args", "expected"), [
    (["executions", "values", "some-execution", "--where", "region"],
     "--where 'region': write KEY=VALUE, e.g. --where region=Tropics"),
    (["executions", "values", "some-execution", "--where", "=Tropics"],
     "--where '=Tropics': write KEY=VALUE"),
])
def test_a_malformed_pair_is_refused_naming_the_option(args: list[str], expected: str, tmp_path: Path) -> None:
    database = tmp_path / "never.sqlite"
    result = CliRunner().invoke(app, args, env={"DIAGNOSTIC_OPERATOR_DATABASE_URL": f"sqlite:///{database}"})
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.split())
    assert not database.exists()  # refused before the database was opened
