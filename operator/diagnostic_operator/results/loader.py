"""``load_results``: the one entry point the publisher calls to read an execution's result files."""

from __future__ import annotations

import os
from pathlib import Path

from diagnostic_operator.results._warnings import Warnings
from diagnostic_operator.results.compat import Drops, drop_dimensions, merge, unknown_names
from diagnostic_operator.results.errors import BundleError
from diagnostic_operator.results.json_reader import JsonDocument, read_json_file
from diagnostic_operator.results.metric_bundle import derive_scalar_rows, validate_metric_bundle
from diagnostic_operator.results.options import ParseOptions
from diagnostic_operator.results.output_bundle import validate_output_bundle
from diagnostic_operator.results.rows import ResultSet, SeriesRow
from diagnostic_operator.results.series import validate_series
from diagnostic_operator.results.vocabulary import (
    Vocabulary,
    check_metric_bundle,
    check_outputs,
    check_series,
    default_vocabulary,
)
from diagnostic_operator.spec import ResultFiles, VocabularyMode


def load_results(
    output_dir: Path,
    files: ResultFiles,
    options: ParseOptions | None = None,
    vocabulary: Vocabulary | None = None,
) -> ResultSet:
    """Read, validate and derive the rows of one execution's result files.

    The metric bundle and the output bundle are required (a missing one is a ``BundleError``);
    the series file is optional (``files.series`` None or a missing file give zero series).
    The vocabulary and compat modes are those of ``options`` where set, else those of ``files``
    (``ParseOptions.for_files``); ``vocabulary`` defaults to the shipped CV. In compat mode with the
    vocabulary mode ``warn``, dimension names outside the CV are dropped from scalar and series rows, as
    Climate-REF's inserts drop them (``compat.drop_dimensions``); in output entries they stay errors, as
    they are in Climate-REF. Raises ``BundleError`` naming the file and where.
    """
    opts = (options if options is not None else ParseOptions()).for_files(files)
    mode = opts.vocabulary_mode or VocabularyMode.WARN
    cv = None if mode == VocabularyMode.OFF else (vocabulary or default_vocabulary())
    drop_unknown = cv is not None and opts.climate_ref and mode == VocabularyMode.WARN
    warnings = Warnings(limit=500)
    dropped: Drops = {}

    metric_doc = _read(output_dir, files.metric_bundle, opts.max_metric_bundle_bytes, opts, required=True)
    assert metric_doc is not None
    metric = validate_metric_bundle(metric_doc, file=files.metric_bundle, options=opts)
    warnings.extend(metric.warnings)
    used = metric.used_values
    unknown: frozenset[str] = frozenset()
    if cv is not None and drop_unknown:
        unknown = unknown_names(cv.dimensions, (name for name in used if name != "kind"))
        _warn_unknown(warnings, files.metric_bundle, unknown)
        used = {name: values for name, values in used.items() if name not in unknown}
    if cv is not None:
        warnings.extend(check_metric_bundle(cv, used, mode, file=files.metric_bundle))
    scalars = drop_dimensions(derive_scalar_rows(metric), unknown, dropped)

    output_doc = _read(output_dir, files.output_bundle, opts.max_output_bundle_bytes, opts, required=True)
    assert output_doc is not None
    outputs = validate_output_bundle(output_doc, output_dir, file=files.output_bundle, options=opts)
    warnings.extend(outputs.warnings)
    if cv is not None:
        warnings.extend(check_outputs(cv, outputs.outputs, mode, file=files.output_bundle))

    series_rows: list[SeriesRow] = []
    series_dropped: Drops = {}
    if files.series is not None:
        series_doc = _read(output_dir, files.series, opts.max_series_bytes, opts, required=False)
        if series_doc is not None:
            series = validate_series(series_doc, file=files.series, options=opts)
            warnings.extend(series.warnings)
            series_rows = series.series
            series_dropped = series.dropped
            if cv is not None and drop_unknown:
                unknown = unknown_names(cv.dimensions, {name for row in series_rows for name in row.dimensions})
                _warn_unknown(warnings, files.series, unknown)
                series_rows = drop_dimensions(series_rows, unknown, dropped)
            if cv is not None:
                warnings.extend(check_series(cv, series_rows, mode, file=files.series))

    return ResultSet(scalars=scalars, series=series_rows, outputs=outputs.outputs, warnings=warnings.result(),
                     dropped=merge(metric.dropped, series_dropped, dropped))


def _warn_unknown(warnings: Warnings, file: str, unknown: frozenset[str]) -> None:
    for name in sorted(unknown):
        warnings.add(file, "", f"dimension {name!r} is not in the controlled vocabulary: dropped from every row "
                               "(climate-ref compat mode)")


def _read(
    output_dir: str | os.PathLike[str], name: str, max_bytes: int, options: ParseOptions, *, required: bool
) -> JsonDocument | None:
    try:
        return read_json_file(
            output_dir,
            name,
            max_bytes=max_bytes,
            nonstandard_tokens=options.nonstandard_tokens,
            max_depth=options.max_depth,
        )
    except FileNotFoundError:
        if required:
            raise BundleError(name, "", "file does not exist") from None
        return None
