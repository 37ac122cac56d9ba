"""Untrusted text is printed as text: log lines, names, group keys, messages, values, paths and validation
errors that look like rich markup are shown as written by ``run``, ``executions list/show/values``,
``validate`` and ``results validate``, and control characters are shown as escapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from diagnostic_operator.cli import app
from diagnostic_operator.plain import line, plain, shown
from diagnostic_operator.progress import RichReporter
from diagnostic_operator.spec import ResourceHint
from diagnostic_operator.transports.memory_limit import MemoryLimit

HOSTILE = ["[/]", "[bold]x", "[link=file:///etc/passwd]x[/link]", "Reading [/data/cmip6/tas.nc]", "[/] done"]


@pytest.mark.parametrize(("value", "expected"), [
    ("[/]", "[/]"),
    ("a\x1b[31mred", "a\\x1b[31mred"),
    ("bell\x07 del\x7f c1\x9b", "bell\\x07 del\\x7f c1\\x9b"),
    ("tab\tand\nnewline", "tab\tand\nnewline"),
])
def test_shown_escapes_control_characters_only(value: str, expected: str) -> None:
    assert shown(value) == expected


@pytest.mark.parametrize("value", HOSTILE)
def test_plain_and_line_never_read_markup(value: str) -> None:
    console = Console(record=True, width=200)  # markup on: the Text must protect itself
    console.print(plain(value))
    console.print(line(("x", "bold"), " ", value, (value, "dim")))
    out = console.export_text()
    assert out.splitlines() == [value, f"x {value}{value}"]


@pytest.mark.parametrize("live", [False, True])
@pytest.mark.parametrize("value", HOSTILE)
def test_reporter_prints_log_lines_and_paths_as_text(value: str, live: bool, tmp_path: Path) -> None:
    console = Console(record=True, width=300, force_terminal=live)
    reporter = RichReporter(console, live=live)
    reporter.execution_started(f"n{value}", "0123456789", f"sqlite:///{value}", f"/store/{value}")
    reporter.attempt_started(1, ResourceHint(memory="1Gi", cpu="1", wallClock="1m"), MemoryLimit("rlimit-as", 0),
                             tmp_path / value)
    reporter.attempt_running(1, 0.5, value)
    reporter.message(value)
    reporter._stop()
    out = console.export_text()
    assert f"n{value}" in out and f"/store/{value}" in out and str(tmp_path / value) in out
    if not live:
        assert f"running 0s  {value}" in out
    assert f"  {value}" in out


def _manifest(tmp_path: Path, group_key: str, script: str) -> Path:
    doc = {"apiVersion": "diagnostic-operator.io/v1alpha1", "kind": "DiagnosticExecution",
           "metadata": {"name": "hostile"},
           "spec": {"diagnostic": {"provider": "p", "slug": "s", "version": "1"}, "groupKey": group_key,
                    "image": "i:1", "command": ["/bin/sh", "-c", script],
                    "resources": {"memory": "256Mi", "cpu": "1", "wallClock": "1m"},
                    "retry": {"maxAttempts": 1}}}
    path = tmp_path / "hostile.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"DIAGNOSTIC_OPERATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
            "DIAGNOSTIC_OPERATOR_STORE_URL": str(tmp_path / "store"),
            "DIAGNOSTIC_OPERATOR_HOME": str(tmp_path / "home")}


def test_run_and_executions_print_hostile_text(tmp_path: Path, env: dict[str, str]) -> None:
    key = "k[/]e[bold]y[link=file:///etc/passwd]x[/link]"
    script = "printf 'Reading [/data/cmip6/tas.nc]\\n'; sleep 2; printf '[/] done\\n'; exit 3"
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(_manifest(tmp_path, key, script)), "--no-progress",
                                 "--memory-limits", "off"], env=env)
    assert result.exit_code == 1, result.output
    # off a tty, the last log line when the watch starts (which one depends on how long start-up took)
    assert "running" in result.output
    assert "Reading [/data/cmip6/tas.nc]" in result.output or "[/] done" in result.output
    assert "Failed hostile after 1 attempt" in result.output

    listed = runner.invoke(app, ["executions", "list"], env={**env, "COLUMNS": "400"})
    assert listed.exit_code == 0, listed.output
    assert key[:20] in listed.output  # the column is cut at 120 characters off a tty
    shown_ = runner.invoke(app, ["executions", "show", "hostile"], env=env)
    assert shown_.exit_code == 0, shown_.output
    assert f"group {key} (dirty" in shown_.output
    values = runner.invoke(app, ["executions", "values", "hostile"], env=env)
    assert values.exit_code == 0, values.output
    assert "scalar" in values.output and values.exception is None


def test_values_print_hostile_dimensions_and_filters(tmp_path: Path, env: dict[str, str]) -> None:
    assert CliRunner().invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    result = CliRunner().invoke(app, ["executions", "values", "[x]", "--where", "[bold]k=[/]"], env=env)
    assert result.exit_code == 1
    assert "no execution '[x]'" in result.output


@pytest.mark.parametrize("value", HOSTILE)
def test_validate_quotes_a_hostile_value_in_its_error(value: str, tmp_path: Path) -> None:
    path = _manifest(tmp_path, "k", "true")
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["resources"]["memory"] = value
    path.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert value in result.output.replace("\n", "")


def test_validate_prints_a_hostile_file_name(tmp_path: Path) -> None:
    folder = tmp_path / "[bold]x[-]"
    folder.mkdir()
    path = _manifest(folder, "k[/]", "true")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "hostile: valid DiagnosticExecution (p/s)" in result.output
    missing = CliRunner().invoke(app, ["validate", str(folder / "no.yaml")])
    assert missing.exit_code == 2 and str(folder / "no.yaml") in missing.output.replace("\n", "")


def test_results_validate_prints_a_hostile_folder(tmp_path: Path) -> None:
    folder = tmp_path / "[link=x]x[bold]"
    folder.mkdir()
    (folder / "diagnostic.json").write_text(json.dumps({"[/]": 1}))
    result = CliRunner().invoke(app, ["results", "validate", str(folder)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # not a MarkupError
    assert result.output == "error: diagnostic.json: required key DIMENSIONS is missing\n"
