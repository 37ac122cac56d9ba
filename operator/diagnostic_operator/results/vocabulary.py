"""The controlled vocabulary (CV) of dimension names and values (spec section 5).

A CV is loaded from YAML shaped like climate-ref's ``cv_cmip7_aft.yaml`` (unknown keys forbidden,
reserved names rejected). ``default_vocabulary()`` is the CV shipped as ``cv_default.yaml``.

Modes (``VocabularyMode``), applied to every derived row, scalar, series and output:
- ``off``: nothing is checked.
- ``warn``: an unknown dimension *name* is an error (each dimension is a database column); an unknown
  value of a closed dimension (or an empty value the CV does not list) is a warning.
- ``fail``: both are errors.
Values of open dimensions are never checked (except the empty string). ``required`` is not enforced.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from diagnostic_operator.results._common import RESERVED_DIMENSION_NAMES, pointer
from diagnostic_operator.results._warnings import Warnings
from diagnostic_operator.results.errors import BundleError
from diagnostic_operator.results.rows import OutputRow, SeriesRow
from diagnostic_operator.spec import VocabularyMode

DEFAULT_CV = "cv_default.yaml"


class VocabularyError(BundleError):
    """A controlled-vocabulary file that breaks the CV format."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class VocabularyValue(_Strict):
    name: str
    long_name: str
    description: str | None = None
    units: str | None = None


class VocabularyDimension(_Strict):
    name: str
    long_name: str
    description: str
    allow_extra_values: bool
    required: bool
    values: list[VocabularyValue] = []


class _VocabularyFile(_Strict):
    dimensions: list[VocabularyDimension]


