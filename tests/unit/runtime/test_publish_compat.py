"""The publish step reads the dialect the manifest's ``results.compat`` names, and reports what the reader
dropped or made missing as ``counts.dropped`` (the status's ``ingested.dropped``)."""

from __future__ import annotations

from pathlib import Path

from diagnostic_operator.contracts.exit_record import ExitRecord
from diagnostic_operator.contracts.publish_summary import PublishSummary
from diagnostic_operator.db.engine import create_engine_for, upgrade
from diagnostic_operator.db.lifecycle_writes import allocate_execution, record_attempt_start
from diagnostic_operator.db.queries import count_rows
from diagnostic_operator.runtime.publish import AttemptTarget, publish_and_ingest
from diagnostic_operator.runtime.sidecar import MAX_MESSAGE_BYTES, fit_message
from diagnostic_operator.spec import AttemptResources, CompatMode, IngestCounts, ResultFiles
from diagnostic_operator.store import LocalStore
from tests.helpers import read_summary

from ..results.test_compat import CLEAN, SERIES, Case, text
from .test_sidecar import SPEC

SUCCESS = ExitRecord.model_validate({"exitCode": 0})


def _publish(tmp_path: Path, case: Case, files: ResultFiles) -> tuple[PublishSummary, IngestCounts]:
    url = f"sqlite:///{tmp_path / 'do.db'}"
    upgrade(url)
    engine = create_engine_for(url)
    try:
        alloc = allocate_execution(engine, namespace="science", name="x", uid="uid-1", spec=SPEC,
                                   output_location="x")
        attempt = record_attempt_start(
            engine, alloc.execution_id, 1, resources=AttemptResources(memory="1Gi", cpu="1", wall_clock="1h"))
        out = case.write(tmp_path / "out")
        summary = publish_and_ingest(out, SUCCESS, files, AttemptTarget("science", "x", "uid-1", 1,
                                                                          alloc.execution_id, attempt),
                                     LocalStore(tmp_path / "store"), engine)
        return summary, count_rows(engine, alloc.execution_id)
    finally:
        engine.dispose()


# NaN in diagnostic.json (1), Infinity in a series (1), a repeated series (1)
COMPAT_CASE = Case(diagnostic=text(CLEAN, "3.0", "NaN"), series=text([SERIES, SERIES], "3.0", "Infinity"))


def test_compat_from_the_manifest_reaches_the_summary_counts(tmp_path: Path) -> None:
    summary, stored = _publish(tmp_path, COMPAT_CASE, ResultFiles(compat=CompatMode.CLIMATE_REF))
    assert summary.ingested, summary.bundle_error
    assert summary.counts == IngestCounts(outputs=1, scalar_values=4, series_values=1, dropped=3)
    assert summary.inserted.dropped == 0  # rows inserted, not items dropped
    assert stored == IngestCounts(outputs=1, scalar_values=4, series_values=1)
    message = fit_message(summary)
    assert len(message.encode()) <= MAX_MESSAGE_BYTES
    assert read_summary(message).counts.dropped == 3  # as the operator reads it


def test_the_strict_reader_stays_the_default(tmp_path: Path) -> None:
    summary, stored = _publish(tmp_path, COMPAT_CASE, ResultFiles())
    assert not summary.ingested
    assert "non-standard JSON token NaN" in summary.bundle_error
    assert stored == IngestCounts()


def test_a_clean_bundle_drops_nothing(tmp_path: Path) -> None:
    summary, _ = _publish(tmp_path, Case(), ResultFiles(compat=CompatMode.CLIMATE_REF))
    assert summary.ingested and summary.counts.dropped == 0
