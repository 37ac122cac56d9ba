"""The Kopf operator: a thin shell around ``lifecycle.plan``.

For every ``DiagnosticExecution`` one async daemon loops: observe (the object's live body, and its Jobs and
Pods from in-memory indices fed by one watch per kind, so a pass makes no GET) → ``plan`` → carry out the
actions (each idempotent) → sleep until a Job/Pod event of this execution or the requested requeue time.
Database calls run in threads; Kubernetes calls use Kopf's own aiohttp client (``api.py``): nothing blocks the
loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import functools
import logging
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import kopf
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from diagnostic_operator import site
from diagnostic_operator.db import lifecycle_writes
from diagnostic_operator.db.engine import create_engine_for, pool_size_for, upgrade
from diagnostic_operator.db.errors import DatabaseError
from diagnostic_operator.lifecycle.invalid_spec import INVALID_SPEC, RecordRefusal, plan_refusal
from diagnostic_operator.lifecycle.plan import (
    Action,
    CreateJob,
    DeleteJob,
    Emit,
    FailPermanently,
    Finish,
    JobView,
    Observed,
    PodView,
    RecordAttemptEnd,
    RecordAttemptStart,
    Requeue,
    SetStatus,
    plan,
)
from diagnostic_operator.manifest import validation_problems
from diagnostic_operator.settings import Settings
from diagnostic_operator.spec import (
    API_GROUP,
    API_VERSION,
    PLURAL,
    AttemptResources,
    DiagnosticExecutionSpec,
    DiagnosticExecutionStatus,
    Phase,
    ResourceHint,
)
from diagnostic_operator.store import StoreError, execution_prefix, store_uri
from diagnostic_operator.transports.kubernetes import metrics
from diagnostic_operator.transports.kubernetes.api import ApiError, KubeApi, path, status_of
from diagnostic_operator.transports.kubernetes.config import OperatorConfig
from diagnostic_operator.transports.kubernetes.diffbase import NoDiffBaseStorage
from diagnostic_operator.transports.kubernetes.job import build_job, covered
from diagnostic_operator.transports.kubernetes.liveness import DEFAULT_GRACE_SECONDS, ApiContact
from diagnostic_operator.transports.kubernetes.names import (
    ATTEMPT_LABEL,
    EXECUTION_UID_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    job_name,
)
from diagnostic_operator.transports.kubernetes.observe import execution_uid, job_view, pod_view
from diagnostic_operator.transports.kubernetes.priority import CreationFirst

OURS = {MANAGED_BY_LABEL: MANAGED_BY}
MAX_SLEEP = 60.0
#: After trouble with the API server (a failed pass, a failed watch request): watch events may have been lost
#: while a watch re-connected, so every daemon looks again at least this often, for TROUBLE_WINDOW seconds.
TROUBLE_POLL = 10.0
TROUBLE_WINDOW = 120.0
WATCH_INACTIVITY_TIMEOUT = 20.0
DB_THREADS = 16
#: Passes carrying out their writes (status, events, database) at once; a new execution's Job needs no slot
OTHER_WRITE_SLOTS = 8
PROBE_TIMEOUT = 4.0  # the chart's liveness probe waits 5 s
API_ERROR_BACKOFFS = (1.0, 1.0, 2.0, 3.0) + (5.0,) * 24
log = logging.getLogger("diagnostic_operator.operator")


@dataclass
class Runtime:
    """What the handlers share (kept in Kopf's memo)."""

    settings: Settings
    config: OperatorConfig
    engine: Engine
    api: KubeApi
    #: One per running daemon (it makes its own at start; a finished one's is dropped)
    wakeups: dict[str, asyncio.Event] = field(default_factory=lambda: defaultdict(asyncio.Event))
    db_ids: dict[str, int] = field(default_factory=dict)
    #: The last view of each Job and Pod (by object uid) that woke its execution: an event that changes nothing
    #: the plan reads (a Job's ready count, a Pod's finalizer) wakes no one.
    views: dict[str, JobView | PodView] = field(default_factory=dict)
    #: New executions' Jobs first; everything else waits a moment while any is being created
    priority: CreationFirst = field(default_factory=lambda: CreationFirst(slots=OTHER_WRITE_SLOTS))
    #: The last status this process wrote per execution, with the resourceVersion the write produced. The
    #: daemon's ``body`` follows the watch and can lag our own write by a moment; planning on the older status
    #: would repeat decided work (e.g. start an attempt twice). We are the only writer of the status.
    written: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    phases: metrics.PhaseTracker = field(default_factory=metrics.PhaseTracker)
    #: Executions whose spec the models refused (counted once in SPECS_REFUSED)
    refused: set[str] = field(default_factory=set)
    #: ``time.monotonic()`` of the last trouble with the API server (see TROUBLE_POLL)
    trouble_at: float | None = None
    #: When the API server last answered the liveness probe's question
    contact: ApiContact = field(default_factory=lambda: ApiContact(DEFAULT_GRACE_SECONDS, time.monotonic()))

    #: The last validated spec and status per execution: a pass woken by a Pod event re-reads the same body, and
    #: validating both again on every pass is a visible share of the operator's CPU at hundreds of executions
    #: (docs/benchmarks.md).
    models: dict[str, Validated] = field(default_factory=dict)

    def current_status(self, uid: str, body: kopf.Body) -> tuple[tuple[str, object], dict[str, Any]]:
        """The execution's status: the body's, unless this process wrote a newer one the watch has not shown;
        with the resourceVersion it is the status of."""
        mine = self.written.get(uid)
        rv = body.get("metadata", {}).get("resourceVersion")
        seen = _revision(rv)
        if mine is not None and (seen is None or seen < mine[0]):
            return ("mine", mine[0]), mine[1]
        self.written.pop(uid, None)
        return ("body", rv), dict(body.get("status") or {})

    def validated(self, uid: str, body: kopf.Body) -> tuple[DiagnosticExecutionSpec, DiagnosticExecutionStatus]:
        """The body's spec and the current status as models, validated once per generation / version."""
        generation = body.get("metadata", {}).get("generation")
        version, raw = self.current_status(uid, body)
        cached = self.models.get(uid)
        spec = cached.spec if cached is not None and cached.generation == generation else \
            DiagnosticExecutionSpec.model_validate(body.get("spec", {}))
        status = cached.status if cached is not None and cached.version == version and version[1] is not None else \
            DiagnosticExecutionStatus.model_validate(raw)
        self.models[uid] = Validated(generation, spec, version, status)
        return spec, status

    def forget_finished(self, uid: str, body: kopf.Body) -> None:
        """The daemon of a finished execution has ended: drop what only its passes use (the models are
        ~10 KB per execution, thousands of finished executions stay in a namespace). Our last status write
        stays only while the watch has not shown it (a delete handler then still plans on it); the phase
        stays for the executions-by-phase metric until the object is deleted."""
        self.current_status(uid, body)  # forgets our write once the body has caught up with it
        self.models.pop(uid, None)
        self.db_ids.pop(uid, None)
        self.wakeups.pop(uid, None)

    def forget(self, uid: str) -> None:
        """The execution is gone: drop everything kept for it."""
        for kept in (self.written, self.db_ids, self.models, self.wakeups):
            kept.pop(uid, None)
        self.refused.discard(uid)
        self.phases.forget(uid)


@dataclass(frozen=True, slots=True)
class Validated:
    """One execution's validated spec (of a generation) and status (of a version: ours or the body's)."""

    generation: object
    spec: DiagnosticExecutionSpec
    version: tuple[str, object]
    status: DiagnosticExecutionStatus


def longest_sleep(trouble_at: float | None, now: float) -> float:
    """How long a daemon may sleep without looking: shorter for a while after trouble with the API server."""
    if trouble_at is not None and 0 <= now - trouble_at < TROUBLE_WINDOW:
        return TROUBLE_POLL
    return MAX_SLEEP


def _revision(value: object) -> int | None:
    """A resourceVersion as a number (etcd's revision), or None when it is not one."""
    try:
        return int(str(value))
    except ValueError:
        return None


def _runtime(memo: kopf.Memo) -> Runtime:
    return memo["runtime"]  # type: ignore[no-any-return]


ROUTINE = frozenset({"Handler 'wake_on_job' succeeded.", "Handler 'wake_on_pod' succeeded."})


class _DropRoutine(logging.Filter):
    """Drops Kopf's "Handler 'wake_on_…' succeeded." (one line per Job/Pod event: thousands, saying nothing)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.INFO and record.getMessage() in ROUTINE)


def quiet_routine_logs(verbose: bool) -> None:
    """Log what tells the story (our transitions, Kopf's warnings and errors), not every HTTP request and
    every wake-up; ``--verbose`` shows them all again. The JSON formatting of those lines was measurable CPU."""
    if verbose:
        return
    for name in ("httpx", "httpx2", "httpcore", "httpcore2"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropRoutine())


# ---------------------------------------------------------------------------------------------- set-up


_KOPF_CLIENTS = logging.getLogger("kopf._cogs.clients")  # Kopf's API requests and watch streams log here


class _TroubleWatch(logging.Handler):
    """Notes the time of Kopf's failed API requests (its watch streams' included) in the runtime."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(level=logging.ERROR)
        self.runtime = runtime

    def emit(self, record: logging.LogRecord) -> None:
        self.runtime.trouble_at = time.monotonic()


def configure(site: Settings, config: OperatorConfig, namespaces: list[str] | None = None,
              api_grace: float = DEFAULT_GRACE_SECONDS) -> None:
    """Register the start-up handler with this process's settings (called by the CLI before kopf runs).
    ``namespaces``: the watched ones (None: all), where the liveness probe asks the API server;
    ``api_grace``: how long the API server may stay silent before the liveness probe fails."""
    probe_url = path(API_GROUP, API_VERSION, PLURAL, namespaces[0] if namespaces else None, params={"limit": "1"})

    @kopf.on.startup(retries=3, backoff=5)
    async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
        settings_ = settings
        settings_.persistence.finalizer = f"{API_GROUP}/finalizer"
        settings_.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
        # no creation/update handlers: no diff-base annotation to write (one PATCH per execution less)
        settings_.persistence.diffbase_storage = NoDiffBaseStorage()
        settings_.posting.level = logging.WARNING  # our own events tell the story; Kopf's logs stay in logs
        # Only our Jobs and Pods, selected by the API server: cluster-wide, every other Pod of the cluster would
        # otherwise be sent, decoded and filtered out here.
        settings_.watching.label_selectors["batch", "v1", "jobs"] = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
        settings_.watching.label_selectors["v1", "pods"] = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
        settings_.watching.server_timeout = 270
        settings_.watching.client_timeout = 300
        # A watch stream can stay open and silent after etcd or the API server restarts; Kopf re-connects after
        # this long without an event (Kopf's default, 70 s, would make each conclusion after a control-plane
        # restart that much late).
        # An idle stream re-connects from its last resourceVersion this often: nothing is lost, little is sent.
        settings_.watching.inactivity_timeout = WATCH_INACTIVITY_TIMEOUT
        # Kopf retries a failed API request (a watch's re-connection too) after 1, 1, 2, 3, 5, 8, 13, 21 s and
        # then gives up: an API server back after half a minute is noticed up to ~20 s late, and one away for
        # about a minute makes the watcher start over. Retry every few seconds for about two minutes instead.
        settings_.networking.error_backoffs = API_ERROR_BACKOFFS
        # Database calls run in the loop's default executor (asyncio.to_thread): size it, and the connection
        # pool, for a burst of new executions (the default, cpu+4 threads, queued them: each call is mostly
        # waiting on the database, not CPU).
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="db"))
        await asyncio.to_thread(upgrade, site.database_url)
        engine = create_engine_for(site.database_url, **pool_size_for(site.database_url, DB_THREADS))
        memo["runtime"] = runtime = Runtime(site, config, engine, KubeApi(settings),
                                            contact=ApiContact(api_grace, time.monotonic()))
        _KOPF_CLIENTS.addHandler(_TroubleWatch(runtime))

    @kopf.on.probe(id="apiServer")
    async def api_server(memo: kopf.Memo, **_: Any) -> str:
        """Part of ``/healthz`` (Kopf asks at most every 10 s): does the API server answer? A failure longer
        than the grace makes the endpoint answer 500, and the kubelet restarts the operator."""
        runtime = memo.get("runtime")
        if not isinstance(runtime, Runtime):
            return "starting"
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                await runtime.api.items(probe_url)
            runtime.contact.answered(time.monotonic())
        except (ApiError, OSError, TimeoutError, aiohttp.ClientError) as exc:
            metrics.count_failure(exc)
            runtime.contact.failed(f"{type(exc).__name__}: {exc}"[:300])
        alive, message = runtime.contact.verdict(time.monotonic())
        if not alive:
            log.error("liveness: %s", message)
            raise kopf.PermanentError(message)
        return message

    @kopf.on.cleanup()
    async def cleanup(memo: kopf.Memo, **_: Any) -> None:
        for handler in [h for h in _KOPF_CLIENTS.handlers if isinstance(h, _TroubleWatch)]:
            _KOPF_CLIENTS.removeHandler(handler)


