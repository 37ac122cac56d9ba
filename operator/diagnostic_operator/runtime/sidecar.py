"""The ingest sidecar: wait for the runner to end, publish + ingest, report, exit (docs/sidecar.md).

``diagnostic-operator sidecar`` runs as a regular container next to the runner, in a Pod with
``shareProcessNamespace: true`` (docs/pod-layout.md). It

1. reads its settings from the environment the operator sets (:func:`load_settings`; a missing or invalid
   one is a usage error: exit 2, the message names it);
2. waits until the runner has ended (:func:`decide`, a pure function of one :class:`Observation`);
3. calls :func:`diagnostic_operator.runtime.publish.publish_and_ingest` unchanged;
4. writes the summary (compact JSON, at most 4096 bytes: :func:`fit_message`) to the termination log;
5. exits 0 when the publish step completed (whatever the diagnostic did), 1 when the database or the store
   failed after retries (the summary's ``infrastructureError``), 2 on a usage error or a bug.

Every step prints one JSON line on stdout (``kubectl logs POD -c ingest``); URLs are masked and secrets
never printed. The settings live in ``runtime/sidecar_settings.py``, the summary's model in
``contracts/publish_summary.py`` and its fitting in ``runtime/summary.py``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from diagnostic_operator.contracts.exit_record import (
    EXIT_RECORD_FILE,
    HEARTBEAT_FILE,
    LOG_FILE,
    STATE_DIR,
    ExitRecord,
    ExitRecordError,
    read_exit_record,
)
from diagnostic_operator.contracts.publish_summary import PublishSummary
from diagnostic_operator.runtime.publish import RetrySettings, publish_and_ingest
from diagnostic_operator.runtime.sidecar_settings import (
    DEFAULT_HEARTBEAT_SECONDS,
    DEFAULT_TERMINATION_LOG,
    TERMINATION_LOG_ENV,
    SettingsError,
    SidecarSettings,
    load_settings,
)
from diagnostic_operator.runtime.summary import MAX_MESSAGE_BYTES, fit_message
from diagnostic_operator.settings import DATABASE_ENV, STORE_ENV, mask_url

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from diagnostic_operator.store.base import ObjectStore

STALE_HEARTBEATS = 3  # a heartbeat older than this many intervals means the shim is gone
START_TIMEOUT_SHIM = 120.0  # no sign of the runner this long after the sidecar started: it never started
START_TIMEOUT_BARE = 5.0  # without the shim the only sign is a live process; a fast one may be gone already
TERM_WAIT_SECONDS = 10.0  # after SIGTERM: how long the runner still gets to end before we publish anyway
POLL_SECONDS = 0.2
SECRET_ENV_NAMES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD")

EXIT_OK, EXIT_INFRASTRUCTURE, EXIT_USAGE = 0, 1, 2


# ----------------------------------------------------------------------------------------- /proc


@dataclass(frozen=True, slots=True)
class ProcInfo:
    """The fields of ``/proc/PID/stat`` the sidecar needs."""

    pid: int
    ppid: int
    session: int
    state: str  # R S D Z T t X I ...

    @property
    def dead(self) -> bool:
        return self.state in ("Z", "X", "x")


def parse_stat(text: str) -> ProcInfo | None:
    """Parse ``/proc/PID/stat`` (the command name may hold spaces and parentheses: split at the last ')')."""
    head, sep, tail = text.rpartition(")")
    if not sep:
        return None
    fields = tail.split()
    try:
        pid = int(head.split("(", 1)[0])
        return ProcInfo(pid=pid, state=fields[0], ppid=int(fields[1]), session=int(fields[3]))
    except (ValueError, IndexError):
        return None


def read_proc(root: Path = Path("/proc")) -> dict[int, ProcInfo]:
    """Every process visible in this PID namespace (processes that vanish while we read are skipped)."""
    procs: dict[int, ProcInfo] = {}
    try:
        entries = os.listdir(root)
    except OSError:
        return procs
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            text = (root / entry / "stat").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        info = parse_stat(text)
        if info is not None:
            procs[info.pid] = info
    return procs


def own_tree(procs: Mapping[int, ProcInfo], own_pid: int) -> frozenset[int]:
    """The sidecar's own processes: itself, its ancestors, its descendants and its session."""
    mine = {own_pid}
    pid = own_pid
    while pid in procs and procs[pid].ppid not in mine and procs[pid].ppid > 0:  # ancestors
        pid = procs[pid].ppid
        mine.add(pid)
    own = procs.get(own_pid)
    session = own.session if own is not None and own.session > 0 else None
    changed = True
    while changed:  # descendants (the map is small: a fixpoint is cheap and needs no child index)
        changed = False
        for info in procs.values():
            if info.pid not in mine and (info.ppid in mine or info.session == session):
                mine.add(info.pid)
                changed = True
    return frozenset(mine)


