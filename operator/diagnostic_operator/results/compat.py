"""What a lenient reading (Climate-REF's dialect, ``CompatMode.CLIMATE_REF``) did not store as written.

Every item the parsers drop, or store as a missing value instead of what the file says, is counted under
one ``DropKind``; ``ResultSet.dropped`` carries the counts to the publish step, which reports their sum as
``ingested.dropped``. ``drop_dimensions`` is Climate-REF's handling of a dimension name outside the
controlled vocabulary on a scalar or series row: each CV dimension is a column of its value table, and its
bulk insert ignores a key that names no column, so the row is stored without that dimension.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from enum import StrEnum
from typing import TypeVar

from diagnostic_operator.results.rows import ScalarRow, SeriesRow, dimensions_hash


class DropKind(StrEnum):
    UNDECLARED_LEAF_KEY = "undeclared-leaf-key"
    NAN_METRIC_VALUE = "nan-metric-value"
    INFINITE_METRIC_VALUE = "infinite-metric-value"
    NAN_SERIES_VALUE = "nan-series-value"
    INFINITE_SERIES_VALUE = "infinite-series-value"
    DUPLICATE_SERIES = "duplicate-series"
    UNKNOWN_DIMENSION = "unknown-dimension"
    COLLIDING_ROW = "colliding-row"


DESCRIPTIONS: Mapping[DropKind, str] = {
    DropKind.UNDECLARED_LEAF_KEY: "undeclared leaf keys of RESULTS dropped",
    DropKind.NAN_METRIC_VALUE: "NaN metric values stored as missing",
    DropKind.INFINITE_METRIC_VALUE: "infinite metric values stored as missing",
    DropKind.NAN_SERIES_VALUE: "NaN series values stored as missing",
    DropKind.INFINITE_SERIES_VALUE: "infinite series values stored as missing",
    DropKind.DUPLICATE_SERIES: "repeated series dropped (the first is kept)",
    DropKind.UNKNOWN_DIMENSION: "dimensions outside the controlled vocabulary dropped from a row",
    DropKind.COLLIDING_ROW: "rows dropped: the same as an earlier row once unknown dimensions were dropped",
}

Drops = dict[DropKind, int]
Row = TypeVar("Row", ScalarRow, SeriesRow)


def tally(drops: Drops, kind: DropKind, n: int = 1) -> None:
    """Add ``n`` items of ``kind`` (nothing for ``n`` 0, so the mapping holds only what happened)."""
    if n:
        drops[kind] = drops.get(kind, 0) + n


def merge(*parts: Mapping[DropKind, int]) -> Drops:
    """The sum of several counts, in ``DropKind`` order."""
    total: Drops = {}
    for part in parts:
        for kind, n in part.items():
            tally(total, kind, n)
    return {kind: total[kind] for kind in DropKind if kind in total}


def describe(drops: Mapping[DropKind, int]) -> list[tuple[DropKind, int, str]]:
    """``(kind, count, what it means)`` for each kind that occurred, in ``DropKind`` order."""
    return [(kind, drops[kind], DESCRIPTIONS[kind]) for kind in DropKind if drops.get(kind)]


def unknown_names(known: Iterable[str], used: Iterable[str]) -> frozenset[str]:
    """The dimension names of ``used`` that ``known`` (the CV's) does not list."""
    names = frozenset(known)
    return frozenset(name for name in used if name not in names)


def drop_dimensions(rows: list[Row], names: frozenset[str], drops: Drops) -> list[Row]:
    """The rows without the dimensions ``names``, each row's key recomputed. A row that becomes identical
    in identity (kind + dimensions) to an earlier row is dropped: Climate-REF stores both, and this
    product's value tables hold one row per identity, so the first in file order is kept. Counts one
    ``UNKNOWN_DIMENSION`` per dimension removed from a row and one ``COLLIDING_ROW`` per row dropped."""
    if not names:
        return rows
    kept: list[Row] = []
    seen: set[str] = set()
    for original in rows:
        row = original
        removed = [name for name in row.dimensions if name in names]
        if removed:
            tally(drops, DropKind.UNKNOWN_DIMENSION, len(removed))
            dimensions = {k: v for k, v in row.dimensions.items() if k not in names}
            row = replace(row, dimensions=dimensions, key=dimensions_hash(row.kind, dimensions))
        if row.key in seen:
            tally(drops, DropKind.COLLIDING_ROW)
            continue
        seen.add(row.key)
        kept.append(row)
    return kept
