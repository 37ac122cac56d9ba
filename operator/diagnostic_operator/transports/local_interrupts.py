"""How a local run is interrupted. Ctrl-C, TERM and HUP each raise ``KeyboardInterrupt`` in the main thread,
once, and never inside a held section:

- held: the spawn of an attempt. Between the fork and the moment the transport knows the child, an interrupt
  would leave the child running with nobody to stop it; it is raised when the section ends instead.
- once: while the attempt is stopped and the execution recorded as Cancelled, a second Ctrl-C (or a TERM
  from a supervisor that is tired of waiting) would cut both short and leave the execution Running. The
  stop is bounded (the transport's abort grace), so further signals are ignored until ``run`` has exited.

A ``run`` started with SIGINT ignored (a background job of a non-interactive shell) keeps it ignored, as
POSIX shells expect.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupts:
    """The run's signal handler and its held sections. Without ``installed()`` (a library caller), held
    sections cost nothing and Python's default Ctrl-C behaviour stays."""

    def __init__(self) -> None:
        self._held = 0
        self._pending: int | None = None
        self.raised = False

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.raised:
            return
        if self._held:
            if self._pending is None:  # the first one names the interrupt
                self._pending = signum
            return
        self._raise(signum)

    def _raise(self, signum: int) -> None:
        self.raised = True
        raise KeyboardInterrupt(signal.Signals(signum).name)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """A section no interrupt may cut: one that arrives meanwhile is raised as it ends."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
        if not self._held and self._pending is not None and not self.raised:
            signum, self._pending = self._pending, None
            self._raise(signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Handle INT (unless it was ignored), TERM and HUP while the block runs. After an interrupt the
        signals stay ignored: the caller is on its way out, and a late signal must not end it by a signal
        (the exit code says how the run ended)."""
        before: dict[signal.Signals, signal._HANDLER] = {}
        for sig in SIGNALS:
            if sig == signal.SIGINT and signal.getsignal(sig) == signal.SIG_IGN:
                continue
            before[sig] = signal.signal(sig, self._handle)
        try:
            yield
        finally:
            for sig, handler in before.items():
                signal.signal(sig, signal.SIG_IGN if self.raised else handler)


#: The process's one handler: the CLI installs it around ``run``; the local transport holds its spawns.
INTERRUPTS = Interrupts()
