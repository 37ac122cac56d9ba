"""Allocation, attempts, phases and the CLI queries, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select

from diagnostic_operator.db.errors import DatabaseError
from diagnostic_operator.db.ingest import ingest
from diagnostic_operator.db.lifecycle_writes import (
    Allocation,
    AttemptStart,
    ExecutionEnd,
    allocate_execution,
    end_attempt,
    finish_execution,
    record_attempt_end,
    record_attempt_start,
    record_refused,
    set_execution_phase,
)
from diagnostic_operator.db.models import Attempt, ExecutionGroup
from diagnostic_operator.db.queries import get_execution, list_executions
from diagnostic_operator.spec import (
    AttemptResources,
    AttemptStatus,
    AttemptTelemetry,
    Decision,
    DiagnosticExecutionStatus,
    FailureClass,
    Phase,
)
from tests.integration.db.examples import make_spec, result_set, stored_objects

pytestmark = pytest.mark.integration

RES = AttemptResources(memory="4Gi", cpu="1", wall_clock="6h")


def _allocate(engine: Engine, name: str = "gmst-1", uid: str = "uid-1", **spec_kw: str) -> Allocation:
    return allocate_execution(engine, namespace="default", name=name, uid=uid, spec=make_spec(**spec_kw),
                              output_location="s3://bucket/runs/gmst-1")


def _dirty(engine: Engine, group_id: int) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(select(ExecutionGroup.dirty).where(ExecutionGroup.id == group_id)).scalar_one())


def test_allocate_is_idempotent(db_engine: Engine) -> None:
    first = _allocate(db_engine)
    again = _allocate(db_engine)
    assert first.created and not again.created
    assert (again.group_id, again.execution_id) == (first.group_id, first.execution_id)
    other = _allocate(db_engine, name="gmst-2", uid="uid-2")
    assert other.group_id == first.group_id and other.execution_id != first.execution_id
    different_group = _allocate(db_engine, name="gmst-3", uid="uid-3", group_key="other")
    assert different_group.group_id != first.group_id
    assert _dirty(db_engine, first.group_id)


def test_new_execution_marks_group_dirty_again(db_engine: Engine) -> None:
    first = _allocate(db_engine)
    finish_execution(db_engine, first.execution_id, phase=Phase.SUCCEEDED, failure_class=FailureClass.SUCCESS,
                     reason="Succeeded", message="ok", dirty=False)
    assert not _dirty(db_engine, first.group_id)
    _allocate(db_engine)  # replay of the same execution: no change
    assert not _dirty(db_engine, first.group_id)
    _allocate(db_engine, name="gmst-2", uid="uid-2")  # a new execution of the group
    assert _dirty(db_engine, first.group_id)


def test_allocate_with_the_first_attempt_is_one_transaction_and_replays(db_engine: Engine) -> None:
    first = allocate_execution(db_engine, namespace="default", name="gmst-1", uid="uid-1", spec=make_spec(),
                               output_location="s3://b/p", first_attempt=AttemptStart(RES, job="gmst-1-a1"))
    assert first.created and first.first_attempt_id is not None
    # the operator later asks for attempt 1 by number (a replay after a restart): the same row, filled in
    again = record_attempt_start(db_engine, first.execution_id, 1, resources=RES, job="gmst-1-a1", pod="p")
    assert again == first.first_attempt_id
    replay = allocate_execution(db_engine, namespace="default", name="gmst-1", uid="uid-1", spec=make_spec(),
                                output_location="s3://b/p", first_attempt=AttemptStart(RES))
    assert (replay.created, replay.first_attempt_id, replay.execution_id) == (False, None, first.execution_id)
    detail = get_execution(db_engine, str(first.execution_id))
    assert detail is not None and detail.attempt_count == 1
    [attempt] = detail.attempts
    assert attempt.resources is not None
    assert (attempt.number, attempt.job, attempt.pod, attempt.resources.memory) == (1, "gmst-1-a1", "p", "4Gi")
    assert _dirty(db_engine, first.group_id)


def test_attempts_are_get_or_create_and_fill_in(db_engine: Engine) -> None:
    a = _allocate(db_engine)
    one = record_attempt_start(db_engine, a.execution_id, 1, resources=RES, job="gmst-1-a1")
    same = record_attempt_start(db_engine, a.execution_id, 1, resources=RES, job="other", pod="gmst-1-a1-xyz",
                                node="node-1", started_at="2025-01-02T03:04:05Z")
    assert one == same
    two = record_attempt_start(db_engine, a.execution_id, 2, resources=RES)
    assert two != one
    detail = get_execution(db_engine, str(a.execution_id))
    assert detail is not None
    assert detail.attempt_count == 2
    first = detail.attempts[0]
    assert (first.job, first.pod, first.node) == ("gmst-1-a1", "gmst-1-a1-xyz", "node-1")  # job kept, rest filled
    assert first.start_time == "2025-01-02T03:04:05Z"
    assert first.resources == RES
    with pytest.raises(ValueError):
        record_attempt_start(db_engine, a.execution_id, 0, resources=RES)


def test_attempt_end_records_telemetry_and_replays(db_engine: Engine) -> None:
    a = _allocate(db_engine)
    attempt_id = record_attempt_start(db_engine, a.execution_id, 1, resources=RES, job="j1")
    status = AttemptStatus(
        number=1, pod="p1", node="n1", start_time="2025-01-02T03:04:05Z", end_time="2025-01-02T03:05:05+00:00",
        exit_code=137, signal=9, reason="OOMKilled", message="killed by the kernel",
        failure_class=FailureClass.OUT_OF_MEMORY, decision=Decision.RETRY,
        telemetry=AttemptTelemetry(duration_seconds=60.0, cpu_seconds=55.5, peak_memory_bytes=4 * 2**30,
                                   peak_memory_source="cgroup", memory_limit_bytes=4 * 2**30, queue_seconds=2.5),
        log_location="s3://bucket/runs/gmst-1/attempt-1/log.txt",
    )
    record_attempt_end(db_engine, attempt_id, status)
    record_attempt_end(db_engine, attempt_id, status.model_copy(update={"end_time": "2030-01-01T00:00:00Z"}))
    detail = get_execution(db_engine, "uid-1")
    assert detail is not None
    got = detail.attempts[0]
    assert got.end_time == "2025-01-02T03:05:05Z"  # first end time kept
    assert (got.exit_code, got.signal, got.reason) == (137, 9, "OOMKilled")
    assert got.failure_class is FailureClass.OUT_OF_MEMORY and got.decision is Decision.RETRY
    assert got.telemetry == status.telemetry
    assert got.log_location == status.log_location
    assert (got.job, got.pod, got.node) == ("j1", "p1", "n1")
    with pytest.raises(DatabaseError, match="attempt 999"):
        record_attempt_end(db_engine, 999, status)


def test_end_attempt_records_the_attempt_and_the_execution_end_together(db_engine: Engine) -> None:
    a = _allocate(db_engine)
    record = AttemptStatus(number=2, job="j2", pod="p2", node="n2", start_time="2025-01-02T03:04:05Z",
                           exit_code=0, reason="Completed", failure_class=FailureClass.SUCCESS,
                           decision=Decision.SUCCESS)
    end = ExecutionEnd(phase=Phase.SUCCEEDED, failure_class=FailureClass.SUCCESS, reason="Succeeded",
                       message="ok", dirty=False)
    first = end_attempt(db_engine, a.execution_id, record, resources=RES, finish=end)
    again = end_attempt(db_engine, a.execution_id, record, resources=RES, finish=end)  # a replay
    assert first == again
    detail = get_execution(db_engine, str(a.execution_id))
    assert detail is not None and detail.attempt_count == 2 and detail.phase is Phase.SUCCEEDED
    [got] = detail.attempts
    assert (got.number, got.job, got.pod, got.decision) == (2, "j2", "p2", Decision.SUCCESS)
    assert not _dirty(db_engine, a.group_id)
    # nothing partial: an attempt of an execution that does not exist writes no row at all
    with pytest.raises(DatabaseError):
        end_attempt(db_engine, 10_000, record, resources=RES, finish=end)
    with db_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Attempt)).scalar_one() == 1


def test_end_attempt_of_a_started_attempt_fills_in_and_ends_that_row(db_engine: Engine) -> None:
    a = _allocate(db_engine)
    started = record_attempt_start(db_engine, a.execution_id, 1, resources=RES, job="j1",
                                   started_at="2025-01-02T03:04:05Z")
    record = AttemptStatus(number=1, pod="p1", node="n1", start_time="2030-01-01T00:00:00Z", exit_code=3,
                           reason="Error", failure_class=FailureClass.DIAGNOSTIC_ERROR, decision=Decision.GIVE_UP)
    end = ExecutionEnd(phase=Phase.FAILED, failure_class=FailureClass.DIAGNOSTIC_ERROR, reason="Error",
                       message="exit 3", dirty=True)
    assert end_attempt(db_engine, a.execution_id, record, resources=RES, finish=end) == started
    detail = get_execution(db_engine, str(a.execution_id))
    assert detail is not None and (detail.phase, detail.attempt_count) == (Phase.FAILED, 1)
    [got] = detail.attempts
    assert (got.job, got.pod, got.node, got.exit_code) == ("j1", "p1", "n1", 3)
    assert got.start_time == "2025-01-02T03:04:05Z", "the first start time is kept"
    assert got.decision is Decision.GIVE_UP and _dirty(db_engine, a.group_id)


def test_phases_and_finish(db_engine: Engine) -> None:
    a = _allocate(db_engine)
    set_execution_phase(db_engine, a.execution_id, phase=Phase.RUNNING, reason="Started")
    set_execution_phase(db_engine, a.execution_id, phase=Phase.RETRYING, reason="OutOfMemory",
                        failure_class=FailureClass.OUT_OF_MEMORY)
    detail = get_execution(db_engine, "default/gmst-1")
    assert detail is not None and detail.phase is Phase.RETRYING and detail.started_at is not None
    assert detail.failure_class is FailureClass.OUT_OF_MEMORY and detail.successful is None
    finish_execution(db_engine, a.execution_id, phase=Phase.FAILED, failure_class=FailureClass.DIAGNOSTIC_ERROR,
                     reason="DiagnosticError", message="exit 1", dirty=False)
    first = get_execution(db_engine, "gmst-1")
    assert first is not None and first.finished_at is not None
    # replay: same values, the finish time kept; a late non-terminal update or another end is ignored
    finish_execution(db_engine, a.execution_id, phase=Phase.FAILED, failure_class=FailureClass.DIAGNOSTIC_ERROR,
                     reason="DiagnosticError", message="exit 1", dirty=False)
    set_execution_phase(db_engine, a.execution_id, phase=Phase.RUNNING)
    finish_execution(db_engine, a.execution_id, phase=Phase.SUCCEEDED, failure_class=FailureClass.SUCCESS,
                     reason="x", message="y", dirty=True)
    detail = get_execution(db_engine, "gmst-1")
    assert detail is not None
    assert (detail.phase, detail.successful, detail.reason, detail.message) == (Phase.FAILED, False,
                                                                                  "DiagnosticError", "exit 1")
    assert detail.finished_at == first.finished_at
    assert detail.group.dirty is False
    with pytest.raises(ValueError):
        finish_execution(db_engine, a.execution_id, phase=Phase.RUNNING, failure_class=None, reason=None,
                         message=None, dirty=None)
    with pytest.raises(ValueError):
        set_execution_phase(db_engine, a.execution_id, phase=Phase.CANCELLED)


def test_cancel_leaves_dirty_as_it_was(db_engine: Engine) -> None:
    a = _allocate(db_engine)
    finish_execution(db_engine, a.execution_id, phase=Phase.CANCELLED, failure_class=FailureClass.CANCELLED,
                     reason="Cancelled", message="deleted", dirty=None)
    detail = get_execution(db_engine, "uid-1")
    assert detail is not None and detail.group.dirty is True and detail.successful is False


def test_get_execution_refs_and_status_document(db_engine: Engine) -> None:
    old = _allocate(db_engine, name="gmst", uid="uid-old")
    new = allocate_execution(db_engine, namespace="team-b", name="gmst", uid="uid-new", spec=make_spec(),
                             output_location="file:///tmp/out")
    assert get_execution(db_engine, "gmst").id == new.execution_id  # type: ignore[union-attr]
    assert get_execution(db_engine, "default/gmst").id == old.execution_id  # type: ignore[union-attr]
    assert get_execution(db_engine, "uid-old").id == old.execution_id  # type: ignore[union-attr]
    assert get_execution(db_engine, str(old.execution_id)).id == old.execution_id  # type: ignore[union-attr]
    assert get_execution(db_engine, "nope") is None
    assert get_execution(db_engine, "team-b/nope") is None

    attempt_id = record_attempt_start(db_engine, new.execution_id, 1, resources=RES, job="j",
                                      started_at=datetime(2025, 1, 1, tzinfo=UTC))
    results = result_set()
    ingest(db_engine, execution_id=new.execution_id, attempt_id=attempt_id, results=results,
           objects=stored_objects(results))
    record_attempt_end(db_engine, attempt_id, AttemptStatus(number=1, exit_code=0,
                                                                 failure_class=FailureClass.SUCCESS,
                                                                 decision=Decision.SUCCESS))
    finish_execution(db_engine, new.execution_id, phase=Phase.SUCCEEDED, failure_class=FailureClass.SUCCESS,
                     reason="Succeeded", message="8 scalars", dirty=False)
    detail = get_execution(db_engine, "team-b/gmst")
    assert detail is not None
    assert (detail.group.provider, detail.group.slug, detail.group.group_key) == (
        "example", "gmst-bias", "cmip6_tas_ACCESS-ESM1-5")
    assert detail.spec["diagnostic"]["slug"] == "gmst-bias"
    assert (detail.counts.outputs, detail.counts.scalar_values, detail.counts.series_values) == (4, 8, 3)
    status = detail.status()
    assert isinstance(status, DiagnosticExecutionStatus)
    doc = json.loads(status.model_dump_json(by_alias=True, exclude_none=True))
    assert doc["phase"] == "Succeeded" and doc["failureClass"] == "Success"
    assert doc["attempt"] == 1 and doc["attempts"][0]["decision"] == "SUCCESS"
    assert doc["databaseExecutionId"] == new.execution_id
    assert doc["outputLocation"] == "file:///tmp/out"
    assert doc["ingested"] == {"outputs": 4, "scalarValues": 8, "seriesValues": 3, "dropped": 0}
    assert doc["startTime"] == "2025-01-01T00:00:00Z" and doc["completionTime"].endswith("Z")

    listed = list_executions(db_engine)
    assert [e.id for e in listed] == [new.execution_id, old.execution_id]
    assert listed[0].phase is Phase.SUCCEEDED and listed[0].attempts == 1 and listed[0].slug == "gmst-bias"
    assert len(list_executions(db_engine, limit=1)) == 1


def test_a_refused_spec_is_recorded_once_as_a_failed_execution(db_engine: Engine) -> None:
    """The operator refuses a spec the API server accepted: its rows are written from the raw spec, ended at
    once, whatever of the spec is not text; an existing group's dirty flag is left alone."""
    existing = _allocate(db_engine)  # a group (clean after its execution succeeded)
    finish_execution(db_engine, existing.execution_id, phase=Phase.SUCCEEDED, failure_class=None, reason=None,
                     message=None, dirty=False)
    raw = {"diagnostic": {"provider": "esmvaltool", "slug": "gmst", "version": 3}, "groupKey": "cmip6/tas",
           "retry": {"backoff": {"initial": "1d", "max": "1h"}}}
    first = record_refused(db_engine, namespace="default", name="bad", uid="uid-bad", spec=raw,
                           reason="InvalidSpec", message="spec.retry.backoff: max is shorter than initial")
    again = record_refused(db_engine, namespace="default", name="bad", uid="uid-bad", spec=raw,
                           reason="InvalidSpec", message="said again")
    assert first == again
    detail = get_execution(db_engine, "default/bad")
    assert detail is not None
    status = detail.status()
    assert (status.phase, status.failure_class, status.reason) == (Phase.FAILED, FailureClass.CONFIGURATION,
                                                                   "InvalidSpec")
    assert status.message == "spec.retry.backoff: max is shorter than initial"  # the first end stands
    assert (detail.group.provider, detail.group.slug, detail.group.group_key, detail.group.diagnostic_version) == (
        "esmvaltool", "gmst", "cmip6/tas", "")  # the version was not text
    assert detail.group.dirty is False
    assert _dirty(db_engine, existing.group_id) is False
    # nothing of the spec is usable: an empty group, still recorded
    record_refused(db_engine, namespace="default", name="worse", uid="uid-worse", spec={"diagnostic": "x"},
                   reason="InvalidSpec", message="spec.diagnostic: not an object")
    worse = get_execution(db_engine, "default/worse")
    assert worse is not None and (worse.group.provider, worse.group.slug) == ("", "")
