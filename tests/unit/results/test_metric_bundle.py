"""The CMEC metric bundle: rows of spec 6.1, every rule of checklist 2.6, attributes, kind, modes."""

from __future__ import annotations

import math
from typing import Any

import pytest

from diagnostic_operator.results import (
    ParseOptions,
    derive_scalar_rows,
    dimensions_hash,
    parse_json_text,
    parse_metric_bundle,
    validate_metric_bundle,
)
from diagnostic_operator.spec import CompatMode

from .helpers import bundle, metric, metric_example, raises_bundle

TROPICS_ATTRS = {"reference": "HadCRUT5", "period": "1980-2014"}
# Spec 6.1: the exact rows of examples/metric_bundle.json, in document order.
EXPECTED_6_1 = [
    ({"source_id": "ACCESS-ESM1-5", "region": "global", "metric": "bias"}, 0.42, None),
    ({"source_id": "ACCESS-ESM1-5", "region": "global", "metric": "rmse"}, 1.15, None),
    ({"source_id": "ACCESS-ESM1-5", "region": "Tropics", "metric": "bias"}, -0.18, TROPICS_ATTRS),
    ({"source_id": "ACCESS-ESM1-5", "region": "Tropics", "metric": "rmse"}, 0.87, TROPICS_ATTRS),
    ({"source_id": "CanESM5", "region": "global", "metric": "bias"}, 1.03, None),
    ({"source_id": "CanESM5", "region": "global", "metric": "rmse"}, 1.62, None),
    ({"source_id": "CanESM5", "region": "Tropics", "metric": "bias"}, 0.77, None),
    ({"source_id": "CanESM5", "region": "Tropics", "metric": "rmse"}, 1.21, None),
]


def test_example_gives_exactly_the_rows_of_6_1() -> None:
    rows, warnings = metric(metric_example())
    assert warnings == []
    assert [(r.dimensions, r.value, r.attributes) for r in rows] == EXPECTED_6_1
    assert all(r.kind == "model" for r in rows)
    assert all(r.key == dimensions_hash(r.kind, r.dimensions) for r in rows)
    assert len({r.key for r in rows}) == 8


def test_example_without_a_leaf_value_drops_that_row_only() -> None:
    doc = metric_example()
    del doc["RESULTS"]["CanESM5"]["Tropics"]["rmse"]
    rows, _ = metric(doc)
    assert [(r.dimensions, r.value, r.attributes) for r in rows] == EXPECTED_6_1[:7]


def test_example_without_an_intermediate_value_is_invalid() -> None:
    doc = metric_example()
    del doc["RESULTS"]["CanESM5"]
    raises_bundle(lambda: metric(doc), "/RESULTS", "missing value(s) 'CanESM5' of dimension 'source_id'")


# ---- checklist 2.6, one or more cases per rule ------------------------------------------------

def _ex(**changes: Any) -> dict[str, Any]:
    doc = metric_example()
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = doc
        for key in parents:
            node = node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return doc


_DELETE = object()
ONE = {"DIMENSIONS": {"json_structure": ["m"], "m": {"a": {}}}}