def shares_pid_namespace(procs: Mapping[int, ProcInfo], own_pid: int) -> bool:
    """True when PID 1 is someone else (the Pod's pause process): the runner's processes are visible."""
    return 1 in procs and 1 not in own_tree(procs, own_pid)


def runner_pids(procs: Mapping[int, ProcInfo], own_pid: int) -> frozenset[int]:
    """Live processes that belong to neither PID 1 (pause) nor the sidecar: the runner's."""
    mine = own_tree(procs, own_pid)
    return frozenset(pid for pid, info in procs.items() if pid != 1 and pid not in mine and not info.dead)


# ----------------------------------------------------------------------------------------- the decision


@dataclass(frozen=True, slots=True)
class Observation:
    """One look at the Pod from inside the sidecar, ``elapsed`` seconds after it started waiting."""

    elapsed: float
    exit_record: bool  # the shim's exit record exists
    runner_alive: bool | None  # None: no shared PID namespace, the runner's processes cannot be seen
    heartbeat_age: float | None  # seconds since the shim's heartbeat was written; None: no heartbeat file
    shim_started: bool = False  # the shim left a trace (its state directory or out.log)
    terminating: float | None = None  # seconds since SIGTERM, or None


@dataclass(frozen=True, slots=True)
class WaitPolicy:
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS  # 0: no heartbeat to judge by
    start_timeout: float = START_TIMEOUT_SHIM
    max_wait: float | None = None
    term_wait: float = TERM_WAIT_SECONDS


@dataclass(frozen=True, slots=True)
class WaitState:
    runner_seen: bool = False  # a runner process or a trace of the shim was seen at least once
    heartbeat_seen: bool = False


# Why the wait ended (the log says which).
EXIT_RECORD = "exit-record"
RUNNER_GONE = "runner-gone"  # the runner's processes were there and are gone, without a record
HEARTBEAT_STALE = "heartbeat-stale"
NOT_SEEN = "runner-not-seen"
MAX_WAIT = "max-wait"
TERMINATED = "terminated"