@kopf.on.login()
def login(settings: kopf.OperatorSettings, **kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a Pod: the service account, at ``$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`` (Kopf's own
    handler always uses https://kubernetes.default.svc, which needs cluster DNS); elsewhere: the kubeconfig."""
    info = kopf.login_with_service_account(settings=settings, **kwargs)
    if info is None:
        return kopf.login_with_kubeconfig(settings=settings, **kwargs)
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    if not host:
        return info
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    return dataclasses.replace(info, server=f"https://{f'[{host}]' if ':' in host else host}:{port}")


# ---------------------------------------------------------------------------------------------- indices


# These three run for every Job and Pod event. They are ``async`` on purpose: Kopf runs a plain ``def`` handler
# in its thread pool, three thread hops per event, which at 500 executions arriving at once queued behind one
# another and behind the database calls (benchmarks/operator_scale).


@kopf.index("batch", "v1", "jobs", labels=OURS)
async def execution_jobs(body: kopf.Body, **_: Any) -> dict[str, JobView] | None:
    uid, view = execution_uid(body), job_view(body)
    return {uid: view} if uid and view else None


@kopf.index("", "v1", "pods", labels=OURS)
async def execution_pods(body: kopf.Body, **_: Any) -> dict[str, PodView] | None:
    uid, view = execution_uid(body), pod_view(body)
    return {uid: view} if uid and view else None


@kopf.on.event("batch", "v1", "jobs", labels=OURS)
async def wake_on_job(body: kopf.Body, memo: kopf.Memo, type: str | None, **_: Any) -> None:
    """A Job of an execution changed: wake that execution's daemon, if the plan would see a change."""
    _wake(memo, body, type, job_view(body))


@kopf.on.event("", "v1", "pods", labels=OURS)
async def wake_on_pod(body: kopf.Body, memo: kopf.Memo, type: str | None, **_: Any) -> None:
    """A Pod of an execution changed: wake that execution's daemon, if the plan would see a change."""
    _wake(memo, body, type, pod_view(body))


def _wake(memo: kopf.Memo, body: kopf.Body, event: str | None, view: JobView | PodView | None) -> None:
    uid = execution_uid(body)
    runtime = memo.get("runtime")
    if not uid or not isinstance(runtime, Runtime):
        return
    key = str(body.get("metadata", {}).get("uid", ""))
    if event == "DELETED" or view is None:
        runtime.views.pop(key, None)
        wakeup = runtime.wakeups.get(uid)
    elif (wakeup := runtime.wakeups.get(uid)) is None:
        # no daemon listens (a finished execution's, or one not yet started: its first pass reads the indices)
        runtime.views.pop(key, None)
        return
    elif runtime.views.get(key) == view:
        return  # nothing the plan reads has changed
    else:
        runtime.views[key] = view
    if wakeup is not None:
        wakeup.set()


# ---------------------------------------------------------------------------------------------- the daemon


@kopf.daemon(API_GROUP, API_VERSION, PLURAL, cancellation_timeout=10.0)  # type: ignore[arg-type]
async def lifecycle(stopped: kopf.DaemonStopped, name: str, namespace: str, uid: str, meta: kopf.Meta,
                    body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger,
                    execution_jobs: kopf.Index[str, JobView], execution_pods: kopf.Index[str, PodView],
                    **_: Any) -> None:
    runtime = _runtime(memo)
    event = runtime.wakeups[uid]  # from now on Job/Pod events of this execution wake this daemon (_wake)
    while not stopped:
        if meta.get("deletionTimestamp"):
            return  # deletion is the delete handler's (the same plan, run once, then the finalizer goes)
        started = time.monotonic()
        sleep = await reconcile(runtime, body, execution_jobs, execution_pods, logger)
        metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)
        if sleep is None:
            runtime.forget_finished(uid, body)
            return  # nothing left to do for this execution in this operator's life
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                event.wait(), timeout=min(max(sleep, 0.0), longest_sleep(runtime.trouble_at, time.monotonic())))
        event.clear()


