"""The REF series file (``series.json``): validation (spec section 4.3) and series rows (6.2).

Values and index arrays are classified in bulk (``set(map(type, …))``, ``INF in values``); a
per-element Python pass runs only for a series that needs converting (integers, NaN, infinities).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any, cast

from diagnostic_operator.results._common import (
    INF,
    KINDS,
    MAX_FLOAT,
    NINF,
    RESERVED_DIMENSION_NAMES,
    canonical_dimensions,
    count_nan,
    pointer,
    short,
    type_name,
)
from diagnostic_operator.results._warnings import Warnings
from diagnostic_operator.results.compat import DropKind, Drops, tally
from diagnostic_operator.results.errors import BundleError
from diagnostic_operator.results.json_reader import JsonDocument
from diagnostic_operator.results.options import DEFAULT_OPTIONS, ParseOptions
from diagnostic_operator.results.rows import AttributeValue, IndexValue, Kind, SeriesRow, index_hash

FILE = "series.json"
_REQUIRED = ("dimensions", "values", "index", "index_name")
_VALUE_TYPES = frozenset({float, int, type(None)})
_INDEX_TYPES = frozenset({float, int, str})
_ATTRIBUTE_TYPES = frozenset({str, float, int, type(None)})
_OPTIONAL_STRINGS = ("value_units", "value_long_name", "index_units", "calendar", "reference_id")


@dataclass(frozen=True, slots=True)
class SeriesFile:
    """The validated rows of a series file; ``dropped`` counts the repeated series dropped and the NaN and
    infinite values made missing."""

    series: list[SeriesRow]
    file: str = FILE
    warnings: list[str] = field(default_factory=list)
    dropped: Drops = field(default_factory=dict)


def validate_series(
    document: JsonDocument | Any, *, file: str = FILE, options: ParseOptions = DEFAULT_OPTIONS
) -> SeriesFile:
    """Check a decoded series file against spec 4.3 (items 1-9 and 11; 10, the controlled
    vocabulary, is ``vocabulary.check_series``) and build its rows. In compat mode (``options.climate_ref``)
    a repeated series (same kind and dimensions) is dropped, the first kept, and repeated index values are
    kept, as Climate-REF keeps them. Raises ``BundleError``."""
    if isinstance(document, JsonDocument):
        doc = document.value
        may_have_nan = document.nan_tokens
    else:
        doc = document
        may_have_nan = True
    warnings = Warnings()
    if type(doc) is not list:
        raise BundleError(file, "", f"a series file must be a JSON array of series, got {type_name(doc)}")
    if len(doc) > options.max_series:
        raise BundleError(file, "", f"{len(doc)} series, more than the limit of {options.max_series}")
    infinity_missing = options.infinity_missing
    compat = options.climate_ref
    dropped: Drops = {}
    rows: list[SeriesRow] = []
    seen: dict[tuple[str, str], int] = {}
    index_keys = _IndexKeys()
    for i, element in enumerate(doc):
        if type(element) is not dict:
            raise BundleError(file, pointer(i), f"a series must be an object, got {type_name(element)}")
        for key in _REQUIRED:
            if key not in element:
                raise BundleError(file, pointer(i), f"required key {key} is missing")
        kind = element.get("kind", "model")
        if type(kind) is not str or kind not in KINDS:
            raise BundleError(
                file,
                pointer(i, "kind"),
                "kind must be 'model' or 'reference', got "
                + (short(kind) if type(kind) is str else type_name(kind)),
            )
        dimensions = _dimensions(element["dimensions"], i, kind, warnings, file)
        element_dropped: Drops = {}  # counted only if the series is kept
        values = _values(
            element["values"],
            i=i,
            may_have_nan=may_have_nan,
            infinity_missing=infinity_missing,
            warnings=warnings,
            dropped=element_dropped,
            file=file,
            options=options,
        )
        index = _index(element["index"], i, len(values), may_have_nan, file, warnings if compat else None)
        index_name = element["index_name"]
        if type(index_name) is not str:
            raise BundleError(
                file, pointer(i, "index_name"), f"index_name must be a string, got {type_name(index_name)}"
            )
        attributes = _attributes(element.get("attributes"), i, file)
        extras: dict[str, str | None] = {}
        for key in _OPTIONAL_STRINGS:
            value = element.get(key)
            if value is not None and type(value) is not str:
                raise BundleError(
                    file, pointer(i, key), f"{key} must be a string or null, got {type_name(value)}"
                )
            extras[key] = value
        identity = (kind, canonical_dimensions(dimensions))
        if identity in seen:
            problem = f"duplicate series: same dimensions and kind as series {seen[identity]}"
            if not compat:
                raise BundleError(file, pointer(i), problem)
            warnings.add(file, pointer(i), problem + "; dropped")
            tally(dropped, DropKind.DUPLICATE_SERIES)
            continue
        seen[identity] = i
        for dropped_kind, n in element_dropped.items():
            tally(dropped, dropped_kind, n)
        key = sha256(f"{kind}\x00{identity[1]}".encode()).hexdigest()
        rows.append(
            SeriesRow(
                dimensions,
                values,
                index,
                index_name,
                attributes,
                cast(Kind, kind),
                extras["value_units"],
                extras["value_long_name"],
                extras["index_units"],
                extras["calendar"],
                key,
                index_keys.get(index_name, index),
            )
        )
    return SeriesFile(rows, file, warnings.result(), dropped)


class _IndexKeys:
    """``index_hash`` with a cache for the common case of many series sharing one all-int or
    all-str axis (tuples compare 2010 equal to 2010.0, so mixed or float axes are not cached)."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, type, tuple[IndexValue, ...]], str] = {}

    def get(self, index_name: str, index: list[IndexValue]) -> str:
        kinds = set(map(type, index))
        if len(kinds) != 1 or not (int in kinds or str in kinds):
            return index_hash(index_name, index)
        cache_key = (index_name, kinds.pop(), tuple(index))
        cached = self.cache.get(cache_key)
        if cached is None:
            cached = self.cache[cache_key] = index_hash(index_name, index)
        return cached


