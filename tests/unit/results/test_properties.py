"""Property tests: arbitrary input never raises anything but BundleError; valid bundles round-trip."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import posixpath
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from diagnostic_operator.results import (
    BundleError,
    ParseOptions,
    UnsafePathError,
    clean_relative,
    dimensions_hash,
    parse_json_bytes,
    parse_json_text,
    parse_metric_bundle,
    parse_output_bundle,
    parse_series,
)

from .helpers import make_output_dir, metric_example, output_example, series_example

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROOT = make_output_dir(Path(tempfile.mkdtemp(prefix="results-props-")) / "out")

keys = st.one_of(
    st.sampled_from(["DIMENSIONS", "RESULTS", "json_structure", "attributes", "kind", "model", "reference",
                     "dimensions", "values", "index", "index_name", "provenance", "filename", "long_name",
                     "description", "plots", "data", "html", "metrics", "source_id", "region", "metric", "bias"]),
    st.text(max_size=8),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(keys, children, max_size=5)),
    max_leaves=30,
)


def _run_all(text: str, strict: bool) -> None:
    options = ParseOptions(strict=strict, infinity="reject" if strict else "missing")
    for parse in (
        lambda doc: parse_metric_bundle(doc, options=options),
        lambda doc: parse_series(doc, options=options),
        lambda doc: parse_output_bundle(doc, ROOT, options=options),
        lambda doc: parse_output_bundle(doc, None, options=options),
    ):
        with contextlib.suppress(BundleError):
            parse(parse_json_text(text, file="f.json", nonstandard_tokens=not strict))


@SETTINGS
@given(json_values, st.booleans())
def test_random_documents_only_raise_bundle_error(doc: Any, strict: bool) -> None:
    _run_all(json.dumps(doc, allow_nan=True), strict)


@SETTINGS
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_bundle_error(data: bytes) -> None:
    with contextlib.suppress(BundleError):
        parse_json_bytes(data, file="f.json", nonstandard_tokens=True)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            found.extend(_paths(child, (*prefix, i)))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    doc = copy.deepcopy(draw(st.sampled_from([metric_example(), series_example(), output_example()])))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        if not path:
            doc = draw(json_values)
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(keys)] = draw(json_values)
        else:
            parent.append(draw(json_values))
    return doc


@SETTINGS
@given(mutated(), st.booleans())
def test_mutated_examples_only_raise_bundle_error(doc: Any, strict: bool) -> None:
    _run_all(json.dumps(doc, allow_nan=True), strict)


# Strings a valid bundle may hold: any Unicode except NUL (rejected: the database cannot store it).
chars = st.characters(codec="utf-8", exclude_characters="\x00")
safe_keys = keys.filter(lambda k: "\x00" not in k)
finite_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.floats(allow_nan=False, allow_infinity=False),
              st.text(chars, max_size=5)),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(safe_keys, children, max_size=3)),
    max_leaves=10,
)
names = st.text(chars, min_size=1, max_size=6).filter(
    lambda s: s not in {"attributes", "json_structure", "created_at", "updated_at", "value", "id", "kind"})
values = st.text(chars, max_size=6).filter(lambda s: s != "attributes")
numbers = st.one_of(st.none(), st.integers(-(10**6), 10**6), st.floats(allow_nan=False, allow_infinity=False))


@st.composite
def valid_bundle(draw: st.DrawFn) -> tuple[dict[str, Any], int]:
    structure = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    if draw(st.booleans()):
        structure.insert(draw(st.integers(0, len(structure))), "kind")
    declared = {
        name: (draw(st.lists(st.sampled_from(["model", "reference"]), min_size=1, max_size=2, unique=True))
               if name == "kind" else draw(st.lists(values, min_size=0, max_size=3, unique=True)))
        for name in structure
    }
    count = 0

    def build(level: int) -> dict[str, Any]:
        nonlocal count
        name = structure[level]
        if level == len(structure) - 1:
            chosen = draw(st.lists(st.sampled_from(declared[name]), unique=True)) if declared[name] else []
            count += len(chosen)
            node: dict[str, Any] = {key: draw(numbers) for key in chosen}
            if draw(st.booleans()):
                node["attributes"] = draw(st.dictionaries(st.text(chars, max_size=4), st.one_of(
                    st.text(chars, max_size=4), st.integers(-5, 5)), max_size=2))
            return node
        node = {key: build(level + 1) for key in declared[name]}
        if draw(st.booleans()):
            node["attributes"] = draw(finite_json)
        return node

    results = build(0)
    if len(structure) > 1 and "attributes" in results:
        results["attributes"] = draw(st.dictionaries(safe_keys, finite_json, max_size=2))
    dims: dict[str, Any] = {"json_structure": structure}
    dims.update({name: {v: {} for v in declared[name]} for name in structure})
    return {"DIMENSIONS": dims, "RESULTS": results}, count


@SETTINGS
@given(valid_bundle())
def test_valid_generated_bundles_round_trip(case: tuple[dict[str, Any], int]) -> None:
    doc, expected = case
    text = json.dumps(doc, allow_nan=False)
    rows, warnings = parse_metric_bundle(parse_json_text(text, file="d.json"), options=ParseOptions())
    assert warnings == []
    assert len(rows) == expected
    structure = doc["DIMENSIONS"]["json_structure"]
    width = len(structure) - ("kind" in structure)
    assert len({(r.kind, r.key) for r in rows}) == expected
    for row in rows:
        assert len(row.dimensions) == width
        assert row.key == dimensions_hash(row.kind, row.dimensions)
        assert row.value is None or (type(row.value) is float and math.isfinite(row.value))


@SETTINGS
@given(st.lists(st.one_of(st.sampled_from(["..", ".", "", "a", "b", "index.html", "plots"]), st.text(max_size=4)),
                max_size=6), st.booleans())
def test_clean_relative_never_escapes(parts: list[str], absolute: bool) -> None:
    name = "/".join(parts)
    if absolute:
        name = str(ROOT) + "/" + name
    try:
        rel = clean_relative(ROOT, name)
    except UnsafePathError:
        return
    assume(rel)
    joined = posixpath.normpath(os.path.join(str(ROOT), rel))
    assert posixpath.commonpath([str(ROOT), joined]) == str(ROOT)
    assert joined != str(ROOT)
    assert not rel.startswith("/") and ".." not in rel.split("/")