def decide(obs: Observation, state: WaitState, policy: WaitPolicy) -> tuple[WaitState, str | None]:
    """Has the runner ended? Returns the updated state and the reason when it has (else None).

    Rules, first match wins:

    1. the exit record exists → ended (the shim writes it last, atomically);
    2. runner processes are alive (shared PID namespace) → running; a stale heartbeat does not override
       live processes (a stuck shim timer must not cut a running diagnostic short: the shim's deadline and
       the Pod's activeDeadlineSeconds bound it);
    3. none is alive, and the runner was seen (a process, or the shim's traces) → ended without a record
       (the shim died with it: e.g. the whole container was OOM-killed);
    4. the heartbeat was written and is older than 3 intervals → ended (a dead shim, seen without /proc);
    5. nothing of the runner was ever seen for ``start_timeout`` → ended (a bare runner that was over before
       our first look; kubelet starts the runner container before this one);
    6. ``max_wait`` passed, or SIGTERM came ``term_wait`` ago → stop waiting.
    """
    seen = state.runner_seen or bool(obs.runner_alive) or obs.shim_started or obs.heartbeat_age is not None
    state = replace(state, runner_seen=seen, heartbeat_seen=state.heartbeat_seen or obs.heartbeat_age is not None)
    if obs.exit_record:
        return state, EXIT_RECORD
    if not obs.runner_alive:
        if obs.runner_alive is False and state.runner_seen:
            return state, RUNNER_GONE
        if (policy.heartbeat_seconds > 0 and obs.heartbeat_age is not None
                and obs.heartbeat_age > STALE_HEARTBEATS * policy.heartbeat_seconds):
            return state, HEARTBEAT_STALE
        if not state.runner_seen and obs.elapsed >= policy.start_timeout:
            return state, NOT_SEEN
    if policy.max_wait is not None and obs.elapsed >= policy.max_wait:
        return state, MAX_WAIT
    if obs.terminating is not None and obs.terminating >= policy.term_wait:
        return state, TERMINATED
    return state, None


def observe(output_dir: Path, elapsed: float, own_pid: int, terminating: float | None = None,
            proc_root: Path = Path("/proc"), now: float | None = None) -> Observation:
    """Look at /proc first, then the files: a runner that ends between the two looks has its record seen."""
    procs = read_proc(proc_root)
    alive = bool(runner_pids(procs, own_pid)) if shares_pid_namespace(procs, own_pid) else None
    record = (output_dir / EXIT_RECORD_FILE).is_file()
    try:
        mtime = (output_dir / HEARTBEAT_FILE).stat().st_mtime
        heartbeat_age: float | None = max(0.0, (time.time() if now is None else now) - mtime)
    except OSError:
        heartbeat_age = None
    started = (output_dir / STATE_DIR).is_dir() or (output_dir / LOG_FILE).exists()
    return Observation(elapsed, record, alive, heartbeat_age, started, terminating)


# ----------------------------------------------------------------------------------------- logging


