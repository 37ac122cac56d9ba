"""The publish summary: what the ingest sidecar reports when the publish step ends.

Schema ``diagnostic-operator.io/publish-summary/v1`` (docs/sidecar.md). The sidecar writes
:meth:`PublishSummary.to_message` (cut to fit by ``runtime/summary.py``'s ``fit_message``) as its termination
message; the operator reads it back with :func:`parse_summary`, the one place a summary is parsed. The JSON
names are the aliases (camelCase), so operators and sidecars of other versions of this schema read each
other's summaries: unknown fields are ignored, and every field the sidecar may leave out to fit the message
has a default.

The verdict fields (:data:`VERDICT_FIELDS`) decide how the attempt is classified: a summary in which one of
them is missing or of the wrong type is no summary. The other fields are details (the exit record's numbers,
counts, partial files, timings): one of the wrong type is ignored, so that a garbled number costs the
telemetry it carries and not the attempt's verdict; the exit record's fields count together, all or none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from diagnostic_operator.contracts.exit_record import ExitRecord
from diagnostic_operator.spec import IngestCounts

SUMMARY_SCHEMA = "diagnostic-operator.io/publish-summary/v1"

#: The exit record's fields that the summary carries, under the same JSON names.
EXIT_RECORD_FIELDS = frozenset({"exit_code", "signal", "timed_out", "oom_kills", "wall_seconds", "cpu_seconds",
                                "peak_memory_bytes", "peak_memory_source", "memory_limit_bytes"})


class PublishSummary(BaseModel):
    """What the publish step reports: the sidecar writes it (compact JSON, ≤ 4 KiB) as its
    termination message, and the operator reads it as evidence."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    schema_: str = Field(default=SUMMARY_SCHEMA, alias="schema")
    attempt: int
    exit_record_present: bool = Field(alias="exitRecordPresent")
    exit_code: int | None = Field(default=None, alias="exitCode")
    signal: int | None = None
    timed_out: bool = Field(default=False, alias="timedOut")
    oom_kills: int | None = Field(default=None, alias="oomKills")
    wall_seconds: float | None = Field(default=None, alias="wallSeconds")
    cpu_seconds: float | None = Field(default=None, alias="cpuSeconds")
    peak_memory_bytes: int | None = Field(default=None, alias="peakMemoryBytes")
    peak_memory_source: str | None = Field(default=None, alias="peakMemorySource")
    memory_limit_bytes: int | None = Field(default=None, alias="memoryLimitBytes")
    log_published: bool = Field(default=False, alias="logPublished")
    log_location: str | None = Field(default=None, alias="logLocation")
    output_location: str = Field(alias="outputLocation")
    ingested: bool = False
    bundle_error: str | None = Field(default=None, alias="bundleError")
    infrastructure_error: str | None = Field(default=None, alias="infrastructureError")
    # a failed attempt's results folder, published as partial files (absent after a success)
    partial_files: int | None = Field(default=None, alias="partialFiles", strict=True)  # a count, not true
    partial_skipped: int | None = Field(default=None, alias="partialSkipped")
    partial_error: str | None = Field(default=None, alias="partialError")
    counts: IngestCounts = Field(default_factory=IngestCounts)
    inserted: IngestCounts = Field(default_factory=IngestCounts)
    warnings: int = 0
    publish_seconds: float = Field(default=0.0, alias="publishSeconds")

    def to_message(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)

    @property
    def reports_counts(self) -> bool:
        """The summary says what was ingested: ``counts`` was written (``fit_message`` may leave it out)."""
        return "counts" in self.model_fields_set

    def exit_record(self) -> ExitRecord | None:
        """The exit record's fields as the sidecar passed them on; None when the runner left no exit record,
        or when those fields do not make a valid one (the rest of the summary still counts)."""
        if not self.exit_record_present:
            return None
        try:
            return ExitRecord.model_validate(self.model_dump(by_alias=True, include=set(EXIT_RECORD_FIELDS)))
        except ValidationError:
            return None


def _json_name(name: str) -> str:
    return PublishSummary.model_fields[name].alias or name


#: The fields that decide the attempt's class (``fit_message`` never leaves them out).
VERDICT_FIELDS = frozenset({"schema_", "attempt", "exit_record_present", "log_published", "ingested",
                            "bundle_error", "infrastructure_error", "output_location"})
_VERDICT_NAMES = frozenset(_json_name(name) for name in VERDICT_FIELDS)
_EXIT_RECORD_NAMES = frozenset(_json_name(name) for name in EXIT_RECORD_FIELDS)


@dataclass(frozen=True, slots=True)
class ParsedSummary:
    """The outcome of :func:`parse_summary`: the summary, or None; ``reason`` says why there is none, or which
    detail fields of the wrong type were ignored."""

    summary: PublishSummary | None
    reason: str | None = None


def parse_summary(message: str | Mapping[str, object] | None) -> ParsedSummary:
    """A publish summary from a termination message (JSON text) or its decoded object. Anything else — empty,
    not JSON, not an object, another schema, a verdict field missing or of the wrong type — is no summary, with
    the reason. Detail fields of the wrong type are left out (the exit record's all together), and named."""
    if not message:
        return ParsedSummary(None, "no message")
    if isinstance(message, str):
        try:
            data: object = json.loads(message)
        except json.JSONDecodeError as exc:
            return ParsedSummary(None, f"not JSON: {exc}")
    else:
        data = message
    if not isinstance(data, Mapping):
        return ParsedSummary(None, f"not a JSON object but {type(data).__name__}")
    schema = data.get("schema")  # v1 is known by the name's ending, whatever domain comes before it
    if not str(schema or "").endswith("publish-summary/v1"):
        return ParsedSummary(None, f"schema {schema!r} is not {SUMMARY_SCHEMA!r}")
    try:
        return ParsedSummary(PublishSummary.model_validate(data))
    except ValidationError as exc:
        errors = exc.errors()
    problems = "; ".join(f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in errors)
    garbled = {str(error["loc"][0]) if error["loc"] else "" for error in errors}
    if garbled & _VERDICT_NAMES or "" in garbled:
        return ParsedSummary(None, f"not a publish summary: {problems}")
    if garbled & _EXIT_RECORD_NAMES:
        garbled |= _EXIT_RECORD_NAMES
    try:
        summary = PublishSummary.model_validate({key: value for key, value in data.items() if key not in garbled})
    except ValidationError as again:  # not expected: every field left is of the right type
        return ParsedSummary(None, f"not a publish summary: {again}")
    return ParsedSummary(summary, f"ignored {', '.join(sorted(garbled & data.keys()))}: {problems}")