async def reconcile(runtime: Runtime, body: kopf.Body, execution_jobs: kopf.Index[str, JobView],
                    execution_pods: kopf.Index[str, PodView], logger: kopf.Logger) -> float | None:
    """One observe → plan → act pass. Returns seconds until the next pass, None when the execution is done."""
    meta = body.get("metadata", {})
    name, namespace, uid = meta.get("name", ""), meta.get("namespace", ""), meta.get("uid", "")
    deleting = bool(meta.get("deletionTimestamp"))
    try:
        spec, status = runtime.validated(uid, body)
    except ValidationError as exc:
        # The API server validated it; this is a version skew, a hand edit or a rule the CRD cannot express.
        return None if deleting else await _refuse_invalid(runtime, body, exc, logger)
    jobs = {j.attempt: j for j in execution_jobs.get(uid, [])}
    runtime.phases.set(uid, str(status.phase))
    if status.phase.terminal and not any(not j.finished for j in jobs.values()):
        return None
    try:
        # A new execution (the plan will start attempt 1) gets its Job before its database rows: the rows are
        # the RecordAttemptStart that follows. Any other is allocated first (its id is in what the plan writes).
        new = not (status.attempts or jobs or deleting or spec.cancel)
        execution_id = runtime.db_ids.get(uid)
        if execution_id is None and not new:
            execution_id = await _ensure_allocated(runtime, namespace, name, uid, spec)
        observed = Observed(
            name=name, namespace=namespace, uid=uid, generation=meta.get("generation"), spec=spec,
            status=status.model_copy(update={"database_execution_id": execution_id}),
            now=datetime.now(UTC), jobs=jobs, pods=_group(execution_pods.get(uid, [])), deleting=deleting,
            job_name=functools.partial(job_name, name),
            refusal=None if status.phase.terminal else covered(spec, spec.resources, runtime.config),
            references=site.references(spec, runtime.config.site) if spec.env_sources else {})
        actions = plan(observed)
        if await _vanished_but_there(runtime, observed, actions):
            return 5.0  # an index lags (busy loop, a watch re-connecting): the object is there; look again
        return await _execute(runtime, observed, execution_id, actions, body, logger)
    except (ApiError, OSError, StoreError, aiohttp.ClientError, TimeoutError, SQLAlchemyError, DatabaseError) as exc:
        # the API server or the database is away (restart, network): try again soon, never crash the daemon.
        # A spec the configuration does not cover is no outage: the plan ends it (FailPermanently).
        runtime.trouble_at = time.monotonic()
        metrics.count_failure(exc)
        logger.warning(f"reconcile of {namespace}/{name} failed, retrying: {type(exc).__name__}: {exc}")
        if deleting:
            raise kopf.TemporaryError(f"cancelling failed, retrying: {exc}", delay=5) from exc
        return 10.0


