"""The active-peer gauge follows Kopf's pause toggles; the private Kopf pieces it relies on are still there."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
from kopf._cogs.aiokits.aiotoggles import ToggleSet
from kopf._core.reactor import orchestration, running

from diagnostic_operator.transports.kubernetes import metrics, peering


def active() -> float:
    return float(metrics.ACTIVE_PEER._value.get())


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_the_gauge_follows_the_pause_toggles() -> None:
    async def scenario() -> list[float]:
        paused = ToggleSet(any)
        seen = []
        conflicts = await paused.make_toggle(True, name="peering")  # Kopf starts a peered operator paused
        follower = asyncio.create_task(peering.mirror(paused))
        await settle()
        seen.append(active())
        await conflicts.turn_to(False)  # no other live peer: resumed
        await settle()
        seen.append(active())
        missing = await paused.make_toggle(True, name="peering CRD is missing")
        await settle()
        seen.append(active())
        await missing.turn_to(False)
        await settle()
        seen.append(active())
        await conflicts.turn_to(True)  # a peer of higher priority appeared
        await settle()
        seen.append(active())
        follower.cancel()
        return seen

    assert asyncio.run(scenario()) == [0, 1, 0, 1, 0]


def test_a_standalone_operator_is_active() -> None:
    async def scenario() -> float:
        follower = asyncio.create_task(peering.mirror(ToggleSet(any)))  # no peering: no toggle
        await settle()
        follower.cancel()
        return active()

    metrics.ACTIVE_PEER.set(0)
    assert asyncio.run(scenario()) == 1


def test_follow_pause_wraps_the_orchestrator_kopf_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    async def fake_orchestrator(**kwargs: Any) -> None:
        calls.append(kwargs)
        await kwargs["operator_paused"].make_toggle(True)
        await settle()
        await asyncio.sleep(0.01)

    monkeypatch.setattr(orchestration, "orchestrator", fake_orchestrator)
    peering.follow_pause()
    peering.follow_pause()  # idempotent: wrapped once
    wrapped = orchestration.orchestrator
    assert wrapped is not fake_orchestrator and getattr(wrapped, "follows_pause", False)
    metrics.ACTIVE_PEER.set(1)

    async def scenario() -> None:
        await wrapped(operator_paused=ToggleSet(any), settings="s")

    asyncio.run(scenario())
    assert [sorted(c) for c in calls] == [["operator_paused", "settings"]]
    assert active() == 0


def test_kopf_still_hands_the_pause_toggles_to_its_orchestrator() -> None:
    """If a Kopf upgrade renames the orchestrator, its parameter, or stops calling it through the module (where
    follow_pause replaces it), this fails before the gauge silently stays 0."""
    assert "operator_paused" in inspect.signature(orchestration.orchestrator).parameters
    source = inspect.getsource(running.spawn_tasks)
    assert "orchestration.orchestrator(" in source
    call = source[source.index("orchestration.orchestrator("):]
    assert "operator_paused=operator_paused" in call[:400]
    assert "operator_paused = aiotoggles.ToggleSet(any)" in source
