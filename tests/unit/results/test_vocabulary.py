"""Controlled vocabulary: loading (5.1), rules (5.2), modes (5.3), and rule 13 / 3.6-8 / 4.3-10."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from diagnostic_operator.results import (
    BundleError,
    Vocabulary,
    VocabularyError,
    check_metric_bundle,
    check_outputs,
    check_series,
    default_vocabulary,
    validate_metric_bundle,
)
from diagnostic_operator.spec import VocabularyMode

from .helpers import (
    bundle,
    make_output_dir,
    metric,
    metric_example,
    output_example,
    outputs,
    raises_bundle,
    series,
    series_example,
)

OFF, WARN, FAIL = VocabularyMode.OFF, VocabularyMode.WARN, VocabularyMode.FAIL

TOY_CV = """
dimensions:
  - {name: source_id, long_name: Source ID, description: "Model", allow_extra_values: true, required: false}
  - {name: reference_source_id, long_name: Reference Source ID, description: "Observations", allow_extra_values: true, required: false}
  - name: region
    long_name: Region
    description: "Averaging region"
    allow_extra_values: false
    required: true
    values:
      - {name: global, long_name: Global}
      - {name: Tropics, long_name: "Tropics (30S-30N)"}
  - {name: metric, long_name: Metric, description: "", allow_extra_values: true, required: true}
"""


def test_toy_cv_of_5_4_accepts_the_examples(tmp_path: Path) -> None:
    cv = Vocabulary.from_yaml(TOY_CV, "toy.yaml")
    for mode in (WARN, FAIL):
        assert check_metric_bundle(cv, validate_metric_bundle(metric_example()).used_values, mode) == []
        assert check_series(cv, series(series_example())[0], mode) == []
        assert check_outputs(cv, outputs(output_example(), make_output_dir(tmp_path / "o"))[0], mode) == []


def test_default_cv_covers_the_5_1_table_and_accepts_the_examples(tmp_path: Path) -> None:
    cv = default_vocabulary()
    assert set(cv.dimensions) == {
        "kind", "mip_id", "source_id", "reference_source_id", "experiment_id", "variable_id",
        "reference_variable_id", "grid_label", "member_id", "variant_label", "table_id",
        "global_warming_level", "level", "metric", "region", "season", "statistic", "mode", "method"}
    closed = {name for name, d in cv.dimensions.items() if not d.allow_extra_values}
    assert closed == {"kind", "mode", "method"}
    assert cv.value_names("kind") == {"model", "reference"}
    assert cv.value_names("region") == {"global", "NHEX", "SHEX", "Tropics"}
    assert cv.value_names("season") == {"ann", "djf", "mam", "jja", "son"}
    assert cv.value_names("statistic") == {"rmse", "overall score", "bias"}
    assert cv.value_names("mode") == {"NAM", "NAO", "PNA", "SAM", "PDO", "NPO", "NPGO"}
    assert cv.value_names("method") == {"cbf", "eof1", "eof2"}
    assert check_metric_bundle(cv, validate_metric_bundle(metric_example()).used_values, FAIL) == []
    assert check_series(cv, series(series_example())[0], FAIL) == []
    assert check_outputs(cv, outputs(output_example(), make_output_dir(tmp_path / "o"))[0], FAIL) == []


def test_load_from_file(tmp_path: Path) -> None:
    (tmp_path / "cv.yaml").write_text(TOY_CV)
    assert set(Vocabulary.load(tmp_path / "cv.yaml").dimensions) == {"source_id", "reference_source_id", "region",
                                                                     "metric"}
    with pytest.raises(VocabularyError, match="cannot read"):
        Vocabulary.load(tmp_path / "missing.yaml")


D = {"name": "x", "long_name": "X", "description": "", "allow_extra_values": True, "required": False}


@pytest.mark.parametrize(
    ("data", "where", "problem"),
    [
        ({"dimensions": [{**D, "extra": 1}]}, "/dimensions/0/extra", "Extra inputs are not permitted"),
        ({"dimensions": [D], "version": 1}, "/version", "Extra inputs are not permitted"),
        ({"dimensions": [{**D, "values": [{"name": "a", "long_name": "A", "colour": "red"}]}]},
         "/dimensions/0/values/0/colour", "Extra inputs"),
        ({"dimensions": [{k: v for k, v in D.items() if k != "long_name"}]}, "/dimensions/0/long_name", "required"),
        ({"dimensions": [{**D, "allow_extra_values": "yes"}]}, "/dimensions/0/allow_extra_values", "boolean"),
        ({"dimensions": [{**D, "required": None}]}, "/dimensions/0/required", "boolean"),
        ({"dimensions": [{**D, "values": [{"name": False, "long_name": "No"}]}]}, "/dimensions/0/values/0/name",
         "string"),
        ({}, "/dimensions", "required"),
        ([], "", "valid dictionary"),
        ({"dimensions": [{**D, "name": "id"}]}, "/dimensions/0/name", "'id' is a reserved name"),
        ({"dimensions": [{**D, "name": "attributes"}]}, "/dimensions/0/name", "reserved"),
        ({"dimensions": [{**D, "name": "json_structure"}]}, "/dimensions/0/name", "reserved"),
        ({"dimensions": [{**D, "name": "created_at"}]}, "/dimensions/0/name", "reserved"),
        ({"dimensions": [{**D, "name": "updated_at"}]}, "/dimensions/0/name", "reserved"),
        ({"dimensions": [{**D, "name": "value"}]}, "/dimensions/0/name", "reserved"),
        ({"dimensions": [{**D, "name": ""}]}, "/dimensions/0/name", "must not be empty"),
        ({"dimensions": [D, D]}, "/dimensions/1/name", "defined twice"),
        ({"dimensions": [{**D, "values": [{"name": "a", "long_name": "A"}, {"name": "a", "long_name": "B"}]}]},
         "/dimensions/0/values", "lists a value twice"),
    ],
)
def test_cv_loading_errors(data: Any, where: str, problem: str) -> None:
    error = raises_bundle(lambda: Vocabulary.from_mapping(data, "cv.yaml"), where, problem)
    assert isinstance(error, VocabularyError) and error.file == "cv.yaml"


def test_yaml_errors_and_yaml_booleans() -> None:
    with pytest.raises(VocabularyError, match="invalid YAML"):
        Vocabulary.from_yaml("dimensions: [", "cv.yaml")
    text = "dimensions:\n  - {name: x, long_name: X, description: '', allow_extra_values: false, required: false,\n" \
           "     values: [{name: no, long_name: No}]}\n"
    raises_bundle(lambda: Vocabulary.from_yaml(text, "cv.yaml"), "/dimensions/0/values/0/name", "string")


# ---- rules 5.2 and modes 5.3 -----------------------------------------------------------------

CV = Vocabulary.from_yaml(TOY_CV + """
  - name: mode
    long_name: Mode
    description: ""
    allow_extra_values: false
    required: false
    values: [{name: NAO, long_name: NAO}, {name: "", long_name: Empty}]
