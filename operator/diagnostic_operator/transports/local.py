"""The local transport, the embedded default: run a manifest's command on this machine.

The whole lifecycle without a cluster: allocate database rows, run each attempt through the runner
shim under a memory limit (a cgroup where the machine allows one, else RLIMIT_AS), publish and
ingest, classify, decide, retry with backoff and more memory after an OOM, and finish.

The site's configuration (``LocalOptions.site``) gives the volumes and env sources a spec names: each
volume's ``local`` folder is shown at the spec's mount path (``local_mounts``), each env source's keys come
from ``run``'s environment. A spec the site does not cover ends at once as Failed, class Configuration,
with nothing spawned.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from diagnostic_operator.contracts.exit_record import EXIT_RECORD_FILE, LOG_FILE, ExitRecord, read_exit_record
from diagnostic_operator.contracts.publish_summary import PublishSummary
from diagnostic_operator.lifecycle.classify import Classification, classify
from diagnostic_operator.lifecycle.evidence import ContainerEnd, Evidence, publish_outcome
from diagnostic_operator.lifecycle.policy import Outcome, decide, dirty_after
from diagnostic_operator.quantities import parse_duration
from diagnostic_operator.results import Vocabulary
from diagnostic_operator.runtime.publish import AttemptTarget, RetrySettings, publish_and_ingest
from diagnostic_operator.runtime.shim import shim_path
from diagnostic_operator.settings import Settings
from diagnostic_operator.site import Site, not_covered
from diagnostic_operator.spec import (
    AttemptResources,
    AttemptStatus,
    AttemptTelemetry,
    Decision,
    DiagnosticExecution,
    FailureClass,
    Phase,
    ResourceHint,
)
from diagnostic_operator.store import execution_prefix, open_store
from diagnostic_operator.store.base import ObjectStore
from diagnostic_operator.transports import local_mounts, local_runner, local_site
from diagnostic_operator.transports.local_interrupts import INTERRUPTS
from diagnostic_operator.transports.local_process import child_setup, groups_under, kill_rest
from diagnostic_operator.transports.memory_limit import MemoryLimit, create_limit

if TYPE_CHECKING:
    from sqlalchemy import Engine

LOCAL_NAMESPACE = "local"
LOG_TAIL_BYTES = 64 * 1024
ABORT_GRACE_SECONDS = 10.0  # an aborted attempt's command gets this long to end after TERM


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Reporter:
    """Progress events of a local run. The CLI renders them; the default does nothing."""

    def execution_started(self, name: str, uid: str, database: str, store: str) -> None: ...
    def attempt_started(self, number: int, resources: ResourceHint, limit: MemoryLimit, workdir: Path) -> None: ...
    def attempt_running(self, number: int, elapsed: float, log_line: str | None) -> None: ...
    def publishing(self, number: int) -> None: ...
    def attempt_finished(self, status: AttemptStatus, outcome: Outcome, summary: PublishSummary) -> None: ...
    def backoff(self, seconds_left: float) -> None: ...
    def message(self, text: str) -> None: ...
    def volumes(self, plan: local_mounts.Plan) -> None: ...


@dataclass
class _Spawned:
    proc: subprocess.Popen[bytes]
    limit: MemoryLimit | None
    workdir: Path
    number: int
    started: float
    started_at: str


@dataclass(frozen=True)
class _Prepared:
    """What every attempt of one execution gets from the site: its mounts, its env sources' values (secrets:
    they go into the diagnostic's environment only) and the host folder of ``results.directory``."""

    mounts: local_mounts.Plan
    env: Mapping[str, str]
    results: Path | None


@dataclass
class LocalRunResult:
    name: str
    uid: str
    execution_id: int
    phase: Phase
    failure_class: FailureClass | None
    reason: str
    message: str
    attempts: list[AttemptStatus] = field(default_factory=list)
    output_location: str | None = None
    summary: PublishSummary | None = None


@dataclass
class LocalOptions:
    settings: Settings
    memory_limits: str = "auto"       # auto | cgroup | rlimit | off
    keep_scratch: bool = False
    vocabulary: Vocabulary | None = None
    publish_retry: RetrySettings = field(default_factory=RetrySettings)
    sleep: Callable[[float], None] = time.sleep
    poll_seconds: float = 0.2
    base_env: Mapping[str, str] | None = None
    site: Site = field(default_factory=Site)


