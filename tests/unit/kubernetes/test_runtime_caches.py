"""What the operator keeps per execution in memory. The validated spec and status (``Runtime.validated``): a
pass re-uses the models while the generation and the status's version are the same, validates again when either
moves, and plans on the status this process wrote while the watch has not shown it yet
(``Runtime.current_status``). The wake-ups: a Job/Pod event wakes a running daemon when it changes what the plan
reads, and keeps nothing for an execution whose daemon has ended. What a finished daemon leaves behind."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from diagnostic_operator.lifecycle.plan import JobView
from diagnostic_operator.spec import Phase
from diagnostic_operator.transports.kubernetes.names import EXECUTION_UID_LABEL
from diagnostic_operator.transports.kubernetes.operator import Runtime, _wake

SPEC: dict[str, Any] = {
    "diagnostic": {"provider": "example", "slug": "bias"}, "groupKey": "g", "image": "img:1",
    "command": ["run"], "resources": {"memory": "4Gi", "wallClock": "1h"},
}


def runtime() -> Runtime:
    # validated() and current_status() use none of the adapters
    return Runtime(settings=None, config=None, engine=None, api=None)  # type: ignore[arg-type]


def body(generation: int = 1, rv: str = "100", status: dict[str, Any] | None = None,
         spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"uid": "u1", "generation": generation, "resourceVersion": rv},
            "spec": SPEC if spec is None else spec, "status": status or {}}


def test_same_generation_and_version_reuse_the_models() -> None:
    rt = runtime()
    spec1, status1 = rt.validated("u1", body())  # type: ignore[arg-type]
    spec2, status2 = rt.validated("u1", body())  # type: ignore[arg-type]
    assert spec2 is spec1 and status2 is status1


def test_a_new_generation_validates_the_spec_again() -> None:
    rt = runtime()
    spec1, status1 = rt.validated("u1", body())  # type: ignore[arg-type]
    changed = SPEC | {"image": "img:2"}
    spec2, status2 = rt.validated("u1", body(generation=2, spec=changed))  # type: ignore[arg-type]
    assert spec2 is not spec1 and spec2.image == "img:2"
    assert status2 is status1, "the status's version did not move"


def test_a_new_resource_version_validates_the_status_again() -> None:
    rt = runtime()
    spec1, _ = rt.validated("u1", body())  # type: ignore[arg-type]
    spec2, status2 = rt.validated("u1", body(rv="101", status={"phase": "Running", "attempt": 1}))  # type: ignore[arg-type]
    assert spec2 is spec1
    assert status2.phase == Phase.RUNNING and status2.attempt == 1


def test_no_resource_version_is_never_cached() -> None:
    rt = runtime()
    b = body()
    del b["metadata"]["resourceVersion"]
    _, status1 = rt.validated("u1", b)  # type: ignore[arg-type]
    b["status"] = {"phase": "Running", "attempt": 1}
    _, status2 = rt.validated("u1", b)  # type: ignore[arg-type]
    assert status2 is not status1 and status2.phase == Phase.RUNNING


def test_our_newer_write_wins_over_a_lagging_body_then_the_body_catches_up() -> None:
    rt = runtime()
    rt.written["u1"] = (105, {"phase": "Retrying", "attempt": 1})
    _, status = rt.validated("u1", body(rv="100"))  # type: ignore[arg-type]
    assert status.phase == Phase.RETRYING, "the body (100) is older than our write (105)"
    _, status = rt.validated("u1", body(rv="106", status={"phase": "Running", "attempt": 2}))  # type: ignore[arg-type]
    assert status.phase == Phase.RUNNING and status.attempt == 2
    assert "u1" not in rt.written, "once the watch showed a newer version, our write is forgotten"


def test_executions_are_cached_apart() -> None:
    rt = runtime()
    _, s1 = rt.validated("u1", body(status={"phase": "Running", "attempt": 1}))  # type: ignore[arg-type]
    other = body()
    other["metadata"]["uid"] = "u2"
    _, s2 = rt.validated("u2", other)  # type: ignore[arg-type]
    assert s1.phase == Phase.RUNNING and s2.phase == Phase.PENDING


def test_an_invalid_spec_raises_and_caches_nothing() -> None:
    rt = runtime()
    with pytest.raises(ValidationError):
        rt.validated("u1", body(spec=SPEC | {"resources": {"memory": "lots"}}))  # type: ignore[arg-type]
    assert "u1" not in rt.models


# ---------------------------------------------------------------------------------------------- wake-ups

JOB = {"metadata": {"uid": "job-1", "labels": {EXECUTION_UID_LABEL: "u1"}}}
NOT_OURS = {"metadata": {"uid": "job-2", "labels": {}}}


def test_a_job_event_wakes_the_listening_daemon_once_per_change() -> None:
    rt = runtime()
    event = rt.wakeups["u1"]  # the daemon makes its own at start
    memo = {"runtime": rt}
    _wake(memo, JOB, "ADDED", JobView(name="x-a1", attempt=1, active=1))  # type: ignore[arg-type]
    assert event.is_set()
    event.clear()
    _wake(memo, JOB, "MODIFIED", JobView(name="x-a1", attempt=1, active=1))  # type: ignore[arg-type]
    assert not event.is_set(), "nothing the plan reads changed"
    _wake(memo, JOB, "MODIFIED", JobView(name="x-a1", attempt=1, succeeded=1, finished=True))  # type: ignore[arg-type]
    assert event.is_set()
    event.clear()
    _wake(memo, JOB, "DELETED", JobView(name="x-a1", attempt=1, succeeded=1, finished=True))  # type: ignore[arg-type]
    assert event.is_set() and "job-1" not in rt.views


def test_no_daemon_listening_keeps_nothing() -> None:
    rt = runtime()
    _wake({"runtime": rt}, JOB, "MODIFIED", JobView(name="x-a1", attempt=1, active=1))  # type: ignore[arg-type]
    assert "u1" not in rt.wakeups and "job-1" not in rt.views


def test_objects_of_no_execution_are_ignored() -> None:
    rt = runtime()
    rt.wakeups["u1"]  # a listening daemon (the defaultdict makes it)
    _wake({"runtime": rt}, NOT_OURS, "ADDED", JobView(name="x-a1", attempt=1))  # type: ignore[arg-type]
    assert not rt.wakeups["u1"].is_set() and not rt.views, "no uid label: not an execution's"


# ---------------------------------------------------------------------------------------------- forgetting


def test_a_finished_daemon_leaves_only_the_phase_and_an_unseen_write() -> None:
    rt = runtime()
    rt.wakeups["u1"]  # a listening daemon
    rt.validated("u1", body(rv="100"))  # type: ignore[arg-type]
    rt.db_ids["u1"] = 7
    rt.phases.set("u1", "Succeeded")
    rt.written["u1"] = (105, {"phase": "Succeeded", "attempt": 1})
    rt.forget_finished("u1", body(rv="100"))  # type: ignore[arg-type]
    assert "u1" not in rt.models and "u1" not in rt.db_ids and "u1" not in rt.wakeups
    assert rt.written["u1"][0] == 105, "the watch has not shown our last write: a delete handler still needs it"
    rt.forget_finished("u1", body(rv="106", status={"phase": "Succeeded", "attempt": 1}))  # type: ignore[arg-type]
    assert "u1" not in rt.written
    assert rt.phases._phases == {"u1": "Succeeded"}, "the executions-by-phase metric still counts it"
    rt.forget("u1")
    assert rt.phases._phases == {}
