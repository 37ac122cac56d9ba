"""The executions-by-phase gauge follows each execution's phase changes."""

from __future__ import annotations

import pytest
from kopf._cogs.clients.errors import APIError as KopfApiError
from sqlalchemy.exc import OperationalError

from diagnostic_operator.db.errors import DatabaseError as RealDatabaseError
from diagnostic_operator.store import StoreError as RealStoreError
from diagnostic_operator.transports.kubernetes import metrics


def value(phase: str) -> float:
    return float(metrics.EXECUTIONS.labels(phase=phase)._value.get())


def test_phase_tracker_moves_one_execution_between_phases() -> None:
    tracker = metrics.PhaseTracker()
    before = {p: value(p) for p in ("Pending", "Running", "Succeeded")}
    tracker.set("u1", "Pending")
    tracker.set("u2", "Pending")
    tracker.set("u1", "Running")
    tracker.set("u1", "Running")  # no change: no double count
    assert value("Pending") - before["Pending"] == 1
    assert value("Running") - before["Running"] == 1
    tracker.set("u1", "Succeeded")
    tracker.forget("u2")
    tracker.forget("u2")  # twice: harmless
    assert value("Pending") == before["Pending"]
    assert value("Running") == before["Running"]
    assert value("Succeeded") - before["Succeeded"] == 1


# ------------------------------------------------------------------------------------------ failed calls

class StoreError(Exception):
    pass


class APIError(Exception):
    def __init__(self, status: int | None) -> None:
        super().__init__("api")
        self.status = status


class DatabaseError(RuntimeError):
    pass


class ClientConnectorError(OSError):
    pass


@pytest.mark.parametrize(("exc", "labels"), [
    (DatabaseError("down"), ("database", "DatabaseError")),
    (StoreError("bucket"), ("store", "StoreError")),
    (APIError(503), ("api", "503")),
    (APIError(None), ("api", "APIError")),
    (TimeoutError(), ("network", "TimeoutError")),
    (ClientConnectorError(), ("network", "ClientConnectorError")),
    (ValueError("x"), ("other", "ValueError")),
])
def test_failure_labels(exc: BaseException, labels: tuple[str, str]) -> None:
    assert metrics.failure_labels(exc) == labels


def test_the_real_error_types_get_their_target() -> None:
    assert metrics.failure_labels(RealDatabaseError("x"))[0] == "database"
    assert metrics.failure_labels(OperationalError("s", {}, Exception()))[0] == "database"
    assert metrics.failure_labels(RealStoreError("x"))[0] == "store"
    assert metrics.failure_labels(KopfApiError({}, status=409, headers={})) == ("api", "409")


def test_count_failure_and_build_info() -> None:
    counter = metrics.FAILED_CALLS.labels(target="store", kind="StoreError")
    before = counter._value.get()
    metrics.count_failure(StoreError("x"))
    assert counter._value.get() == before + 1
    metrics.BUILD_INFO.labels(version="v", python="p").set(1)
    samples = {tuple(s.labels.values()): s.value for m in metrics.BUILD_INFO.collect() for s in m.samples}
    assert samples[("v", "p")] == 1
