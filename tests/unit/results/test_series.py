"""The series file: rows of spec 6.2 and every item of checklist 4.3 (including recommendation 11)."""

from __future__ import annotations

from typing import Any

import pytest

from diagnostic_operator.results import dimensions_hash, index_hash, parse_json_text, parse_series
from diagnostic_operator.results.options import ParseOptions

from .helpers import raises_bundle, series, series_example

YEARS = [2010, 2011, 2012, 2013, 2014]
EXPECTED_6_2 = [
    ("model", {"source_id": "ACCESS-ESM1-5", "region": "global", "metric": "tas_anomaly"}, "year", YEARS,
     [0.61, 0.58, 0.70, None, 0.83], None),
    ("model", {"source_id": "CanESM5", "region": "global", "metric": "tas_anomaly"}, "year", YEARS,
     [0.95, 0.91, 1.02, 1.10, 1.18], None),
    ("reference", {"reference_source_id": "HadCRUT5", "region": "global", "metric": "tas_anomaly"}, "year", YEARS,
     [0.68, 0.54, 0.62, 0.68, 0.75], "K"),
]


def test_example_gives_the_rows_of_6_2() -> None:
    rows, warnings = series(series_example())
    assert warnings == []
    assert [(r.kind, r.dimensions, r.index_name, r.index, r.values, r.value_units) for r in rows] == EXPECTED_6_2
    for row in rows:
        assert row.attributes == {"long_name": "Annual global-mean surface air temperature anomaly",
                                  "units": "K", "baseline": "1961-1990"}
        assert row.key == dimensions_hash(row.kind, row.dimensions)
        assert row.index_key == index_hash("year", YEARS)
    assert len({r.index_key for r in rows}) == 1  # one shared axis


def test_long_format_expansion_gives_15_points() -> None:
    rows, _ = series(series_example())
    points = [(r.kind, i, v) for r in rows for i, v in zip(r.index, r.values, strict=True)]
    assert len(points) == 15
    assert points[3] == ("model", 2013, None)


def _el(**changes: Any) -> list[Any]:
    doc = series_example()
    element = doc[1]
    for key, value in changes.items():
        if value is _DELETE:
            del element[key]
        else:
            element[key] = value
    return doc


_DELETE = object()

