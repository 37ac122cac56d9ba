"""Partial outputs: what a failed or timed-out attempt left in its results folder (docs/object-store.md).

An attempt whose diagnostic did not succeed (non-zero exit, OOM kill, timeout, no exit record, or results
that do not validate) keeps what it wrote: every regular file under its results folder is published as it
is under ``<attempt prefix>/partial/<path>`` and recorded as an ``outputs`` row with ``partial = true``.
Nothing is parsed and no value is ingested. The steps:

1. :func:`list_folder` lists the folder without following a symlink (a symlink is listed, never read, so
   nothing outside the folder is reached);
2. :func:`plan_partial` (pure) turns the listing into (path, key) pairs under the caps of
   ``ParseOptions`` (file count, file size, total size, path length), leaving out the shim's own files
   (``excluded_paths``) and counting everything else it leaves out by reason;
3. :func:`publish_partial` uploads them smallest first in batches (:func:`batches`), each batch only while
   the time budget allows it (:func:`fits_budget`, pure), and records each uploaded batch in the database
   before the next. A store or database failure after retries stops it; the attempt's verdict does not
   change (these files are evidence of a failure, not results), the summary says what was left out.

Running it again uploads nothing new (the stores skip identical content) and inserts no row twice.
"""

from __future__ import annotations

import math
import os
import posixpath
import stat
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from diagnostic_operator.contracts.exit_record import LOG_FILE, STATE_DIR
from diagnostic_operator.db.errors import DatabaseError, IngestError
from diagnostic_operator.results import ParseOptions
from diagnostic_operator.runtime.retry import RetrySettings, with_retries
from diagnostic_operator.store.base import ObjectStore, StoredObject, StoreError
from diagnostic_operator.store.keys import partial_key

EntryKind = Literal["file", "symlink", "special", "unreadable"]

MAX_KEY_BYTES = 1024  # S3's limit for a whole key
BATCH_FILES = 64  # files per upload batch: one listing on S3, then the clock is read again
BATCH_BYTES = 256 * 1024 * 1024
MEASURED_MIN_BYTES = 8 * 1024 * 1024  # below this much uploaded, per-request latency hides the bandwidth
ASSUMED_BYTES_PER_SECOND = 16 * 1024 * 1024  # the estimate before anything has been measured

# Why a file was left out. The summary counts them together (``partialSkipped``); the log names them.
SYMLINK = "symlink"
NOT_REGULAR = "not a regular file"
UNREADABLE = "unreadable"
BAD_NAME = "name unusable as an object key"
TOO_MANY = "over the file count cap"
TOO_LARGE = "over the file size cap"
OVER_TOTAL = "over the total size cap"
OUT_OF_TIME = "out of time"
FAILED = "store or database error"


@dataclass(frozen=True, slots=True)
class FolderEntry:
    """One entry of the results folder as :func:`list_folder` saw it (folders are walked, not listed)."""

    path: str  # relative to the results folder, ``/``-separated
    kind: EntryKind
    size: int = 0  # apparent size of a file


class PartialFile(NamedTuple):
    path: str  # relative to the results folder
    key: str  # its object key
    size: int


@dataclass(frozen=True, slots=True)
class PartialLimits:
    """The caps a failed attempt's files are published under: the output bundle's own (``ParseOptions``)."""

    max_files: int
    max_file_bytes: int
    max_total_bytes: int
    max_path_bytes: int

    @classmethod
    def from_options(cls, options: ParseOptions) -> PartialLimits:
        return cls(max_files=options.max_outputs, max_file_bytes=options.max_output_file_bytes,
                   max_total_bytes=options.max_output_total_bytes, max_path_bytes=options.max_filename_bytes)


@dataclass(frozen=True, slots=True)
class PartialPlan:
    files: tuple[PartialFile, ...]  # in listing order
    skipped: dict[str, int] = field(default_factory=dict)  # reason → files left out

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def excluded_paths(results_dir: str, output_dir: str) -> tuple[str, ...]:
    """The shim's own files (``out.log`` and its state folder with the exit record) as paths relative to the
    results folder, when they lie inside it: they are published by themselves, never as partial files."""
    found = []
    for name in (LOG_FILE, STATE_DIR):
        rel = posixpath.relpath(posixpath.join(output_dir, name), results_dir)
        if rel not in {".", ".."} and not rel.startswith("../"):
            found.append(rel)
    return tuple(found)


