"""Liveness that notices a lost API server.

Kopf's ``/healthz`` answers while the event loop runs, also when every request to the API server has failed for
minutes (a broken route, a half-open connection pool, credentials that stopped working): the operator would then
sit idle and look healthy. ``ApiContact`` remembers the last time the API server answered; the probe asks it
(a one-item LIST of DiagnosticExecutions, a right the operator has anyway) and fails once no answer came for
longer than the grace, so the kubelet restarts the operator. A short outage (an API server restart takes
~30 s here) stays within the grace and restarts nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_GRACE_SECONDS = 120.0


@dataclass
class ApiContact:
    """When the API server last answered (``time.monotonic()`` seconds), and the last error since then."""

    grace: float
    last_ok: float
    last_error: str | None = None

    def answered(self, now: float) -> None:
        self.last_ok = max(self.last_ok, now)
        self.last_error = None

    def failed(self, error: str) -> None:
        self.last_error = error

    def silent_for(self, now: float) -> float:
        return max(0.0, now - self.last_ok)

    def verdict(self, now: float) -> tuple[bool, str]:
        """(alive, what to say): dead only when the API server has not answered for longer than the grace."""
        silent = self.silent_for(now)
        if self.last_error is None:
            return True, "API server answered"
        if silent <= self.grace:
            return True, (f"API server not answering for {silent:.0f}s (restart after {self.grace:.0f}s): "
                          f"{self.last_error}")
        return False, f"API server not answering for {silent:.0f}s (grace {self.grace:.0f}s): {self.last_error}"
