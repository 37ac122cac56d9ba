"""The liveness verdict on the API server: alive while it answers and through outages shorter than the grace."""

from __future__ import annotations

import pytest

from diagnostic_operator.transports.kubernetes.liveness import ApiContact


@pytest.mark.parametrize(
    ("events", "now", "alive", "says"),
    [
        ([], 1000.0, True, "API server answered"),                        # never failed, however long ago
        ([("ok", 10.0)], 500.0, True, "API server answered"),
        ([("ok", 10.0), ("fail", 40.0)], 100.0, True, "not answering for 90s (restart after 120s)"),
        ([("ok", 10.0), ("fail", 40.0)], 130.0, True, "not answering for 120s"),   # the grace itself: alive
        ([("ok", 10.0), ("fail", 40.0)], 131.0, False, "not answering for 121s (grace 120s)"),
        ([("ok", 10.0), ("fail", 40.0), ("ok", 200.0)], 201.0, True, "API server answered"),  # back: alive
        ([("fail", 5.0)], 200.0, False, "not answering for 200s"),        # no answer since the start
        ([("ok", 50.0), ("ok", 20.0), ("fail", 60.0)], 100.0, True, "for 50s"),  # a late 'ok' never goes back
    ],
)
def test_verdict(events: list[tuple[str, float]], now: float, alive: bool, says: str) -> None:
    contact = ApiContact(grace=120.0, last_ok=0.0)
    for kind, at in events:
        if kind == "ok":
            contact.answered(at)
        else:
            contact.failed("ConnectError: connection refused")
    verdict = contact.verdict(now)
    assert verdict[0] is alive
    assert says in verdict[1]
    if not alive:
        assert "ConnectError: connection refused" in verdict[1]
