"""docs/spec.md is generated from the models: fail when they drift apart."""

from pathlib import Path

from diagnostic_operator.spec_reference import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "spec.md"


def test_docs_spec_md_matches_the_models() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/spec.md is stale: run `diagnostic-operator spec-reference --output docs/spec.md`")


def test_every_field_is_documented() -> None:
    undocumented = [line for line in render().splitlines() if line.startswith("| `spec.") and line.endswith("|  |")]
    assert undocumented == []
