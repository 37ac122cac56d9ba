"""``load_results``: the publisher's entry point, over a real execution folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diagnostic_operator.results import BundleError, ParseOptions, Vocabulary, load_results
from diagnostic_operator.spec import ResultFiles, VocabularyMode

from .helpers import make_output_dir, raises_bundle


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_output_dir(tmp_path / "out")


def test_loads_all_three_example_files(root: Path) -> None:
    result = load_results(root, ResultFiles())
    assert (len(result.scalars), len(result.series), len(result.outputs)) == (8, 3, 4)
    assert result.warnings == []


def test_missing_required_files(root: Path) -> None:
    (root / "diagnostic.json").unlink()
    raises_bundle(lambda: load_results(root, ResultFiles()), "", "file does not exist")
    with pytest.raises(BundleError) as info:
        load_results(root, ResultFiles())
    assert info.value.file == "diagnostic.json"
    make_output_dir(root)
    (root / "output.json").unlink()
    with pytest.raises(BundleError) as info:
        load_results(root, ResultFiles())
    assert (info.value.file, info.value.problem) == ("output.json", "file does not exist")


def test_series_is_optional(root: Path) -> None:
    (root / "series.json").unlink()
    assert load_results(root, ResultFiles()).series == []
    assert load_results(root, ResultFiles(series=None)).series == []


def test_series_written_as_empty_list(root: Path) -> None:
    (root / "series.json").write_text("[]")
    assert load_results(root, ResultFiles()).series == []


def test_custom_file_names(root: Path) -> None:
    (root / "results").mkdir()
    (root / "diagnostic.json").rename(root / "results" / "metrics.json")
    files = ResultFiles(metricBundle="results/metrics.json", series=None)
    assert len(load_results(root, files).scalars) == 8


def test_result_file_that_is_a_symlink_outside(root: Path, tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text("{}")
    (root / "series.json").unlink()
    (root / "series.json").symlink_to(tmp_path / "other.json")
    raises_bundle(lambda: load_results(root, ResultFiles()), "", "outside the output folder")


def test_errors_name_the_file_and_where(root: Path) -> None:
    doc = json.loads((root / "series.json").read_text())
    doc[0]["values"][1] = "x"
    (root / "series.json").write_text(json.dumps(doc))
    error = raises_bundle(lambda: load_results(root, ResultFiles()), "/0/values/1", "got string")
    assert error.file == "series.json"


def test_vocabulary_mode_comes_from_files_unless_options_say_otherwise(root: Path) -> None:
    doc = json.loads((root / "series.json").read_text())
    doc[0]["dimensions"]["mode"] = "XYZ"
    (root / "series.json").write_text(json.dumps(doc))
    warned = load_results(root, ResultFiles())  # default mode: warn
    assert warned.warnings == ["series.json at /0/dimensions/mode: unknown value 'XYZ' of closed dimension 'mode'"]
    raises_bundle(lambda: load_results(root, ResultFiles(controlledVocabulary="fail")), "/0/dimensions/mode",
                  "unknown value 'XYZ'")
    assert load_results(root, ResultFiles(controlledVocabulary="off")).warnings == []
    raises_bundle(lambda: load_results(root, ResultFiles(), ParseOptions(vocabulary_mode=VocabularyMode.FAIL)),
                  "/0/dimensions/mode", "unknown value")


def test_custom_vocabulary(root: Path) -> None:
    cv = Vocabulary.from_mapping({"dimensions": [
        {"name": "source_id", "long_name": "S", "description": "", "allow_extra_values": True, "required": False}]})
    raises_bundle(lambda: load_results(root, ResultFiles(), vocabulary=cv), "/DIMENSIONS/json_structure",
                  "unknown dimension 'region'")


def test_size_caps_per_file(root: Path) -> None:
    raises_bundle(lambda: load_results(root, ResultFiles(), ParseOptions(max_metric_bundle_bytes=100)), "",
                  "larger than the limit of 100 bytes")
    raises_bundle(lambda: load_results(root, ResultFiles(), ParseOptions(max_output_bundle_bytes=100)), "",
                  "larger than the limit of 100 bytes")
    raises_bundle(lambda: load_results(root, ResultFiles(), ParseOptions(max_series_bytes=100)), "",
                  "larger than the limit of 100 bytes")


def test_lenient_mode_collects_warnings(root: Path) -> None:
    doc = json.loads((root / "diagnostic.json").read_text())
    doc["RESULTS"]["CanESM5"]["global"]["corr"] = 0.9
    (root / "diagnostic.json").write_text(json.dumps(doc))
    raises_bundle(lambda: load_results(root, ResultFiles()), "/RESULTS/CanESM5/global/corr", "strict mode")
    result = load_results(root, ResultFiles(), ParseOptions(strict=False))
    assert len(result.scalars) == 8
    assert result.warnings == ["diagnostic.json at /RESULTS/CanESM5/global/corr: undeclared value 'corr' of "
                               "dimension 'metric' dropped"]
