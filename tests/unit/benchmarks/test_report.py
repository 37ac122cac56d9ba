"""benchmarks/report.py: a run's results are merged over the recorded ones; a run that printed no figures
(killed, crashed) never wipes recorded figures; the page is written whole."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "benchmarks" / "report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "LATEST", tmp_path / "latest.jsonl")
    return module


def line(name: str, exit_code: int, result: dict[str, Any] | None, run: str | None = None) -> str:
    item: dict[str, Any] = {"name": name, "exit": exit_code, "seconds": 5, "command": f"python {name}.py",
                            "result": result}
    if run:
        item["run"] = run
    return json.dumps(item)


def test_a_run_replaces_the_recorded_figures_of_its_benchmarks_only(report: ModuleType, tmp_path: Path) -> None:
    report.LATEST.write_text(line("parse", 0, {"ratio": 2.0}, "OLD") + "\n" + line("ingest", 0, {"ratio": 1.5}, "OLD")
                             + "\n")
    run = tmp_path / "NEW.jsonl"
    run.write_text(line("parse", 1, {"ratio": 3.5}) + "\n")
    items = {i["name"]: i for i in report.merge(str(run))}
    assert items["parse"]["result"] == {"ratio": 3.5} and items["parse"]["run"] == "NEW"
    assert items["ingest"]["run"] == "OLD", "another benchmark's figures stay"


def test_a_run_without_figures_keeps_the_recorded_ones(report: ModuleType, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    report.LATEST.write_text(line("scale", 1, {"per_n": {"500": {}}}, "OLD") + "\n")
    run = tmp_path / "KILLED.jsonl"
    run.write_text(line("scale", 143, None) + "\n")
    items = report.merge(str(run))
    assert [(i["name"], i["run"], i["result"]) for i in items] == [("scale", "OLD", {"per_n": {"500": {}}})]
    assert "no result (exit 143)" in capsys.readouterr().err
    assert json.loads(report.LATEST.read_text())["run"] == "OLD"


def test_a_first_run_without_figures_is_shown_as_failed(report: ModuleType, tmp_path: Path) -> None:
    run = tmp_path / "FIRST.jsonl"
    run.write_text(line("parse", 1, None) + "\n")
    target = tmp_path / "benchmarks.md"
    report.render(str(run), str(target))
    text = target.read_text()
    assert "| parse |" in text and "**no**" in text and "`FIRST`" in text
    assert not list(tmp_path.glob("*.partial"))