class LocalTransport:
    """Runs executions on this machine (entry point ``diagnostic_operator.transports: local``)."""

    def __init__(self, options: LocalOptions, reporter: Reporter | None = None) -> None:
        self.options = options
        self.reporter = reporter or Reporter()
        self._engine: Engine | None = None
        #: The attempt whose shim is spawned and not yet reaped (what an interrupt outside _watch must stop)
        self._live: _Spawned | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from diagnostic_operator.db.engine import create_engine_for, upgrade

            upgrade(self.options.settings.database_url)
            self._engine = create_engine_for(self.options.settings.database_url)
            for lost in local_runner.reap(self._engine):
                self.reporter.message(local_runner.describe(lost))
        return self._engine

    # ------------------------------------------------------------------------------------------
    def run(self, manifest: DiagnosticExecution) -> LocalRunResult:
        spec = manifest.spec
        name = manifest.metadata.name
        namespace = manifest.metadata.namespace or LOCAL_NAMESPACE
        uid = manifest.metadata.uid or str(uuid.uuid4())
        store_url = spec.output.store or self.options.settings.store_url
        scratch = self.options.settings.scratch_dir / f"{name}-{uid[:8]}"
        self.reporter.execution_started(name, uid, self.options.settings.database_url, store_url)
        prepared = self._prepare(manifest, scratch)
        if isinstance(prepared, str):
            return self._refuse(manifest, namespace, uid, store_url, prepared)
        self.reporter.volumes(prepared.mounts)

        # The first attempt starts at once; the database layer loads and the database and store are checked
        # while it runs (that hides ~1 s of start-up). If either check fails the attempt is stopped and
        # nothing is written anywhere.
        resources = spec.resources
        try:
            first = self._spawn(manifest, prepared, resources, uid, 1, scratch / "attempt-1")
            from diagnostic_operator.db import lifecycle_writes, runners

            engine = self.engine
            store = open_store(store_url)
            store.check()
            allocation = lifecycle_writes.allocate_execution(
                engine, namespace=namespace, name=name, uid=uid, spec=spec,
                output_location=store.uri(execution_prefix(namespace, name, uid)))
            runners.claim(engine, allocation.execution_id, local_runner.this_host(), os.getpid())
            lifecycle_writes.set_execution_phase(engine, allocation.execution_id, phase=Phase.RUNNING)
        except BaseException:
            if self._live is not None:  # spawned (an interrupt at the end of the spawn finds it here too)
                self._abort(self._live)
                self._live = None
            raise
        try:
            return self._attempts(manifest, prepared, first, engine, store, allocation.execution_id, uid, scratch)
        except KeyboardInterrupt:  # Ctrl-C, or TERM/HUP turned into one by the CLI
            if self._live is not None:  # interrupted between the spawn and the watch: stop it here
                self._stop(self._live)
                self._live = None
            lifecycle_writes.finish_execution(engine, allocation.execution_id, phase=Phase.CANCELLED,
                                              failure_class=FailureClass.CANCELLED, reason="Interrupted",
                                              message="The run process was interrupted; its attempt was stopped.",
                                              dirty=True)
            raise

    def _attempts(self, manifest: DiagnosticExecution, prepared: _Prepared, first: _Spawned, engine: Engine,
                  store: ObjectStore, execution_id: int, uid: str, scratch: Path) -> LocalRunResult:
        """Run, classify and decide attempts until the execution ends."""
        from diagnostic_operator.db import lifecycle_writes

        spec = manifest.spec
        name = manifest.metadata.name
        namespace = manifest.metadata.namespace or LOCAL_NAMESPACE
        resources = spec.resources
        pending: _Spawned | None = first
        history: list[FailureClass] = []
        attempts: list[AttemptStatus] = []
        number = 0
        while True:
            number += 1
            workdir = scratch / f"attempt-{number}"
            spawned = pending or self._spawn(manifest, prepared, resources, uid, number, workdir)
            self._live = spawned
            pending = None
            attempt_id = lifecycle_writes.record_attempt_start(
                engine, execution_id, number,
                resources=AttemptResources(memory=resources.memory, cpu=resources.cpu, wall_clock=resources.wall_clock),
                started_at=spawned.started_at)
            target = AttemptTarget(namespace, name, uid, number, execution_id, attempt_id)
            status, classification, summary = self._complete(spawned, manifest, prepared, resources, target, store,
                                                             engine)
            history.append(classification.failure_class)
            outcome = decide(classification.failure_class, spec, resources, history, classification.exit_code)
            status = status.model_copy(update={"decision": outcome.decision})
            lifecycle_writes.record_attempt_end(engine, attempt_id, status)
            attempts.append(status)
            self.reporter.attempt_finished(status, outcome, summary)
            if outcome.decision is Decision.RETRY and outcome.next_resources is not None:
                lifecycle_writes.set_execution_phase(engine, execution_id, phase=Phase.RETRYING,
                                                     reason=status.reason, failure_class=status.failure_class)
                self._wait(outcome.backoff_seconds)
                resources = outcome.next_resources
                continue
            dirty = dirty_after(outcome.decision, True)
            message = classification.message if outcome.decision is Decision.SUCCESS else (
                f"{classification.message} Gave up: {outcome.reason}.")
            lifecycle_writes.finish_execution(engine, execution_id, phase=outcome.phase,
                                              failure_class=classification.failure_class, reason=classification.reason,
                                              message=message, dirty=dirty)
            if not self.options.keep_scratch and outcome.decision is Decision.SUCCESS:
                shutil.rmtree(scratch, ignore_errors=True)
            return LocalRunResult(name, uid, execution_id, outcome.phase, classification.failure_class,
                                  classification.reason, message, attempts, summary.output_location, summary)

    # ------------------------------------------------------------------------------------------
    def _prepare(self, manifest: DiagnosticExecution, scratch: Path) -> _Prepared | str:
        """The site's part of every attempt, or why the run cannot start (the message of a Configuration
        failure). Creates the mount points on the host; spawns nothing but the namespace probe."""
        spec, site = manifest.spec, self.options.site
        environ = self.options.base_env if self.options.base_env is not None else os.environ
        own = {"the run's scratch folder": str(scratch), "the runner shim": str(shim_path())}
        found = local_site.problems(spec, site, environ, own)
        if found:
            return not_covered(found)
        planned = local_site.binds(spec, site)
        mounts = local_mounts.Plan("none")
        if planned:
            mounts = local_mounts.plan(planned, local_mounts.detect(), local_mounts.identical_paths(planned))
            if mounts.refusal is not None:
                return mounts.refusal
            found = local_mounts.prepare(mounts)
            if found:
                return not_covered(found)
        results = local_site.results_folder(spec, site)
        return _Prepared(mounts, local_site.source_env(spec, site, environ), Path(results) if results else None)

    def _refuse(self, manifest: DiagnosticExecution, namespace: str, uid: str, store_url: str,
                message: str) -> LocalRunResult:
        """End the execution at once as Failed, class Configuration: rows allocated, no attempt, nothing run."""
        from diagnostic_operator.db import lifecycle_writes

        name = manifest.metadata.name
        engine = self.engine
        output_location = open_store(store_url).uri(execution_prefix(namespace, name, uid))
        allocation = lifecycle_writes.allocate_execution(engine, namespace=namespace, name=name, uid=uid,
                                                         spec=manifest.spec, output_location=output_location)
        reason = local_site.CONFIGURATION_REASON
        lifecycle_writes.finish_execution(engine, allocation.execution_id, phase=Phase.FAILED,
                                          failure_class=FailureClass.CONFIGURATION, reason=reason, message=message,
                                          dirty=False)
        return LocalRunResult(name, uid, allocation.execution_id, Phase.FAILED, FailureClass.CONFIGURATION,
                              reason, message, output_location=output_location)

    def _wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.reporter.backoff(left)
            self.options.sleep(min(left, 0.5))
        self.reporter.backoff(0)

    def _spawn(self, manifest: DiagnosticExecution, prepared: _Prepared, resources: ResourceHint, uid: str,
               number: int, workdir: Path) -> _Spawned:
        """Start one attempt: a fresh output folder and memory limit, then the shim running the command (in
        its mount namespace when the spec mounts volumes)."""
        spec = manifest.spec
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        # Held from the memory limit to ``_live``: an interrupt in between would leave a cgroup or a child that
        # nothing stops; it is raised once the attempt is known, and stopping that attempt is then the
        # caller's business.
        with INTERRUPTS.held():
            limit = None
            if self.options.memory_limits != "off":
                limit = create_limit(f"{uid[:8]}-{number}-{os.getpid()}", resources.memory_bytes,
                                     self.options.memory_limits)
            self.reporter.attempt_started(number, resources, limit or MemoryLimit("rlimit-as", 0), workdir)
            deadline = resources.wall_clock_seconds
            shim = ["/bin/sh", str(shim_path()), "--deadline", f"{deadline:.0f}", "--", *spec.command, *spec.args]
            error_file = workdir / local_mounts.MOUNT_ERROR_FILE
            if prepared.mounts.kind == "namespace":
                error_file.write_text(local_mounts.NAMESPACE_FAILED + "\n", encoding="utf-8")
            cmd = local_mounts.command(prepared.mounts, error_file, shim)
            env = dict(self.options.base_env if self.options.base_env is not None else os.environ)
            env.update({var.name: var.value for var in spec.env})
            env.update(prepared.env)
            env["DIAGNOSTIC_OUTPUT_DIR"] = str(workdir)
            if spec.results.directory is not None:
                env["DIAGNOSTIC_RESULTS_DIR"] = spec.results.directory  # the path the diagnostic sees
            started = time.monotonic()
            started_at = now_iso()
            try:
                proc = subprocess.Popen(
                    cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, start_new_session=True,
                    preexec_fn=child_setup(limit))  # noqa: PLW1509 - joins the cgroup before exec
            except OSError as exc:
                if limit:
                    limit.close()
                raise RuntimeError(f"cannot start the runner shim: {exc}") from exc
            spawned = _Spawned(proc, limit, workdir, number, started, started_at)
            self._live = spawned
        return spawned

    @staticmethod
    def _abort(spawned: _Spawned) -> None:
        """Stop an attempt that must not go on (interrupted while starting, or its database or store is
        unusable) and remove its traces."""
        LocalTransport._stop(spawned)
        shutil.rmtree(spawned.workdir.parent, ignore_errors=True)

    @staticmethod
    def _stop(spawned: _Spawned) -> None:
        """Stop an attempt's processes and reap the shim. The command leads a session of its own (the shim's
        setsid), so a kill of the shim's group alone would miss it: the shim gets TERM and passes it to the
        command's group; what is left after ``ABORT_GRACE_SECONDS`` is killed: the shim's and the command's
        groups, and every process of the attempt's memory cgroup when it has one."""
        pid = spawned.proc.pid
        groups = groups_under(pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
        reaped = False
        deadline = time.monotonic() + ABORT_GRACE_SECONDS
        while not reaped and time.monotonic() < deadline:
            try:
                reaped = os.waitpid(pid, os.WNOHANG)[0] == pid
            except ChildProcessError:
                reaped = True
            if not reaped:
                time.sleep(0.05)
        kill_rest(spawned.limit, groups | groups_under(pid))
        if not reaped:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        spawned.proc.returncode = -9
        if spawned.limit:
            spawned.limit.close()

    def _complete(self, spawned: _Spawned, manifest: DiagnosticExecution, prepared: _Prepared,
                  resources: ResourceHint, target: AttemptTarget, store: ObjectStore, engine: Engine,
                  ) -> tuple[AttemptStatus, Classification, PublishSummary]:
        """Wait for the attempt, then publish, ingest and classify it."""
        spec = manifest.spec
        limit, workdir, started, started_at = spawned.limit, spawned.workdir, spawned.started, spawned.started_at
        wait_status, rusage = self._watch(spawned)
        oom_kills = limit.oom_kills() if limit else None
        if limit:
            limit.close()
        record = self._exit_record(workdir, rusage, limit)
        runner = None
        if record is None:  # the shim died too (e.g. the whole cgroup was OOM-killed): judge from outside
            code = os.waitstatus_to_exitcode(wait_status) if wait_status is not None else None
            code = (128 - code) if code is not None and code < 0 else code
            mount_error = (local_mounts.read_error(workdir / local_mounts.MOUNT_ERROR_FILE)
                           if prepared.mounts.kind == "namespace" else None)
            if mount_error is not None:  # the shim never started: like a container whose volume did not mount
                runner = ContainerEnd(reason="StartError", exit_code=code, message=mount_error)
            else:
                runner = ContainerEnd(reason="OOMKilled" if oom_kills else "Error", exit_code=code)
        self.reporter.publishing(target.attempt)
        summary = publish_and_ingest(workdir, record, spec.results, target, store, engine,
                                     results_dir=prepared.results, vocabulary=self.options.vocabulary,
                                     retry=self.options.publish_retry, log=self.reporter.message)
        evidence = Evidence(exit_record=record, runner=runner, publish=publish_outcome(summary),
                            log_tail=_tail(workdir / LOG_FILE), pod_phase="Failed" if runner else None,
                            rlimit_memory=limit is not None and limit.mechanism == "rlimit-as")
        classification = classify(evidence, parse_duration(spec.pending_timeout))
        if classification is None:  # cannot happen locally: the process has ended
            classification = Classification(FailureClass.INFRASTRUCTURE, "Undecided",
                                             "The attempt ended in a state the classifier could not decide.")
        status = AttemptStatus(
            number=target.attempt, startTime=started_at, endTime=now_iso(),
            exitCode=record.exit_code if record else classification.exit_code, signal=record.signal if record else None,
            reason=classification.reason, message=classification.message,
            failureClass=classification.failure_class,
            resources=AttemptResources(memory=resources.memory, cpu=resources.cpu, wall_clock=resources.wall_clock),
            telemetry=AttemptTelemetry(
                durationSeconds=record.wall_seconds if record and record.wall_seconds is not None
                else round(time.monotonic() - started, 3),
                cpuSeconds=record.cpu_seconds if record else None,
                peakMemoryBytes=record.peak_memory_bytes if record else None,
                peakMemorySource=record.peak_memory_source if record else None,
                memoryLimitBytes=record.memory_limit_bytes if record else None,
                queueSeconds=0.0),
            logLocation=summary.log_location, node=os.uname().nodename, partialFiles=summary.partial_files or None)
        return status, classification, summary

    def _watch(self, spawned: _Spawned) -> tuple[int | None, resource.struct_rusage | None]:
        """Wait for the shim, reporting the last log line. On Ctrl-C (or TERM/HUP, which the CLI turns into
        one) the shim gets TERM and passes it to the command's group; whatever of the attempt is left after
        ``ABORT_GRACE_SECONDS`` is killed (_kill_rest)."""
        proc, number, workdir, started = spawned.proc, spawned.number, spawned.workdir, spawned.started
        result: list[tuple[int | None, resource.struct_rusage | None]] = [(None, None)]

        def reap() -> None:
            _, status, usage = os.wait4(proc.pid, 0)
            result[0] = (status, usage)
            proc.returncode = 0  # reaped here; keep Popen from waiting again

        waiter = threading.Thread(target=reap, daemon=True)
        waiter.start()
        log = workdir / LOG_FILE
        try:
            while waiter.is_alive():
                self.reporter.attempt_running(number, time.monotonic() - started, _last_line(log))
                waiter.join(self.options.poll_seconds)
            self._live = None
        except KeyboardInterrupt:
            self._live = None  # stopped here; the shim's pid must not be signalled again once reaped
            groups = groups_under(proc.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            waiter.join(ABORT_GRACE_SECONDS)
            kill_rest(spawned.limit, groups | groups_under(proc.pid))
            waiter.join(5)
            if spawned.limit is not None:
                spawned.limit.close()
            raise
        return result[0]

    @staticmethod
    def _exit_record(workdir: Path, usage: resource.struct_rusage | None,
                     limit: MemoryLimit | None) -> ExitRecord | None:
        record = read_exit_record(workdir)
        if record is None:
            return None
        extra: dict[str, object] = {}
        if usage is not None:
            extra["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 3)
            extra["max_rss_bytes"] = usage.ru_maxrss * 1024
            if record.peak_memory_bytes is None:
                extra["peak_memory_bytes"] = usage.ru_maxrss * 1024
                extra["peak_memory_source"] = "rusage"
        if limit is not None:
            extra["limit_mechanism"] = limit.mechanism
            if record.memory_limit_bytes is None:
                extra["memory_limit_bytes"] = limit.limit_bytes
        updated = record.model_copy(update=extra)
        path = workdir / EXIT_RECORD_FILE
        tmp = path.with_suffix(".host.tmp")
        tmp.write_text(updated.model_dump_json(by_alias=True, exclude_none=True))
        tmp.replace(path)
        return updated


def _tail(path: Path, size_limit: int = LOG_TAIL_BYTES) -> str | None:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(size - size_limit, 0))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return None


def _last_line(path: Path) -> str | None:
    text = _tail(path, 4096)
    if not text:
        return None
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else None