CHECKLIST_2_6: list[tuple[str, Any, str, str]] = [
    # 1. not a single JSON object (BOM/trailing content: see test_json_reader)
    ("1 array", [], "", "must be a JSON object, got array"),
    ("1 string", "x", "", "must be a JSON object, got string"),
    # 2. DIMENSIONS / RESULTS missing or not objects
    ("2 no DIMENSIONS", _ex(DIMENSIONS=_DELETE), "", "required key DIMENSIONS is missing"),
    ("2 no RESULTS", _ex(RESULTS=_DELETE), "", "required key RESULTS is missing"),
    ("2 DIMENSIONS list", _ex(DIMENSIONS=[]), "/DIMENSIONS", "DIMENSIONS must be an object, got array"),
    ("2 RESULTS null", _ex(RESULTS=None), "/RESULTS", "RESULTS must be an object, got null"),
    ("2 lowercase keys", {"dimensions": {}, "results": {}}, "", "DIMENSIONS is missing"),
    # 3. json_structure
    ("3 missing", _ex(DIMENSIONS__json_structure=_DELETE), "/DIMENSIONS", "json_structure is missing"),
    ("3 a string", {"DIMENSIONS": {"json_structure": "m", "m": {"a": {}}}, "RESULTS": {"a": 1}},
     "/DIMENSIONS/json_structure", "must be a list of strings, got string"),
    ("3 non-string name", _ex(DIMENSIONS__json_structure=["source_id", 3, "metric"]),
     "/DIMENSIONS/json_structure/1", "non-empty strings, got 3"),
    ("3 empty name", _ex(DIMENSIONS__json_structure=["source_id", "", "metric"]),
     "/DIMENSIONS/json_structure/1", "non-empty strings"),
    ("3 listed twice", _ex(DIMENSIONS__json_structure=["source_id", "region", "metric", "region"]),
     "/DIMENSIONS/json_structure/3", "'region' is listed twice"),
    ("3 listed not declared", _ex(DIMENSIONS__region=_DELETE), "/DIMENSIONS/json_structure",
     "'region' is listed but not declared"),
    ("3 declared not listed", _ex(DIMENSIONS__season={"ann": {}}), "/DIMENSIONS/season",
     "'season' is declared but not listed"),
    ("3 reserved name", bundle(["value"], {"value": ["a"]}, {"a": 1}), "/DIMENSIONS/json_structure/0",
     "'value' is a reserved name"),
    # 4. a dimension entry is not an object
    ("4 entry is a list", _ex(DIMENSIONS__region=["global", "Tropics"]), "/DIMENSIONS/region",
     "dimension entry must be an object, got array"),
    ("4 entry is null", _ex(DIMENSIONS__metric=None), "/DIMENSIONS/metric", "got null"),
    ("4 'attributes' as a value", _ex(DIMENSIONS__metric={"bias": {}, "rmse": {}, "attributes": {}}),
     "/DIMENSIONS/metric/attributes", "reserved"),
    # 5. intermediate keys differ from the declared values
    ("5 undeclared intermediate key", _ex(RESULTS__CanESM5__Arctic={"bias": 1.0}), "/RESULTS/CanESM5/Arctic",
     "'Arctic' is not a declared value of dimension 'region'"),
    ("5 missing intermediate key", _ex(RESULTS__CanESM5__global=_DELETE), "/RESULTS/CanESM5",
     "missing value(s) 'global' of dimension 'region'"),
    ("5 undeclared top key", _ex(RESULTS__MIROC6={"global": {}, "Tropics": {}}), "/RESULTS/MIROC6",
     "'MIROC6' is not a declared value of dimension 'source_id'"),
    # 6. a non-object where the tree continues
    ("6 number", _ex(RESULTS__CanESM5__global=1.0), "/RESULTS/CanESM5/global",
     "expected an object (level 2 of 3, dimension 'region'), got number"),
    ("6 null", _ex(RESULTS__CanESM5=None), "/RESULTS/CanESM5", "got null"),
    ("6 list", _ex(RESULTS__CanESM5__Tropics=[0.77, 1.21]), "/RESULTS/CanESM5/Tropics", "got array"),
    ("6 string", _ex(RESULTS__CanESM5="x"), "/RESULTS/CanESM5", "got string"),
    # 7. a leaf value is not a number or null
    ("7 numeric string", _ex(RESULTS__CanESM5__global__bias="0.5"), "/RESULTS/CanESM5/global/bias",
     "number or null, got string '0.5'"),
    ("7 boolean", _ex(RESULTS__CanESM5__global__bias=True), "/RESULTS/CanESM5/global/bias", "got boolean"),
    ("7 array", _ex(RESULTS__CanESM5__global__bias=[1.0]), "/RESULTS/CanESM5/global/bias", "got array"),
    ("7 object", _ex(RESULTS__CanESM5__global__bias={"v": 1.0}), "/RESULTS/CanESM5/global/bias", "got object"),
    # 8. an undeclared leaf key (strict)
    ("8 undeclared leaf", _ex(RESULTS__CanESM5__global__corr=0.9), "/RESULTS/CanESM5/global/corr",
     "'corr' is not a declared value of dimension 'metric' (strict mode)"),
    # 9. empty json_structure, non-empty RESULTS
    ("9 empty structure", {"DIMENSIONS": {"json_structure": []}, "RESULTS": {"a": 1}}, "/RESULTS",
     "json_structure is empty but RESULTS is not"),
    # 10. PROVENANCE / DISCLAIMER / NOTES of another type
    ("10 DISCLAIMER string", _ex(DISCLAIMER="none"), "/DISCLAIMER", "object or null, got string"),
    ("10 NOTES list", _ex(NOTES=[]), "/NOTES", "object or null, got array"),
    ("10 PROVENANCE number", _ex(PROVENANCE=1), "/PROVENANCE", "object or null, got number"),
    # 11. attributes directly under RESULTS not an object; leaf attributes not flat str/number
    ("11 top attributes string", _ex(RESULTS__attributes="x"), "/RESULTS/attributes",
     "attributes under RESULTS must be an object, got string"),
    ("11 leaf attributes nested", _ex(RESULTS__CanESM5__global__attributes={"a": {"b": 1}}),
     "/RESULTS/CanESM5/global/attributes/a", "strings or numbers, got object"),
    ("11 leaf attributes list", _ex(RESULTS__CanESM5__global__attributes={"a": [1]}),
     "/RESULTS/CanESM5/global/attributes/a", "got array"),
    ("11 leaf attributes null", _ex(RESULTS__CanESM5__global__attributes={"a": None}),
     "/RESULTS/CanESM5/global/attributes/a", "got null"),
    ("11 leaf attributes bool", _ex(RESULTS__CanESM5__global__attributes={"a": True}),
     "/RESULTS/CanESM5/global/attributes/a", "got boolean"),
    ("11 leaf attributes not an object", _ex(RESULTS__CanESM5__global__attributes="x"),
     "/RESULTS/CanESM5/global/attributes", "leaf-level attributes must be an object, got string"),
    ("11 one-dim top attributes nested", {**ONE, "RESULTS": {"a": 1, "attributes": {"x": {}}}},
     "/RESULTS/attributes/x", "strings or numbers"),
    # 12. kind outside {model, reference}
    ("12 bad kind", bundle(["kind", "m"], {"kind": ["model", "obs"], "m": ["a"]},
                           {"model": {"a": 1}, "obs": {"a": 2}}),
     "/DIMENSIONS/kind/obs", "kind must be 'model' or 'reference', got 'obs'"),
]


