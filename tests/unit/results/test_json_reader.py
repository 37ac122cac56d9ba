"""The JSON reader: one UTF-8 document, no duplicate keys, bounded depth and size, token policy."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from diagnostic_operator.results import BundleError, parse_json_bytes, parse_json_text, read_json_file
from diagnostic_operator.results.json_reader import check_depth

from .helpers import raises_bundle


@pytest.mark.parametrize(
    ("data", "where", "problem"),
    [
        (b"\xef\xbb\xbf{}", "byte 0", "byte order mark"),
        (b'{"a": "\xff"}', "byte 7", "not valid UTF-8"),
        (b'{"a": 1} {"b": 2}', "line 1 column 10", "Extra data"),
        (b'{"a": 1}\n{"b": 2}\n', "line 2 column 1", "Extra data"),
        (b'{"a": 1} x', "line 1 column 10", "Extra data"),
        (b"", "line 1 column 1", "Expecting value"),
        (b'{"a": 1,}', "line 1 column 9", "Expecting property name"),
        (b"\x00\x00\x00{", "line 1 column 1", "Expecting value"),  # UTF-32 is not sniffed: UTF-8 only
    ],
)
def test_rejects_non_single_utf8_document(data: bytes, where: str, problem: str) -> None:
    raises_bundle(lambda: parse_json_bytes(data, file="f.json"), where, problem)


def test_accepts_whitespace_around_the_document() -> None:
    assert parse_json_bytes(b'  \n{"a": [1, 2]}\n\n', file="f.json").value == {"a": [1, 2]}


@pytest.mark.parametrize(
    "doc",
    [
        '{"DIMENSIONS": {"json_structure": [], "json_structure": []}, "RESULTS": {}}',
        '{"DIMENSIONS": {"json_structure": []}, "RESULTS": {"a": 1, "a": 2}}',
        '{"x": 1, "x": 1}',
        '[{"deep": {"k": 1, "k": 1}}]',
    ],
)
def test_rejects_duplicate_keys_everywhere(doc: str) -> None:
    raises_bundle(lambda: parse_json_text(doc, file="f.json"), "", "duplicate object key")


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nonstandard_tokens_rejected_in_strict_mode(token: str) -> None:
    raises_bundle(lambda: parse_json_text(f"[{token}]", file="f.json"), "", f"token {token}", "strict")


@pytest.mark.parametrize(("token", "nan", "inf"), [("NaN", True, False), ("Infinity", False, True),
                                                   ("-Infinity", False, True)])
def test_nonstandard_tokens_accepted_in_lenient_mode(token: str, nan: bool, inf: bool) -> None:
    doc = parse_json_text(f"[{token}]", file="f.json", nonstandard_tokens=True)
    assert doc.nan_tokens is nan
    assert doc.infinity_tokens is inf
    value = doc.value[0]
    assert math.isnan(value) if nan else math.isinf(value)


def test_overflowing_number_becomes_infinity() -> None:
    assert parse_json_text("[1e400, -1e400]", file="f.json").value == [math.inf, -math.inf]


@pytest.mark.parametrize("depth", [1, 10, 64])
def test_depth_within_limit(depth: int) -> None:
    doc = "[" * depth + "]" * depth
    assert parse_json_text(doc, file="f.json", max_depth=64).value is not None


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ("[" * 65 + "]" * 65, "/0" * 64),
        ('{"a":' * 65 + "1" + "}" * 65, "/a" * 64),
        ('{"ok": 1, "x": [' + "[" * 63 + "]" * 63 + "]}", "/x" + "/0" * 63),
    ],
)
def test_depth_over_limit(doc: str, where: str) -> None:
    raises_bundle(lambda: parse_json_text(doc, file="f.json", max_depth=64), where, "deeper than 64")


def test_depth_far_over_recursion_limit_is_a_bundle_error() -> None:
    doc = "[" * 200_000 + "]" * 200_000
    raises_bundle(lambda: parse_json_text(doc, file="f.json"), "", "nested deeper")


def test_check_depth_counts_scalars_as_zero() -> None:
    check_depth(1, 0, "f.json")
    raises_bundle(lambda: check_depth([], 0, "f.json"), "", "deeper than 0")


def test_lone_surrogate_rejected_but_pairs_and_literal_backslashes_accepted() -> None:
    raises_bundle(lambda: parse_json_text('{"a": "\\ud800"}', file="f.json"), "/a", "surrogate")
    raises_bundle(lambda: parse_json_text('{"\\udc00": 1}', file="f.json"), "", "surrogate")
    assert parse_json_text('["\\ud83d\\ude00"]', file="f.json").value == ["\U0001f600"]
    assert parse_json_text('["\\\\ud800"]', file="f.json").value == ["\\ud800"]


def test_integer_with_too_many_digits_is_a_bundle_error() -> None:
    raises_bundle(lambda: parse_json_text("[" + "9" * 5000 + "]", file="f.json"), "", "invalid JSON")


def test_size_cap(tmp_path: Path) -> None:
    (tmp_path / "big.json").write_bytes(b"[" + b"1," * 100 + b"1]")
    raises_bundle(lambda: read_json_file(tmp_path, "big.json", max_bytes=100), "", "larger than the limit of 100")
    assert len(read_json_file(tmp_path, "big.json", max_bytes=1000).value) == 101


def test_read_json_file_missing_and_unsafe(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_json_file(tmp_path, "nope.json", max_bytes=100)
    (tmp_path / "sub").mkdir()
    raises_bundle(lambda: read_json_file(tmp_path, "sub", max_bytes=100), "", "not a regular file")
    raises_bundle(lambda: read_json_file(tmp_path, "../x.json", max_bytes=100), "", "escapes")


def test_bundle_error_message_names_file_and_where() -> None:
    error = BundleError("diagnostic.json", "/RESULTS/a", "bad")
    assert str(error) == "diagnostic.json at /RESULTS/a: bad"
    assert str(BundleError("x.json", "", "bad")) == "x.json: bad"
