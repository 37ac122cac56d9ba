"""The rows derived from a diagnostic's result files: the contract between parsing and ingest.

Parsers (``results.metric_bundle``, ``results.output_bundle``, ``results.series``) produce these;
the database layer inserts them. Identity is the natural key used for ``ON CONFLICT DO NOTHING``:
a scalar or series is identified within an execution by ``(kind, dimensions)``; an output by
``(output_type, short_name)``; a series index axis by ``(index_name, index)``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from diagnostic_operator.results.compat import DropKind

Kind = Literal["model", "reference"]
OutputType = Literal["plot", "data", "html"]
AttributeValue = str | float | int | None
IndexValue = str | int | float


def canonical_json(value: object) -> str:
    """Sorted, compact JSON: the same text for the same content, whatever the key order."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dimensions_hash(kind: str, dimensions: dict[str, str]) -> str:
    """Stable hex digest of a row's identity (kind + dimensions)."""
    return hashlib.sha256(f"{kind}\x00{canonical_json(dimensions)}".encode()).hexdigest()


def index_hash(index_name: str, index: list[IndexValue]) -> str:
    """Stable hex digest of a series index axis; types are kept (2010 differs from "2010")."""
    return hashlib.sha256(f"{index_name}\x00{canonical_json(index)}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ScalarRow:
    """One scalar value of the metric bundle. ``value`` None means missing (JSON null or NaN)."""

    dimensions: dict[str, str]
    value: float | None
    attributes: dict[str, AttributeValue] | None = None
    kind: Kind = "model"
    key: str = ""  # dimensions_hash(kind, dimensions); filled by ``make``

    @classmethod
    def make(cls, dimensions: dict[str, str], value: float | None,
             attributes: dict[str, AttributeValue] | None = None, kind: Kind = "model") -> ScalarRow:
        return cls(dimensions, value, attributes, kind, dimensions_hash(kind, dimensions))


@dataclass(frozen=True, slots=True)
class SeriesRow:
    """One 1-d series of ``series.json``. ``values`` entries are None where missing."""

    dimensions: dict[str, str]
    values: list[float | None]
    index: list[IndexValue]
    index_name: str
    attributes: dict[str, AttributeValue] | None = None
    kind: Kind = "model"
    value_units: str | None = None
    value_long_name: str | None = None
    index_units: str | None = None
    calendar: str | None = None
    key: str = ""        # dimensions_hash(kind, dimensions)
    index_key: str = ""  # index_hash(index_name, index)

    @classmethod
    def make(cls, dimensions: dict[str, str], values: list[float | None], index: list[IndexValue],
             index_name: str, attributes: dict[str, AttributeValue] | None = None, kind: Kind = "model",
             value_units: str | None = None, value_long_name: str | None = None,
             index_units: str | None = None, calendar: str | None = None) -> SeriesRow:
        return cls(dimensions, values, index, index_name, attributes, kind, value_units, value_long_name,
                   index_units, calendar, dimensions_hash(kind, dimensions), index_hash(index_name, index))


@dataclass(frozen=True, slots=True)
class OutputRow:
    """One file named by the output bundle. ``filename`` is relative, cleaned and checked to stay
    inside the output folder and to be a regular file."""

    output_type: OutputType
    short_name: str
    filename: str
    long_name: str
    description: str
    dimensions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResultSet:
    """Everything one successful execution produced, validated. ``dropped`` counts, by kind, the items of
    the files that the rows do not hold as written (dropped, or made missing values): see ``results.compat``."""

    scalars: list[ScalarRow] = field(default_factory=list)
    series: list[SeriesRow] = field(default_factory=list)
    outputs: list[OutputRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dropped: Mapping[DropKind, int] = field(default_factory=dict)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())