@pytest.mark.parametrize(("case", "doc", "where", "problem"), CHECKLIST_2_6, ids=[c[0] for c in CHECKLIST_2_6])
def test_checklist_2_6(case: str, doc: Any, where: str, problem: str) -> None:
    raises_bundle(lambda: metric(doc), where, problem)


# Rule 13 (CV failures) is covered in test_vocabulary.py.


# ---- valid shapes ----------------------------------------------------------------------------

def test_empty_bundle_is_valid_and_has_no_rows() -> None:
    assert metric({"DIMENSIONS": {"json_structure": []}, "RESULTS": {}}) == ([], [])
    assert metric({"DIMENSIONS": {"json_structure": []}, "RESULTS": {"attributes": {"a": 1}}}) == ([], [])


def test_one_dimension_bundle_accepted_and_refused_in_climate_ref_compat() -> None:
    doc = bundle(["metric"], {"metric": ["bias", "rmse"]}, {"bias": 0.4, "attributes": {"units": "K"}})
    rows, _ = metric(doc)
    assert [(r.dimensions, r.value, r.attributes) for r in rows] == [({"metric": "bias"}, 0.4, {"units": "K"})]
    raises_bundle(lambda: metric(doc, compat=CompatMode.CLIMATE_REF), "/DIMENSIONS/json_structure",
                  "one-dimension")
    # Climate-REF refuses a value directly under RESULTS; a one-dimension bundle without values passes there
    empty = bundle(["metric"], {"metric": ["bias"]}, {"attributes": {"units": "K"}})
    assert metric(empty, compat=CompatMode.CLIMATE_REF) == ([], [])


