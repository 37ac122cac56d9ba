"""``load_results``: the one entry point the publisher calls to read an execution's result files."""

from __future__ import annotations

import os
from pathlib import Path

from diagnostic_operator.results._warnings import Warnings
from diagnostic_operator.results.errors import BundleError
from diagnostic_operator.results.json_reader import JsonDocument, read_json_file
from diagnostic_operator.results.metric_bundle import derive_scalar_rows, validate_metric_bundle
from diagnostic_operator.results.options import ParseOptions
from diagnostic_operator.results.output_bundle import validate_output_bundle
from diagnostic_operator.results.rows import ResultSet
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
    The vocabulary mode is ``options.vocabulary_mode`` if set, else ``files.controlled_vocabulary``;
    ``vocabulary`` defaults to the shipped CV. Raises ``BundleError`` naming the file and where.
    """
    opts = options if options is not None else ParseOptions()
    mode = opts.vocabulary_mode if opts.vocabulary_mode is not None else files.controlled_vocabulary
    cv = None if mode == VocabularyMode.OFF else (vocabulary or default_vocabulary())
    warnings = Warnings(limit=500)

    metric_doc = _read(output_dir, files.metric_bundle, opts.max_metric_bundle_bytes, opts, required=True)
    assert metric_doc is not None
    metric = validate_metric_bundle(metric_doc, file=files.metric_bundle, options=opts)
    warnings.extend(metric.warnings)
    if cv is not None:
        warnings.extend(check_metric_bundle(cv, metric.used_values, mode, file=files.metric_bundle))
    scalars = derive_scalar_rows(metric)

    output_doc = _read(output_dir, files.output_bundle, opts.max_output_bundle_bytes, opts, required=True)
    assert output_doc is not None
    outputs = validate_output_bundle(output_doc, output_dir, file=files.output_bundle, options=opts)
    warnings.extend(outputs.warnings)
    if cv is not None:
        warnings.extend(check_outputs(cv, outputs.outputs, mode, file=files.output_bundle))

    series_rows = []
    if files.series is not None:
        series_doc = _read(output_dir, files.series, opts.max_series_bytes, opts, required=False)
        if series_doc is not None:
            series = validate_series(series_doc, file=files.series, options=opts)
            warnings.extend(series.warnings)
            if cv is not None:
                warnings.extend(check_series(cv, series.series, mode, file=files.series))
            series_rows = series.series

    return ResultSet(scalars=scalars, series=series_rows, outputs=outputs.outputs, warnings=warnings.result())


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
