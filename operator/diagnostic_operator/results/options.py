"""Parser options: strictness, caps and the vocabulary mode. One frozen value, shared by every parser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from diagnostic_operator.spec import VocabularyMode

MiB = 1024 * 1024

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
    vocabulary_mode: VocabularyMode | None = None
    ref_compat: bool = False

    @property
    def nonstandard_tokens(self) -> bool:
        """Whether ``NaN``, ``Infinity`` and ``-Infinity`` tokens are accepted."""
        if self.allow_nonstandard_tokens is None:
            return not self.strict
        return self.allow_nonstandard_tokens


DEFAULT_OPTIONS = ParseOptions()
