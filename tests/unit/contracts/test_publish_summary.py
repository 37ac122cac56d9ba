"""The publish summary's one parser, and summaries as sidecars write them read to the same decisions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from diagnostic_operator.contracts.publish_summary import SUMMARY_SCHEMA, PublishSummary, parse_summary
from diagnostic_operator.lifecycle.evidence import PublishOutcome
from diagnostic_operator.lifecycle.plan import RecordAttemptEnd, SetStatus, evidence_from_pod, plan
from diagnostic_operator.runtime.summary import fit_message
from diagnostic_operator.spec import Decision, FailureClass, IngestCounts, Phase
from tests.helpers import publish_summary, summary_message
from tests.unit.lifecycle.test_plan import NOW, done, job, obs, pod, sidecar_done, started

# Termination messages as the sidecar of schema v1 writes them (fit_message of its PublishSummary): a success,
# a failure that kept partial files (OOM-killed), and an infrastructure failure without an exit record.
V1_SUCCESS = (
    '{"schema":"diagnostic-operator.io/publish-summary/v1","attempt":1,"exitRecordPresent":true,"exitCode":0,'
    '"timedOut":false,"oomKills":0,"wallSeconds":2.91,"cpuSeconds":1.72,"peakMemoryBytes":97132544,'
    '"peakMemorySource":"cgroup-v2","memoryLimitBytes":536870912,"logPublished":true,'
    '"logLocation":"s3://bucket/p/executions/ns/gmb-0f1e2d3c/attempt-1/out.log",'
    '"outputLocation":"s3://bucket/p/executions/ns/gmb-0f1e2d3c/attempt-1","ingested":true,'
    '"counts":{"outputs":6,"scalarValues":24,"seriesValues":4,"dropped":0},'
    '"inserted":{"outputs":6,"scalarValues":24,"seriesValues":4,"dropped":0},"warnings":0,"publishSeconds":0.41}')
V1_OOM = (
    '{"schema":"diagnostic-operator.io/publish-summary/v1","attempt":2,"exitRecordPresent":true,"exitCode":137,'
    '"signal":9,"timedOut":false,"oomKills":1,"wallSeconds":41.0,"peakMemoryBytes":4294967296,'
    '"peakMemorySource":"cgroup-v2","memoryLimitBytes":4294967296,"logPublished":true,'
    '"logLocation":"s3://bucket/p/executions/ns/gmb-0f1e2d3c/attempt-2/out.log",'
    '"outputLocation":"s3://bucket/p/executions/ns/gmb-0f1e2d3c/attempt-2","ingested":false,"partialFiles":3,'
    '"partialSkipped":1,"counts":{"outputs":0,"scalarValues":0,"seriesValues":0,"dropped":0},'
    '"inserted":{"outputs":0,"scalarValues":0,"seriesValues":0,"dropped":0},"warnings":0,"publishSeconds":0.2}')
V1_INFRASTRUCTURE = (
    '{"schema":"diagnostic-operator.io/publish-summary/v1","attempt":1,"exitRecordPresent":false,"timedOut":false,'
    '"logPublished":false,"outputLocation":"s3://bucket/p/executions/ns/gmb-0f1e2d3c/attempt-1","ingested":false,'
    '"infrastructureError":"uploading the log: the store did not answer","partialFiles":0,'
    '"counts":{"outputs":0,"scalarValues":0,"seriesValues":0,"dropped":0},'
    '"inserted":{"outputs":0,"scalarValues":0,"seriesValues":0,"dropped":0},"warnings":0,"publishSeconds":30.0}')
# What fit_message leaves of a summary too long for 4 KiB: the verdict fields, the shortened error text.
LONG = "p" * 2000
V1_FITTED = ('{"schema":"diagnostic-operator.io/publish-summary/v1","attempt":1,"exitRecordPresent":true,"exitCode":0,'
             '"timedOut":false,"wallSeconds":2.0,"cpuSeconds":1.0,"logPublished":true,'
             f'"outputLocation":"s3://b/{LONG}","ingested":false,"bundleError":"{"b" * 57}…"}}')


def test_the_sidecar_writes_the_v1_messages_to_the_letter() -> None:
    """Field names, order and omitted nulls are those of v1: an operator of either version reads them."""
    success = PublishSummary(
        attempt=1, exit_record_present=True, exit_code=0, timed_out=False, oom_kills=0, wall_seconds=2.91,
        cpu_seconds=1.72, peak_memory_bytes=97132544, peak_memory_source="cgroup-v2", memory_limit_bytes=536870912,
        log_published=True, log_location="s3://bucket/p/executions/ns/gmb-0f1e2d3c/attempt-1/out.log",
        output_location="s3://bucket/p/executions/ns/gmb-0f1e2d3c/attempt-1", ingested=True,
        counts=IngestCounts(outputs=6, scalar_values=24, series_values=4),
        inserted=IngestCounts(outputs=6, scalar_values=24, series_values=4), publish_seconds=0.41)
    assert fit_message(success) == V1_SUCCESS
    too_long = PublishSummary(
        attempt=1, exit_record_present=True, exit_code=0, wall_seconds=2.0, cpu_seconds=1.0, log_published=True,
        log_location=f"s3://b/{LONG}/out.log", output_location=f"s3://b/{LONG}", bundle_error="b" * 900,
        publish_seconds=0.3)
    assert fit_message(too_long) == V1_FITTED
    for message in (V1_SUCCESS, V1_OOM, V1_INFRASTRUCTURE):
        parsed = parse_summary(message)
        assert parsed.summary is not None and parsed.reason is None
        assert fit_message(parsed.summary) == message  # read and written again: the same message


def _end(message: str, runner_exit: int, runner_reason: str, phase: str) -> tuple[RecordAttemptEnd, Any]:
    actions = plan(obs(started(), jobs=job(1, finished=True), pods=pod(
        phase=phase, runner=done(runner_exit, runner_reason), sidecar=sidecar_done(message))))
    end = next(a for a in actions if isinstance(a, RecordAttemptEnd))
    return end, next(a.status for a in actions if isinstance(a, SetStatus))


def test_a_v1_success_decides_as_before() -> None:
    view = pod(runner=done(), sidecar=sidecar_done(V1_SUCCESS))[1][0]
    evidence = evidence_from_pod(view, None, NOW)
    assert evidence.publish == PublishOutcome(log_published=True, ingested=True)
    assert evidence.exit_record is not None and evidence.exit_record.succeeded
    assert evidence.exit_record.peak_memory_source == "cgroup-v2"
    end, status = _end(V1_SUCCESS, 0, "Completed", "Succeeded")
    record = end.attempt
    assert (record.failure_class, record.decision, status.phase) == (FailureClass.SUCCESS, Decision.SUCCESS,
                                                                     Phase.SUCCEEDED)
    assert record.log_location == "s3://bucket/p/executions/ns/gmb-0f1e2d3c/attempt-1/out.log"
    assert record.partial_files is None
    tel = record.telemetry
    assert tel is not None
    assert (tel.duration_seconds, tel.cpu_seconds, tel.peak_memory_bytes, tel.peak_memory_source,
            tel.memory_limit_bytes) == (2.91, 1.72, 97132544, "cgroup-v2", 536870912)
    assert status.ingested == IngestCounts(outputs=6, scalar_values=24, series_values=4)
    assert status.output_location == "s3://bucket/p/executions/ns/gmb-0f1e2d3c/attempt-1"


def test_a_v1_oom_kill_with_partial_files_decides_as_before() -> None:
    end, status = _end(V1_OOM, 137, "OOMKilled", "Failed")
    record = end.attempt
    assert (record.failure_class, record.decision) == (FailureClass.OUT_OF_MEMORY, Decision.RETRY)
    assert record.partial_files == 3 and record.telemetry is not None
    assert record.telemetry.peak_memory_bytes == 4294967296
    assert status.ingested == IngestCounts()


def test_a_v1_infrastructure_failure_decides_as_before() -> None:
    end, _ = _end(V1_INFRASTRUCTURE, 0, "Completed", "Failed")
    assert (end.attempt.failure_class, end.attempt.reason) == (FailureClass.INFRASTRUCTURE, "PublishFailed")
    assert "the store did not answer" in (end.attempt.message or "")
    assert end.attempt.partial_files is None  # zero files: nothing to show


def test_a_fitted_v1_summary_keeps_its_verdict_and_reports_no_counts() -> None:
    end, status = _end(V1_FITTED, 0, "Completed", "Succeeded")
    assert end.attempt.failure_class is FailureClass.DIAGNOSTIC_ERROR
    assert status.ingested == IngestCounts()  # the counts were left out: the status keeps its own
    summary = parse_summary(V1_FITTED).summary
    assert summary is not None and not summary.reports_counts


GOOD = json.loads(summary_message())


@pytest.mark.parametrize(("message", "expected"), [
    (summary_message(), {"attempt": 1, "ingested": True, "counts": IngestCounts(outputs=6, scalar_values=24,
                                                                                series_values=4)}),
    (GOOD, {"attempt": 1, "ingested": True}),  # the decoded object
    (V1_SUCCESS, {"exit_code": 0, "cpu_seconds": 1.72}),
    (summary_message(futureField={"x": 1}, anotherOne=3), {"ingested": True}),  # unknown fields are ignored
    (summary_message(schema="example.org/publish-summary/v1"), {"attempt": 1}),  # the schema's name counts
    (summary_message(counts=None, inserted=None, warnings=None, publishSeconds=None), {"counts": IngestCounts()}),
])
def test_a_summary_parses(message: str | dict[str, Any], expected: dict[str, Any]) -> None:
    parsed = parse_summary(message)
    assert parsed.summary is not None, parsed.reason
    assert parsed.reason is None
    assert {key: getattr(parsed.summary, key) for key in expected} == expected


@pytest.mark.parametrize(("message", "reason"), [
    (None, "no message"),
    ("", "no message"),
    ("diagnostic-operator sidecar: DIAGNOSTIC_EXECUTION_UID is not set", "not JSON"),
    ("[1, 2]", "not a JSON object but list"),
    ('"text"', "not a JSON object but str"),
    ("42", "not a JSON object but int"),
    (summary_message(schema="diagnostic-operator.io/publish-summary/v2"), "publish-summary/v2"),
    (summary_message(schema=None), "schema None"),
    (summary_message(schema="diagnostic-operator.io/exit-record/v1"), "exit-record/v1"),
    (summary_message(attempt="first"), "attempt"),
    (summary_message(attempt=None), "attempt: Field required"),
    (summary_message(exitRecordPresent=None), "exitRecordPresent: Field required"),
    (summary_message(outputLocation=None), "outputLocation: Field required"),
    (summary_message(outputLocation=["s3://b"]), "outputLocation"),
    (summary_message(logPublished="perhaps"), "logPublished"),
    (summary_message(ingested={"yes": True}), "ingested"),
    (summary_message(bundleError=17), "bundleError"),
    (summary_message(infrastructureError=["down"]), "infrastructureError"),
])
def test_what_is_not_a_summary_says_why(message: str | None, reason: str) -> None:
    parsed = parse_summary(message)
    assert parsed.summary is None
    assert parsed.reason is not None and reason in parsed.reason, parsed.reason


@pytest.mark.parametrize(("raw", "ignored", "kept"), [
    ({"partialFiles": "five"}, "partialFiles", {"partial_files": None, "ingested": True}),
    ({"partialFiles": True}, "partialFiles", {"partial_files": None}),  # a count, not a flag
    ({"counts": {"outputs": "many"}}, "counts", {"counts": IngestCounts(), "reports_counts": False}),
    ({"publishSeconds": "soon"}, "publishSeconds", {"publish_seconds": 0.0}),
    # the exit record's fields count together: one garbled, none believed
    ({"cpuSeconds": "lots"}, "cpuSeconds", {"cpu_seconds": None, "wall_seconds": None, "exit_code": None,
                                            "exit_record_present": True}),
])
def test_a_garbled_detail_is_ignored_and_named(raw: dict[str, Any], ignored: str, kept: dict[str, Any]) -> None:
    parsed = parse_summary(summary_message(**raw))
    assert parsed.summary is not None, parsed.reason
    assert parsed.reason is not None and parsed.reason.startswith("ignored") and ignored in parsed.reason
    assert {key: getattr(parsed.summary, key) for key in kept} == kept


def test_the_exit_record_travels_in_the_summary() -> None:
    summary = publish_summary(exitCode=143, signal=15, timedOut=True, wallSeconds=3.5, peakMemorySource="cgroup-v1")
    record = summary.exit_record()
    assert record is not None
    assert (record.exit_code, record.signal, record.timed_out, record.wall_seconds) == (143, 15, True, 3.5)
    assert publish_summary(exitRecordPresent=False).exit_record() is None
    # a memory source no shim names makes no exit record; the rest of the summary still counts
    assert publish_summary(peakMemorySource="guess").exit_record() is None


def test_the_schema_is_written() -> None:
    assert json.loads(publish_summary().to_message())["schema"] == SUMMARY_SCHEMA