def test_dimension_with_no_values_and_empty_subtree() -> None:
    doc = bundle(["a", "b"], {"a": [], "b": ["x"]}, {})
    assert metric(doc) == ([], [])
    leaf_empty = bundle(["a", "b"], {"a": ["p"], "b": []}, {"p": {}})
    assert metric(leaf_empty) == ([], [])


def test_extra_top_level_keys_and_free_form_parts_are_allowed() -> None:
    doc = metric_example()
    doc["producer_extra"] = {"deep": [[{"x": None}]]}
    doc["PROVENANCE"] = None
    doc["RESULTS"]["CanESM5"]["attributes"] = [1, {"any": ["json"]}]  # intermediate: any JSON
    rows, warnings = metric(doc)
    assert len(rows) == 8 and warnings == []


def test_only_leaf_attributes_reach_rows() -> None:
    rows, _ = metric(metric_example())
    assert all("member_id" not in (r.attributes or {}) for r in rows)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_unknown_leaf_keys_lenient_warns_and_drops_at_every_depth(n: int) -> None:
    names = [f"d{i}" for i in range(n)]
    results: dict[str, Any] = {"x": 1.0, "extra": 2.0}
    for _ in range(n - 1):
        results = {"v": results}
    doc = bundle(names, {name: (["x"] if i == n - 1 else ["v"]) for i, name in enumerate(names)}, results)
    rows, warnings = metric(doc, strict=False)
    assert [r.dimensions[names[-1]] for r in rows] == ["x"]
    assert len(warnings) == 1
    assert f"undeclared value 'extra' of dimension 'd{n - 1}' dropped" in warnings[0]
    where = "/RESULTS" + "/v" * (n - 1) + "/x"
    raises_bundle(lambda: metric(doc), where.replace("/x", "/extra"), "strict mode")


def test_unknown_intermediate_key_is_invalid_even_in_lenient_mode() -> None:
    doc = _ex(RESULTS__CanESM5__Arctic={"bias": 1.0})
    raises_bundle(lambda: metric(doc, strict=False), "/RESULTS/CanESM5/Arctic", "not a declared value")


@pytest.mark.parametrize("position", [0, 1, 2])
def test_kind_is_lifted_out_of_the_dimensions(position: int) -> None:
    names = ["source_id", "metric"]
    names.insert(position, "kind")
    values = {"source_id": ["M"], "metric": ["bias"], "kind": ["model", "reference"]}

    def build(level: int) -> Any:
        if level == len(names):
            return 0.5
        return {v: build(level + 1) for v in values[names[level]]}

    rows, _ = metric(bundle(names, values, build(0)))
    assert sorted((r.kind, tuple(sorted(r.dimensions.items()))) for r in rows) == [
        ("model", (("metric", "bias"), ("source_id", "M"))),
        ("reference", (("metric", "bias"), ("source_id", "M"))),
    ]
    assert all(r.key == dimensions_hash(r.kind, r.dimensions) for r in rows)


def test_kind_only_dimension() -> None:
    rows, _ = metric(bundle(["kind"], {"kind": ["model", "reference"]}, {"reference": 1}))
    assert [(r.dimensions, r.kind, r.value) for r in rows] == [({}, "reference", 1.0)]
    assert rows[0].key == dimensions_hash("reference", {})


