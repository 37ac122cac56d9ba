"""The executions-by-phase gauge follows each execution's phase changes."""

from __future__ import annotations

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
