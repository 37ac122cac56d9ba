"""How big each DiagnosticExecution starts: sizing that learns from earlier solves. Pure, table-tested.

In order:
1. an explicit per-diagnostic setting (``diagnostics."provider/slug"`` in ``[executor.config]``);
2. what earlier solves measured, when ``learnSizing`` is on (the default):
   - memory: Climate-REF's own recommendation from its recorded usage of the diagnostic (the p95 peak
     memory × ``memoryMargin``, rounded up to a whole GiB: ``ref executions resources``), and never less than
     the memory under which an attempt last succeeded after an out-of-memory kill (from the
     DiagnosticExecutions of earlier solves still in the namespace: Climate-REF records one usage per
     execution, not the attempts the operator retried);
   - wall clock: the p95 wall time × ``wallClockMargin``, rounded up to a minute, at least ``minWallClock``;
   - never above the retry policy's ``maxMemory`` and ``maxWallClock``; CPU stays the default's;
3. else the default ``sizing``.
The operator still grows memory after an OOM within one execution; this is where the next solve starts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from diagnostic_operator.quantities import QuantityError, format_duration, memory_bytes, parse_duration
from diagnostic_operator.spec import FailureClass, Phase

from .settings import ExecutorSettings, Sizing

GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class Measured:
    """What Climate-REF recorded for one diagnostic (a ``ResourceProfile`` of its own)."""

    samples: int
    memory_bytes: int  # the profile's recommended_memory_bytes (p95 peak × margin, whole GiB)
    wall_seconds_p95: float


@dataclass(frozen=True)
class Sized:
    sizing: Sizing
    source: str  # "configured", "learned" or "default": logged with each DiagnosticExecution made


def size(diagnostic: str, settings: ExecutorSettings, measured: Measured | None,
         after_oom_bytes: int | None) -> Sized:
    """The starting resources of ``diagnostic`` (``provider/slug``)."""
    explicit = settings.diagnostics.get(diagnostic)
    if explicit is not None:
        return Sized(explicit, "configured")
    default = settings.sizing
    learning = settings.learning
    measured = measured if measured is not None and measured.samples > 0 else None
    if not learning.enabled or (measured is None and after_oom_bytes is None):
        return Sized(default, "default")
    memory = max(b for b in (measured.memory_bytes if measured else None, after_oom_bytes) if b is not None)
    memory = min(memory, memory_bytes(settings.retry.max_memory))
    wall_clock = default.wall_clock
    if measured is not None and measured.wall_seconds_p95 > 0:
        seconds = max(math.ceil(measured.wall_seconds_p95 * learning.wall_clock_margin / 60) * 60,
                      parse_duration(learning.min_wall_clock))
        if settings.retry.max_wall_clock is not None:
            seconds = min(seconds, parse_duration(settings.retry.max_wall_clock))
        wall_clock = format_duration(seconds)
    return Sized(Sizing(memory=_memory_quantity(memory), cpu=default.cpu, wall_clock=wall_clock), "learned")


def _memory_quantity(value: int) -> str:
    """Bytes as a quantity: whole GiB when exact, else MiB rounded up (never less than asked)."""
    if value % GIB == 0:
        return f"{value // GIB}Gi"
    return f"{math.ceil(value / MIB)}Mi"


def succeeded_after_oom(objects: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Per ``provider/slug``: the memory of the attempt that succeeded after an out-of-memory kill, in the
    most recently created DiagnosticExecution that had one."""
    found: dict[str, tuple[str, int]] = {}
    for dx in objects:
        status = dx.get("status") or {}
        attempts = status.get("attempts") or []
        if status.get("phase") != Phase.SUCCEEDED.value or len(attempts) < 2:
            continue
        if not any(a.get("failureClass") == FailureClass.OUT_OF_MEMORY.value for a in attempts[:-1]):
            continue
        try:
            memory = memory_bytes(str((attempts[-1].get("resources") or {})["memory"]))
            diagnostic = (dx.get("spec") or {})["diagnostic"]
            key = f"{diagnostic['provider']}/{diagnostic['slug']}"
        except (KeyError, TypeError, QuantityError):
            continue
        created = str((dx.get("metadata") or {}).get("creationTimestamp") or "")
        if key not in found or created >= found[key][0]:
            found[key] = (created, memory)
    return {key: memory for key, (_, memory) in found.items()}
