"""Publish + ingest: the one step after a diagnostic ends, the same locally and in the ingest sidecar.

Order (lifecycle.md stages 6–7), so that nothing is ever claimed in the database that is not in the store:

1. upload the log (``out.log``) and the exit record — always, also after a failure;
2. only when the diagnostic succeeded (exit 0, no OOM kill, no timeout): parse and validate the result
   files; an invalid bundle stops here (the diagnostic's fault: nothing is uploaded or ingested);
3. upload every file the output bundle names, plus the three result files;
4. ingest outputs, scalars and series in one database transaction (``ON CONFLICT DO NOTHING``).

Store and database failures are retried with bounded backoff; if they persist, the summary carries an
``infrastructureError`` and the attempt is classified Infrastructure (retried on its own budget).
Running the step twice for the same attempt uploads nothing new and inserts no row twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from diagnostic_operator.db.errors import DatabaseError, IngestError
from diagnostic_operator.lifecycle.evidence import PublishOutcome
from diagnostic_operator.results import BundleError, ParseOptions, Vocabulary, load_results
from diagnostic_operator.runtime.exit_record import EXIT_RECORD_FILE, LOG_FILE, ExitRecord
from diagnostic_operator.spec import IngestCounts, ResultFiles
from diagnostic_operator.store import attempt_prefix
from diagnostic_operator.store.base import ObjectStore, StoredObject, StoreError

SUMMARY_SCHEMA = "diagnostic-operator.io/publish-summary/v1"
MAX_ERROR_TEXT = 900  # the whole summary must fit a 4 KiB termination message

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from diagnostic_operator.db.repository import IngestReport

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AttemptTarget:
    """Which attempt is being published: the store keys and the database rows it belongs to. Without the
    rows' ids (an execution Pod: its Job is made before its rows), they are looked up by uid and attempt."""

    namespace: str
    name: str
    uid: str
    attempt: int
    execution_id: int | None = None
    attempt_id: int | None = None


@dataclass(frozen=True, slots=True)
class RetrySettings:
    attempts: int = 5
    initial_seconds: float = 1.0
    max_seconds: float = 15.0
    sleep: Callable[[float], None] = field(default=time.sleep)