""", "cv.yaml")


@pytest.mark.parametrize(
    ("used", "mode", "outcome"),
    [
        # rule 1: unknown name is an error in warn and fail; nothing is checked in off
        ({"colour": {"red"}}, OFF, []),
        ({"colour": {"red"}}, WARN, "unknown dimension 'colour'"),
        ({"colour": {"red"}}, FAIL, "unknown dimension 'colour'"),
        # rule 2: unknown value of a closed dimension, exact and case-sensitive
        ({"region": {"tropics"}}, OFF, []),
        ({"region": {"tropics"}}, WARN, ["diagnostic.json at /DIMENSIONS/region/tropics: unknown value 'tropics' "
                                         "of closed dimension 'region'"]),
        ({"region": {"tropics"}}, FAIL, "unknown value 'tropics' of closed dimension 'region'"),
        ({"region": {"Tropics", "global"}}, FAIL, []),
        # open dimensions take any value, except "" unless listed
        ({"source_id": {"anything-at-all"}}, FAIL, []),
        ({"source_id": {""}}, FAIL, "empty value of dimension 'source_id'"),
        ({"source_id": {""}}, WARN, ["diagnostic.json at /DIMENSIONS/source_id/: empty value of dimension "
                                     "'source_id' is not listed in the controlled vocabulary"]),
        ({"mode": {""}}, FAIL, []),
        # rule 4: required is not enforced (no region/metric here)
        ({"source_id": {"M"}}, FAIL, []),
        # rule 5: kind is not a CV dimension of the rows
        ({"kind": {"model"}, "source_id": {"M"}}, FAIL, []),
    ],
)
def test_metric_bundle_rules_and_modes(used: dict[str, set[str]], mode: VocabularyMode, outcome: Any) -> None:
    if isinstance(outcome, str):
        where = "/DIMENSIONS/json_structure" if "unknown dimension" in outcome else None
        raises_bundle(lambda: check_metric_bundle(CV, used, mode), where, outcome)
    else:
        assert check_metric_bundle(CV, used, mode) == outcome


def test_rule_3_integers_are_floats_before_the_check() -> None:
    rows, _ = metric(bundle(["metric"], {"metric": ["n"]}, {"n": 3}))
    assert type(rows[0].value) is float


def test_series_cv_failures_name_the_series() -> None:
    doc = series_example()
    doc[2]["dimensions"]["region"] = "Arctic"
    rows, _ = series(doc)
    raises_bundle(lambda: check_series(CV, rows, FAIL), "/2/dimensions/region", "unknown value 'Arctic'")
    assert check_series(CV, rows, WARN) == [
        "series.json at /2/dimensions/region: unknown value 'Arctic' of closed dimension 'region'"]
    doc[1]["dimensions"]["colour"] = "red"
    rows, _ = series(doc)
    raises_bundle(lambda: check_series(CV, rows, WARN), "/1/dimensions/colour", "unknown dimension 'colour'")
    assert check_series(CV, rows, OFF) == []


def test_output_dimension_names_must_be_in_the_cv(tmp_path: Path) -> None:
    root = make_output_dir(tmp_path / "o")
    doc = output_example()
    doc["data"]["bias_fields"]["dimensions"] = {"colour": "red"}
    rows, _ = outputs(doc, root)
    for mode in (WARN, FAIL):
        raises_bundle(lambda m=mode: check_outputs(CV, rows, m), "/data/bias_fields/dimensions/colour",
                      "unknown dimension 'colour'")
    assert check_outputs(CV, rows, OFF) == []
    doc["data"]["bias_fields"]["dimensions"] = {"region": "Arctic"}
    rows, _ = outputs(doc, root)
    assert check_outputs(CV, rows, WARN) == [
        "output.json at /data/bias_fields/dimensions/region: unknown value 'Arctic' of closed dimension 'region'"]


def test_unknown_name_in_a_metric_bundle_is_rule_13() -> None:
    doc = bundle(["colour"], {"colour": ["red"]}, {"red": 1})
    used = validate_metric_bundle(doc).used_values
    with pytest.raises(BundleError, match=r"diagnostic\.json at /DIMENSIONS/json_structure: unknown dimension"):
        check_metric_bundle(default_vocabulary(), used, WARN)