async def _refuse_invalid(runtime: Runtime, body: kopf.Body, exc: ValidationError,
                          logger: kopf.Logger) -> float | None:
    """End an execution whose spec (or status) the models refuse, once (lifecycle/invalid_spec.py): its rows,
    its status, one Warning. Outages are retried like any other pass."""
    meta = body.get("metadata", {})
    name, namespace, uid = meta.get("name", ""), meta.get("namespace", ""), meta.get("uid", "")
    root = "status" if exc.title == DiagnosticExecutionStatus.__name__ else "spec"
    _, raw_status = runtime.current_status(uid, body)
    actions = plan_refusal(raw_status, meta.get("generation"), validation_problems(exc, root), datetime.now(UTC))
    execution_id = None
    try:
        for action in actions:
            match action:
                case RecordRefusal(message=message):
                    execution_id = await asyncio.to_thread(
                        lifecycle_writes.record_refused, runtime.engine, namespace=namespace, name=name, uid=uid,
                        spec=body.get("spec") or {}, reason=INVALID_SPEC, message=message)
                    if uid not in runtime.refused:  # counted once per execution
                        runtime.refused.add(uid)
                        metrics.SPECS_REFUSED.labels(why="invalid-spec").inc()
                    metrics.FINISHED.labels(phase=str(Phase.FAILED)).inc()
                case SetStatus(status=status):
                    document = status.model_copy(update={"database_execution_id": execution_id}).model_dump(
                        by_alias=True, exclude_none=True, mode="json")
                    result = await runtime.api.merge_patch(
                        path(API_GROUP, API_VERSION, PLURAL, namespace, name, "status"), {"status": document})
                    revision = _revision((result.get("metadata") or {}).get("resourceVersion"))
                    runtime.phases.set(uid, str(status.phase))
                    if revision is not None:
                        runtime.written[uid] = (revision, document)
                case Emit(type=kind, reason=reason, message=message):
                    kopf.event(body, type=kind, reason=reason, message=message)
                    logger.warning(f"{namespace}/{name} {reason}: {message}")
    except (ApiError, OSError, aiohttp.ClientError, TimeoutError, SQLAlchemyError, DatabaseError) as failure:
        runtime.trouble_at = time.monotonic()
        metrics.count_failure(failure)
        logger.warning(f"refusing {namespace}/{name} failed, retrying: {type(failure).__name__}: {failure}")
        return 10.0
    return None