def _dimensions(dimensions: Any, i: int, kind: str, warnings: Warnings, file: str) -> dict[str, str]:
    if type(dimensions) is not dict:
        raise BundleError(
            file,
            pointer(i, "dimensions"),
            f"dimensions must be an object of strings, got {type_name(dimensions)}",
        )
    result: dict[str, str] = {}
    for name, value in dimensions.items():
        if type(value) is not str:
            raise BundleError(
                file,
                pointer(i, "dimensions", name),
                f"dimension values must be strings, got {type_name(value)}",
            )
        if name == "":
            raise BundleError(file, pointer(i, "dimensions"), "dimension names must not be empty")
        if name == "kind":
            if value != kind:
                warnings.add(
                    file,
                    pointer(i, "dimensions", "kind"),
                    f"dimension kind={value!r} ignored; the series kind is {kind!r}",
                )
            continue
        if name in RESERVED_DIMENSION_NAMES:
            raise BundleError(
                file, pointer(i, "dimensions", name), f"{name!r} is a reserved name and cannot be a dimension"
            )
        result[name] = value
    return result


def _values(
    values: Any,
    *,
    i: int,
    may_have_nan: bool,
    infinity_missing: bool,
    warnings: Warnings,
    dropped: Drops,
    file: str,
    options: ParseOptions,
) -> list[float | None]:
    if type(values) is not list:
        raise BundleError(file, pointer(i, "values"), f"values must be an array, got {type_name(values)}")
    if len(values) > options.max_series_length:
        raise BundleError(
            file,
            pointer(i, "values"),
            f"{len(values)} values, more than the limit of {options.max_series_length}",
        )
    kinds = set(map(type, values))
    if not kinds <= _VALUE_TYPES:
        for j, value in enumerate(values):
            if type(value) not in _VALUE_TYPES:
                raise BundleError(
                    file,
                    pointer(i, "values", j),
                    f"values must be numbers or null, got {type_name(value)} {short(value)}",
                )
    convert = int in kinds or (may_have_nan and float in kinds)
    if may_have_nan and float in kinds:
        tally(dropped, DropKind.NAN_SERIES_VALUE, count_nan(values))
    if float in kinds and (INF in values or NINF in values):
        j = next(j for j, v in enumerate(values) if type(v) is float and v in (INF, NINF))
        if not infinity_missing:
            raise BundleError(
                file, pointer(i, "values", j), "infinite value (or a number too large for float64)"
            )
        warnings.add(file, pointer(i, "values"), "infinite values stored as missing")
        tally(dropped, DropKind.INFINITE_SERIES_VALUE, sum(1 for v in values if type(v) is float and v in (INF, NINF)))
        convert = True
    if int in kinds:
        ints = [value for value in values if type(value) is int]
        if max(ints) > MAX_FLOAT or min(ints) < -MAX_FLOAT:
            for j, value in enumerate(values):
                if type(value) is int and not -MAX_FLOAT <= value <= MAX_FLOAT:
                    if not infinity_missing:
                        raise BundleError(file, pointer(i, "values", j), "number too large for float64")
                    warnings.add(
                        file, pointer(i, "values", j), "number too large for float64 stored as missing"
                    )
                    tally(dropped, DropKind.INFINITE_SERIES_VALUE)
    if not convert:
        return cast("list[float | None]", values)
    return [_number(value) for value in values]


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if type(value) is int:
        return float(value) if -MAX_FLOAT <= value <= MAX_FLOAT else None
    return cast(float, value) if value - value == 0.0 else None


