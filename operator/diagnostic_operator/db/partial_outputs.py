"""Recording a failed attempt's partial files (docs/object-store.md, ``partial/``).

A failed or timed-out attempt's results folder is published as it is; each file becomes one ``outputs`` row
with ``partial = true``, keyed by (attempt, path) — never a scalar or series row. Recording again inserts
nothing (``ON CONFLICT DO NOTHING`` on the partial rows' own unique index).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, text

from diagnostic_operator.db.models import PARTIAL_OUTPUT, Output
from diagnostic_operator.db.transactions import begin, chunks, dialect_insert, translate_errors
from diagnostic_operator.store.base import StoredObject

#: The output type partial rows carry (the column is constrained to plot, data and html; nothing is known of
#: a file no bundle describes).
PARTIAL_OUTPUT_TYPE = "data"


def partial_rows(execution_id: int, attempt_id: int,
                 files: Sequence[tuple[str, StoredObject]]) -> list[dict[str, Any]]:
    """The ``outputs`` rows of ``files`` ((path in the results folder, its stored object)), one per path."""
    rows: dict[str, dict[str, Any]] = {}
    for path, stored in files:
        rows.setdefault(path, {
            "execution_id": execution_id, "attempt_id": attempt_id, "output_type": PARTIAL_OUTPUT_TYPE,
            "short_name": path, "filename": path, "long_name": "", "description": "", "dimensions": {},
            "uri": stored.uri, "size": stored.size, "sha256": stored.sha256, "partial": True,
        })
    return list(rows.values())


def record_partial_outputs(engine: Engine, *, execution_id: int, attempt_id: int,
                           files: Sequence[tuple[str, StoredObject]]) -> int:
    """Record ``files`` as attempt ``attempt_id``'s partial outputs, in one transaction; returns how many
    rows this call inserted (0 on a replay). Raises DatabaseError or IngestError like ``ingest``."""
    rows = partial_rows(execution_id, attempt_id, files)
    if not rows:
        return 0
    inserted = 0
    with translate_errors(engine, f"recording partial outputs of attempt {attempt_id}"), begin(engine) as conn:
        for chunk in chunks(rows):
            result = conn.execute(
                dialect_insert(conn, Output)
                .values(list(chunk))
                .on_conflict_do_nothing(index_elements=["attempt_id", "filename"], index_where=text(PARTIAL_OUTPUT))
                .returning(Output.id)
            )
            inserted += len(result.all())
    return inserted
