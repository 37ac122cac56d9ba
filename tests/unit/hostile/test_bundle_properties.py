"""Property tests through the loader (``load_results``, what the publisher calls): whatever bytes the three
result files hold, the only error is a BundleError; a bad value is reported at its own JSON pointer, with
its type or value."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnostic_operator.results import BundleError
from diagnostic_operator.results._common import pointer, short

from ..results.helpers import make_output_dir, metric_example, output_example, series_example
from .bundles import load

SETTINGS = settings(suppress_health_check=[HealthCheck.too_slow])
FILES = ("diagnostic.json", "output.json", "series.json")
BASE = Path(tempfile.mkdtemp(prefix="hostile-props-"))
COUNTER = iter(range(10**9))


def _fresh() -> Path:
    out = make_output_dir(BASE / str(next(COUNTER)))
    (out / "diagnostic.json").write_text(json.dumps(metric_example()))
    (out / "output.json").write_text(json.dumps(output_example()))
    (out / "series.json").write_text(json.dumps(series_example()))
    return out


chunks = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\x00", b"NaN", b"-Infinity", b"1e400", b"[" * 100,
                     b'"\\ud800"', b'"\\u0000"', b"{}", b"[]", b"null", b'{"a": 1, "a": 2}']),
)


@SETTINGS
@given(st.sampled_from(FILES), st.lists(chunks, max_size=4))
def test_any_bytes_in_a_result_file_give_only_bundle_errors(name: str, parts: list[bytes]) -> None:
    out = _fresh()
    (out / name).write_bytes(b"".join(parts))
    try:
        load(out)
    except BundleError as exc:
        assert exc.file == name
        assert str(exc).startswith(name)


not_a_number = st.one_of(st.booleans(), st.text(max_size=8), st.lists(st.integers(), max_size=2),
                         st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _leaf_paths(node: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if not isinstance(node, dict):
        return [prefix]
    return [p for key, child in node.items() if key != "attributes" for p in _leaf_paths(child, (*prefix, key))]


@SETTINGS
@given(st.data(), not_a_number)
def test_a_bad_metric_value_is_reported_at_its_pointer(data: st.DataObject, bad: Any) -> None:
    doc = metric_example()
    path = data.draw(st.sampled_from(_leaf_paths(doc["RESULTS"])))
    node = doc["RESULTS"]
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = bad
    out = _fresh()
    (out / "diagnostic.json").write_text(json.dumps(doc))
    try:
        load(out)
    except BundleError as exc:
        assert exc.file == "diagnostic.json"
        assert exc.where == pointer("RESULTS", *path), (exc.where, path)
        assert "must be a number or null" in exc.problem or "NUL character" in exc.problem
        if isinstance(bad, str | bool):
            assert short(bad) in exc.problem
    else:
        raise AssertionError(f"accepted {bad!r} at {path}")


@SETTINGS
@given(st.data(), not_a_number)
def test_a_bad_series_value_is_reported_at_its_pointer(data: st.DataObject, bad: Any) -> None:
    doc = series_example()
    i = data.draw(st.integers(0, len(doc) - 1))
    j = data.draw(st.integers(0, len(doc[i]["values"]) - 1))
    doc[i]["values"][j] = bad
    out = _fresh()
    (out / "series.json").write_text(json.dumps(doc))
    try:
        load(out)
    except BundleError as exc:
        assert (exc.file, exc.where) == ("series.json", pointer(i, "values", j))
    else:
        raise AssertionError(f"accepted {bad!r} at /{i}/values/{j}")


hostile_paths = st.one_of(
    st.lists(st.sampled_from(["..", ".", "", "plots", "index.html", "/", "\\", "C:", "~", "\x00", "é" * 300]),
             min_size=1, max_size=5).map("/".join),
    st.text(max_size=30),
)


@SETTINGS
@given(st.sampled_from(["plots", "data", "html"]), hostile_paths)
def test_a_hostile_filename_is_reported_at_its_pointer_with_its_value(section: str, filename: str) -> None:
    doc = output_example()
    short_name = next(iter(doc[section]))
    doc[section][short_name]["filename"] = filename
    out = _fresh()
    (out / "output.json").write_text(json.dumps(doc))
    try:
        rows = load(out).outputs
    except BundleError as exc:
        assert exc.file == "output.json"
        assert exc.where == pointer(section, short_name, "filename")
        if "\x00" not in filename:
            assert short(filename, 200)[:40] in exc.problem
    else:  # accepted: then it is a clean relative name of a regular file inside the folder
        row = next(r for r in rows if r.short_name == short_name)
        assert not row.filename.startswith("/") and ".." not in row.filename.split("/")
        assert (out / row.filename).resolve().is_relative_to(out.resolve())
        assert (out / row.filename).is_file()
