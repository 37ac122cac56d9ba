"""After trouble with the API server, daemons look again often for a while (watch events can be lost while a
watch re-connects); otherwise they sleep as long as the plan says, up to MAX_SLEEP."""

from __future__ import annotations

import logging
import time

import pytest

from diagnostic_operator.transports.kubernetes.operator import (
    MAX_SLEEP,
    TROUBLE_POLL,
    TROUBLE_WINDOW,
    _TroubleWatch,
    longest_sleep,
)


@pytest.mark.parametrize(("trouble_at", "now", "expected"), [
    (None, 1000.0, MAX_SLEEP),
    (990.0, 1000.0, TROUBLE_POLL),
    (1000.0 - TROUBLE_WINDOW + 1, 1000.0, TROUBLE_POLL),
    (1000.0 - TROUBLE_WINDOW, 1000.0, MAX_SLEEP),
    (2000.0, 1000.0, MAX_SLEEP),  # a clock that went backwards is not trouble forever
])
def test_longest_sleep(trouble_at: float | None, now: float, expected: float) -> None:
    assert longest_sleep(trouble_at, now) == expected


def test_kopf_client_errors_are_noted_as_trouble() -> None:
    class Holder:
        trouble_at: float | None = None

    holder = Holder()
    watch = _TroubleWatch(holder)  # type: ignore[arg-type]
    parent = logging.getLogger("kopf._cogs.clients")
    parent.addHandler(watch)
    try:
        logging.getLogger("kopf._cogs.clients.watching").debug("Restarting the watch-stream")
        assert holder.trouble_at is None, "routine messages are not trouble"
        before = time.monotonic()
        logging.getLogger("kopf._cogs.clients.api").error("Request attempt #1/29 failed; will retry")
        assert holder.trouble_at is not None and holder.trouble_at >= before
    finally:
        parent.removeHandler(watch)