def _group(pods: Any) -> dict[int, list[PodView]]:
    grouped: dict[int, list[PodView]] = defaultdict(list)
    for pod in pods:
        grouped[pod.attempt].append(pod)
    return dict(grouped)


async def _ensure_allocated(runtime: Runtime, namespace: str, name: str, uid: str,
                            spec: DiagnosticExecutionSpec, first: RecordAttemptStart | None = None) -> int:
    """The execution's database id (allocated on first sight). With ``first`` (a new execution's attempt 1,
    whose Job was just made) attempt 1's row is made in the same transaction."""
    if uid not in runtime.db_ids:
        store_url = spec.output.store or runtime.config.default_store or runtime.settings.store_url
        location = store_uri(store_url, execution_prefix(namespace, name, uid))  # no client is built
        start = None if first is None else lifecycle_writes.AttemptStart(
            resources=AttemptResources(memory=first.resources.memory, cpu=first.resources.cpu,
                                       wall_clock=first.resources.wall_clock),
            job=first.job)
        allocation = await asyncio.to_thread(
            lifecycle_writes.allocate_execution, runtime.engine, namespace=namespace, name=name, uid=uid, spec=spec,
            output_location=location, first_attempt=start)
        runtime.db_ids[uid] = allocation.execution_id
        if first is not None and allocation.first_attempt_id is None:  # the execution existed: ensure the row
            await _record_start(runtime, allocation.execution_id, first)
    return runtime.db_ids[uid]


