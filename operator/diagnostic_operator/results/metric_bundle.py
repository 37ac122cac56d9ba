"""The CMEC metric bundle (``diagnostic.json``): validation (spec section 2) and scalar rows (6.1).

``validate_metric_bundle`` checks the whole document with an iterative walk (no recursion limit),
``derive_scalar_rows`` turns the validated tree into ``ScalarRow``s in document order. Leaf values
are classified in bulk (``set(map(type, …))``) so the per-value Python work is one loop in the
derivation only.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any, cast

from diagnostic_operator.results._common import (
    INF,
    KINDS,
    MAX_FLOAT,
    NINF,
    RESERVED_DIMENSION_NAMES,
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
from diagnostic_operator.results.rows import AttributeValue, Kind, ScalarRow

FILE = "diagnostic.json"
_FREE_FORM_TOP = ("PROVENANCE", "DISCLAIMER", "NOTES")
_NUMBER_TYPES = frozenset({float, int, type(None)})
_ATTRIBUTE_TYPES = frozenset({str, float, int})


@dataclass(frozen=True, slots=True)
class MetricBundle:
    """A validated metric bundle. ``results`` is the RESULTS tree with undeclared leaf keys dropped
    (lenient and compat modes); ``used_values`` maps each dimension to the values that occur in RESULTS;
    ``dropped`` counts the undeclared leaf keys dropped and the NaN and infinite values made missing."""

    structure: tuple[str, ...]
    results: dict[str, Any]
    used_values: dict[str, set[str]]
    row_count: int
    file: str = FILE
    warnings: list[str] = field(default_factory=list)
    dropped: Drops = field(default_factory=dict)


def validate_metric_bundle(
    document: JsonDocument | Any, *, file: str = FILE, options: ParseOptions = DEFAULT_OPTIONS
) -> MetricBundle:
    """Check a decoded metric bundle against every rule of spec section 2.6 (rules 1-12; 13, the
    controlled vocabulary, is ``vocabulary.check_metric_bundle``). In compat mode (``options.climate_ref``)
    also refuses what Climate-REF refuses. Raises ``BundleError``."""
    doc = document.value if isinstance(document, JsonDocument) else document
    may_have_nan = document.nan_tokens if isinstance(document, JsonDocument) else True
    warnings = Warnings()
    if type(doc) is not dict:
        raise BundleError(file, "", f"the metric bundle must be a JSON object, got {type_name(doc)}")
    for key in ("DIMENSIONS", "RESULTS"):
        if key not in doc:
            raise BundleError(file, "", f"required key {key} is missing")
        if type(doc[key]) is not dict:
            raise BundleError(file, pointer(key), f"{key} must be an object, got {type_name(doc[key])}")
    for key in _FREE_FORM_TOP:
        if key in doc and doc[key] is not None and type(doc[key]) is not dict:
            raise BundleError(
                file, pointer(key), f"{key} must be an object or null, got {type_name(doc[key])}"
            )
    dimensions: dict[str, Any] = doc["DIMENSIONS"]
    results: dict[str, Any] = doc["RESULTS"]

    structure = _check_structure(dimensions, file, options)
    declared: list[frozenset[str]] = []
    for name in structure:
        entry = dimensions[name]
        if type(entry) is not dict:
            raise BundleError(
                file,
                pointer("DIMENSIONS", name),
                f"dimension entry must be an object, got {type_name(entry)}",
            )
        if "attributes" in entry:
            raise BundleError(
                file,
                pointer("DIMENSIONS", name, "attributes"),
                "'attributes' is reserved and cannot be a dimension value",
            )
        if name == "kind":
            for value in entry:
                if value not in KINDS:
                    raise BundleError(
                        file,
                        pointer("DIMENSIONS", "kind", value),
                        f"kind must be 'model' or 'reference', got {value!r}",
                    )
        declared.append(frozenset(entry))

    n = len(structure)
    if n == 0:
        top_attributes = results.get("attributes")
        if "attributes" in results and type(top_attributes) is not dict:
            raise BundleError(
                file,
                pointer("RESULTS", "attributes"),
                f"attributes must be an object, got {type_name(top_attributes)}",
            )
        if len(results) - ("attributes" in results) != 0:
            raise BundleError(file, pointer("RESULTS"), "json_structure is empty but RESULTS is not")
        if options.climate_ref and results:
            # Climate-REF wants RESULTS == {} exactly when json_structure is empty.
            raise BundleError(
                file,
                pointer("RESULTS", "attributes"),
                "json_structure is empty but RESULTS holds attributes (refused in climate-ref compat mode)",
            )
        return MetricBundle((), {}, {}, 0, file, warnings.result())
    if n == 1 and options.climate_ref and len(results) - ("attributes" in results) != 0:
        # Climate-REF types RESULTS as an object of objects, so a value directly under it is refused.
        raise BundleError(
            file,
            pointer("DIMENSIONS", "json_structure"),
            "one-dimension metric bundles with values are refused in climate-ref compat mode",
        )

    used: dict[str, set[str]] = {name: set() for name in structure}
    dropped: Drops = {}
    row_count = _walk(
        results=results,
        structure=structure,
        declared=declared,
        used=used,
        warnings=warnings,
        dropped=dropped,
        may_have_nan=may_have_nan,
        file=file,
        options=options,
    )
    return MetricBundle(structure, results, used, row_count, file, warnings.result(), dropped)


def _check_structure(dimensions: dict[str, Any], file: str, options: ParseOptions) -> tuple[str, ...]:
    where = pointer("DIMENSIONS", "json_structure")
    if "json_structure" not in dimensions:
        raise BundleError(file, pointer("DIMENSIONS"), "required key json_structure is missing")
    structure = dimensions["json_structure"]
    if type(structure) is not list:
        raise BundleError(
            file, where, f"json_structure must be a list of strings, got {type_name(structure)}"
        )
    seen: set[str] = set()
    for i, name in enumerate(structure):
        if type(name) is not str or name == "":
            raise BundleError(
                file,
                pointer("DIMENSIONS", "json_structure", i),
                f"dimension names must be non-empty strings, got {short(name)}",
            )
        if name in RESERVED_DIMENSION_NAMES:
            raise BundleError(
                file,
                pointer("DIMENSIONS", "json_structure", i),
                f"{name!r} is a reserved name and cannot be a dimension",
            )
        if name in seen:
            raise BundleError(
                file, pointer("DIMENSIONS", "json_structure", i), f"dimension {name!r} is listed twice"
            )
        seen.add(name)
    if len(structure) > options.max_dimensions:
        raise BundleError(
            file,
            where,
            f"json_structure has {len(structure)} dimensions, more than the limit of "
            f"{options.max_dimensions}",
        )
    others = set(dimensions) - {"json_structure"}
    for name in structure:
        if name not in others:
            raise BundleError(file, where, f"dimension {name!r} is listed but not declared in DIMENSIONS")
    for name in dimensions:
        if name != "json_structure" and name not in seen:
            raise BundleError(
                file,
                pointer("DIMENSIONS", name),
                f"dimension {name!r} is declared but not listed in json_structure",
            )
    return tuple(structure)


def _walk(
    *,
    results: dict[str, Any],
    structure: tuple[str, ...],
    declared: list[frozenset[str]],
    used: dict[str, set[str]],
    warnings: Warnings,
    dropped: Drops,
    may_have_nan: bool,
    file: str,
    options: ParseOptions,
) -> int:
    last = len(structure) - 1
    strict = not options.drop_undeclared_leaf_keys
    infinity_missing = options.infinity_missing
    max_rows = options.max_rows
    rows = 0
    # (parent, key in parent, node, level, path of keys from RESULTS)
    stack: list[tuple[dict[str, Any] | None, str, dict[str, Any], int, tuple[str, ...]]] = [
        (None, "", results, 0, ())
    ]
    while stack:
        parent, parent_key, node, level, path = stack.pop()
        name = structure[level]
        allowed = declared[level]
        has_attributes = "attributes" in node
        if has_attributes:
            _check_attributes(node["attributes"], level, last, path, file)
        if level < last:
            missing = allowed - node.keys()
            if missing:
                raise BundleError(
                    file,
                    pointer("RESULTS", *path),
                    f"missing value(s) {_listing(missing)} of dimension {name!r} "
                    f"(every declared value is required above the leaf level)",
                )
            if len(node) - has_attributes != len(allowed):
                extra = node.keys() - allowed - {"attributes"}
                raise BundleError(
                    file,
                    pointer("RESULTS", *path, min(extra)),
                    f"{min(extra)!r} is not a declared value of dimension {name!r}",
                )
            kinds = set(map(type, node.values()))
            if kinds != {dict}:
                for key, child in node.items():
                    if type(child) is not dict and key != "attributes":
                        raise BundleError(
                            file,
                            pointer("RESULTS", *path, key),
                            f"expected an object (level {level + 1} of {last + 1}, "
                            f"dimension {name!r}), got {type_name(child)}",
                        )
            used[name].update(allowed)
            children = [(key, child) for key, child in node.items() if key != "attributes"]
            for key, child in reversed(children):
                stack.append((node, key, child, level + 1, (*path, key)))
            continue

        # Leaf level: keys are a subset of the declared values, values are numbers or null.
        extra = node.keys() - allowed
        if has_attributes:
            extra.discard("attributes")
        if extra:
            first = min(extra)
            if strict:
                raise BundleError(
                    file,
                    pointer("RESULTS", *path, first),
                    f"{first!r} is not a declared value of dimension {name!r} (strict mode)",
                )
            tally(dropped, DropKind.UNDECLARED_LEAF_KEY, len(extra))
            for key in sorted(extra):
                warnings.add(
                    file,
                    pointer("RESULTS", *path, key),
                    f"undeclared value {key!r} of dimension {name!r} dropped",
                )
            node = {key: value for key, value in node.items() if key not in extra}
            if parent is None:
                results.clear()
                results.update(node)
            else:
                parent[parent_key] = node
        values = node.values()
        kinds = set(map(type, values))
        if not kinds <= _NUMBER_TYPES:
            for key, value in node.items():
                if key != "attributes" and type(value) not in _NUMBER_TYPES:
                    raise BundleError(
                        file,
                        pointer("RESULTS", *path, key),
                        f"a metric value must be a number or null, got {type_name(value)} {short(value)}",
                    )
        if float in kinds and (INF in values or NINF in values):
            for key, value in node.items():
                if type(value) is float and value in (INF, NINF):
                    _infinite(key, path, infinity_missing, warnings, dropped, file)
        if int in kinds:
            for key, value in node.items():
                if type(value) is int and not -MAX_FLOAT <= value <= MAX_FLOAT:
                    _infinite(key, path, infinity_missing, warnings, dropped, file)
        if may_have_nan and float in kinds:
            tally(dropped, DropKind.NAN_METRIC_VALUE, count_nan(values))
        count = len(node) - has_attributes
        used[name].update(node.keys())
        rows += count
        if rows > max_rows:
            raise BundleError(
                file, pointer("RESULTS", *path), f"more than the limit of {max_rows} metric values"
            )
    used[structure[last]].discard("attributes")
    return rows


def _infinite(
    key: str, path: tuple[str, ...], missing: bool, warnings: Warnings, dropped: Drops, file: str
) -> None:
    where = pointer("RESULTS", *path, key)
    if not missing:
        raise BundleError(file, where, "infinite metric value (or a number too large for float64)")
    warnings.add(file, where, "infinite metric value stored as missing")
    tally(dropped, DropKind.INFINITE_METRIC_VALUE)


def _check_attributes(attributes: Any, level: int, last: int, path: tuple[str, ...], file: str) -> None:
    where = pointer("RESULTS", *path, "attributes")
    if level == last:
        if type(attributes) is not dict:
            raise BundleError(
                file, where, f"leaf-level attributes must be an object, got {type_name(attributes)}"
            )
        kinds = set(map(type, attributes.values()))
        if not kinds <= _ATTRIBUTE_TYPES or (float in kinds and not _all_finite(attributes.values())):
            for key, value in attributes.items():
                if type(value) not in _ATTRIBUTE_TYPES:
                    raise BundleError(
                        file,
                        pointer("RESULTS", *path, "attributes", key),
                        f"leaf-level attribute values must be strings or numbers, got {type_name(value)}",
                    )
                if type(value) is float and value - value != 0.0:
                    raise BundleError(
                        file,
                        pointer("RESULTS", *path, "attributes", key),
                        "attribute values must be finite numbers",
                    )
    elif level == 0 and type(attributes) is not dict:
        raise BundleError(
            file, where, f"attributes under RESULTS must be an object, got {type_name(attributes)}"
        )


def _all_finite(values: Iterable[Any]) -> bool:
    return all(v - v == 0.0 for v in values if type(v) is float)


def _listing(values: Iterable[str], limit: int = 5) -> str:
    items = sorted(values)
    text = ", ".join(repr(v) for v in items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")


def derive_scalar_rows(bundle: MetricBundle) -> list[ScalarRow]:
    """Rows per spec 6.1, in document order: one per number or null at the leaf level, with the
    leaf node's attributes, and ``kind`` lifted out of the dimensions ("model" when absent).
    ``key`` equals ``dimensions_hash(kind, dimensions)``; it is computed from pre-encoded parts.
    Rows of one leaf node share its ``attributes`` dict: treat it as read-only.

    The cyclic garbage collector is paused while the rows are built (they form no cycles, and a
    100,000-row bundle otherwise triggers hundreds of collections); its state is restored after."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return _derive(bundle)
    finally:
        if paused:
            gc.enable()


