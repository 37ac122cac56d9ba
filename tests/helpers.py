"""Builders and helpers the test layers and the benchmarks share (importable without pytest's fixtures)."""

from __future__ import annotations

import json
from typing import Any

from diagnostic_operator.contracts.publish_summary import PublishSummary, parse_summary

# ------------------------------------------------------------------------------------------ the publish summary

#: What the sidecar reports after a successful attempt 1 (JSON names).
SUCCESS_SUMMARY: dict[str, Any] = {
    "attempt": 1, "exitRecordPresent": True, "exitCode": 0, "logPublished": True,
    "outputLocation": "s3://b/p/attempt-1", "ingested": True,
    "counts": {"outputs": 6, "scalarValues": 24, "seriesValues": 4}, "wallSeconds": 12.5,
}


def publish_summary(**fields: Any) -> PublishSummary:
    """A publish summary: a successful attempt 1 with ``fields`` (JSON names) over it; a field given as None
    takes the model's default."""
    return PublishSummary.model_validate({key: value for key, value in (SUCCESS_SUMMARY | fields).items()
                                         if value is not None})


def summary_message(summary: PublishSummary | None = None, /, **raw: Any) -> str:
    """``summary``'s termination message (default: :func:`publish_summary`), with ``raw`` JSON fields written
    over it as they are (None: the field left out) — for what no sidecar writes, a garbled or unknown field."""
    data = json.loads((summary or publish_summary()).to_message())
    for key, value in raw.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return json.dumps(data)


def kwok_summary(**fields: Any) -> str:
    """The termination message a kwok Pod's ingest container carries: a successful attempt that ingested
    nothing, with ``fields`` (JSON names) over it."""
    return publish_summary(**({"outputLocation": "s3://kwok/none", "counts": {}, "wallSeconds": 1.0} | fields)
                           ).to_message()


def read_summary(message: str) -> PublishSummary:
    """The summary in a termination message, as the operator reads it; fails the test when there is none."""
    parsed = parse_summary(message)
    assert parsed.summary is not None, parsed.reason
    return parsed.summary
