"""One test per row of the edge-case table of spec section 7 (the recommended behaviour)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from diagnostic_operator.results import (
    BundleError,
    ParseOptions,
    check_outputs,
    default_vocabulary,
    parse_json_bytes,
    parse_json_text,
    parse_metric_bundle,
    parse_series,
    read_json_file,
)
from diagnostic_operator.spec import CompatMode, VocabularyMode

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

M1 = '{"DIMENSIONS": {"json_structure": ["m"], "m": {"a": {}, "b": {}}}, "RESULTS": {"a": %s}}'
S1 = '[{"dimensions": {}, "values": [%s], "index": [%s], "index_name": "t"}]'


def _metric_value(literal: str, **options: Any) -> Any:
    opts = ParseOptions(**options)
    doc = parse_json_text(M1 % literal, file="diagnostic.json", nonstandard_tokens=opts.nonstandard_tokens)
    rows, warnings = parse_metric_bundle(doc, options=opts)
    return rows[0].value, warnings


def _series(values: str, index: str, **options: Any) -> Any:
    opts = ParseOptions(**options)
    doc = parse_json_text(S1 % (values, index), file="series.json", nonstandard_tokens=opts.nonstandard_tokens)
    return parse_series(doc, options=opts)


def null_value() -> None:
    assert _metric_value("null") == (None, [])
    assert _series("null, 1", "1, 2")[0][0].values == [None, 1.0]


def nonstandard_tokens() -> None:
    raises_bundle(lambda: _metric_value("NaN"), "", "token NaN", "strict")
    assert _metric_value("NaN", strict=False) == (None, [])
    raises_bundle(lambda: _metric_value("Infinity", strict=False), "/RESULTS/a", "infinite")
    value, warnings = _metric_value("-Infinity", strict=False, infinity="missing")
    assert value is None and "stored as missing" in warnings[0]
    raises_bundle(lambda: _series("1", "Infinity", strict=False, infinity="missing"), "/0/index/0", "finite")
    assert _series("NaN", "1", strict=False)[0][0].values == [None]


def number_overflow() -> None:
    raises_bundle(lambda: _metric_value("1e400"), "/RESULTS/a", "infinite")
    assert _metric_value("1e400", infinity="missing")[0] is None
    raises_bundle(lambda: _series("1", "1e400", infinity="missing"), "/0/index/0", "finite")


def large_integers() -> None:
    assert _metric_value(str(2**60 + 1))[0] == float(2**60)


def integer_leaf() -> None:
    value, _ = _metric_value("3")
    assert value == 3.0 and type(value) is float


def boolean_value() -> None:
    raises_bundle(lambda: _metric_value("true"), "/RESULTS/a", "got boolean")
    raises_bundle(lambda: _series("true", "1"), "/0/values/0", "got boolean")
    raises_bundle(lambda: _series("1", "false"), "/0/index/0", "got boolean")


def numeric_string() -> None:
    raises_bundle(lambda: _metric_value('"0.5"'), "/RESULTS/a", "got string '0.5'")
    raises_bundle(lambda: _series('"1"', "1"), "/0/values/0", "got string")


def array_or_object_leaf() -> None:
    raises_bundle(lambda: _metric_value("[1]"), "/RESULTS/a", "got array")
    raises_bundle(lambda: _metric_value('{"x": 1}'), "/RESULTS/a", "got object")


def missing_intermediate() -> None:
    doc = metric_example()
    del doc["RESULTS"]["ACCESS-ESM1-5"]["Tropics"]
    raises_bundle(lambda: metric(doc), "/RESULTS/ACCESS-ESM1-5", "missing value(s) 'Tropics'")


def missing_leaf() -> None:
    doc = metric_example()
    del doc["RESULTS"]["ACCESS-ESM1-5"]["Tropics"]["bias"]
    assert len(metric(doc)[0]) == 7


def undeclared_intermediate() -> None:
    doc = metric_example()
    doc["RESULTS"]["CanESM5"]["Arctic"] = {"bias": 1}
    raises_bundle(lambda: metric(doc, strict=False), "/RESULTS/CanESM5/Arctic", "not a declared value")


def undeclared_leaf() -> None:
    doc = bundle(["a", "b"], {"a": ["x"], "b": ["y"]}, {"x": {"y": 1, "z": 2}})  # n = 2, climate-ref's quirk
    raises_bundle(lambda: metric(doc), "/RESULTS/x/z", "strict mode")
    rows, warnings = metric(doc, strict=False)
    assert [r.dimensions for r in rows] == [{"a": "x", "b": "y"}] and len(warnings) == 1


def extra_top_level_keys(tmp_path: Path) -> None:
    doc = metric_example()
    doc["EXTRA"] = [1, {"x": None}]
    assert len(metric(doc)[0]) == 8
    out = output_example()
    out["extra"] = 1
    out["provenance"]["extra"] = {"a": [1]}
    out["plots"]["bias_map_access"]["caption"] = "c"
    assert len(outputs(out, make_output_dir(tmp_path / "o"))[0]) == 4


def extra_series_keys() -> None:
    doc = series_example()
    doc[0]["whatever"] = {"nested": [1]}
    assert len(series(doc)[0]) == 3


def attributes_any_level() -> None:
    doc = metric_example()
    doc["RESULTS"]["attributes"] = {"top": {"nested": True}}
    doc["RESULTS"]["CanESM5"]["global"]["attributes"] = {"n": 1, "s": "x", "f": 0.5}
    rows, _ = metric(doc)
    assert rows[4].attributes == {"n": 1, "s": "x", "f": 0.5}
    assert rows[0].attributes is None


def nested_leaf_attributes() -> None:
    doc = metric_example()
    doc["RESULTS"]["CanESM5"]["global"]["attributes"] = {"a": None}
    raises_bundle(lambda: metric(doc), "/RESULTS/CanESM5/global/attributes/a", "got null")


def dimension_entry_list() -> None:
    doc = metric_example()
    doc["DIMENSIONS"]["metric"] = ["bias", "rmse"]
    raises_bundle(lambda: metric(doc), "/DIMENSIONS/metric", "must be an object, got array")


def duplicate_keys() -> None:
    raises_bundle(lambda: parse_json_text('{"RESULTS": {"a": 1, "a": 2}}', file="d.json"), "",
                  "duplicate object key 'a'")


def bom_trailing_several() -> None:
    raises_bundle(lambda: parse_json_bytes(b"\xef\xbb\xbf{}", file="d.json"), "byte 0", "BOM")
    raises_bundle(lambda: parse_json_bytes(b"{}{}", file="d.json"), "line 1 column 3", "Extra data")
    raises_bundle(lambda: parse_json_bytes(b"{}\xff", file="d.json"), "byte 2", "not valid UTF-8")


def one_dimension_bundle() -> None:
    doc = bundle(["metric"], {"metric": ["bias"]}, {"bias": 0.4})
    assert [r.dimensions for r in metric(doc)[0]] == [{"metric": "bias"}]
    raises_bundle(lambda: metric(doc, compat=CompatMode.CLIMATE_REF), None, "one-dimension")


def empty_bundle_and_series() -> None:
    assert metric({"DIMENSIONS": {"json_structure": []}, "RESULTS": {}}) == ([], [])
    assert series([]) == ([], [])


def kind_outside_values() -> None:
    raises_bundle(lambda: metric(bundle(["kind"], {"kind": ["Model"]}, {"Model": 1})), "/DIMENSIONS/kind/Model",
                  "kind must be")
    raises_bundle(lambda: series([{"dimensions": {}, "values": [], "index": [], "index_name": "t",
                                   "kind": "ref"}]), "/0/kind", "kind must be")


def deep_nesting() -> None:
    text = '{"DIMENSIONS": {"json_structure": []}, "RESULTS": {}, "NOTES": ' + "[" * 100 + "]" * 100 + "}"
    raises_bundle(lambda: parse_json_text(text, file="d.json"), "/NOTES" + "/0" * 63, "deeper than 64")
    raises_bundle(lambda: parse_json_text("[" * 100_000 + "]" * 100_000, file="d.json"), "", "nested deeper")


def very_large_files(tmp_path: Path) -> None:
    (tmp_path / "big.json").write_text("[" + "1," * 1000 + "1]")
    raises_bundle(lambda: read_json_file(tmp_path, "big.json", max_bytes=1000), "", "larger than the limit")
    doc = bundle(["m"], {"m": [str(i) for i in range(5)]}, {str(i): i for i in range(5)})
    raises_bundle(lambda: metric(doc, max_rows=4), None, "more than the limit of 4")


def _output_with(tmp_path: Path, filename: str) -> Callable[[], object]:
    root = make_output_dir(tmp_path / "o")
    doc = output_example()
    doc["data"]["bias_fields"]["filename"] = filename
    return lambda: outputs(doc, root)


def path_traversal(tmp_path: Path) -> None:
    raises_bundle(_output_with(tmp_path, "../../etc/passwd"), "/data/bias_fields/filename", "escapes")


def absolute_outside(tmp_path: Path) -> None:
    raises_bundle(_output_with(tmp_path, "/etc/passwd"), "/data/bias_fields/filename", "absolute path outside")


def absolute_inside(tmp_path: Path) -> None:
    rows, _ = _output_with(tmp_path, str(tmp_path / "o" / "index.html"))()  # type: ignore[misc]
    assert rows[2].filename == "index.html"


def absolute_escaping_after_cleaning(tmp_path: Path) -> None:
    raises_bundle(_output_with(tmp_path, str(tmp_path / "o") + "/../../x"), "/data/bias_fields/filename",
                  "absolute path outside")


def symlink_outside(tmp_path: Path) -> None:
    call = _output_with(tmp_path, "data/link.nc")
    (tmp_path / "secret").write_text("s")
    (tmp_path / "o" / "data" / "link.nc").symlink_to(tmp_path / "secret")
    raises_bundle(call, "/data/bias_fields/filename", "through a symlink")


def directory_device_fifo(tmp_path: Path) -> None:
    call = _output_with(tmp_path, "data")
    raises_bundle(call, "/data/bias_fields/filename", "not a regular file (a directory)")


def missing_file(tmp_path: Path) -> None:
    raises_bundle(_output_with(tmp_path, "data/none.nc"), "/data/bias_fields/filename",
                  "data entry 'bias_fields': file 'data/none.nc' does not exist")


def short_name_with_slash(tmp_path: Path) -> None:
    root = make_output_dir(tmp_path / "o")
    doc = output_example()
    doc["data"] = {"/abs/key/../x": {"filename": "index.html", "long_name": "L", "description": ""}}
    rows, _ = outputs(doc, root)
    assert rows[2].short_name == "/abs/key/../x" and rows[2].filename == "index.html"


def series_length_mismatch() -> None:
    raises_bundle(lambda: _series("1, 2", "1"), "/0/index", "index has 1 elements but values has 2")


def duplicate_index_or_series() -> None:
    raises_bundle(lambda: _series("1, 2", "1, 1"), "/0/index/1", "duplicate index value")
    doc = series_example()
    doc.append(dict(doc[0]))
    raises_bundle(lambda: series(doc), "/3", "duplicate series")


def mixed_index() -> None:
    rows, _ = _series("1, 2", '2010, "2010"')
    assert rows[0].index == [2010, "2010"]


def numeric_looking_dimension_values() -> None:
    doc = bundle(["level", "region"], {"level": ["500"], "region": ["Tropics", "tropics"]},
                 {"500": {"Tropics": 1, "tropics": 2}})
    rows, _ = metric(doc)
    assert [r.dimensions for r in rows] == [{"level": "500", "region": "Tropics"},
                                            {"level": "500", "region": "tropics"}]


def empty_names_and_values() -> None:
    raises_bundle(lambda: metric(bundle([""], {"": ["a"]}, {"a": 1})), "/DIMENSIONS/json_structure/0",
                  "non-empty strings")
    rows, _ = metric(bundle(["metric"], {"metric": [""]}, {"": 1}))
    assert rows[0].dimensions == {"metric": ""}  # allowed by the bundle; the CV decides (test_vocabulary)


def output_dimension_not_in_cv(tmp_path: Path) -> None:
    root = make_output_dir(tmp_path / "o")
    doc = output_example()
    doc["html"]["summary_page"]["dimensions"] = {"colour": "red"}
    rows, _ = outputs(doc, root)
    raises_bundle(lambda: check_outputs(default_vocabulary(), rows, VocabularyMode.WARN),
                  "/html/summary_page/dimensions/colour", "unknown dimension 'colour'")


SECTION_7: list[Callable[..., None]] = [
    null_value, nonstandard_tokens, number_overflow, large_integers, integer_leaf, boolean_value, numeric_string,
    array_or_object_leaf, missing_intermediate, missing_leaf, undeclared_intermediate, undeclared_leaf,
    extra_top_level_keys, extra_series_keys, attributes_any_level, nested_leaf_attributes, dimension_entry_list,
    duplicate_keys, bom_trailing_several, one_dimension_bundle, empty_bundle_and_series, kind_outside_values,
    deep_nesting, very_large_files, path_traversal, absolute_outside, absolute_inside,
    absolute_escaping_after_cleaning, symlink_outside, directory_device_fifo, missing_file, short_name_with_slash,
    series_length_mismatch, duplicate_index_or_series, mixed_index, numeric_looking_dimension_values,
    empty_names_and_values, output_dimension_not_in_cv,
]


@pytest.mark.parametrize("case", SECTION_7, ids=[f.__name__ for f in SECTION_7])
def test_section_7(case: Callable[..., None], tmp_path: Path) -> None:
    if case.__code__.co_argcount:
        case(tmp_path)
    else:
        case()


def test_every_section_7_case_is_distinct() -> None:
    assert len({f.__name__ for f in SECTION_7}) == len(SECTION_7) == 38
    assert issubclass(BundleError, ValueError)