CHECKLIST_4_3: list[tuple[str, Any, str, str]] = [
    # 1. top level not an array
    ("1 object", {"series": []}, "", "must be a JSON array of series, got object"),
    ("1 null", None, "", "got null"),
    # 2. element not an object
    ("2 element list", [[1]], "/0", "a series must be an object, got array"),
    # 3. required key missing
    ("3 no dimensions", _el(dimensions=_DELETE), "/1", "required key dimensions is missing"),
    ("3 no values", _el(values=_DELETE), "/1", "required key values is missing"),
    ("3 no index", _el(index=_DELETE), "/1", "required key index is missing"),
    ("3 no index_name", _el(index_name=_DELETE), "/1", "required key index_name is missing"),
    ("3 index_name null", _el(index_name=None), "/1/index_name", "index_name must be a string, got null"),
    # 4. dimension value not a string
    ("4 number value", _el(dimensions={"source_id": 5}), "/1/dimensions/source_id",
     "dimension values must be strings, got number"),
    ("4 dimensions list", _el(dimensions=["a"]), "/1/dimensions", "must be an object of strings, got array"),
    ("4 empty name", _el(dimensions={"": "x"}), "/1/dimensions", "must not be empty"),
    ("4 reserved name", _el(dimensions={"id": "x"}), "/1/dimensions/id", "reserved"),
    # 5. values not an array or with a non-number other than null
    ("5 values object", _el(values={}), "/1/values", "values must be an array, got object"),
    ("5 string value", _el(values=[1.0, "1", 2, 3, 4]), "/1/values/1", "numbers or null, got string '1'"),
    ("5 bool value", _el(values=[1.0, 2.0, True, 3, 4]), "/1/values/2", "got boolean"),
    ("5 nested value", _el(values=[[1.0], 2, 3, 4, 5]), "/1/values/0", "got array"),
    # 6. index with null, boolean, NaN or infinity
    ("6 null index", _el(index=[2010, None, 2012, 2013, 2014]), "/1/index/1", "strings or numbers, got null"),
    ("6 bool index", _el(index=[2010, 2011, False, 2013, 2014]), "/1/index/2", "got boolean"),
    ("6 inf index", _el(index=[2010, 2011, 2012, float("inf"), 2014]), "/1/index/3", "must be finite"),
    ("6 nan index", _el(index=[2010, 2011, 2012, 2013, float("nan")]), "/1/index/4", "must be finite"),
    ("6 index object", _el(index={}), "/1/index", "index must be an array, got object"),
    # 7. length mismatch
    ("7 shorter index", _el(index=[2010, 2011]), "/1/index", "index has 2 elements but values has 5"),
    # 8. attributes nested or with a boolean
    ("8 nested attribute", _el(attributes={"a": {"b": 1}}), "/1/attributes/a", "got object"),
    ("8 list attribute", _el(attributes={"a": [1]}), "/1/attributes/a", "got array"),
    ("8 bool attribute", _el(attributes={"a": True}), "/1/attributes/a", "got boolean"),
    ("8 attributes list", _el(attributes=[]), "/1/attributes", "attributes must be an object or null"),
    # 9. kind not model/reference
    ("9 bad kind", _el(kind="obs"), "/1/kind", "kind must be 'model' or 'reference', got 'obs'"),
    ("9 null kind", _el(kind=None), "/1/kind", "got null"),
    ("9 list kind", _el(kind=["model"]), "/1/kind", "got array"),
    # 11. duplicate index values / duplicate series
    ("11 duplicate index", _el(index=[2010, 2011, 2011, 2013, 2014]), "/1/index/2",
     "duplicate index value 2011 (also at position 1)"),
    ("11 duplicate index int/float", _el(index=[2010, 2010.0, 2012, 2013, 2014]), "/1/index/1",
     "duplicate index value 2010.0"),
    ("11 duplicate series", _el(dimensions={"region": "global", "metric": "tas_anomaly",
                                            "source_id": "ACCESS-ESM1-5"}), "/1",
     "duplicate series: same dimensions and kind as series 0"),
    # optional presentation fields: string or null
    ("units number", _el(value_units=1), "/1/value_units", "value_units must be a string or null"),
    ("calendar list", _el(calendar=[]), "/1/calendar", "calendar must be a string or null"),
]
# 10. (CV failures) is covered in test_vocabulary.py.


@pytest.mark.parametrize(("case", "doc", "where", "problem"), CHECKLIST_4_3, ids=[c[0] for c in CHECKLIST_4_3])
def test_checklist_4_3(case: str, doc: Any, where: str, problem: str) -> None:
    raises_bundle(lambda: series(doc, strict=False), where, problem)


def test_empty_file_and_empty_series() -> None:
    assert series([]) == ([], [])
    rows, _ = series([{"dimensions": {}, "values": [], "index": [], "index_name": "t"}])
    assert rows[0].values == [] and rows[0].index == [] and rows[0].kind == "model"


def test_same_dimensions_different_kind_is_not_a_duplicate() -> None:
    doc = series_example()
    doc[2]["dimensions"] = dict(doc[0]["dimensions"])
    rows, _ = series(doc)
    assert [r.kind for r in rows] == ["model", "model", "reference"]


def test_mixed_index_types_are_kept() -> None:
    doc = [{"dimensions": {"m": "x"}, "values": [1, 2, 3], "index": [2010, "2010", 2011.5], "index_name": "t"}]
    rows, _ = series(doc)
    assert rows[0].index == [2010, "2010", 2011.5]
    assert [type(v) for v in rows[0].index] == [int, str, float]
    assert rows[0].values == [1.0, 2.0, 3.0] and all(type(v) is float for v in rows[0].values)
    assert rows[0].index_key == index_hash("t", [2010, "2010", 2011.5])
    assert rows[0].index_key != index_hash("t", ["2010", 2010, 2011.5])


