"""Small helpers shared by the store implementations."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from .base import ProgressCallback

CHUNK = 1 << 20  # 1 MiB: large enough that hashlib releases the GIL and reads are cheap


def file_sha256(path: Path) -> tuple[str, int]:
    """(hex sha256, size) of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            digest.update(view[:n])
            size += n
    return digest.hexdigest(), size


class Progress:
    """Thread-safe byte counter reporting (done, total) to a ProgressCallback."""

    def __init__(self, total: int, callback: ProgressCallback | None) -> None:
        self.total = total
        self.done = 0
        self._callback = callback
        self._lock = threading.Lock()

    def add(self, amount: int) -> None:
        if self._callback is None or amount == 0:
            return
        with self._lock:
            self.done = max(0, min(self.total, self.done + amount))
            done = self.done
            self._callback(done, self.total)