def _excluded(path: str, exclude: Sequence[str]) -> bool:
    return any(path == e or path.startswith(e + "/") for e in exclude)


def _usable_name(path: str, prefix: str, limits: PartialLimits) -> str | None:
    """The object key of ``path``, or None when the path cannot be one (not UTF-8, too long, not a plain
    path: ``partial_key`` refuses ``..``, control characters, backslashes and the like)."""
    try:
        if len(path.encode("utf-8")) > limits.max_path_bytes:
            return None
        key = partial_key(prefix, path)
        if len(key.encode("utf-8")) > MAX_KEY_BYTES:
            return None
    except (UnicodeEncodeError, StoreError):
        return None
    return key


def plan_partial(entries: Iterable[FolderEntry], prefix: str, limits: PartialLimits,
                 exclude: Sequence[str] = ()) -> PartialPlan:
    """Which files of a results folder to publish, and under which keys.

    In listing order, first rule that applies: an ``exclude``-d path (or anything under one) is passed over
    and not counted; a symlink, a special file or an unreadable entry is skipped; so is a path that cannot
    be a key; then the caps: the file count, one file's size, and the total (a file that would take the
    total over the cap is skipped, a smaller one after it may still fit). Counts every skip by reason.
    """
    files: list[PartialFile] = []
    skipped: Counter[str] = Counter()
    total = 0
    for entry in entries:
        if _excluded(entry.path, exclude):
            continue
        if entry.kind != "file":
            skipped[{"symlink": SYMLINK, "special": NOT_REGULAR, "unreadable": UNREADABLE}[entry.kind]] += 1
            continue
        key = _usable_name(entry.path, prefix, limits)
        if key is None:
            skipped[BAD_NAME] += 1
        elif len(files) >= limits.max_files:
            skipped[TOO_MANY] += 1
        elif entry.size > limits.max_file_bytes:
            skipped[TOO_LARGE] += 1
        elif total + entry.size > limits.max_total_bytes:
            skipped[OVER_TOTAL] += 1
        else:
            files.append(PartialFile(entry.path, key, entry.size))
            total += entry.size
    return PartialPlan(tuple(files), dict(sorted(skipped.items())))


def batches(files: Sequence[PartialFile], max_files: int = BATCH_FILES,
            max_bytes: int = BATCH_BYTES) -> list[list[PartialFile]]:
    """``files`` smallest first (most files kept when time runs short), cut into upload batches of at most
    ``max_files`` files and ``max_bytes`` bytes (a larger file is a batch of its own)."""
    out: list[list[PartialFile]] = []
    current: list[PartialFile] = []
    size = 0
    for f in sorted(files, key=lambda f: (f.size, f.path)):
        if current and (len(current) >= max_files or size + f.size > max_bytes):
            out.append(current)
            current, size = [], 0
        current.append(f)
        size += f.size
    if current:
        out.append(current)
    return out


def fits_budget(batch_bytes: int, done_bytes: int, busy_seconds: float, seconds_left: float) -> bool:
    """Whether a batch of ``batch_bytes`` may start with ``seconds_left`` of the budget left, judged by the
    throughput of the batches so far (``done_bytes`` in ``busy_seconds``). Before enough is measured the
    rate is assumed (small files measure latency, not bandwidth)."""
    if seconds_left == math.inf:
        return True
    if seconds_left <= 0:
        return False
    measured = done_bytes >= MEASURED_MIN_BYTES and busy_seconds > 0
    rate = done_bytes / busy_seconds if measured else ASSUMED_BYTES_PER_SECOND
    return batch_bytes / rate <= seconds_left


