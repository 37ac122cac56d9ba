"""Creation first: while new executions' Jobs are being created, the operator's other writes wait a moment.

A burst of new executions (hundreds applied at once) makes the operator, the API server and etcd share the same
cores. The one thing a new execution waits for is its Job; its database rows, its status, its Event and the
passes of executions already running can follow a moment later without anyone waiting on them. So every action
but an attempt-1 Job creation first waits until no such creation is in flight, for at most ``max_wait`` seconds
(a stream of creations that never pauses delays the rest by that much, never more). And at most ``slots``
passes carry out their other writes at once: when the gate opens, hundreds of daemons that waited behind it
would otherwise all write at the same moment and queue the next creations behind them at the API server.
Measured in benchmarks/operator_scale.py (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

DEFAULT_MAX_WAIT = 2.0


class CreationFirst:
    def __init__(self, max_wait: float = DEFAULT_MAX_WAIT, slots: int | None = None) -> None:
        self.max_wait = max_wait
        self._slots = asyncio.Semaphore(slots) if slots else None
        self._creating = 0
        self._calm = asyncio.Event()
        self._calm.set()

    @property
    def creating(self) -> int:
        """Attempt-1 Job creations in flight."""
        return self._creating

    @contextlib.asynccontextmanager
    async def creation(self) -> AsyncIterator[None]:
        """Around one new execution's Job creation: the rest waits while any is in flight."""
        self._creating += 1
        self._calm.clear()
        try:
            yield
        finally:
            self._creating -= 1
            if self._creating == 0:
                self._calm.set()

    async def wait(self) -> float:
        """Until no creation is in flight (at most ``max_wait`` s). Returns the seconds waited."""
        if self._calm.is_set():
            return 0.0
        started = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._calm.wait(), timeout=self.max_wait)
        return time.monotonic() - started

    @contextlib.asynccontextmanager
    async def other(self) -> AsyncIterator[float]:
        """Around the other writes of one pass: waits for calm (``wait``), then holds one of ``slots`` (when
        set), so that a burst of them released together does not flood the API server."""
        waited = await self.wait()
        if self._slots is None:
            yield waited
            return
        async with self._slots:
            yield waited