@dataclass(frozen=True, slots=True, eq=False)
class Vocabulary:
    """A loaded CV: dimensions by name, and the value names of each."""

    dimensions: Mapping[str, VocabularyDimension]
    source: str = "<memory>"
    known_values: Mapping[str, frozenset[str]] = field(init=False)

    def __post_init__(self) -> None:
        known = {
            name: frozenset(value.name for value in dimension.values)
            for name, dimension in self.dimensions.items()
        }
        object.__setattr__(self, "known_values", known)

    @classmethod
    def from_mapping(cls, data: Any, source: str = "<memory>") -> Vocabulary:
        """Build from already-parsed YAML/JSON data. Raises ``VocabularyError``."""
        try:
            parsed = _VocabularyFile.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = pointer(*[str(part) for part in error["loc"]])
            raise VocabularyError(source, where, error["msg"]) from None
        by_name: dict[str, VocabularyDimension] = {}
        for i, dimension in enumerate(parsed.dimensions):
            where = pointer("dimensions", i, "name")
            if dimension.name == "":
                raise VocabularyError(source, where, "dimension names must not be empty")
            if dimension.name in RESERVED_DIMENSION_NAMES:
                raise VocabularyError(source, where, f"{dimension.name!r} is a reserved name")
            if dimension.name in by_name:
                raise VocabularyError(source, where, f"dimension {dimension.name!r} is defined twice")
            names = [value.name for value in dimension.values]
            if len(set(names)) != len(names):
                raise VocabularyError(
                    source,
                    pointer("dimensions", i, "values"),
                    f"dimension {dimension.name!r} lists a value twice",
                )
            by_name[dimension.name] = dimension
        return cls(by_name, source)

    @classmethod
    def from_yaml(cls, text: str, source: str = "<memory>") -> Vocabulary:
        """Parse CV YAML text. Raises ``VocabularyError``."""
        try:
            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - safe loader
        except yaml.YAMLError as exc:
            raise VocabularyError(source, "", f"invalid YAML: {exc}") from None
        return cls.from_mapping(data, source)

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """Read a CV YAML file. Raises ``VocabularyError`` (also for an unreadable file)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise VocabularyError(str(path), "", f"cannot read: {exc}") from None
        return cls.from_yaml(text, str(path))

    def value_names(self, name: str) -> frozenset[str]:
        """The listed values of dimension ``name`` (empty for an unknown dimension)."""
        return self.known_values.get(name, frozenset())

    def check(
        self, used: Mapping[str, Iterable[str]], mode: VocabularyMode, *, file: str, where: Any = None
    ) -> list[str]:
        """Check dimension names and the values used with them (5.2). ``where(name, value)`` gives
        the location to report (value None: the name itself). Returns warnings; raises BundleError."""
        if mode == VocabularyMode.OFF:
            return []
        locate = where if where is not None else (lambda name, value: "")
        warnings = Warnings()
        for name, values in used.items():
            dimension = self.dimensions.get(name)
            if dimension is None:
                raise BundleError(
                    file,
                    locate(name, None),
                    f"unknown dimension {name!r}: not in the controlled vocabulary ({self.source})",
                )
            known = self.known_values[name]
            for value in values:
                if value in known:
                    continue
                if value == "":
                    problem = f"empty value of dimension {name!r} is not listed in the controlled vocabulary"
                elif not dimension.allow_extra_values:
                    problem = f"unknown value {value!r} of closed dimension {name!r}"
                else:
                    continue
                if mode == VocabularyMode.FAIL:
                    raise BundleError(file, locate(name, value), problem)
                warnings.add(file, locate(name, value), problem)
        return warnings.result()


@functools.lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    """The CV shipped with the operator (``results/cv_default.yaml``)."""
    text = resources.files("diagnostic_operator.results").joinpath(DEFAULT_CV).read_text(encoding="utf-8")
    return Vocabulary.from_yaml(text, DEFAULT_CV)


def check_metric_bundle(
    vocabulary: Vocabulary,
    used_values: Mapping[str, Iterable[str]],
    mode: VocabularyMode,
    *,
    file: str = "diagnostic.json",
) -> list[str]:
    """CV check of a validated metric bundle's dimensions (``MetricBundle.used_values``); ``kind``
    is not a CV dimension here (2.5), it is lifted out of the rows."""
    used = {name: values for name, values in used_values.items() if name != "kind"}

    def where(name: str, value: str | None) -> str:
        return (
            pointer("DIMENSIONS", "json_structure") if value is None else pointer("DIMENSIONS", name, value)
        )

    return vocabulary.check(used, mode, file=file, where=where)


def check_series(
    vocabulary: Vocabulary, series: Iterable[SeriesRow], mode: VocabularyMode, *, file: str = "series.json"
) -> list[str]:
    """CV check of series rows; locations name the first series using the name or value."""
    used: dict[str, dict[str, int]] = {}
    first_name: dict[str, int] = {}
    for i, row in enumerate(series):
        for name, value in row.dimensions.items():
            first_name.setdefault(name, i)
            used.setdefault(name, {}).setdefault(value, i)

    def where(name: str, value: str | None) -> str:
        i = first_name[name] if value is None else used[name][value]
        return pointer(i, "dimensions", name)

    return vocabulary.check(used, mode, file=file, where=where)


def check_outputs(
    vocabulary: Vocabulary, outputs: Iterable[OutputRow], mode: VocabularyMode, *, file: str = "output.json"
) -> list[str]:
    """CV check of output-entry dimensions (3.4): the names must be CV dimensions; values are
    checked like scalar values (climate-ref does not check them; we do, per mode)."""
    used: dict[str, dict[str, OutputRow]] = {}
    for row in outputs:
        for name, value in row.dimensions.items():
            used.setdefault(name, {}).setdefault(value, row)
    section = {"plot": "plots", "data": "data", "html": "html"}

    def where(name: str, value: str | None) -> str:
        values = used[name]
        row = next(iter(values.values())) if value is None else values[value]
        return pointer(section[row.output_type], row.short_name, "dimensions", name)

    return vocabulary.check(used, mode, file=file, where=where)


def load_vocabulary(path: str | Path) -> Vocabulary:
    """Read a CV YAML file (same as ``Vocabulary.load``). Raises ``VocabularyError``."""
    return Vocabulary.load(path)
