"""Result folders for the Climate-REF parity test: the reference examples (the clean one), then one folder
per behaviour where Climate-REF's dialect differs from the strict reader, each a small change of the
examples (result-formats.md). ``EXPECTED`` says what compat mode must report for each; ``DIVERGENCES``
names the folders where this product cannot store what Climate-REF stores, and how the two differ."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diagnostic_operator.results.compat import DropKind
from tests.unit.results.helpers import example, make_output_dir

Row = dict[str, Any]
Doc = Any  # a decoded document, or a text (for the NaN and Infinity tokens)


@dataclass(frozen=True)
class Bundle:
    """What to change in the example folder, and what compat mode must make of it."""

    diagnostic: Callable[[dict[str, Any]], Doc] | None = None
    series: Callable[[list[Any]], Doc] | None = None
    output: Callable[[dict[str, Any]], Doc] | None = None
    remove: tuple[str, ...] = ()  # files the output bundle names that are not written
    dropped: dict[DropKind, int] = field(default_factory=dict)  # what compat mode counts
    refused: str | None = None  # compat mode refuses it, and Climate-REF too: a fragment of our error


def _text(doc: Any, old: str, new: str) -> str:
    """The document as JSON text with ``old`` replaced (a text is changed as it is)."""
    encoded = doc if isinstance(doc, str) else json.dumps(doc)
    assert old in encoded, old
    return encoded.replace(old, new)


def _with_realm(metric: dict[str, Any], realms: list[str]) -> dict[str, Any]:
    """The example bundle with a dimension ``realm`` (not in the controlled vocabulary) between source_id
    and region: every value is repeated under each realm, the second realm's values shifted by 100."""
    metric["DIMENSIONS"]["json_structure"] = ["source_id", "realm", "region", "metric"]
    metric["DIMENSIONS"]["realm"] = {realm: {} for realm in realms}
    results = metric["RESULTS"]
    for source, node in results.items():
        regions = {k: v for k, v in node.items() if k != "attributes"}
        shifted = [copy.deepcopy(regions) for _ in realms]
        for i, tree in enumerate(shifted):
            for leaves in tree.values():
                for key, value in leaves.items():
                    if key != "attributes" and isinstance(value, float):
                        leaves[key] = value + 100 * i
        results[source] = {realm: tree for realm, tree in zip(realms, shifted, strict=True)}
    return metric


def _undeclared_leaf(metric: dict[str, Any]) -> dict[str, Any]:
    metric["RESULTS"]["ACCESS-ESM1-5"]["global"]["mae"] = 0.31
    return metric


def _two_levels_undeclared_leaf(_: dict[str, Any]) -> dict[str, Any]:
    return {"DIMENSIONS": {"json_structure": ["source_id", "metric"], "source_id": {"ACCESS-ESM1-5": {}},
                           "metric": {"bias": {}}},
            "RESULTS": {"ACCESS-ESM1-5": {"bias": 0.42, "mae": 0.31}}}


def _one_dimension(_: dict[str, Any]) -> dict[str, Any]:
    return {"DIMENSIONS": {"json_structure": ["metric"], "metric": {"bias": {}, "rmse": {}}},
            "RESULTS": {"bias": 0.42, "rmse": 1.15}}


def _one_dimension_without_values(_: dict[str, Any]) -> dict[str, Any]:
    return {"DIMENSIONS": {"json_structure": ["metric"], "metric": {"bias": {}}}, "RESULTS": {}}


def _empty_with_attributes(_: dict[str, Any]) -> dict[str, Any]:
    return {"DIMENSIONS": {"json_structure": []}, "RESULTS": {"attributes": {"note": "nothing computed"}}}


def _duplicate_series(series: list[Any]) -> list[Any]:
    again = copy.deepcopy(series[1])
    again["values"] = [9.5, 9.6, 9.7, 9.8, 9.9]
    return [*series, again]


def _duplicate_index(series: list[Any]) -> list[Any]:
    series[0]["index"] = [2010, 2011, 2011, 2012, 2012]
    return series


def _series_with_realm(series: list[Any]) -> list[Any]:
    series[0]["dimensions"]["realm"] = "atmos"
    return series


def _output_dimension_outside_vocabulary(output: dict[str, Any]) -> dict[str, Any]:
    output["plots"]["bias_map_access"]["dimensions"]["realm"] = "atmos"
    return output