async def _record_start(runtime: Runtime, execution_id: int, action: RecordAttemptStart) -> None:
    r = action.resources
    await asyncio.to_thread(
        lifecycle_writes.record_attempt_start, runtime.engine, execution_id, action.attempt,
        resources=AttemptResources(memory=r.memory, cpu=r.cpu, wall_clock=r.wall_clock), job=action.job)


async def _vanished_but_there(runtime: Runtime, obs: Observed, actions: list[Action]) -> bool:
    """The plan concludes "JobVanished" / "PodVanished" from the indices alone. Before an attempt is failed for
    that, ask the API server once: the watch can lag under load (hundreds of executions), and after an API
    server restart the Job watch can deliver a finished Job before the Pod watch re-connects."""
    for action in actions:
        if not isinstance(action, RecordAttemptEnd):
            continue
        number = action.attempt.number
        if action.attempt.reason == "JobVanished":
            return await runtime.api.get(path("batch", "v1", "jobs", obs.namespace, job_name(obs.name, number))) \
                is not None
        if action.attempt.reason == "PodVanished":
            selector = f"{EXECUTION_UID_LABEL}={obs.uid},{ATTEMPT_LABEL}={number}"
            for pod in await runtime.api.items(path("", "v1", "pods", obs.namespace,
                                                    params={"labelSelector": selector})):
                if not (pod.get("metadata") or {}).get("deletionTimestamp"):
                    return True
    return False