def test_index_key_cache_keeps_types_apart() -> None:
    doc = [{"dimensions": {"m": "a"}, "values": [1], "index": [1], "index_name": "t"},
           {"dimensions": {"m": "b"}, "values": [1], "index": [1.0], "index_name": "t"},
           {"dimensions": {"m": "c"}, "values": [1], "index": ["1"], "index_name": "t"},
           {"dimensions": {"m": "d"}, "values": [1], "index": [1], "index_name": "u"}]
    rows, _ = series(doc)
    assert [r.index_key for r in rows] == [index_hash("t", [1]), index_hash("t", [1.0]), index_hash("t", ["1"]),
                                           index_hash("u", [1])]
    assert len({r.index_key for r in rows}) == 4


def test_kind_inside_dimensions_is_dropped() -> None:
    doc = _el(dimensions={"source_id": "CanESM5", "kind": "model"})
    rows, warnings = series(doc)
    assert rows[1].dimensions == {"source_id": "CanESM5"} and warnings == []
    doc = _el(dimensions={"source_id": "CanESM5", "kind": "reference"})
    rows, warnings = series(doc)
    assert rows[1].kind == "model"
    assert warnings == ["series.json at /1/dimensions/kind: dimension kind='reference' ignored; the series kind "
                        "is 'model'"]


def test_extra_keys_ignored_and_new_fields_optional() -> None:
    doc = _el(producer="x", reference_id=None, value_long_name="Anomaly", index_units="yr", calendar="standard")
    rows, _ = series(doc)
    assert (rows[1].value_long_name, rows[1].index_units, rows[1].calendar) == ("Anomaly", "yr", "standard")


def test_nan_tokens_in_values_become_none_in_lenient_mode() -> None:
    text = '[{"dimensions": {}, "values": [NaN, 1, null, 2.5], "index": [1, 2, 3, 4], "index_name": "t"}]'
    doc = parse_json_text(text, file="series.json", nonstandard_tokens=True)
    rows, _ = parse_series(doc, options=ParseOptions(strict=False))
    assert rows[0].values == [None, 1.0, None, 2.5]


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "1e400"])
def test_infinite_values_rejected_or_missing(literal: str) -> None:
    text = '[{"dimensions": {}, "values": [1, LIT], "index": [1, 2], "index_name": "t"}]'.replace("LIT", literal)
    doc = parse_json_text(text, file="series.json", nonstandard_tokens=True)
    raises_bundle(lambda: parse_series(doc), "/0/values/1", "infinite value")
    rows, warnings = parse_series(doc, options=ParseOptions(infinity="missing"))
    assert rows[0].values == [1.0, None]
    assert warnings == ["series.json at /0/values: infinite values stored as missing"]


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "1e400", "NaN"])
def test_non_finite_index_never_allowed(literal: str) -> None:
    text = '[{"dimensions": {}, "values": [1, 2], "index": [1, LIT], "index_name": "t"}]'.replace("LIT", literal)
    doc = parse_json_text(text, file="series.json", nonstandard_tokens=True)
    raises_bundle(lambda: parse_series(doc, options=ParseOptions(infinity="missing", strict=False)),
                  "/0/index/1", "must be finite")


def test_huge_integer_value() -> None:
    doc = [{"dimensions": {}, "values": [10**400], "index": [1], "index_name": "t"}]
    raises_bundle(lambda: series(doc), "/0/values/0", "too large for float64")
    rows, _ = series(doc, infinity="missing")
    assert rows[0].values == [None]


def test_caps() -> None:
    doc = series_example()
    raises_bundle(lambda: series(doc, max_series=2), "", "3 series, more than the limit of 2")
    raises_bundle(lambda: series(doc, max_series_length=4), "/0/values", "5 values, more than the limit of 4")
