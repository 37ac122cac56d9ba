"""Helpers for the hostile-input tests: write an execution folder with a metric bundle, an output bundle
and a series file, then read it the way the publisher does (``load_results``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from diagnostic_operator.results import ParseOptions, ResultSet, load_results
from diagnostic_operator.spec import ResultFiles, VocabularyMode

PROVENANCE = {"environment": {}, "modeldata": "m", "obsdata": "o", "log": "out.log"}
NO_CV = ParseOptions(vocabulary_mode=VocabularyMode.OFF)


def entry(filename: str, **extra: Any) -> dict[str, Any]:
    return {"filename": filename, "long_name": "L", "description": "", **extra}


def write_bundle(
    out: Path,
    plots: dict[str, Any] | None = None,
    *,
    metric: Any = None,
    series: Any = None,
    output: Any = None,
) -> Path:
    """An execution folder: ``metric`` defaults to a one-value bundle, ``series`` to ``[]``, ``output`` to a
    bundle whose ``plots`` are ``plots``. Documents are written as given (strings as they are)."""
    out.mkdir(parents=True, exist_ok=True)
    if metric is None:
        metric = {"DIMENSIONS": {"json_structure": ["metric"], "metric": {"bias": {}}}, "RESULTS": {"bias": 0.5}}
    if output is None:
        output = {"provenance": PROVENANCE, "plots": plots or {}}
    for name, doc in (("diagnostic.json", metric), ("output.json", output), ("series.json", series or [])):
        path = out / name
        if path.is_symlink() or (path.exists() and not path.is_file()):
            continue  # a test put something hostile there itself
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return out


def load(out: Path, options: ParseOptions = NO_CV) -> ResultSet:
    return load_results(out, ResultFiles(), options)