class PublishSummary(BaseModel):
    """What the publish step reports: the sidecar writes it (compact JSON, ≤ 4 KiB) as its
    termination message, and the operator reads it as evidence."""

    model_config = ConfigDict(populate_by_name=True)

    schema_: str = Field(default=SUMMARY_SCHEMA, alias="schema")
    attempt: int
    exit_record_present: bool = Field(alias="exitRecordPresent")
    exit_code: int | None = Field(default=None, alias="exitCode")
    signal: int | None = None
    timed_out: bool = Field(default=False, alias="timedOut")
    oom_kills: int | None = Field(default=None, alias="oomKills")
    wall_seconds: float | None = Field(default=None, alias="wallSeconds")
    peak_memory_bytes: int | None = Field(default=None, alias="peakMemoryBytes")
    peak_memory_source: str | None = Field(default=None, alias="peakMemorySource")
    memory_limit_bytes: int | None = Field(default=None, alias="memoryLimitBytes")
    log_published: bool = Field(default=False, alias="logPublished")
    log_location: str | None = Field(default=None, alias="logLocation")
    output_location: str = Field(alias="outputLocation")
    ingested: bool = False
    bundle_error: str | None = Field(default=None, alias="bundleError")
    infrastructure_error: str | None = Field(default=None, alias="infrastructureError")
    counts: IngestCounts = Field(default_factory=IngestCounts)
    inserted: IngestCounts = Field(default_factory=IngestCounts)
    warnings: int = 0
    publish_seconds: float = Field(default=0.0, alias="publishSeconds")

    def outcome(self) -> PublishOutcome:
        return PublishOutcome(log_published=self.log_published, ingested=self.ingested,
                              bundle_error=self.bundle_error, infrastructure_error=self.infrastructure_error)

    def to_message(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"


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


def publish_and_ingest(
    output_dir: Path,
    exit_record: ExitRecord | None,
    files: ResultFiles,
    target: AttemptTarget,
    store: ObjectStore,
    engine: Engine,
    *,
    results_dir: Path | None = None,
    vocabulary: Vocabulary | None = None,
    options: ParseOptions | None = None,
    retry: RetrySettings | None = None,
    log: Callable[[str], None] | None = None,
) -> PublishSummary:
    """Publish and ingest one attempt (the module's steps). ``output_dir`` holds the shim's log and exit
    record; ``results_dir`` (default: ``output_dir``) is where the diagnostic writes its result files
    (``results.directory``, seen from where this runs). Nothing in either folder is changed or removed."""
    from diagnostic_operator.db.repository import (  # lazy: SQLAlchemy loads while the diagnostic runs
        ingest,
        resolve_attempt,
    )

    settings = retry or RetrySettings()
    results_dir = output_dir if results_dir is None else results_dir
    started = time.monotonic()
    prefix = attempt_prefix(target.namespace, target.name, target.uid, target.attempt)
    summary: dict[str, Any] = {
        "attempt": target.attempt,
        "exitRecordPresent": exit_record is not None,
        "outputLocation": store.uri(prefix),
    }
    if exit_record is not None:
        summary.update(exit_record.model_dump(
            by_alias=True, include={"exit_code", "signal", "timed_out", "oom_kills", "wall_seconds",
                                    "peak_memory_bytes", "peak_memory_source", "memory_limit_bytes"}))

    def finish(**extra: Any) -> PublishSummary:
        summary.update(extra)
        summary["publishSeconds"] = round(time.monotonic() - started, 3)
        return PublishSummary.model_validate(summary)

    try:
        # 1. the log and the exit record, always
        log_path = output_dir / LOG_FILE
        if log_path.is_file() and not log_path.is_symlink():
            stored = with_retries(lambda: store.put_file(f"{prefix}/{LOG_FILE}", log_path), "uploading the log",
                                  settings, log)
            summary.update(logPublished=True, logLocation=stored.uri)
        record_path = output_dir / EXIT_RECORD_FILE
        if record_path.is_file() and not record_path.is_symlink():
            with_retries(lambda: store.put_file(f"{prefix}/exit.json", record_path), "uploading the exit record",
                         settings, log)
        if exit_record is None or not exit_record.succeeded:
            return finish()

        # 2. parse and validate: an invalid bundle is the diagnostic's fault
        try:
            results = load_results(results_dir, files, options, vocabulary)
        except BundleError as exc:
            return finish(bundleError=_clip(str(exc)))

        # 3. upload what the bundles name, plus the result files themselves
        items: dict[str, Path] = {}
        for row in results.outputs:
            items[row.filename] = results_dir / row.filename
        for name in (files.metric_bundle, files.output_bundle, files.series):
            if name is not None and (results_dir / name).is_file():
                items.setdefault(name, results_dir / name)
        keys = [(f"{prefix}/outputs/{rel}", path) for rel, path in items.items()]
        uploaded: list[StoredObject] = with_retries(lambda: store.put_files(keys), "uploading outputs", settings, log)
        objects = dict(zip(items.keys(), uploaded, strict=True))

        # 4. ingest in one transaction, after every object is in the store
        def ingest_once() -> IngestReport:
            if target.execution_id is not None and target.attempt_id is not None:
                execution_id, attempt_id = target.execution_id, target.attempt_id
            else:
                execution_id, attempt_id = resolve_attempt(engine, target.uid, target.attempt)
            return ingest(engine, execution_id=execution_id, attempt_id=attempt_id, results=results,
                          objects=objects)

        report = with_retries(ingest_once, "ingesting results", settings, log)
        return finish(ingested=True, counts=report.total.model_dump(by_alias=True),
                      inserted=report.inserted.model_dump(by_alias=True), warnings=len(results.warnings))
    except IngestError as exc:
        # The parser lets through only what both databases store, so this is a gap in the parser's checks:
        # still the results' fault (retrying cannot help), not the infrastructure's.
        return finish(bundleError=_clip(f"the database refused the results: {exc}"))
    except (StoreError, DatabaseError) as exc:
        return finish(infrastructureError=_clip(str(exc)))
