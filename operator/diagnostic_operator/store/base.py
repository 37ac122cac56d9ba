"""The object-store interface: one small protocol, a local folder and S3-compatible implementations.

Keys are ``/``-separated and relative to the store's base URL (its bucket and prefix). Every write is
idempotent: putting the same content under the same key again transfers nothing and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class StoreError(RuntimeError):
    """The store cannot be reached or refused an operation. The message names the URL and the key."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    size: int
    sha256: str
    uri: str  # full location, e.g. s3://bucket/prefix/key or file:///abs/path/key


ProgressCallback = Callable[[int, int], None]  # (bytes done, bytes total)


class ObjectStore(Protocol):
    url: str  # canonical base: file:///abs/dir or s3://bucket/prefix

    def check(self) -> None:
        """Raise StoreError unless the store is reachable and writable."""

    def put_file(self, key: str, path: Path) -> StoredObject:
        """Upload one file (skipped when the same content is already there)."""

    def put_files(self, items: Sequence[tuple[str, Path]], *, concurrency: int = 8,
                  progress: ProgressCallback | None = None) -> list[StoredObject]:
        """Upload many files concurrently; returns them in the order given."""

    def head(self, key: str) -> StoredObject | None:
        """The object under ``key``, or None."""

    def get_bytes(self, key: str) -> bytes: ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def uri(self, key: str) -> str: ...