async def _create_job(runtime: Runtime, obs: Observed, number: int, resources: ResourceHint) -> None:
    manifest = build_job(namespace=obs.namespace, name=obs.name, uid=obs.uid, spec=obs.spec, attempt=number,
                         resources=resources, config=runtime.config)
    try:
        await runtime.api.create(path("batch", "v1", "jobs", obs.namespace), manifest)
        metrics.JOBS_CREATED.inc()
        log.info("%s/%s: Job %s created", obs.namespace, obs.name, manifest["metadata"]["name"])
    except ApiError as exc:
        if status_of(exc) != 409:  # 409: it exists already (a replay): fine
            raise


async def _execute(runtime: Runtime, obs: Observed, execution_id: int | None, actions: list[Action],
                   body: kopf.Body, logger: kopf.Logger) -> float:
    """Carry out the plan's actions, in order; each is idempotent. Returns how long to sleep.

    ``execution_id`` is None for a new execution: its Job is created at once, and its rows (and with them the
    id its status names) by the RecordAttemptStart after it. Every action but a new execution's Job waits while
    other new executions' Jobs are being created (``CreationFirst``)."""
    async with contextlib.AsyncExitStack() as others:
        return await _carry_out(runtime, obs, execution_id, actions, body, others)


async def _carry_out(runtime: Runtime, obs: Observed, execution_id: int | None, actions: list[Action],
                     body: kopf.Body, others: contextlib.AsyncExitStack) -> float:
    sleep = MAX_SLEEP
    finished_with_attempt = False
    waited = False
    for action in actions:
        if not waited and not (isinstance(action, CreateJob) and execution_id is None):
            await others.enter_async_context(runtime.priority.other())
            waited = True
        match action:
            case CreateJob(attempt=number, resources=resources):
                if execution_id is None:
                    async with runtime.priority.creation():
                        await _create_job(runtime, obs, number, resources)
                else:
                    await _create_job(runtime, obs, number, resources)
            case RecordAttemptStart():
                if execution_id is None:  # a new execution: its rows and attempt 1's, in one transaction
                    execution_id = await _ensure_allocated(runtime, obs.namespace, obs.name, obs.uid, obs.spec,
                                                           first=action)
                else:
                    await _record_start(runtime, execution_id, action)
            case DeleteJob(name=name):
                await runtime.api.delete(path("batch", "v1", "jobs", obs.namespace, name))  # gone already: fine
            case RecordAttemptEnd(attempt=record):
                assert execution_id is not None, "an attempt ends only after its execution was allocated"
                # the execution's end, when the plan has one, goes into the same transaction
                finish = next((a for a in actions if isinstance(a, Finish)), None)
                await asyncio.to_thread(
                    lifecycle_writes.end_attempt, runtime.engine, execution_id, record,
                    resources=record.resources or AttemptResources(
                        memory=obs.spec.resources.memory, cpu=obs.spec.resources.cpu,
                        wall_clock=obs.spec.resources.wall_clock),
                    finish=None if finish is None else lifecycle_writes.ExecutionEnd(
                        phase=finish.phase, failure_class=finish.failure_class, reason=finish.reason,
                        message=finish.message, dirty=finish.dirty))
                finished_with_attempt = finish is not None
                if record.failure_class is not None:
                    metrics.ATTEMPTS.labels(failure_class=str(record.failure_class)).inc()
                if record.telemetry is not None and record.telemetry.queue_seconds is not None:
                    metrics.QUEUE_SECONDS.observe(record.telemetry.queue_seconds)
                if record.telemetry is not None and record.telemetry.duration_seconds is not None:
                    metrics.RUN_SECONDS.observe(record.telemetry.duration_seconds)
            case Finish(phase=phase, failure_class=failure_class, reason=reason, message=message, dirty=dirty):
                if not finished_with_attempt:
                    assert execution_id is not None, "an execution finishes only after it was allocated"
                    await asyncio.to_thread(lifecycle_writes.finish_execution, runtime.engine, execution_id,
                                            phase=phase, failure_class=failure_class, reason=reason,
                                            message=message, dirty=dirty)
                metrics.FINISHED.labels(phase=str(phase)).inc()
            case FailPermanently(failure_class=failure_class, reason=reason, message=message, dirty=dirty):
                if execution_id is None:
                    execution_id = await _ensure_allocated(runtime, obs.namespace, obs.name, obs.uid, obs.spec)
                await asyncio.to_thread(lifecycle_writes.finish_execution, runtime.engine, execution_id,
                                        phase=Phase.FAILED, failure_class=failure_class, reason=reason,
                                        message=message, dirty=dirty)
                metrics.FINISHED.labels(phase=str(Phase.FAILED)).inc()
                metrics.SPECS_REFUSED.labels(why="not-covered").inc()
            case SetStatus(status=status):
                if status.database_execution_id is None and execution_id is not None:
                    status = status.model_copy(update={"database_execution_id": execution_id})  # allocated above
                document = status.model_dump(by_alias=True, exclude_none=True, mode="json")
                result = await runtime.api.merge_patch(
                    path(API_GROUP, API_VERSION, PLURAL, obs.namespace, obs.name, "status"), {"status": document})
                revision = _revision((result.get("metadata") or {}).get("resourceVersion"))
                runtime.phases.set(obs.uid, str(status.phase))
                if revision is not None:
                    written = result.get("status")
                    runtime.written[obs.uid] = (revision, written if isinstance(written, dict) else document)
            case Emit(type=kind, reason=reason, message=message):
                kopf.event(body, type=kind, reason=reason, message=message[:1000])
                log.info("%s/%s %s: %s", obs.namespace, obs.name, reason, message)
            case Requeue(after_seconds=seconds):
                sleep = min(sleep, seconds)
    return sleep


@kopf.on.delete(API_GROUP, API_VERSION, PLURAL, timeout=60.0)  # type: ignore[arg-type]
async def deleted(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger,
                  execution_jobs: kopf.Index[str, JobView], execution_pods: kopf.Index[str, PodView],
                  **_: Any) -> None:
    """Deletion: the plan's cancel (stop the Jobs, end the attempt, record Cancelled), run by this handler
    alone. Its finalizer never blocks for long: after 60 s of failures Kopf gives up and lets the object go."""
    runtime = _runtime(memo)
    await reconcile(runtime, body, execution_jobs, execution_pods, logger)
    runtime.forget(body.get("metadata", {}).get("uid", ""))
