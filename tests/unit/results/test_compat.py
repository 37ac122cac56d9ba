"""Climate-REF's dialect (``compat: climate-ref``) against the strict reader, one behaviour a row.

Each case is a small output folder; the table says what the strict reader does (an error naming where, or
rows) and what compat mode does (rows, and the items dropped or made missing, by kind). What Climate-REF
0.20.2 itself stores for the same behaviours is checked in tests/integration/climate_ref/.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from diagnostic_operator.results import BundleError, ParseOptions, ResultSet, load_results
from diagnostic_operator.results.compat import DropKind, describe, drop_dimensions, merge, tally, unknown_names
from diagnostic_operator.results.rows import ScalarRow, SeriesRow, dimensions_hash
from diagnostic_operator.spec import CompatMode, ResultFiles, VocabularyMode

PROVENANCE = {"environment": {}, "modeldata": [], "obsdata": {}, "log": "out.log"}
DIMS = {"source_id": {"A": {}, "B": {}}, "region": {"global": {}}, "metric": {"bias": {}, "rmse": {}}}
RESULTS = {"A": {"global": {"bias": 1.0, "rmse": 2.0}}, "B": {"global": {"bias": 3.0, "rmse": None}}}
SERIES = {"dimensions": {"source_id": "A", "metric": "tas"}, "values": [1.0, None, 3.0],
          "index": [2000, 2001, 2002], "index_name": "year"}


def metric(structure: list[str], dims: dict[str, Any], results: Any) -> dict[str, Any]:
    return {"DIMENSIONS": {"json_structure": structure, **dims}, "RESULTS": results}


CLEAN = metric(["source_id", "region", "metric"], DIMS, RESULTS)


@dataclass(frozen=True)
class Case:
    """``diagnostic``/``series`` are documents or raw text (for NaN and Infinity tokens)."""

    diagnostic: Any = field(default_factory=lambda: CLEAN)
    series: Any = field(default_factory=lambda: [SERIES])
    output_dims: dict[str, str] = field(default_factory=lambda: {"source_id": "A"})
    files: tuple[str, ...] = ("plots/a.png",)
    write_files: bool = True

    def write(self, out: Path) -> Path:
        out.mkdir(parents=True)
        plots = {f"p{i}": {"filename": name, "long_name": "L", "description": "", "dimensions": self.output_dims}
                 for i, name in enumerate(self.files)}
        docs = {"diagnostic.json": self.diagnostic, "series.json": self.series,
                "output.json": {"provenance": PROVENANCE, "plots": plots}}
        for name, doc in docs.items():
            (out / name).write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
        if self.write_files:
            for name in self.files:
                (out / name).parent.mkdir(parents=True, exist_ok=True)
                (out / name).write_bytes(b"png")
        return out


def text(doc: Any, old: str, new: str) -> str:
    encoded = json.dumps(doc)
    assert old in encoded
    return encoded.replace(old, new, 1)


def load(case: Case, tmp_path: Path, compat: CompatMode, mode: VocabularyMode = VocabularyMode.WARN) -> ResultSet:
    out = case.write(tmp_path / f"out-{compat}-{mode}")
    return load_results(out, ResultFiles(compat=compat, controlled_vocabulary=mode))


def scalar_values(result: ResultSet) -> dict[tuple[tuple[str, str], ...], float | None]:
    return {tuple(sorted(r.dimensions.items())): r.value for r in result.scalars}


# name → (case, strict: error text or None for success, compat: error text or {kind: count})
CASES: dict[str, tuple[Case, str | None, str | dict[DropKind, int]]] = {
    "clean": (Case(), None, {}),
    "undeclared leaf key": (
        Case(diagnostic=metric(["source_id", "region", "metric"], DIMS,
                               {**RESULTS, "A": {"global": {"bias": 1.0, "extra": 5.0, "more": 6.0}}})),
        "not a declared value", {DropKind.UNDECLARED_LEAF_KEY: 2}),
    "NaN in diagnostic.json": (
        Case(diagnostic=text(CLEAN, "3.0", "NaN")), "non-standard JSON token NaN", {DropKind.NAN_METRIC_VALUE: 1}),
    "Infinity in diagnostic.json": (
        Case(diagnostic=text(CLEAN, "3.0", "-Infinity")), "non-standard JSON token -Infinity",
        {DropKind.INFINITE_METRIC_VALUE: 1}),
    "Infinity in series values": (
        Case(series=text([SERIES], "3.0", "Infinity")), "non-standard JSON token Infinity",
        {DropKind.INFINITE_SERIES_VALUE: 1}),
    "NaN in series values": (
        Case(series=text([SERIES], "3.0", "NaN")), "non-standard JSON token NaN", {DropKind.NAN_SERIES_VALUE: 1}),
    "duplicate series": (
        Case(series=[SERIES, {**SERIES, "values": [7.0, 8.0, 9.0]}]), "duplicate series",
        {DropKind.DUPLICATE_SERIES: 1}),
    "duplicate index values": (
        Case(series=[{**SERIES, "index": [2000, 2000, 2001]}]), "duplicate index value", {}),
    "unknown dimension in diagnostic.json": (
        Case(diagnostic=metric(["source_id", "foo", "metric"],
                               {"source_id": {"A": {}}, "foo": {"x": {}}, "metric": {"bias": {}}},
                               {"A": {"x": {"bias": 1.5}}})),
        "unknown dimension 'foo'", {DropKind.UNKNOWN_DIMENSION: 1}),
    "unknown dimension making two rows one": (
        Case(diagnostic=metric(["source_id", "foo", "metric"],
                               {"source_id": {"A": {}}, "foo": {"x": {}, "y": {}}, "metric": {"bias": {}}},
                               {"A": {"x": {"bias": 1.5}, "y": {"bias": 2.5}}})),
        "unknown dimension 'foo'", {DropKind.UNKNOWN_DIMENSION: 2, DropKind.COLLIDING_ROW: 1}),
    "unknown dimension in series.json": (
        Case(series=[{**SERIES, "dimensions": {"source_id": "A", "foo": "x"}}]), "unknown dimension 'foo'",
        {DropKind.UNKNOWN_DIMENSION: 1}),
    "unknown dimension in output.json": (Case(output_dims={"foo": "x"}), "unknown dimension 'foo'",
                                         "unknown dimension 'foo'"),
    "one-dimension bundle": (
        Case(diagnostic=metric(["metric"], {"metric": {"bias": {}}}, {"bias": 1.0})), None, "one-dimension"),
    "empty json_structure with RESULTS.attributes": (
        Case(diagnostic=metric([], {}, {"attributes": {"a": "b"}})), None, "RESULTS holds attributes"),
    "missing output file": (Case(files=("plots/missing.png",), write_files=False), "does not exist",
                            "does not exist"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_strict_and_compat_readers(name: str, tmp_path: Path) -> None:
    case, strict, compat = CASES[name]
    if strict is None:
        assert load(case, tmp_path, CompatMode.NONE).dropped == {}
    else:
        with pytest.raises(BundleError, match=strict):
            load(case, tmp_path, CompatMode.NONE)
    if isinstance(compat, str):
        with pytest.raises(BundleError, match=compat):
            load(case, tmp_path, CompatMode.CLIMATE_REF)
    else:
        result = load(case, tmp_path, CompatMode.CLIMATE_REF)
        assert result.dropped == compat
        assert result.dropped_total == sum(compat.values())


def test_compat_rows_have_climate_ref_meaning(tmp_path: Path) -> None:
    nan = load(CASES["NaN in diagnostic.json"][0], tmp_path / "nan", CompatMode.CLIMATE_REF)
    assert scalar_values(nan)[(("metric", "bias"), ("region", "global"), ("source_id", "B"))] is None
    inf = load(CASES["Infinity in series values"][0], tmp_path / "inf", CompatMode.CLIMATE_REF)
    assert inf.series[0].values == [1.0, None, None]
    leaf = load(CASES["undeclared leaf key"][0], tmp_path / "leaf", CompatMode.CLIMATE_REF)
    assert sorted(scalar_values(leaf)) == [(("metric", "bias"), ("region", "global"), ("source_id", "A")),
                                           (("metric", "bias"), ("region", "global"), ("source_id", "B")),
                                           (("metric", "rmse"), ("region", "global"), ("source_id", "B"))]
    duplicate = load(CASES["duplicate series"][0], tmp_path / "dup", CompatMode.CLIMATE_REF)
    assert [s.values for s in duplicate.series] == [[1.0, None, 3.0]]  # the first is kept
    index = load(CASES["duplicate index values"][0], tmp_path / "index", CompatMode.CLIMATE_REF)
    assert index.series[0].index == [2000, 2000, 2001]
    assert any("duplicate index value" in w for w in index.warnings)
    collide = load(CASES["unknown dimension making two rows one"][0], tmp_path / "collide", CompatMode.CLIMATE_REF)
    assert [(r.dimensions, r.value) for r in collide.scalars] == [({"source_id": "A", "metric": "bias"}, 1.5)]
    assert collide.scalars[0].key == dimensions_hash("model", {"source_id": "A", "metric": "bias"})
    series = load(CASES["unknown dimension in series.json"][0], tmp_path / "series", CompatMode.CLIMATE_REF)
    assert series.series[0].dimensions == {"source_id": "A"}
    assert any("'foo' is not in the controlled vocabulary" in w for w in series.warnings)


def test_unknown_dimensions_follow_the_vocabulary_mode(tmp_path: Path) -> None:
    case = CASES["unknown dimension in diagnostic.json"][0]
    with pytest.raises(BundleError, match="unknown dimension 'foo'"):
        load(case, tmp_path / "fail", CompatMode.CLIMATE_REF, VocabularyMode.FAIL)
    off = load(case, tmp_path / "off", CompatMode.CLIMATE_REF, VocabularyMode.OFF)
    assert off.dropped == {} and off.scalars[0].dimensions == {"source_id": "A", "foo": "x", "metric": "bias"}


def test_options_take_the_modes_of_the_manifest_unless_set() -> None:
    files = ResultFiles(compat=CompatMode.CLIMATE_REF, controlled_vocabulary=VocabularyMode.OFF)
    assert ParseOptions().for_files(files).compat is CompatMode.CLIMATE_REF
    assert ParseOptions().for_files(files).vocabulary_mode is VocabularyMode.OFF
    assert ParseOptions(compat=CompatMode.NONE).for_files(files).compat is CompatMode.NONE
    assert ParseOptions().for_files(ResultFiles()).compat is CompatMode.NONE


@pytest.mark.parametrize(("options", "tokens", "drop_leaf", "infinity_missing"), [
    (ParseOptions(), False, False, False),
    (ParseOptions(strict=False), True, True, False),
    (ParseOptions(infinity="missing"), False, False, True),
    (ParseOptions(compat=CompatMode.NONE, strict=False, allow_nonstandard_tokens=False), False, True, False),
    # compat decides what it covers, whatever the finer knobs say
    (ParseOptions(compat=CompatMode.CLIMATE_REF), True, True, True),
    (ParseOptions(compat=CompatMode.CLIMATE_REF, allow_nonstandard_tokens=False, infinity="reject"), True, True,
     True),
])
def test_what_each_option_set_reads(options: ParseOptions, tokens: bool, drop_leaf: bool,
                                    infinity_missing: bool) -> None:
    assert (options.nonstandard_tokens, options.drop_undeclared_leaf_keys, options.infinity_missing) == (
        tokens, drop_leaf, infinity_missing)


def _scalar(dims: dict[str, str], value: float = 1.0) -> ScalarRow:
    return ScalarRow.make(dims, value)


def test_drop_dimensions_keeps_the_first_of_rows_that_become_one() -> None:
    rows = [_scalar({"a": "1", "x": "p"}, 1.0), _scalar({"a": "1", "x": "q"}, 2.0), _scalar({"a": "2"}, 3.0),
            _scalar({"a": "1"}, 4.0)]
    drops: dict[DropKind, int] = {}
    kept = drop_dimensions(rows, frozenset({"x"}), drops)
    assert [(r.dimensions, r.value) for r in kept] == [({"a": "1"}, 1.0), ({"a": "2"}, 3.0)]
    assert all(r.key == dimensions_hash(r.kind, r.dimensions) for r in kept)
    assert drops == {DropKind.UNKNOWN_DIMENSION: 2, DropKind.COLLIDING_ROW: 2}
    assert drop_dimensions(rows, frozenset(), drops) is rows


def test_drop_dimensions_on_series_rows() -> None:
    rows = [SeriesRow.make({"a": "1", "x": "p"}, [1.0], [1], "i", kind="reference")]
    drops: dict[DropKind, int] = {}
    kept = drop_dimensions(rows, frozenset({"x", "y"}), drops)
    assert kept[0].dimensions == {"a": "1"} and kept[0].kind == "reference"
    assert kept[0].key == dimensions_hash("reference", {"a": "1"}) and kept[0].index_key == rows[0].index_key
    assert drops == {DropKind.UNKNOWN_DIMENSION: 1}


def test_counting_helpers() -> None:
    drops: dict[DropKind, int] = {}
    tally(drops, DropKind.DUPLICATE_SERIES, 0)
    assert drops == {}
    tally(drops, DropKind.DUPLICATE_SERIES)
    tally(drops, DropKind.DUPLICATE_SERIES, 2)
    total = merge({DropKind.NAN_SERIES_VALUE: 1}, drops, {DropKind.NAN_SERIES_VALUE: 4})
    assert list(total.items()) == [(DropKind.NAN_SERIES_VALUE, 5), (DropKind.DUPLICATE_SERIES, 3)]
    assert [(kind, n) for kind, n, _ in describe(total)] == [(DropKind.NAN_SERIES_VALUE, 5),
                                                            (DropKind.DUPLICATE_SERIES, 3)]
    assert unknown_names({"a", "b"}, ["a", "c", "d"]) == {"c", "d"}