def list_folder(root: Path) -> Iterator[FolderEntry]:
    """Every entry under ``root``, depth first, names sorted; symlinks are reported as such and never
    followed, folders are walked (an unreadable folder is reported as one unreadable entry). Nothing when
    ``root`` does not exist."""

    def walk(folder: Path, rel: str) -> Iterator[FolderEntry]:
        try:
            with os.scandir(folder) as it:
                names = sorted(it, key=lambda e: e.name)
        except FileNotFoundError:
            return
        except OSError:
            yield FolderEntry(rel or ".", "unreadable")
            return
        for entry in names:
            path = f"{rel}/{entry.name}" if rel else entry.name
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                yield FolderEntry(path, "unreadable")
                continue
            if stat.S_ISLNK(info.st_mode):
                yield FolderEntry(path, "symlink")
            elif stat.S_ISDIR(info.st_mode):
                yield from walk(Path(entry.path), path)
            elif not stat.S_ISREG(info.st_mode):
                yield FolderEntry(path, "special")
            elif not os.access(entry.path, os.R_OK):
                yield FolderEntry(path, "unreadable", info.st_size)
            else:
                yield FolderEntry(path, "file", info.st_size)

    if root.is_symlink():
        yield FolderEntry(".", "symlink")
        return
    yield from walk(root, "")


@dataclass(slots=True)
class PartialOutcome:
    files: int = 0  # uploaded and recorded
    bytes: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    error: str | None = None

    @property
    def skipped_count(self) -> int:
        return sum(self.skipped.values())

    def describe(self) -> str:
        left_out = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        return (f"partial outputs: {self.files} file(s), {self.bytes} bytes published"
                + (f"; left out: {left_out}" if left_out else "") + (f"; {self.error}" if self.error else ""))


class _OutOfTime(Exception):
    """Raised from an upload's progress callback when the budget is spent: the batch stops at once."""


Recorder = Callable[[Sequence[tuple[str, StoredObject]]], object]


def publish_partial(
    results_dir: Path,
    prefix: str,
    store: ObjectStore,
    record: Recorder,
    *,
    limits: PartialLimits,
    exclude: Sequence[str] = (),
    retry: RetrySettings | None = None,
    seconds_left: Callable[[], float] | None = None,
    log: Callable[[str], None] | None = None,
) -> PartialOutcome:
    """Publish the files of ``results_dir`` under ``prefix``/partial and ``record`` each uploaded batch
    ((path, stored object) pairs). ``seconds_left`` is the budget: a batch starts only when
    :func:`fits_budget` says it fits, and an upload in flight stops when it reaches zero (None: no bound)."""
    settings = retry or RetrySettings()
    left = seconds_left or (lambda: math.inf)
    plan = plan_partial(list_folder(results_dir), prefix, limits, exclude)
    outcome = PartialOutcome(skipped=Counter(plan.skipped))

    def check(_done: int, _total: int) -> None:
        if left() <= 0:
            raise _OutOfTime

    busy = 0.0
    pending = batches(plan.files)
    for index, batch in enumerate(pending):
        size = sum(f.size for f in batch)
        if not fits_budget(size, outcome.bytes, busy, left()):
            outcome.skipped[OUT_OF_TIME] += sum(len(b) for b in pending[index:])
            break
        items = [(f.key, results_dir / f.path) for f in batch]
        started = time.monotonic()
        try:
            uploaded = with_retries(lambda: store.put_files(items, progress=check),  # noqa: B023 - called now
                                    "uploading partial outputs", settings, log)
            busy += time.monotonic() - started
            pairs = [(f.path, obj) for f, obj in zip(batch, uploaded, strict=True)]
            with_retries(lambda: record(pairs), "recording partial outputs", settings, log)  # noqa: B023
        except _OutOfTime:
            outcome.skipped[OUT_OF_TIME] += sum(len(b) for b in pending[index:])
            break
        except (StoreError, DatabaseError, IngestError) as exc:
            outcome.skipped[FAILED] += sum(len(b) for b in pending[index:])
            outcome.error = str(exc)
            break
        outcome.files += len(batch)
        outcome.bytes += sum(obj.size for _, obj in pairs)
    return outcome
