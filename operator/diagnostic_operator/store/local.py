"""A local folder as an object store (``file:///abs/dir``): for `run` on a workstation and for tests.

Writes are atomic (a temporary file in the target folder, then ``os.replace``) and idempotent (a file with
the same size and sha256 is left alone). Temporary files are named ``.<name>.<random>.partial`` and are
never listed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ._io import CHUNK, Progress, file_sha256
from .base import ProgressCallback, StoredObject, StoreError
from .keys import validate_key, validate_prefix

PARTIAL_SUFFIX = ".partial"


def _is_partial(name: str) -> bool:
    return name.startswith(".") and name.endswith(PARTIAL_SUFFIX)


class LocalStore:
    """An ObjectStore over a local directory (created on first write)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = self.root.as_uri()

    def __repr__(self) -> str:
        return f"LocalStore({self.url!r})"

    # -- paths -------------------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        validate_key(key)
        return self.root.joinpath(*key.split("/"))

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    # -- protocol ----------------------------------------------------------------------------------
    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"store {self.url}: cannot create the folder: {exc}") from exc
        if not self.root.is_dir():
            raise StoreError(f"store {self.url}: not a directory")
        try:
            fd, probe = tempfile.mkstemp(prefix=".check.", suffix=PARTIAL_SUFFIX, dir=self.root)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise StoreError(f"store {self.url}: not writable: {exc}") from exc

    def put_file(self, key: str, path: Path) -> StoredObject:
        return self._put(key, Path(path), None)

    def put_files(self, items: Sequence[tuple[str, Path]], *, concurrency: int = 8,
                  progress: ProgressCallback | None = None) -> list[StoredObject]:
        for key, _ in items:
            validate_key(key)
        total = 0
        if progress is not None:
            total = sum(_size(Path(p), self.url, k) for k, p in items)
        counter = Progress(total, progress)
        if concurrency <= 1 or len(items) <= 1:
            return [self._put(k, Path(p), counter) for k, p in items]
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="local-store") as pool:
            futures = [pool.submit(self._put, k, Path(p), counter) for k, p in items]
            return [f.result() for f in futures]

    def head(self, key: str) -> StoredObject | None:
        target = self._path(key)
        if not target.is_file():
            return None
        try:
            sha, size = file_sha256(target)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {target.as_uri()}: {exc}") from exc
        return StoredObject(key=key, size=size, sha256=sha, uri=target.as_uri())

    def get_bytes(self, key: str) -> bytes:
        target = self._path(key)
        try:
            return target.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"no object {key!r} in {self.url}") from None
        except OSError as exc:
            raise StoreError(f"cannot read {target.as_uri()}: {exc}") from exc

    def list_keys(self, prefix: str) -> list[str]:
        """All keys starting with ``prefix`` (a plain string prefix, as on S3), sorted."""
        validate_prefix(prefix)
        # Walk only the deepest folder the prefix fully names.
        folder_part, _, _ = prefix.rpartition("/")
        start = self.root.joinpath(*folder_part.split("/")) if folder_part else self.root
        if not start.is_dir():
            return []
        keys: list[str] = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames.sort()
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            base = "" if rel_dir == "." else rel_dir + "/"
            for name in filenames:
                if _is_partial(name):
                    continue
                key = base + name
                if key.startswith(prefix):
                    keys.append(key)
        keys.sort()
        return keys

    # -- internals ---------------------------------------------------------------------------------
    def _put(self, key: str, source: Path, counter: Progress | None) -> StoredObject:
        target = self._path(key)
        uri = target.as_uri()
        try:
            src_stat = source.stat()
        except OSError as exc:
            raise StoreError(f"cannot upload {source} to {uri}: {exc}") from exc
        if not source.is_file():
            raise StoreError(f"cannot upload {source} to {uri}: not a regular file")
        # Same content already there? Compare size first (cheap), then sha256 of both.
        try:
            if target.is_file() and target.stat().st_size == src_stat.st_size:
                sha, size = file_sha256(source)
                if file_sha256(target)[0] == sha:
                    if counter is not None:
                        counter.add(size)
                    return StoredObject(key=key, size=size, sha256=sha, uri=uri)
        except OSError as exc:
            raise StoreError(f"cannot compare {source} with {uri}: {exc}") from exc
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder for {uri}: {exc}") from exc
        if target.is_dir():
            raise StoreError(f"cannot write {uri}: a folder of that name exists")
        tmp_name: str | None = None
        try:
            with tempfile.NamedTemporaryFile(
                mode="wb", dir=target.parent, prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX, delete=False
            ) as out:
                tmp_name = out.name
                digest = hashlib.sha256()
                size = 0
                with source.open("rb") as src:
                    while chunk := src.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                        if counter is not None:
                            counter.add(len(chunk))
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp_name, 0o644)
            os.replace(tmp_name, target)
            tmp_name = None
        except OSError as exc:
            raise StoreError(f"cannot write {source} to {uri}: {exc}") from exc
        finally:
            if tmp_name is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)
        return StoredObject(key=key, size=size, sha256=digest.hexdigest(), uri=uri)


def _size(path: Path, url: str, key: str) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise StoreError(f"cannot upload {path} to {url} as {key!r}: {exc}") from exc