def _derive(bundle: MetricBundle) -> list[ScalarRow]:
    structure = bundle.structure
    n = len(structure)
    if n == 0:
        return []
    last = n - 1
    kind_level = structure.index("kind") if "kind" in structure else -1
    ordered = sorted(name for name in structure if name != "kind")
    position = {name: i for i, name in enumerate(ordered)}
    encoded_name = {name: json.dumps(name, ensure_ascii=False) + ":" for name in structure}
    part_cache: dict[tuple[str, str], str] = {}

    def part(name: str, value: str) -> str:
        cached = part_cache.get((name, value))
        if cached is None:
            cached = encoded_name[name] + json.dumps(value, ensure_ascii=False)
            part_cache[(name, value)] = cached
        return cached

    leaf_name = structure[last]
    leaf_is_kind = kind_level == last
    leaf_parts: dict[str, str] = {}
    rows: list[ScalarRow] = []
    append = rows.append
    row = ScalarRow
    stack: list[tuple[dict[str, Any], int, tuple[str, ...]]] = [(bundle.results, 0, ())]
    while stack:
        node, level, prefix = stack.pop()
        if level < last:
            children = [(key, child) for key, child in node.items() if key != "attributes"]
            for key, child in reversed(children):
                stack.append((child, level + 1, (*prefix, key)))
            continue
        attributes = cast("dict[str, AttributeValue] | None", node.get("attributes"))
        base: dict[str, str] = {}
        kind = "model"
        parts: list[str] = [""] * len(ordered)
        for i, value in enumerate(prefix):
            name = structure[i]
            if i == kind_level:
                kind = value
            else:
                base[name] = value
                parts[position[name]] = part(name, value)
        if leaf_is_kind:
            canonical = "{" + ",".join(parts) + "}"
            for key, value in node.items():
                if key == "attributes":
                    continue
                digest = sha256(f"{key}\x00{canonical}".encode()).hexdigest()
                append(row(dict(base), _number(value), attributes, cast(Kind, key), digest))
            continue
        p = position[leaf_name]
        before = ",".join(parts[:p])
        after = ",".join(parts[p + 1 :])
        head = kind + "\x00{" + before + ("," if before else "")
        tail = ("," if after else "") + after + "}"
        lifted = cast(Kind, kind)
        for key, value in node.items():
            if key == "attributes":
                continue
            encoded = leaf_parts.get(key)
            if encoded is None:
                encoded = leaf_parts[key] = part(leaf_name, key)
            dims = base.copy()
            dims[leaf_name] = key
            t = type(value)
            if t is float:
                number: float | None = value if value - value == 0.0 else None
            elif value is None:
                number = None
            else:
                number = _number(value)
            append(
                row(dims, number, attributes, lifted, sha256((head + encoded + tail).encode()).hexdigest())
            )
    return rows


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if type(value) is int:
        return float(value) if -MAX_FLOAT <= value <= MAX_FLOAT else None
    return cast(float, value) if value - value == 0.0 else None


def parse_metric_bundle(
    document: JsonDocument | Any, *, file: str = FILE, options: ParseOptions = DEFAULT_OPTIONS
) -> tuple[list[ScalarRow], list[str]]:
    """Validate and derive in one call: ``(rows, warnings)``."""
    bundle = validate_metric_bundle(document, file=file, options=options)
    return derive_scalar_rows(bundle), bundle.warnings