@dataclass
class StructuredLog:
    """One JSON object per line on ``stream``; every string value goes through ``scrub``."""

    stream: TextIO = field(default_factory=lambda: sys.stdout)
    secrets: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()

    def scrub(self, text: str) -> str:
        for url in self.urls:
            if url:
                text = text.replace(url, mask_url(url))
        for secret in self.secrets:
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    def __call__(self, event: str, **fields: Any) -> None:
        record: dict[str, Any] = {"time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z",
                                  "component": "ingest-sidecar", "event": event}
        for key, value in fields.items():
            record[key] = self.scrub(value) if isinstance(value, str) else value
        with contextlib.suppress(OSError, ValueError):
            self.stream.write(json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n")
            self.stream.flush()


def secrets_of(env: Mapping[str, str], database_url: str) -> tuple[str, ...]:
    """Values that must never appear in a log line: credentials from the env and the database password."""
    found = [env.get(name, "") for name in SECRET_ENV_NAMES]
    if "://" in database_url and "@" in database_url:
        creds = database_url.split("://", 1)[1].rpartition("@")[0]
        if ":" in creds:
            found.append(creds.split(":", 1)[1])
    return tuple(sorted({s for s in found if s}, key=len, reverse=True))


# ----------------------------------------------------------------------------------------- the run


@dataclass
class SidecarOptions:
    max_wait: float | None = None
    start_timeout: float | None = None  # default: by DIAGNOSTIC_RUNNER_SHIM
    poll_seconds: float = POLL_SECONDS
    term_wait: float = TERM_WAIT_SECONDS
    retry: RetrySettings = field(default_factory=RetrySettings)
    proc_root: Path = Path("/proc")
    own_pid: int | None = None
    install_signal_handlers: bool = True
    open_engine: Callable[[str], Engine] | None = None  # tests
    open_store: Callable[[str], ObjectStore] | None = None  # tests


def _default_engine(url: str) -> Engine:
    from diagnostic_operator.db.engine import create_engine_for  # noqa: PLC0415 - lazy: loads SQLAlchemy

    return create_engine_for(url)


def _default_store(url: str) -> ObjectStore:
    from diagnostic_operator.store import open_store  # noqa: PLC0415 - lazy: boto3 only for s3:// URLs

    return open_store(url)


def wait_for_runner(settings: SidecarSettings, options: SidecarOptions, log: StructuredLog,
                    terminated_at: Callable[[], float | None] = lambda: None) -> tuple[str, WaitState]:
    """Poll until :func:`decide` says the runner has ended; returns the reason and the final state."""
    policy = WaitPolicy(
        heartbeat_seconds=settings.heartbeat_seconds,
        start_timeout=options.start_timeout if options.start_timeout is not None
        else (START_TIMEOUT_SHIM if settings.runner_shim else START_TIMEOUT_BARE),
        max_wait=options.max_wait, term_wait=options.term_wait)
    own_pid = options.own_pid or os.getpid()
    started = time.monotonic()
    state = WaitState()
    first = True
    while True:
        now = time.monotonic()
        term = terminated_at()
        obs = observe(settings.output_dir, now - started, own_pid, None if term is None else now - term,
                      options.proc_root)
        if first:
            log("waiting", runnerVisible=obs.runner_alive is not None, runnerAlive=obs.runner_alive,
                startTimeout=policy.start_timeout, maxWait=policy.max_wait)
            if obs.runner_alive is None:
                log("warning", message="no shared PID namespace (shareProcessNamespace: true?): the runner's "
                                       "end is known only from its exit record or a stale heartbeat")
            first = False
        was_seen = state.runner_seen
        state, reason = decide(obs, state, policy)
        if state.runner_seen and not was_seen:
            log("runner-seen", alive=obs.runner_alive, shimStarted=obs.shim_started,
                waitedSeconds=round(obs.elapsed, 3))
        if reason is not None:
            log("runner-ended", reason=reason, exitRecord=obs.exit_record, waitedSeconds=round(obs.elapsed, 3),
                heartbeatAge=None if obs.heartbeat_age is None else round(obs.heartbeat_age, 1))
            return reason, state
        time.sleep(options.poll_seconds)


def partial_budget(budget: float | None, started: float, terminating: Callable[[], bool],
                   clock: Callable[[], float] = time.monotonic) -> Callable[[], float]:
    """Seconds left for partial files: the budget from ``started`` on (unbounded without one), and none
    at all once SIGTERM came (the kubelet's SIGKILL follows after the termination grace period)."""
    def left() -> float:
        if terminating():
            return 0.0
        return math.inf if budget is None else budget - (clock() - started)
    return left


def write_termination_message(path: Path, message: str, log: StructuredLog) -> bool:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(message)
    except OSError as exc:
        log("warning", message=f"cannot write the termination message to {path}: {exc.strerror or exc}")
        return False
    return True


def run(env: Mapping[str, str] | None = None, options: SidecarOptions | None = None,
        stream: TextIO | None = None) -> int:
    """The whole sidecar; returns its exit code (0 published, 1 infrastructure failure, 2 usage error/bug)."""
    env = os.environ if env is None else env
    options = options or SidecarOptions()
    log = StructuredLog(stream or sys.stdout)
    try:
        settings = load_settings(env)
    except SettingsError as exc:
        log("usage-error", setting=exc.name, message=log.scrub(str(exc)))
        termination = Path(env.get(TERMINATION_LOG_ENV, "").strip() or DEFAULT_TERMINATION_LOG)
        write_termination_message(termination, f"diagnostic-operator sidecar: {exc}"[:MAX_MESSAGE_BYTES], log)
        return EXIT_USAGE
    log.secrets = secrets_of(env, settings.database_url)
    log.urls = (settings.database_url,)
    target = settings.target
    log("started", pid=options.own_pid or os.getpid(), execution=f"{target.namespace}/{target.name}",
        uid=target.uid, attempt=target.attempt, executionId=target.execution_id, attemptId=target.attempt_id,
        outputDir=str(settings.output_dir), store=mask_url(settings.store_url),
        database=mask_url(settings.database_url), runnerShim=settings.runner_shim)

    terminated: list[float] = []
    if options.install_signal_handlers:
        def on_term(signum: int, _frame: FrameType | None) -> None:
            if not terminated:
                terminated.append(time.monotonic())
                log("signal", signal=signal.Signals(signum).name,
                    message="stopping: the runner gets a little longer, then whatever is there is published")
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError):  # not the main thread (tests)
                signal.signal(sig, on_term)

    try:
        engine = (options.open_engine or _default_engine)(settings.database_url)
    except Exception as exc:
        log("usage-error", setting=DATABASE_ENV, message=f"cannot use the database URL: {exc}")
        return EXIT_USAGE
    try:
        store = (options.open_store or _default_store)(settings.store_url)
    except Exception as exc:
        log("usage-error", setting=STORE_ENV, message=f"cannot use the store URL: {exc}")
        return EXIT_USAGE

    reason, _ = wait_for_runner(settings, options, log, lambda: terminated[0] if terminated else None)
    try:
        record: ExitRecord | None = read_exit_record(settings.output_dir)
    except ExitRecordError as exc:
        log("warning", message=f"{exc}; publishing as if there were none")
        record = None
    if record is None:
        log("no-exit-record", reason=reason, message="the runner ended without an exit record "
                                                     "(the shim died with it, or ran without the shim)")
    else:
        log("exit-record", exitCode=record.exit_code, signal=record.signal, timedOut=record.timed_out,
            oomKills=record.oom_kills, wallSeconds=record.wall_seconds)

    log("publishing", outputLocation=mask_url(settings.store_url), partialBudget=settings.publish_budget_seconds)
    partial_left = partial_budget(settings.publish_budget_seconds, time.monotonic(), lambda: bool(terminated))
    try:
        # spec.results.directory is mounted into this container at the same path (read-only)
        results_dir = Path(settings.results.directory) if settings.results.directory else settings.output_dir
        summary = publish_and_ingest(settings.output_dir, record, settings.results, target, store, engine,
                                     results_dir=results_dir, partial_seconds_left=partial_left,
                                     retry=options.retry, log=lambda message: log("retry", message=message))
    except Exception as exc:  # a bug: report it, still leave a parseable summary behind
        log("error", message=f"publishing failed unexpectedly: {type(exc).__name__}: {exc}")
        summary = PublishSummary(
            attempt=target.attempt, exit_record_present=record is not None,
            output_location=mask_url(settings.store_url),
            infrastructure_error=log.scrub(f"sidecar error: {type(exc).__name__}: {exc}")[:900])
        write_termination_message(settings.termination_log, fit_message(summary), log)
        return EXIT_USAGE
    finally:
        with contextlib.suppress(Exception):
            engine.dispose()
    if summary.infrastructure_error:
        summary = summary.model_copy(update={"infrastructure_error": log.scrub(summary.infrastructure_error)})
    if summary.bundle_error:
        summary = summary.model_copy(update={"bundle_error": log.scrub(summary.bundle_error)})
    message = fit_message(summary)
    write_termination_message(settings.termination_log, message, log)
    code = EXIT_INFRASTRUCTURE if summary.infrastructure_error else EXIT_OK
    log("published", exitCode=code, logPublished=summary.log_published, ingested=summary.ingested,
        bundleError=summary.bundle_error, infrastructureError=summary.infrastructure_error,
        scalarValues=summary.counts.scalar_values, partialFiles=summary.partial_files,
        partialSkipped=summary.partial_skipped, partialError=summary.partial_error,
        publishSeconds=summary.publish_seconds,
        messageBytes=len(message.encode()))
    return code


def main(argv: Iterable[str] | None = None) -> int:  # pragma: no cover - the CLI calls run()
    del argv
    return run()