def _index(
    index: Any, i: int, length: int, may_have_nan: bool, file: str, repeats: Warnings | None
) -> list[IndexValue]:
    """The validated index; a repeated value is an error, or with ``repeats`` (compat mode) a warning."""
    if type(index) is not list:
        raise BundleError(file, pointer(i, "index"), f"index must be an array, got {type_name(index)}")
    if len(index) != length:
        raise BundleError(
            file, pointer(i, "index"), f"index has {len(index)} elements but values has {length}"
        )
    kinds = set(map(type, index))
    if not kinds <= _INDEX_TYPES:
        for j, value in enumerate(index):
            if type(value) not in _INDEX_TYPES:
                raise BundleError(
                    file,
                    pointer(i, "index", j),
                    f"index values must be strings or numbers, got {type_name(value)}",
                )
    if float in kinds and (
        INF in index or NINF in index or (may_have_nan and not all(_finite(v) for v in index))
    ):
        j = next(j for j, v in enumerate(index) if type(v) is float and not math.isfinite(v))
        raise BundleError(file, pointer(i, "index", j), "index values must be finite (no NaN or Infinity)")
    if len(set(index)) != len(index):
        first: dict[IndexValue, int] = {}
        for j, value in enumerate(index):
            if value in first:
                problem = f"duplicate index value {short(value)} (also at position {first[value]})"
                if repeats is None:
                    raise BundleError(file, pointer(i, "index", j), problem)
                repeats.add(file, pointer(i, "index", j), problem + "; kept")
                break
            first[value] = j
    return cast("list[IndexValue]", index)


def _finite(value: Any) -> bool:
    return type(value) is not float or math.isfinite(value)


def _attributes(attributes: Any, i: int, file: str) -> dict[str, AttributeValue] | None:
    if attributes is None:
        return None
    if type(attributes) is not dict:
        raise BundleError(
            file,
            pointer(i, "attributes"),
            f"attributes must be an object or null, got {type_name(attributes)}",
        )
    for key, value in attributes.items():
        if type(value) not in _ATTRIBUTE_TYPES:
            raise BundleError(
                file,
                pointer(i, "attributes", key),
                f"attribute values must be strings, numbers or null, got {type_name(value)}",
            )
        if type(value) is float and value - value != 0.0:
            raise BundleError(file, pointer(i, "attributes", key), "attribute values must be finite numbers")
    return cast("dict[str, AttributeValue]", dict(attributes))


def parse_series(
    document: JsonDocument | Any, *, file: str = FILE, options: ParseOptions = DEFAULT_OPTIONS
) -> tuple[list[SeriesRow], list[str]]:
    """Validate and derive in one call: ``(rows, warnings)``."""
    result = validate_series(document, file=file, options=options)
    return result.series, result.warnings
