"""Publish + ingest: the one step after a diagnostic ends, the same locally and in the ingest sidecar.

Order (lifecycle.md stages 6–7), so that nothing is ever claimed in the database that is not in the store:

1. upload the log (``out.log``) and the exit record — always, also after a failure;
2. when the diagnostic did not succeed (non-zero exit, OOM kill, timeout, no exit record): publish what it
   left in its results folder as *partial* files (``runtime/partial.py``: under ``partial/``, recorded as
   ``outputs`` rows with ``partial = true``, within the caps and the time budget) and stop: nothing is
   parsed, no value is ingested;
3. otherwise parse and validate the result files, in the dialect ``files.compat`` names; an invalid bundle
   is the diagnostic's fault: its folder is published as partial files too, and nothing is ingested;
4. upload every file the output bundle names, plus the three result files;
5. ingest outputs, scalars and series in one database transaction (``ON CONFLICT DO NOTHING``).

Store and database failures are retried with bounded backoff; if they persist, the summary carries an
``infrastructureError`` and the attempt is classified Infrastructure (retried on its own budget) — except
while publishing partial files: those are evidence of a failure already decided, so their failure is
reported (``partialError``) without changing the verdict.
Running the step twice for the same attempt uploads nothing new and inserts no row twice.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diagnostic_operator.contracts.exit_record import EXIT_RECORD_FILE, LOG_FILE, ExitRecord
from diagnostic_operator.contracts.publish_summary import EXIT_RECORD_FIELDS, PublishSummary
from diagnostic_operator.db.errors import DatabaseError, IngestError
from diagnostic_operator.results import BundleError, ParseOptions, Vocabulary, load_results
from diagnostic_operator.results.options import DEFAULT_OPTIONS
from diagnostic_operator.runtime.partial import PartialLimits, excluded_paths, publish_partial
from diagnostic_operator.runtime.retry import RetrySettings, with_retries
from diagnostic_operator.runtime.summary import MAX_ERROR_TEXT
from diagnostic_operator.spec import ResultFiles
from diagnostic_operator.store import attempt_prefix
from diagnostic_operator.store.base import ObjectStore, StoredObject, StoreError

__all__ = ["AttemptTarget", "RetrySettings", "publish_and_ingest", "with_retries"]

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from diagnostic_operator.db.ingest import IngestReport


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


MAX_PARTIAL_ERROR_TEXT = 300  # a note, not a verdict: kept short in the 4 KiB termination message


def _clip(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    partial_seconds_left: Callable[[], float] | None = None,
) -> PublishSummary:
    """Publish and ingest one attempt (the module's steps). ``output_dir`` holds the shim's log and exit
    record; ``results_dir`` (default: ``output_dir``) is where the diagnostic writes its results
    (``results.directory``, seen from where this runs), read on success and published as partial files on
    failure; nothing in either folder is changed or removed. ``partial_seconds_left`` is the time budget of the
    partial files (None: no bound; the sidecar passes what is left before the Pod's deadline)."""
    # lazy: SQLAlchemy loads while the diagnostic runs
    from diagnostic_operator.db.ingest import ingest
    from diagnostic_operator.db.lifecycle_writes import resolve_attempt
    from diagnostic_operator.db.partial_outputs import record_partial_outputs

    settings = retry or RetrySettings()
    results_dir = output_dir if results_dir is None else results_dir
    started = time.monotonic()
    prefix = attempt_prefix(target.namespace, target.name, target.uid, target.attempt)
    # the summary's fields by their Python names, gathered step by step
    fields: dict[str, Any] = {
        "attempt": target.attempt,
        "exit_record_present": exit_record is not None,
        "output_location": store.uri(prefix),
    }
    if exit_record is not None:  # the two models share these fields' names
        fields.update(exit_record.model_dump(include=set(EXIT_RECORD_FIELDS)))

    def finish(**extra: Any) -> PublishSummary:
        fields.update(extra)
        return PublishSummary(**fields, publish_seconds=round(time.monotonic() - started, 3))

    def attempt_ids() -> tuple[int, int]:
        if target.execution_id is not None and target.attempt_id is not None:
            return target.execution_id, target.attempt_id
        return resolve_attempt(engine, target.uid, target.attempt)

    def keep_partial() -> dict[str, Any]:
        """Publish and record what the failed attempt left in its results folder; never raises for the
        store or the database (the verdict is the diagnostic's already)."""
        ids: list[tuple[int, int]] = []

        def record(pairs: Sequence[tuple[str, StoredObject]]) -> None:
            if not ids:
                ids.append(attempt_ids())
            record_partial_outputs(engine, execution_id=ids[0][0], attempt_id=ids[0][1], files=pairs)

        outcome = publish_partial(
            results_dir, prefix, store, record, limits=PartialLimits.from_options(options or DEFAULT_OPTIONS),
            exclude=excluded_paths(os.path.abspath(results_dir), os.path.abspath(output_dir)),
            retry=settings, seconds_left=partial_seconds_left, log=log)
        if outcome.error is not None and log is not None:
            log(outcome.describe())
        return {"partial_files": outcome.files, "partial_skipped": outcome.skipped_count,
                "partial_error": None if outcome.error is None else _clip(outcome.error, MAX_PARTIAL_ERROR_TEXT)}

    try:
        # 1. the log and the exit record, always
        log_path = output_dir / LOG_FILE
        if log_path.is_file() and not log_path.is_symlink():
            stored = with_retries(lambda: store.put_file(f"{prefix}/{LOG_FILE}", log_path), "uploading the log",
                                  settings, log)
            fields.update(log_published=True, log_location=stored.uri)
        record_path = output_dir / EXIT_RECORD_FILE
        if record_path.is_file() and not record_path.is_symlink():
            with_retries(lambda: store.put_file(f"{prefix}/exit.json", record_path), "uploading the exit record",
                         settings, log)
        # 2. a failed attempt keeps what it made, as partial files, and ingests nothing
        if exit_record is None or not exit_record.succeeded:
            return finish(**keep_partial())

        # 3. parse and validate: an invalid bundle is the diagnostic's fault
        try:
            results = load_results(results_dir, files, options, vocabulary)
        except BundleError as exc:
            return finish(bundle_error=_clip(str(exc)), **keep_partial())

        # 4. upload what the bundles name, plus the result files themselves
        items: dict[str, Path] = {}
        for row in results.outputs:
            items[row.filename] = results_dir / row.filename
        for name in (files.metric_bundle, files.output_bundle, files.series):
            if name is not None and (results_dir / name).is_file():
                items.setdefault(name, results_dir / name)
        keys = [(f"{prefix}/outputs/{rel}", path) for rel, path in items.items()]
        uploaded: list[StoredObject] = with_retries(lambda: store.put_files(keys), "uploading outputs", settings, log)
        objects = dict(zip(items.keys(), uploaded, strict=True))

        # 5. ingest in one transaction, after every object is in the store
        def ingest_once() -> IngestReport:
            execution_id, attempt_id = attempt_ids()
            return ingest(engine, execution_id=execution_id, attempt_id=attempt_id, results=results,
                          objects=objects)

        report = with_retries(ingest_once, "ingesting results", settings, log)
        # What the parser dropped or made missing (compat mode) is in no table: it is counted from the files
        # (the same number on every run of this step) and reported with the totals, not as rows inserted.
        counts = report.total.model_copy(update={"dropped": results.dropped_total})
        return finish(ingested=True, counts=counts, inserted=report.inserted, warnings=len(results.warnings))
    except IngestError as exc:
        # The parser lets through only what both databases store, so this is a gap in the parser's checks:
        # still the results' fault (retrying cannot help), not the infrastructure's.
        return finish(bundle_error=_clip(f"the database refused the results: {exc}"))
    except (StoreError, DatabaseError) as exc:
        return finish(infrastructure_error=_clip(str(exc)))