BUNDLES: dict[str, Bundle] = {
    "clean": Bundle(),
    "nan-in-diagnostic": Bundle(diagnostic=lambda m: _text(m, "1.03", "NaN"),
                                dropped={DropKind.NAN_METRIC_VALUE: 1}),
    "nan-in-series": Bundle(series=lambda s: _text(s, "0.91", "NaN"), dropped={DropKind.NAN_SERIES_VALUE: 1}),
    "infinity-in-series": Bundle(series=lambda s: _text(_text(s, "0.83", "Infinity"), "0.54", "-Infinity"),
                                 dropped={DropKind.INFINITE_SERIES_VALUE: 2}),
    "infinity-in-diagnostic": Bundle(diagnostic=lambda m: _text(m, "-0.18", "-Infinity"),
                                     dropped={DropKind.INFINITE_METRIC_VALUE: 1}),
    "undeclared-leaf-key": Bundle(diagnostic=_undeclared_leaf, dropped={DropKind.UNDECLARED_LEAF_KEY: 1}),
    "undeclared-leaf-key-two-levels": Bundle(diagnostic=_two_levels_undeclared_leaf,
                                             dropped={DropKind.UNDECLARED_LEAF_KEY: 1}),
    "duplicate-series": Bundle(series=_duplicate_series, dropped={DropKind.DUPLICATE_SERIES: 1}),
    "duplicate-index-values": Bundle(series=_duplicate_index),
    "dimension-outside-vocabulary": Bundle(diagnostic=lambda m: _with_realm(m, ["atmos"]),
                                           dropped={DropKind.UNKNOWN_DIMENSION: 8}),
    "dimension-outside-vocabulary-colliding": Bundle(
        diagnostic=lambda m: _with_realm(m, ["atmos", "ocean"]),
        dropped={DropKind.UNKNOWN_DIMENSION: 16, DropKind.COLLIDING_ROW: 8}),
    "dimension-outside-vocabulary-in-series": Bundle(series=_series_with_realm,
                                                     dropped={DropKind.UNKNOWN_DIMENSION: 1}),
    "one-dimension-without-values": Bundle(diagnostic=_one_dimension_without_values),
    "one-dimension": Bundle(diagnostic=_one_dimension, refused="one-dimension metric bundles"),
    "empty-structure-with-attributes": Bundle(diagnostic=_empty_with_attributes,
                                              refused="RESULTS holds attributes"),
    "dimension-outside-vocabulary-in-output": Bundle(output=_output_dimension_outside_vocabulary,
                                                     refused="unknown dimension 'realm'"),
    "missing-output-file": Bundle(remove=("plots/CanESM5_tas_bias_map.png",), refused="does not exist"),
}


def write_bundles(root: Path) -> Path:
    """Every folder of ``BUNDLES`` under ``root``."""
    for name, bundle in BUNDLES.items():
        out = make_output_dir(root / name)
        for file, change, original in (("diagnostic.json", bundle.diagnostic, "metric_bundle.json"),
                                       ("series.json", bundle.series, "series.json"),
                                       ("output.json", bundle.output, "output_bundle.json")):
            if change is not None:
                doc = change(example(original))
                (out / file).write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
        for file in bundle.remove:
            (out / file).unlink()
    return root


# --------------------------------------------------------------------------------- where the two differ


def _first_of_each_identity(rows: list[Row]) -> list[Row]:
    seen: set[str] = set()
    kept = []
    for row in rows:
        identity = json.dumps([row["kind"], row["dimensions"]], sort_keys=True)
        if identity not in seen:
            seen.add(identity)
            kept.append(row)
    return kept


def _infinite_as_missing(rows: list[Row]) -> list[Row]:
    return [{**row, "value": None if row["value"] in (float("inf"), float("-inf")) else row["value"]}
            for row in rows]


def _without_undeclared(rows: list[Row]) -> list[Row]:
    return [row for row in rows if row["dimensions"].get("metric") != "mae"]


@dataclass(frozen=True)
class Divergence:
    """Climate-REF stores something this product's tables cannot hold: ``why``, and which rows (scalar or
    series) ``expected`` turns Climate-REF's rows into to give ours."""

    why: str
    table: str
    expected: Callable[[list[Row]], list[Row]]


DIVERGENCES: dict[str, Divergence] = {
    "duplicate-series": Divergence(
        "Climate-REF stores both series; this product holds one series per kind and dimensions (the first)",
        "series", _first_of_each_identity),
    "dimension-outside-vocabulary-colliding": Divergence(
        "Climate-REF stores every row without the unknown column, so rows repeat; this product keeps the first",
        "scalars", _first_of_each_identity),
    "infinity-in-diagnostic": Divergence(
        "Climate-REF stores -inf in its float column; this product stores no infinities (missing, counted)",
        "scalars", _infinite_as_missing),
    "undeclared-leaf-key-two-levels": Divergence(
        "Climate-REF drops undeclared leaf keys only from bundles of three or more dimensions (its validator "
        "pops them from a copy when there are two); this product drops them at every depth",
        "scalars", _without_undeclared),
}
