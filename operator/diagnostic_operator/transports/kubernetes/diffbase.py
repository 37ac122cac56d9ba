"""Kopf's diff-base ("last handled configuration") without copying what it throws away.

Kopf builds an object's essence on every event of a DiagnosticExecution: ``copy.deepcopy`` of the whole
body, then it deletes ``status`` and most of ``metadata``. Our status carries the attempt history and the
metadata its managed fields, so that deep copy was ~9 % of the operator's CPU at 500 executions
(benchmarks/operator_scale, py-spy). The essence is the same when only the kept parts are copied.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import kopf

#: What Kopf's ``DiffBaseStorage.build`` keeps of ``metadata`` (it removes some annotations afterwards).
_KEPT_METADATA = ("labels", "annotations")


class LeanAnnotationsDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """``kopf.AnnotationsDiffBaseStorage`` whose ``build`` hands Kopf a body without ``status`` and with only
    the metadata Kopf keeps. Field handlers on status (``extra_fields``) are not supported: we have none."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        if extra_fields:
            return super().build(body=body, extra_fields=extra_fields)
        raw: dict[str, Any] = {k: v for k, v in body.items() if k not in ("status", "metadata")}
        metadata = body.get("metadata", {})
        raw["metadata"] = {k: metadata[k] for k in _KEPT_METADATA if k in metadata}
        return super().build(body=kopf.Body(cast(kopf.RawBody, raw)), extra_fields=None)
