"""``diagnostic-operator results validate``: the compat flag, the counts by kind, and text from the files
printed as it is (a key that looks like rich markup is shown, not interpreted)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from diagnostic_operator.cli import app

from .test_compat import CLEAN, DIMS, RESULTS, SERIES, Case, metric, text

MARKUP_KEY = "[bold red]evil[/]"


def _validate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["results", "validate", *args])
    return result.exit_code, result.output


def _counted(output: str) -> dict[str, int]:
    """The ``N  kind: meaning`` lines."""
    counted = {}
    for line in output.splitlines():
        words = line.split()
        if len(words) > 2 and words[0].isdigit() and words[1].endswith(":"):
            counted[words[1].rstrip(":")] = int(words[0])
    return counted


def test_compat_prints_what_was_dropped_by_kind(tmp_path: Path) -> None:
    diagnostic = metric(["source_id", "region", "metric"], DIMS,
                        {**RESULTS, "A": {"global": {"bias": 1.0, MARKUP_KEY: 5.0}}})
    series = text([SERIES, SERIES], "3.0", "Infinity")
    out = Case(diagnostic=diagnostic, series=series).write(tmp_path / "out")

    code, output = _validate("--compat", "climate-ref", str(out))
    assert code == 0, output
    assert "3 scalar values, 1 series, 1 outputs" in output
    assert "3 items not stored as written (climate-ref compat mode):" in output
    assert _counted(output) == {"undeclared-leaf-key": 1, "infinite-series-value": 1, "duplicate-series": 1}
    assert MARKUP_KEY in output  # the warning about the dropped key quotes it literally


def test_the_strict_reader_is_the_default_and_its_error_is_plain_text(tmp_path: Path) -> None:
    diagnostic = metric(["source_id", "region", "metric"], DIMS,
                        {**RESULTS, "A": {"global": {"bias": 1.0, MARKUP_KEY: 5.0}}})
    out = Case(diagnostic=diagnostic).write(tmp_path / "out")
    code, output = _validate(str(out))
    assert code == 1
    where = "/RESULTS/A/global/" + MARKUP_KEY.replace("/", "~1")  # a JSON pointer
    assert f"error: diagnostic.json at {where}: '{MARKUP_KEY}' is not a declared value" in output


def test_a_clean_folder_reports_nothing_dropped(tmp_path: Path) -> None:
    out = Case(diagnostic=CLEAN).write(tmp_path / "out")
    code, output = _validate("--compat", "climate-ref", str(out))
    assert code == 0 and "not stored as written" not in output


def test_an_unknown_compat_mode_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "diagnostic.json").write_text(json.dumps(CLEAN))
    code, output = _validate("--compat", "pmp", str(out))
    assert code == 2 and "--compat: 'pmp' is not one of none, climate-ref" in output
