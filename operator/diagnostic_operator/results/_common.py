"""Small helpers shared by the parsers: JSON-pointer paths, type names, reserved names."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

RESERVED_DIMENSION_NAMES = frozenset(
    {"attributes", "json_structure", "created_at", "updated_at", "value", "id"}
)
KINDS = frozenset({"model", "reference"})
INF = float("inf")
NINF = float("-inf")
MAX_FLOAT = 1.7976931348623157e308


def pointer(*parts: str | int) -> str:
    """A JSON pointer (RFC 6901): ``pointer("RESULTS", "a/b")`` → ``/RESULTS/a~1b``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def type_name(value: object) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def short(value: object, limit: int = 60) -> str:
    """``repr`` cut to ``limit`` characters, for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_finite_number(value: object) -> bool:
    """True for an int or float (not bool) with a finite float value."""
    t = type(value)
    if isinstance(value, float) and t is float:
        return math.isfinite(value)
    if isinstance(value, int) and t is int:
        return -MAX_FLOAT <= value <= MAX_FLOAT
    return False


def count_nan(values: Iterable[object]) -> int:
    """How many of ``values`` are float NaN."""
    return sum(1 for value in values if type(value) is float and math.isnan(value))


def canonical_dimensions(dimensions: dict[str, str]) -> str:
    """``canonical_json`` of a string→string map, a little faster (no encoder set-up per call)."""
    return _ENCODER.encode(dimensions)


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
