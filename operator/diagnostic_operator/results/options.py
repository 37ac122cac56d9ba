"""Parser options: strictness, caps, the vocabulary mode and the compat mode. One frozen value, shared by
every parser."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from diagnostic_operator.spec import CompatMode, ResultFiles, VocabularyMode

MiB = 1024 * 1024
GiB = 1024 * MiB

InfinityPolicy = Literal["reject", "missing"]


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """How strictly result files are read.

    ``compat``: the dialect read. ``CompatMode.CLIMATE_REF`` accepts what Climate-REF 0.20.2 accepts with
    the meaning it gives it, and refuses what it refuses (docs/climate-ref-compat.md); it decides every
    behaviour it covers, whatever ``strict``, ``infinity`` and ``allow_nonstandard_tokens`` say:
    non-standard tokens are read, NaN and ±Infinity values become missing values, undeclared leaf keys
    are dropped, a repeated series is dropped (the first is kept), repeated index values are kept, and
    dimension names outside the controlled vocabulary are dropped from scalar and series rows (vocabulary
    mode ``warn``); one-dimension bundles with values and an empty ``json_structure`` with
    ``RESULTS.attributes`` are refused. Each item dropped or made missing is counted (``ResultSet.dropped``).
    None takes the mode of ``ResultFiles.compat``; the parsers read None as ``CompatMode.NONE``.
    ``strict``: unknown leaf keys of the metric bundle are errors (lenient: warned about and dropped),
    and the non-standard tokens ``NaN``/``Infinity``/``-Infinity`` are rejected unless
    ``allow_nonstandard_tokens`` says otherwise (None: allowed exactly when not strict).
    ``infinity``: what a ±Infinity value (token or overflowing number) becomes in metric leaves and
    series values: "reject" (an error) or "missing" (None, with a warning). Never allowed in a series index.
    ``vocabulary_mode``: None takes the mode of ``ResultFiles.controlled_vocabulary``.
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
    compat: CompatMode | None = None

    @property
    def climate_ref(self) -> bool:
        """Whether Climate-REF's dialect is read."""
        return self.compat is CompatMode.CLIMATE_REF

    @property
    def nonstandard_tokens(self) -> bool:
        """Whether ``NaN``, ``Infinity`` and ``-Infinity`` tokens are accepted."""
        if self.climate_ref:
            return True
        if self.allow_nonstandard_tokens is None:
            return not self.strict
        return self.allow_nonstandard_tokens

    @property
    def drop_undeclared_leaf_keys(self) -> bool:
        """Whether an undeclared key at the leaf level of RESULTS is dropped (else it is an error)."""
        return self.climate_ref or not self.strict

    @property
    def infinity_missing(self) -> bool:
        """Whether a ±Infinity metric or series value becomes a missing value (else it is an error)."""
        return self.climate_ref or self.infinity == "missing"

    def for_files(self, files: ResultFiles) -> ParseOptions:
        """These options with the modes left None taken from the manifest's ``results``."""
        return replace(
            self,
            vocabulary_mode=self.vocabulary_mode if self.vocabulary_mode is not None else files.controlled_vocabulary,
            compat=self.compat if self.compat is not None else files.compat,
        )


DEFAULT_OPTIONS = ParseOptions()
