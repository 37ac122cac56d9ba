"""Result files of a diagnostic execution: parse, validate and derive rows (pure; no DB or network).

Entry point: ``load_results(output_dir, files, options, vocabulary) -> ResultSet``.
The per-format parsers, the JSON reader, the path-safety helpers and the controlled vocabulary are
exported for reuse (the publisher opens files with ``open_inside``).
"""

from diagnostic_operator.results.errors import BundleError
from diagnostic_operator.results.json_reader import (
    JsonDocument,
    parse_json_bytes,
    parse_json_text,
    read_json_file,
)
from diagnostic_operator.results.loader import load_results
from diagnostic_operator.results.metric_bundle import (
    MetricBundle,
    derive_scalar_rows,
    parse_metric_bundle,
    validate_metric_bundle,
)
from diagnostic_operator.results.options import InfinityPolicy, ParseOptions
from diagnostic_operator.results.output_bundle import (
    OutputBundle,
    parse_output_bundle,
    validate_output_bundle,
)
from diagnostic_operator.results.paths import UnsafePathError, clean_relative, open_inside, resolve_inside
from diagnostic_operator.results.rows import (
    OutputRow,
    ResultSet,
    ScalarRow,
    SeriesRow,
    canonical_json,
    dimensions_hash,
    index_hash,
)
from diagnostic_operator.results.series import SeriesFile, parse_series, validate_series
from diagnostic_operator.results.vocabulary import (
    Vocabulary,
    VocabularyDimension,
    VocabularyError,
    VocabularyValue,
    check_metric_bundle,
    check_outputs,
    check_series,
    default_vocabulary,
    load_vocabulary,
)

__all__ = [
    "BundleError",
    "InfinityPolicy",
    "JsonDocument",
    "MetricBundle",
    "OutputBundle",
    "OutputRow",
    "ParseOptions",
    "ResultSet",
    "ScalarRow",
    "SeriesFile",
    "SeriesRow",
    "UnsafePathError",
    "Vocabulary",
    "VocabularyDimension",
    "VocabularyError",
    "VocabularyValue",
    "canonical_json",
    "check_metric_bundle",
    "check_outputs",
    "check_series",
    "clean_relative",
    "default_vocabulary",
    "derive_scalar_rows",
    "dimensions_hash",
    "index_hash",
    "load_results",
    "load_vocabulary",
    "open_inside",
    "parse_json_bytes",
    "parse_json_text",
    "parse_metric_bundle",
    "parse_output_bundle",
    "parse_series",
    "read_json_file",
    "resolve_inside",
    "validate_metric_bundle",
    "validate_output_bundle",
    "validate_series",
]
