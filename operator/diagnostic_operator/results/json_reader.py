"""Reading one JSON result file: size-capped, UTF-8 only, one document, no duplicate keys, bounded depth.

Decoding uses the stdlib C decoder; the only Python hooks are ``parse_constant`` (called for the
non-standard ``NaN``/``Infinity``/``-Infinity`` tokens only) and a cheap ``object_pairs_hook`` that
rejects duplicate keys. Depth is checked afterwards by an iterative walk that looks at containers
only (leaf values are classified in bulk with C-level ``map(type, …)``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from diagnostic_operator.results._common import pointer, short
from diagnostic_operator.results.errors import BundleError
from diagnostic_operator.results.paths import UnsafePathError, open_inside

_BOM = b"\xef\xbb\xbf"
# A \uD800-\uDFFF escape: the document may hold a lone surrogate, which is not encodable as UTF-8.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


@dataclass(frozen=True, slots=True)
class JsonDocument:
    """A decoded document and what the decoder saw on the way."""

    value: Any
    nan_tokens: bool  # a NaN token was decoded (only possible when non-standard tokens are allowed)
    infinity_tokens: bool  # an Infinity or -Infinity token was decoded


class _TokenRejected(Exception):
    def __init__(self, token: str) -> None:
        self.token = token


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


def parse_json_text(
    text: str, *, file: str, nonstandard_tokens: bool = False, max_depth: int = 64
) -> JsonDocument:
    """Decode ``text`` as exactly one JSON document, with the checks described in the module."""
    seen = {"NaN": False, "Infinity": False, "-Infinity": False}

    def constant(token: str) -> float:
        if not nonstandard_tokens:
            raise _TokenRejected(token)
        seen[token] = True
        return float(token)

    decoder = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=constant)
    try:
        value = decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise BundleError(file, f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}") from None
    except _TokenRejected as exc:
        raise BundleError(
            file, "", f"non-standard JSON token {exc.token} is not allowed (strict mode)"
        ) from None
    except _DuplicateKey as exc:
        raise BundleError(file, "", f"duplicate object key {exc.key!r}") from None
    except RecursionError:
        raise BundleError(file, "", f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # e.g. an integer with more digits than int() accepts
        raise BundleError(file, "", f"invalid JSON: {exc}") from None
    check_depth(value, max_depth, file)
    if "\\" in text:
        if _SURROGATE_ESCAPE.search(text):
            _check_strings(value, file, _surrogate_problem)
        if "\\u0000" in text:
            _check_strings(value, file, _nul_problem)
    return JsonDocument(value, seen["NaN"], seen["Infinity"] or seen["-Infinity"])


def check_depth(value: Any, max_depth: int, file: str) -> None:
    """Raise BundleError if ``value`` nests deeper than ``max_depth`` (a scalar has depth 0, ``[]`` 1)."""
    t = type(value)
    if t is not dict and t is not list:
        return
    stack: list[tuple[Any, int, Any]] = [(value, 1, None)]
    pop = stack.pop
    push = stack.append
    while stack:
        node, depth, trail = pop()
        if depth > max_depth:
            parts: list[str | int] = []
            while trail is not None:
                trail, key = trail
                parts.append(key)
            raise BundleError(file, pointer(*reversed(parts)), f"JSON nested deeper than {max_depth} levels")
        if type(node) is dict:
            kinds = set(map(type, node.values()))
            if dict in kinds or list in kinds:
                for key, child in node.items():
                    ct = type(child)
                    if ct is dict or ct is list:
                        push((child, depth + 1, (trail, key)))
        else:
            kinds = set(map(type, node))
            if dict in kinds or list in kinds:
                for i, child in enumerate(node):
                    ct = type(child)
                    if ct is dict or ct is list:
                        push((child, depth + 1, (trail, i)))


def _check_strings(value: Any, file: str, problem: Callable[[str], str | None]) -> None:
    """Slow path, only when the text holds an escape that may produce a bad string: every key and
    string value is checked, and the first bad one is reported with its location."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            for key, child in node.items():
                _report(problem(key), file, where)
                stack.append((child, (*where, key)))
        elif isinstance(node, list):
            stack.extend((child, (*where, i)) for i, child in enumerate(node))
        elif isinstance(node, str):
            _report(problem(node), file, where)


def _report(problem: str | None, file: str, where: tuple[str | int, ...]) -> None:
    if problem is not None:
        raise BundleError(file, pointer(*where), problem)


def _surrogate_problem(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "string holds a lone UTF-16 surrogate escape"
    return None


def _nul_problem(text: str) -> str | None:
    # PostgreSQL cannot store NUL in text or jsonb, and no result file has a reason to hold one.
    if "\x00" in text:
        return f"string {short(text)} holds a NUL character (\\u0000); not allowed"
    return None


def read_limited(stream: BinaryIO, *, file: str, max_bytes: int) -> bytes:
    """Read at most ``max_bytes`` bytes; a longer stream is an error (nothing beyond the cap is read)."""
    try:
        size = os.fstat(stream.fileno()).st_size
    except (OSError, AttributeError, ValueError):
        size = -1
    if size > max_bytes:
        raise BundleError(file, "", f"file is larger than the limit of {max_bytes} bytes ({size} bytes)")
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise BundleError(file, "", f"file is larger than the limit of {max_bytes} bytes")
    return data


def decode_utf8(data: bytes, *, file: str) -> str:
    """UTF-8 only: a BOM or an invalid byte sequence is an error naming the byte offset."""
    if data.startswith(_BOM):
        raise BundleError(file, "byte 0", "file starts with a UTF-8 byte order mark (BOM); not allowed")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(file, f"byte {exc.start}", "file is not valid UTF-8") from None


def parse_json_bytes(
    data: bytes, *, file: str, nonstandard_tokens: bool = False, max_depth: int = 64
) -> JsonDocument:
    """``decode_utf8`` then ``parse_json_text``."""
    return parse_json_text(
        decode_utf8(data, file=file), file=file, nonstandard_tokens=nonstandard_tokens, max_depth=max_depth
    )


def read_json_file(
    root: str | os.PathLike[str],
    name: str,
    *,
    max_bytes: int,
    nonstandard_tokens: bool = False,
    max_depth: int = 64,
) -> JsonDocument:
    """Open ``name`` safely inside ``root`` (see ``paths.open_inside``), read it through the size cap
    and parse it. A missing file raises ``FileNotFoundError``; everything else a ``BundleError``."""
    try:
        stream = open_inside(root, name)
    except UnsafePathError as exc:
        raise BundleError(name, "", str(exc)) from None
    with stream:
        data = read_limited(stream, file=name, max_bytes=max_bytes)
    return parse_json_bytes(data, file=name, nonstandard_tokens=nonstandard_tokens, max_depth=max_depth)
