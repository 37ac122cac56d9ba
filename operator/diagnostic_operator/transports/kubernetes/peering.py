"""Whether this replica is the active Kopf peer: the ``diagnostic_operator_active_peer`` gauge.

Replicas started with the same ``--peering`` name announce themselves in one KopfPeering object; Kopf pauses
every replica but the one of highest priority (all of them while two of the same priority are alive, and while
the peering object is missing). The paused state is one toggle set, ``operator_paused``, which Kopf creates
inside ``kopf.run`` and hands to its orchestrator (``kopf._core.reactor.orchestration.orchestrator``) and to
nothing public. ``follow_pause`` wraps that orchestrator to mirror the set into the gauge: 1 while this replica
handles executions, 0 while it is paused or before its orchestrator runs. A standalone operator has nothing
that pauses it: 1 as soon as it runs.

The orchestrator is private to Kopf; Kopf is pinned (operator/constraints.txt) and
tests/unit/kubernetes/test_peering.py fails when its name, its ``operator_paused`` parameter or the way
``kopf.run`` calls it change.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from kopf._cogs.aiokits.aiotoggles import ToggleSet
from kopf._core.reactor import orchestration

from diagnostic_operator.transports.kubernetes import metrics


async def mirror(operator_paused: ToggleSet) -> None:
    """Keep ``ACTIVE_PEER`` equal to "not paused", from now until cancelled."""
    while True:
        paused = operator_paused.is_on()
        metrics.ACTIVE_PEER.set(0 if paused else 1)
        await operator_paused.wait_for(not paused)


def follow_pause() -> None:
    """Make Kopf's orchestrator, when ``kopf.run`` starts it, also run ``mirror`` (idempotent)."""
    original: Callable[..., Awaitable[None]] = orchestration.orchestrator
    if getattr(original, "follows_pause", False):
        return

    @functools.wraps(original)
    async def orchestrator(*, operator_paused: ToggleSet, **kwargs: Any) -> None:
        follower = asyncio.create_task(mirror(operator_paused), name="active-peer gauge")
        try:
            await original(operator_paused=operator_paused, **kwargs)
        finally:
            follower.cancel()

    orchestrator.follows_pause = True  # type: ignore[attr-defined]
    orchestration.orchestrator = orchestrator
