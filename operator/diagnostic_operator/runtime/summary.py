"""The termination message that carries the publish summary (the model: ``contracts/publish_summary.py``).

The ingest sidecar writes :meth:`PublishSummary.to_message`, cut to fit by :func:`fit_message`, as its
termination message (Kubernetes keeps at most 4096 bytes of it); the operator reads it as evidence
(``lifecycle/plan.py``). The local transport uses the same model.
"""

from __future__ import annotations

import json
from typing import Any

from diagnostic_operator.contracts.publish_summary import PublishSummary

MAX_ERROR_TEXT = 900  # the whole summary must fit a 4 KiB termination message
MAX_MESSAGE_BYTES = 4096  # Kubernetes truncates a termination message beyond 4096 bytes


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
