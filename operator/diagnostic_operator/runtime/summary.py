"""The publish step's summary: what it reports, and the termination message that carries it.

The ingest sidecar writes :meth:`PublishSummary.to_message`, cut to fit by :func:`fit_message`, as its
termination message (Kubernetes keeps at most 4096 bytes of it); the operator reads it as evidence
(``lifecycle/plan.py``). The local transport uses the same model.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from diagnostic_operator.lifecycle.evidence import PublishOutcome
from diagnostic_operator.spec import IngestCounts

SUMMARY_SCHEMA = "diagnostic-operator.io/publish-summary/v1"
MAX_ERROR_TEXT = 900  # the whole summary must fit a 4 KiB termination message
MAX_MESSAGE_BYTES = 4096  # Kubernetes truncates a termination message beyond 4096 bytes


class PublishSummary(BaseModel):
    """What the publish step reports: the sidecar writes it (compact JSON, ≤ 4 KiB) as its
    termination message, and the operator reads it as evidence."""

    model_config = ConfigDict(populate_by_name=True)

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
    partial_files: int | None = Field(default=None, alias="partialFiles")
    partial_skipped: int | None = Field(default=None, alias="partialSkipped")
    partial_error: str | None = Field(default=None, alias="partialError")
    counts: IngestCounts = Field(default_factory=IngestCounts)
    inserted: IngestCounts = Field(default_factory=IngestCounts)
    warnings: int = 0
    publish_seconds: float = Field(default=0.0, alias="publishSeconds")

    def outcome(self) -> PublishOutcome:
        return PublishOutcome(log_published=self.log_published, ingested=self.ingested,
                              bundle_error=self.bundle_error, infrastructure_error=self.infrastructure_error)

    def to_message(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)


def fit_message(summary: PublishSummary, limit: int = MAX_MESSAGE_BYTES) -> str:
    """``summary.to_message()``, made to fit ``limit`` bytes: first ``partialError`` goes and the error texts
    are shortened, then optional fields are dropped (the verdict fields — attempt, exitRecordPresent,
    logPublished, ingested, and whether there was a bundle or infrastructure error — always stay, and so does
    partialFiles)."""
    message = summary.to_message()
    if len(message.encode()) <= limit:
        return message
    data: dict[str, Any] = json.loads(message)

    def size() -> int:
        return len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())

    data.pop("partialError", None)  # a note on the partial files, not evidence: the first to go
    for key in ("bundleError", "infrastructureError"):
        text = data.get(key)
        while isinstance(text, str) and size() > limit and len(text) // 2 >= 40:
            text = text[: len(text) // 2] + "…"
            data[key] = text
    for key in ("counts", "inserted", "warnings", "publishSeconds", "logLocation",
                "partialSkipped", "peakMemorySource", "memoryLimitBytes", "peakMemoryBytes", "cpuSeconds",
                "wallSeconds"):
        if size() <= limit:
            break
        data.pop(key, None)
    for key in ("bundleError", "infrastructureError"):
        if size() > limit and key in data:
            data[key] = "(too long for the termination message)"
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
