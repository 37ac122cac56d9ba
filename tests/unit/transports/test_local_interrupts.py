"""The local run's interrupts: raised once, never inside a held section, and a SIGINT that was ignored stays
ignored. Real signals sent to this process (the handler runs in the main thread, as in ``run``)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from diagnostic_operator.transports.local_interrupts import SIGNALS, Interrupts


@pytest.fixture(autouse=True)
def restore_handlers() -> Iterator[None]:
    before = {sig: signal.getsignal(sig) for sig in SIGNALS}
    yield
    for sig, handler in before.items():
        signal.signal(sig, handler)


def deliver(sig: signal.Signals) -> None:
    """Send ``sig`` to this process and give the handler its chance to run (at the next bytecode)."""
    os.kill(os.getpid(), sig)
    for _ in range(1000):
        pass


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_each_signal_interrupts_once_and_later_ones_are_ignored(sig: signal.Signals) -> None:
    interrupts = Interrupts()
    with pytest.raises(KeyboardInterrupt, match=sig.name), interrupts.installed():
        deliver(sig)
    assert interrupts.raised
    # on the way out, a second Ctrl-C, TERM or HUP must not end the run by a signal
    assert all(signal.getsignal(s) == signal.SIG_IGN for s in SIGNALS)


def test_a_second_signal_while_stopping_is_ignored() -> None:
    interrupts = Interrupts()
    stopped = []
    with interrupts.installed():
        try:
            deliver(signal.SIGINT)
        except KeyboardInterrupt:
            deliver(signal.SIGINT)  # pressed again while the attempt is stopped
            deliver(signal.SIGTERM)
            stopped.append(True)
    assert stopped == [True]


def test_a_signal_in_a_held_section_is_raised_when_it_ends() -> None:
    interrupts = Interrupts()
    reached = []
    with pytest.raises(KeyboardInterrupt, match="SIGINT"), interrupts.installed():
        with interrupts.held():
            deliver(signal.SIGINT)
            with interrupts.held():  # nested: raised only when the outermost section ends
                deliver(signal.SIGTERM)
            reached.append("inner end")
        reached.append("after")  # pragma: no cover - the interrupt comes first
    assert reached == ["inner end"]


def test_held_sections_cost_nothing_when_nothing_arrives() -> None:
    interrupts = Interrupts()
    with interrupts.installed(), interrupts.held():
        pass
    assert not interrupts.raised
    assert signal.getsignal(signal.SIGTERM) != signal.SIG_IGN  # restored, not ignored


def test_an_ignored_sigint_stays_ignored() -> None:
    """A background job of a non-interactive shell starts with SIGINT ignored; POSIX shells rely on that."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    interrupts = Interrupts()
    with interrupts.installed():
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        deliver(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            deliver(signal.SIGTERM)
