"""Object storage for published outputs: ``open_store(url)`` and the deterministic key layout.

Store URLs
    ``s3://bucket[/prefix]``   S3 or any S3-compatible endpoint (:class:`S3Store`)
    ``file:///abs/dir``         a local folder (:class:`LocalStore`)
    ``/abs/dir`` or ``rel/dir`` a local folder (a relative path is resolved against the current directory)

Key layout (relative to the store URL; every part is deterministic, so a replay writes the same keys)::

    executions/<namespace>/<name>-<uid[:8]>/                 execution_prefix(namespace, name, uid)
        attempt-<n>/                                          attempt_prefix(namespace, name, uid, n), n ≥ 1
            out.log                                           log_key(prefix): always, also on failure
            exit.json                                         exit_record_key(prefix): the exit record
            outputs/<relative filename>                       output_key(prefix, rel): every file the output
                                                              bundle names, path relative to the output folder

``uid[:8]`` is the first 8 characters of the execution object's uid (dashes removed), so a deleted and
re-created execution with the same name gets a fresh folder. Puts are idempotent: the same content under the
same key is not transferred again (size + sha256 compare), so publishing can be replayed safely before the
database commit (lifecycle stages 6–7).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .base import ObjectStore, ProgressCallback, StoredObject, StoreError
from .keys import (
    attempt_prefix,
    execution_prefix,
    exit_record_key,
    log_key,
    object_key,
    output_key,
    partial_key,
    validate_key,
)
from .local import LocalStore

__all__ = [
    "LocalStore",
    "ObjectStore",
    "ProgressCallback",
    "S3Store",
    "StoreError",
    "StoredObject",
    "attempt_prefix",
    "execution_prefix",
    "exit_record_key",
    "log_key",
    "object_key",
    "open_store",
    "output_key",
    "partial_key",
    "store_uri",
    "validate_key",
]

ACCEPTED_FORMS = "s3://bucket[/prefix], file:///absolute/path, or a plain absolute or relative path"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _parse(url: str) -> tuple[str, str] | Path:
    """``(bucket, prefix)`` for an S3 URL, the folder for a local one; StoreError for anything else."""
    if not isinstance(url, str) or url.strip() == "":
        raise StoreError(f"invalid store URL {url!r}: empty; expected {ACCEPTED_FORMS}")
    if "\x00" in url:
        raise StoreError(f"invalid store URL {url!r}: contains NUL; expected {ACCEPTED_FORMS}")
    if url.startswith("s3://"):
        parts = urlsplit(url)
        bucket = parts.netloc
        if not _BUCKET.match(bucket) or ".." in bucket or parts.query or parts.fragment:
            raise StoreError(f"invalid store URL {url!r}: bad bucket name {bucket!r}; "
                             f"expected {ACCEPTED_FORMS}")
        prefix = parts.path.strip("/")
        if prefix:
            try:
                validate_key(prefix)
            except StoreError as exc:
                raise StoreError(f"invalid store URL {url!r}: bad prefix: {exc}") from None
        return bucket, prefix
    if url.startswith("file:"):
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/") or parts.query:
            raise StoreError(f"invalid store URL {url!r}: a file URL must be file:///absolute/path; "
                             f"expected {ACCEPTED_FORMS}")
        return Path(unquote(parts.path))
    if _SCHEME.match(url) and not (os.name == "nt" and re.match(r"^[A-Za-z]:[\\/]", url)):
        raise StoreError(f"unsupported store URL {url!r}: expected {ACCEPTED_FORMS}")
    return Path(url)


def open_store(url: str, env: Mapping[str, str] | None = None) -> ObjectStore:
    """Open the store a URL names. ``env`` (default: ``os.environ``) supplies S3 credentials, region and
    the endpoint (``DIAGNOSTIC_OPERATOR_S3_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``).
    Nothing is contacted here; call ``check()`` for that. Anything else raises StoreError."""
    target = _parse(url)
    if isinstance(target, Path):
        return LocalStore(target)
    from .s3 import S3Store  # boto3 is imported only when an S3 store is used

    return S3Store(*target, env=env)


def store_uri(url: str, key: str) -> str:
    """What ``open_store(url).uri(key)`` says, without opening the store: the operator only needs the
    location, and an S3 store builds a boto3 client (~0.2 s of CPU, tens of MB: benchmarks/operator_scale)."""
    target = _parse(url)
    if isinstance(target, Path):
        return LocalStore(target).uri(key)
    bucket, prefix = target
    validate_key(key)
    return f"s3://{bucket}/{prefix}/{key}" if prefix else f"s3://{bucket}/{key}"


def __getattr__(name: str) -> object:
    if name == "S3Store":  # lazy: importing boto3 costs ~0.2 s, which a local run should not pay
        from .s3 import S3Store

        return S3Store
    raise AttributeError(name)
