"""Bounded retries of the publish step's store and database calls."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from diagnostic_operator.db.errors import DatabaseError, IngestError
from diagnostic_operator.store.base import StoreError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetrySettings:
    attempts: int = 5
    initial_seconds: float = 1.0
    max_seconds: float = 15.0
    sleep: Callable[[float], None] = field(default=time.sleep)


def with_retries(action: Callable[[], T], what: str, settings: RetrySettings,
                 on_retry: Callable[[str], None] | None = None) -> T:
    """Run ``action``; on a store or database error retry with exponential backoff, then re-raise.
    An ``IngestError`` (the database refuses the data itself) is re-raised at once."""
    delay = settings.initial_seconds
    for attempt in range(1, settings.attempts + 1):
        try:
            return action()
        except IngestError:
            raise  # the data itself is refused: another try gives the same answer
        except (StoreError, DatabaseError) as exc:
            if attempt == settings.attempts:
                raise
            if on_retry is not None:
                on_retry(f"{what} failed (try {attempt}/{settings.attempts}), retrying in {delay:.0f}s: {exc}")
            settings.sleep(delay)
            delay = min(delay * 2, settings.max_seconds)
    raise AssertionError("unreachable")  # pragma: no cover