def test_values_null_nan_int_and_large_int() -> None:
    doc = bundle(["m"], {"m": ["a", "b", "c", "d", "e"]},
                 {"a": None, "b": float("nan"), "c": 3, "d": 2**60, "e": -0.0})
    rows, _ = metric(doc, strict=False)
    values = {r.dimensions["m"]: r.value for r in rows}
    assert values["a"] is None and values["b"] is None
    assert values["c"] == 3.0 and type(values["c"]) is float
    assert values["d"] == float(2**60)
    assert values["e"] == 0.0 and math.copysign(1, values["e"]) == -1


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "1e400", "-1e999", "1" + "0" * 400])
def test_infinity_rejected_by_default_or_missing_with_warning(literal: str) -> None:
    text = '{"DIMENSIONS": {"json_structure": ["m"], "m": {"a": {}, "b": {}}}, "RESULTS": {"a": %s, "b": 1}}'
    doc = parse_json_text(text % literal, file="diagnostic.json", nonstandard_tokens=True)
    raises_bundle(lambda: parse_metric_bundle(doc, options=ParseOptions(strict=False)), "/RESULTS/a", "infinite")
    doc = parse_json_text(text % literal, file="diagnostic.json", nonstandard_tokens=True)
    rows, warnings = parse_metric_bundle(doc, options=ParseOptions(strict=False, infinity="missing"))
    assert [(r.dimensions["m"], r.value) for r in rows] == [("a", None), ("b", 1.0)]
    assert warnings == ["diagnostic.json at /RESULTS/a: infinite metric value stored as missing"]


def test_nan_token_rejected_in_strict_mode() -> None:
    raises_bundle(lambda: parse_json_text('{"a": NaN}', file="diagnostic.json"), "", "NaN", "strict")


def test_non_finite_attribute_value_rejected() -> None:
    doc = bundle(["m"], {"m": ["a"]}, {"a": 1, "attributes": {"x": float("nan")}})
    raises_bundle(lambda: metric(doc, strict=False), "/RESULTS/attributes/x", "finite")


def test_keys_are_opaque_and_case_sensitive() -> None:
    doc = bundle(["source_id", "region"], {"source_id": ["E3SM::low_res"], "region": ["Tropics", "tropics", "500"]},
                 {"E3SM::low_res": {"Tropics": 1, "tropics": 2, "500": 3}})
    rows, _ = metric(doc)
    assert [r.dimensions["region"] for r in rows] == ["Tropics", "tropics", "500"]
    assert rows[0].dimensions["source_id"] == "E3SM::low_res"


def test_json_structure_length_cap() -> None:
    names = [f"d{i}" for i in range(5)]
    doc = bundle(names, {n: [] for n in names}, {})
    raises_bundle(lambda: metric(doc, max_dimensions=4), "/DIMENSIONS/json_structure", "more than the limit of 4")
    assert metric(doc, max_dimensions=5) == ([], [])


def test_row_cap() -> None:
    doc = bundle(["m"], {"m": [str(i) for i in range(10)]}, {str(i): i for i in range(10)})
    raises_bundle(lambda: metric(doc, max_rows=9), "/RESULTS", "more than the limit of 9 metric values")
    assert len(metric(doc, max_rows=10)[0]) == 10


def test_deep_structure_is_walked_without_recursion() -> None:
    n = 30
    names = [f"d{i}" for i in range(n)]
    results: Any = {"x": 1.5}
    for _ in range(n - 1):
        results = {"v": results}
    doc = bundle(names, {name: (["x"] if i == n - 1 else ["v"]) for i, name in enumerate(names)}, results)
    validated = validate_metric_bundle(doc, options=ParseOptions())
    assert validated.row_count == 1
    rows = derive_scalar_rows(validated)
    assert rows[0].value == 1.5 and len(rows[0].dimensions) == n


def test_used_values_for_the_vocabulary() -> None:
    validated = validate_metric_bundle(metric_example())
    assert validated.used_values == {
        "source_id": {"ACCESS-ESM1-5", "CanESM5"},
        "region": {"global", "Tropics"},
        "metric": {"bias", "rmse"},
    }
