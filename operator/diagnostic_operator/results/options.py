"""Parser options: strictness, caps and the vocabulary mode. One frozen value, shared by every parser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from diagnostic_operator.spec import VocabularyMode

MiB = 1024 * 1024
GiB = 1024 * MiB

InfinityPolicy = Literal["reject", "missing"]


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """How strictly result files are read.

    ``strict``: unknown leaf keys of the metric bundle are errors (lenient: warned about and dropped),
    and the non-standard tokens ``NaN``/``Infinity``/``-Infinity`` are rejected unless
    ``allow_nonstandard_tokens`` says otherwise (None: allowed exactly when not strict).
    ``infinity``: what a ±Infinity value (token or overflowing number) becomes in metric leaves and
    series values: "reject" (an error) or "missing" (None, with a warning). Never allowed in a series index.
    ``vocabulary_mode``: None takes the mode of ``ResultFiles.controlled_vocabulary``.
    ``ref_compat``: reject one-dimension metric bundles, as climate-ref does.
    Output-bundle caps: a short name longer than ``max_short_name_length`` characters (it is part of a
    unique index, and PostgreSQL's B-tree entries are limited to ~2.7 kB), a filename longer than
    ``max_filename_bytes`` UTF-8 bytes (it becomes part of an object key; S3 keys end at 1,024 bytes),
    a file larger than ``max_output_file_bytes`` or files adding up to more than
    ``max_output_total_bytes`` (apparent sizes, so a sparse file counts in full) are bundle errors.
    """

    strict: bool = True
    allow_nonstandard_tokens: bool | None = None
    infinity: InfinityPolicy = "reject"
    max_metric_bundle_bytes: int = 64 * MiB
    max_series_bytes: int = 64 * MiB
    max_output_bundle_bytes: int = 16 * MiB
    max_depth: int = 64
    max_dimensions: int = 32
    max_rows: int = 2_000_000
    max_series: int = 200_000
    max_series_length: int = 1_000_000
    max_outputs: int = 100_000
    max_short_name_length: int = 512
    max_filename_bytes: int = 512
    max_output_file_bytes: int = 64 * GiB
    max_output_total_bytes: int = 256 * GiB
    vocabulary_mode: VocabularyMode | None = None
    ref_compat: bool = False

    @property
    def nonstandard_tokens(self) -> bool:
        """Whether ``NaN``, ``Infinity`` and ``-Infinity`` tokens are accepted."""
        if self.allow_nonstandard_tokens is None:
            return not self.strict
        return self.allow_nonstandard_tokens


DEFAULT_OPTIONS = ParseOptions()
