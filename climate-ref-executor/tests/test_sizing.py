"""Sizing that learns (sizing.py): each row is what earlier solves left and where the next one starts."""

from __future__ import annotations

from typing import Any

import pytest

from diagnostic_operator_climate_ref.settings import ExecutorSettings, Sizing
from diagnostic_operator_climate_ref.sizing import Measured, size, succeeded_after_oom

GIB = 1024**3
DIAGNOSTIC = "pmp/annual-cycle"


def settings(**extra: Any) -> ExecutorSettings:
    return ExecutorSettings.model_validate({"scratchVolume": {"name": "scratch", "path": "/ref/scratch"},
                                            "sizing": {"memory": "4Gi", "cpu": "2", "wallClock": "6h"},
                                            "retry": {"maxMemory": "32Gi"}, **extra})


@pytest.mark.parametrize(("extra", "measured", "after_oom", "expected"), [
    # nothing measured yet: the default
    ({}, None, None, ("default", "4Gi", "2", "6h")),
    ({}, Measured(0, 0, 0.0), None, ("default", "4Gi", "2", "6h")),  # a profile with no usable samples
    # Climate-REF's recommendation (p95 x margin, whole GiB); wall p95 x 2 rounded up to a minute (2468 s: 42m), at least 10m
    ({}, Measured(12, 3 * GIB, 1234.0), None, ("learned", "3Gi", "2", "42m")),
    ({}, Measured(12, 3 * GIB, 60.0), None, ("learned", "3Gi", "2", "10m")),
    # never below the memory that succeeded after an OOM, even when the measured peak says less
    ({}, Measured(12, 3 * GIB, 1234.0), 6 * GIB, ("learned", "6Gi", "2", "42m")),
    ({}, Measured(12, 8 * GIB, 1234.0), 6 * GIB, ("learned", "8Gi", "2", "42m")),
    ({}, None, 6 * GIB + 512 * 1024**2, ("learned", "6656Mi", "2", "6h")),  # no measurement: the default wall
    # never above the retry policy's cap
    ({}, Measured(3, 48 * GIB, 1234.0), None, ("learned", "32Gi", "2", "42m")),
    ({"retry": {"maxMemory": "32Gi", "maxWallClock": "30m"}}, Measured(3, 3 * GIB, 1234.0), None,
     ("learned", "3Gi", "2", "30m")),
    # an explicit setting wins over everything measured
    ({"diagnostics": {DIAGNOSTIC: {"memory": "1Gi", "wallClock": "5m"}}}, Measured(12, 3 * GIB, 1234.0), 6 * GIB,
     ("configured", "1Gi", "1", "5m")),
    # learning off: the default
    ({"learning": {"enabled": False}}, Measured(12, 3 * GIB, 1234.0), 6 * GIB, ("default", "4Gi", "2", "6h")),
    # margins and the floor are settings
    ({"learning": {"wallClockMargin": 1.0, "minWallClock": "1m"}}, Measured(12, 3 * GIB, 90.0), None,
     ("learned", "3Gi", "2", "2m")),
])
def test_where_a_diagnostic_starts(extra: dict[str, Any], measured: Measured | None, after_oom: int | None,
                                   expected: tuple[str, str, str, str]) -> None:
    sized = size(DIAGNOSTIC, settings(**extra), measured, after_oom)
    assert (sized.source, sized.sizing.memory, sized.sizing.cpu, sized.sizing.wall_clock) == expected
    Sizing.model_validate(sized.sizing.model_dump(by_alias=True))  # a valid spec.resources


def dx(slug: str, created: str, phase: str, attempts: list[tuple[str, str]]) -> dict[str, Any]:
    return {"metadata": {"creationTimestamp": created},
            "spec": {"diagnostic": {"provider": "pmp", "slug": slug}},
            "status": {"phase": phase, "attempts": [{"failureClass": c, "resources": {"memory": m}}
                                                    for c, m in attempts]}}


def test_the_memory_that_last_succeeded_after_an_oom() -> None:
    objects = [
        dx("annual-cycle", "2026-12-01T00:00:00Z", "Succeeded", [("OutOfMemory", "4Gi"), ("Success", "6Gi")]),
        dx("annual-cycle", "2026-12-03T00:00:00Z", "Succeeded", [("OutOfMemory", "6Gi"), ("Success", "9Gi")]),
        dx("annual-cycle", "2026-12-02T00:00:00Z", "Succeeded", [("OutOfMemory", "9Gi"), ("Success", "14Gi")]),
        # not after an OOM, failed, or a single attempt: no evidence
        dx("enso", "2026-12-01T00:00:00Z", "Succeeded", [("Infrastructure", "4Gi"), ("Success", "4Gi")]),
        dx("enso", "2026-12-02T00:00:00Z", "Failed", [("OutOfMemory", "4Gi"), ("OutOfMemory", "6Gi")]),
        dx("enso", "2026-12-03T00:00:00Z", "Succeeded", [("Success", "2Gi")]),
        # garbled objects are skipped, never fatal
        {"status": {"phase": "Succeeded", "attempts": [{"failureClass": "OutOfMemory"}, {}]}},
        dx("bad", "2026-12-01T00:00:00Z", "Succeeded", [("OutOfMemory", "4Gi"), ("Success", "lots")]),
    ]
    assert succeeded_after_oom(objects) == {"pmp/annual-cycle": 9 * GIB}  # the most recent one
