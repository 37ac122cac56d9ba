"""The Pod-side entry point's refusals: nothing runs and the exit code says so (the happy and failing paths
run for real in tests/integration/climate_ref/test_executor_roundtrip.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from diagnostic_operator_climate_ref import exit_codes
from diagnostic_operator_climate_ref.run import main, result_path_for


def test_usage() -> None:
    assert main([]) == exit_codes.USAGE
    assert main(["a", "b"]) == exit_codes.USAGE


@pytest.mark.parametrize("content", ["not json", '{"a": 1}', "[]"])
def test_unreadable_definition(tmp_path: Path, content: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "out.definition.json"
    path.write_text(content)
    assert main([str(path)]) == exit_codes.USAGE
    assert not (tmp_path / "out.result.json").exists()


def test_missing_definition(tmp_path: Path) -> None:
    assert main([str(tmp_path / "nowhere.definition.json")]) == exit_codes.USAGE


def test_result_path_is_beside_the_definition() -> None:
    out = Path("/ref/scratch/p/d/k/1")
    assert result_path_for(Path("/ref/scratch/p/d/k/1.definition.json"), out) == Path("/ref/scratch/p/d/k/1.result.json")
    with pytest.raises(ValueError, match="not where the definition"):
        result_path_for(Path("/ref/scratch/elsewhere.json"), out)
