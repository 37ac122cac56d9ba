"""Shared helpers for the result-parser tests."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from diagnostic_operator.results import (
    BundleError,
    ParseOptions,
    parse_json_text,
    parse_metric_bundle,
    parse_output_bundle,
    parse_series,
)

DATA = Path(__file__).parent / "data"
OUTPUT_FILES = (
    "plots/ACCESS-ESM1-5_tas_bias_map.png",
    "plots/CanESM5_tas_bias_map.png",
    "data/tas_bias_fields.nc",
    "index.html",
)


def example(name: str) -> Any:
    """A fresh copy of one of the spec's example files, decoded."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def metric_example() -> dict[str, Any]:
    return copy.deepcopy(example("metric_bundle.json"))


def output_example() -> dict[str, Any]:
    return copy.deepcopy(example("output_bundle.json"))


def series_example() -> list[Any]:
    return copy.deepcopy(example("series.json"))


def bundle(structure: list[str], values: dict[str, list[str]], results: Any, **extra: Any) -> dict[str, Any]:
    """A metric bundle with ``DIMENSIONS`` built from ``values`` (dimension → declared values)."""
    dims: dict[str, Any] = {"json_structure": structure}
    dims.update({name: {v: {} for v in declared} for name, declared in values.items()})
    return {"DIMENSIONS": dims, "RESULTS": results, **extra}


def text(doc: Any) -> str:
    return json.dumps(doc, allow_nan=True)


def metric(doc: Any, **options: Any) -> tuple[list[Any], list[str]]:
    opts = ParseOptions(**options)
    parsed = parse_json_text(text(doc), file="diagnostic.json", nonstandard_tokens=opts.nonstandard_tokens)
    return parse_metric_bundle(parsed, options=opts)


def series(doc: Any, **options: Any) -> tuple[list[Any], list[str]]:
    opts = ParseOptions(**options)
    parsed = parse_json_text(text(doc), file="series.json", nonstandard_tokens=opts.nonstandard_tokens)
    return parse_series(parsed, options=opts)


def outputs(doc: Any, root: Path | None, **options: Any) -> tuple[list[Any], list[str]]:
    opts = ParseOptions(**options)
    parsed = parse_json_text(text(doc), file="output.json")
    return parse_output_bundle(parsed, root, options=opts)


def make_output_dir(root: Path) -> Path:
    """An execution folder holding the three example files and the files output.json names."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / "metric_bundle.json", root / "diagnostic.json")
    shutil.copy(DATA / "output_bundle.json", root / "output.json")
    shutil.copy(DATA / "series.json", root / "series.json")
    for name in OUTPUT_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"content")
    return root


def raises_bundle(fn: Callable[[], object], where: str | None, *problem: str) -> BundleError:
    """Call ``fn``; it must raise BundleError at ``where`` (None: any) with each ``problem`` fragment."""
    with pytest.raises(BundleError) as info:
        fn()
    error = info.value
    if where is not None:
        assert error.where == where, f"where {error.where!r} != {where!r} ({error})"
    for fragment in problem:
        assert fragment in error.problem, f"{fragment!r} not in {error.problem!r}"
    return error
