"""Scale (issue 7): N DiagnosticExecutions sent in bursts, with a mix of outcomes, through four subjects on the
same cluster in the same run:

* ``ours``: the operator under test (``diagnostic-operator operator``), with its database and store;
* ``baseline``: the minimal Kopf operator of benchmarks/baseline_operator.py (one Job per object, nothing else);
* ``writes``: that baseline plus the API writes issue 4 asks of any operator of this CRD (a finalizer, a Pod watch,
  a status PATCH and an Event per transition; ``BASELINE_WRITES=1``): what those writes cost the shared API server,
  apart from our code;
* ``direct``: no operator: this process POSTs the baseline's Jobs itself (the apiserver's own Job-creation rate).

The set-up is benchmarks/operator_scale.py's (imported, not copied): a throw-away PostgreSQL, the moto S3 server,
the same Observer (watch-event arrival times, RSS/CPU samples with the live count), and a private kwok process
with fake nodes of its own (``scale-kwok-*``, label ``diagnostic-operator.io/node-kind=kwok-scale``, so that it
and a concurrent operator_scale run never manage each other's nodes). The private kwok runs the repository's
tests/cluster/kwok/stages.yaml plus the stages below (a file written to the run's temporary folder; the test
suite's stages are not changed).

Outcome mix. The operator's site config gives every Pod the same annotations, so a per-execution outcome has to
be read from something the execution itself sets: its memory. Our Pods carry the annotation
``kwok.diagnostic-operator.io/outcome=scale`` (no stage of the test suite acts on it, except do-pod-running) and
the stages below select on the runner container's memory limit and on the attempt label:

    success      128Mi                      → Succeeded (the ingest container's publish summary)
    oom          257Mi on any attempt       → runner OOMKilled (137) → OutOfMemory → RETRY with 386Mi → Succeeded
    error        129Mi                      → runner exit 3 (not retryable) → DiagnosticError → GIVE_UP (Failed)
    evict        130Mi and attempt 1        → Pod Evicted → Infrastructure → RETRY (infrastructure budget),
                 130Mi and attempt ≥ 2      → Succeeded

The baseline and direct Jobs have no memory limit and carry ``outcome=succeed`` (the test suite's stage): they
have no retry logic, so their Pods all succeed; they are there for the creation rate and latency.

Bursts: ``--bursts B`` of N/B executions (Jobs, for direct); burst b is sent ``b × --burst-gap`` seconds after the
first (or as soon as the previous one is sent, if later), each burst with ``--concurrency`` POSTs in flight
(httpx, the same client and credentials for every subject, retried on 429/5xx).

Measured per subject and N (in its own namespace ``scale-*``):
* creation → Job latency: the Observer's clock (watch event ADDED of the attempt-1 Job minus ADDED of the
  execution; for direct, minus the moment its POST was sent), p50/p90/p99/max;
* Job-creation rate: per burst, its attempt-1 Jobs / (last of them ADDED − the burst's first POST); the median
  over bursts is compared with direct's (goal: ours ≥ 80 %); also over the whole run;
* time to all terminal (ours: ``status.phase``; baseline and direct: Job Complete), attempts (Jobs) per second
  over that time and the peak over 10 s;
* operator peak RSS, RSS vs live executions (time series), CPU s total and ms per execution (ours, baseline);
* API requests per execution: ``apiserver_request_total`` scraped from the apiserver before the first burst and
  after all are terminal, the delta by verb and resource divided by N. Approximate: the controller-manager,
  scheduler, kwok, this process's watches and anyone else using the shared apiserver are counted too;
* database rows (ours): executions by phase and failure class, attempts by failure class and decision.
  Time spent ingesting is not measured here: the ingest sidecar does not run on kwok.

Memory against live executions: with several N (``--n 500,1000,2000,5000``) the peak RSS of ours against the
peak live count of each run is plotted (``--plot``), and "grows less than linearly" is checked as
RSS(largest N) / RSS(smallest N) < largest N / smallest N; the marginal MB per extra live execution between
consecutive runs is reported as well.

Goals (exit 1 if missed, unless --no-check): ours' median burst Job-creation rate ≥ 0.8 × direct's; ours' p99
creation → Job ≤ 1.5 × the baseline's; every execution of ours ends as the mix says; memory sub-linear (when
more than one N ran).

    .venv/bin/python benchmarks/scale.py --n 500,1000,2000,5000 --plot docs/img/scale-memory.png   # full
    .venv/bin/python benchmarks/scale.py --n 100 --delay 5s --bursts 2 --burst-gap 5 --no-check     # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for entry in (str(ROOT), str(ROOT / "benchmarks")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from baseline_operator import job_manifest  # noqa: E402
from lightkube.config.client_adapter import Client, ConnectionParams, httpx  # noqa: E402
from lightkube.config.kubeconfig import KubeConfig  # noqa: E402
from operator_scale import (  # noqa: E402
    EXECUTION_LABEL,
    FINALIZING,
    KWOK,
    NODE_KIND_LABEL,
    Context,
    Observer,
    bench_services,
    distribution,
    load,
    log,
    median_of,
    operator_source,
    ratio,
    start_subject,
    stop_subject,
    wait_service_account,
)
from sqlalchemy import text  # noqa: E402
from tests.cluster.fixtures import TEST_NODE_TOLERATION, cluster_env, kubectl  # noqa: E402
from tests.helpers import publish_summary  # noqa: E402
from tests.k8s.operator_harness import apply_crd  # noqa: E402

from diagnostic_operator.db.engine import create_engine_for  # noqa: E402

SCALE_NODE_KIND = "kwok-scale"
SUBJECTS = ("direct", "baseline", "writes", "ours")
MEMORY = {"success": "128Mi", "oom": "257Mi", "error": "129Mi", "evict": "130Mi"}
ERROR_EXIT_CODE = 3
RUNNER_MEMORY = '.spec.containers.[] | select( .name == "runner" ) | .resources.limits.memory'
ATTEMPT = '.metadata.labels["diagnostic-operator.io/attempt"]'


# ---------------------------------------------------------------------------------------------- kwok stages


def _stage(name: str, expressions: list[tuple[str, str, list[str]]], template: str) -> str:
    lines = [
        "---",
        "apiVersion: kwok.x-k8s.io/v1alpha1",
        "kind: Stage",
        f"metadata: {{name: {name}}}",
        "spec:",
        "  resourceRef: {apiGroup: v1, kind: Pod}",
        "  selector:",
        "    matchExpressions:",
        "    - {key: '.metadata.deletionTimestamp', operator: DoesNotExist}",
        "    - {key: '.status.phase', operator: In, values: [Running]}",
        f"    - {{key: '.metadata.annotations[\"{KWOK}/outcome\"]', operator: In, values: [scale]}}",
    ]
    for key, op, values in expressions:
        lines.append(f"    - {{key: {json.dumps(key)}, operator: {op}, values: {json.dumps(values)}}}")
    lines += [
        "  delay:",
        "    durationMilliseconds: 0",
        "    durationFrom:",
        f"      expressionFrom: '.metadata.annotations[\"{KWOK}/delay\"]'",
        "  next:",
        "    statusTemplate: |",
        *[f"      {line}" if line else "" for line in template.strip("\n").splitlines()],
    ]
    return "\n".join(lines) + "\n"


def _ended(phase: str, runner: str, ingest_message: str | None, extra: str = "") -> str:
    """A statusTemplate: every container terminated; the runner as ``runner`` says, the ingest container with
    exit 0 and the message of annotation ``ingest_message`` (a publish summary)."""
    ready_reason = "PodCompleted" if phase == "Succeeded" else "PodFailed"
    message = (
        f'{{{{ with index $annotations "{ingest_message}" }}}}\n      message: {{{{ . | Quote }}}}\n      {{{{ end }}}}'
        if ingest_message
        else ""
    )
    return f"""
{{{{ $now := Now }}}}
{{{{ $annotations := or .metadata.annotations dict }}}}
conditions:
- lastTransitionTime: {{{{ $now | Quote }}}}
  status: "False"
  reason: {ready_reason}
  type: Ready
- lastTransitionTime: {{{{ $now | Quote }}}}
  status: "False"
  reason: {ready_reason}
  type: ContainersReady
{extra}
containerStatuses:
{{{{ range .spec.containers }}}}
- image: {{{{ .image | Quote }}}}
  name: {{{{ .name | Quote }}}}
  ready: false
  restartCount: 0
  started: false
  state:
    terminated:
      {{{{ if eq .name "runner" }}}}
      {runner}
      {{{{ else }}}}
      exitCode: 0
      reason: Completed
      {message}
      {{{{ end }}}}
      finishedAt: {{{{ $now | Quote }}}}
      startedAt: {{{{ $now | Quote }}}}
{{{{ end }}}}
phase: {phase}
"""


def stages_text() -> str:
    """The test suite's stages plus ours (selected by the annotation ``outcome=scale`` and the runner's memory)."""
    success = _ended("Succeeded", "exitCode: 0\n      reason: Completed", f"{KWOK}/termination-message.ingest")
    oom = _ended("Failed", "exitCode: 137\n      reason: OOMKilled", f"{KWOK}/scale-message.oom")
    error = _ended("Failed", f"exitCode: {ERROR_EXIT_CODE}\n      reason: Error", f"{KWOK}/scale-message.error")
    evicted_condition = """- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  reason: TerminationByKubelet
  message: "The node was low on resource: memory."
  type: DisruptionTarget"""
    evict = _ended("Failed", "exitCode: 137\n      reason: ContainerStatusUnknown", None, evicted_condition)
    evict += 'reason: Evicted\nmessage: "The node was low on resource: memory. (kwok scale benchmark)"\n'
    special = [MEMORY["oom"], MEMORY["error"], MEMORY["evict"]]
    ours = [
        _stage("scale-pod-succeed", [(RUNNER_MEMORY, "NotIn", special)], success),
        _stage(
            "scale-pod-succeed-after-evict",
            [(RUNNER_MEMORY, "In", [MEMORY["evict"]]), (ATTEMPT, "NotIn", ["1"])],
            success,
        ),
        _stage("scale-pod-oom", [(RUNNER_MEMORY, "In", [MEMORY["oom"]])], oom),
        _stage("scale-pod-error", [(RUNNER_MEMORY, "In", [MEMORY["error"]])], error),
        _stage("scale-pod-evict", [(RUNNER_MEMORY, "In", [MEMORY["evict"]]), (ATTEMPT, "In", ["1"])], evict),
    ]
    base = (ROOT / "tests/cluster/kwok/stages.yaml").read_text()
    return base.rstrip("\n") + "\n" + "".join(ours)


def failure_summary(s3_url: str, exit_code: int, **extra: Any) -> str:
    """What the ingest sidecar writes after a failed runner: the exit record's fields, the log published,
    nothing ingested."""
    return publish_summary(
        exitCode=exit_code,
        wallSeconds=1.0,
        logLocation=f"{s3_url}/kwok/attempt-1/out.log",
        outputLocation=f"{s3_url}/kwok",
        ingested=False,
        counts=None,
        **extra,
    ).to_message()


# ---------------------------------------------------------------------------------------------- load


def parse_mix(text_: str) -> dict[str, float]:
    mix = {}
    for part in text_.split(","):
        key, _, value = part.partition("=")
        if key.strip() not in MEMORY:
            raise SystemExit(f"--mix: unknown outcome {key!r} (one of {', '.join(MEMORY)})")
        mix[key.strip()] = float(value)
    total = sum(mix.values())
    return {k: v / total for k, v in mix.items() if v > 0}


def outcomes(n: int, mix: dict[str, float]) -> list[str]:
    """One outcome per execution, spread evenly over the sequence (so over the bursts), exact counts."""
    counts = {k: round(share * n) for k, share in mix.items()}
    first = next(iter(mix))
    counts[first] += n - sum(counts.values())
    credit = dict.fromkeys(counts, 0.0)
    out = []
    for _ in range(n):
        for k in credit:
            credit[k] += counts[k] / n
        pick = max(credit, key=lambda k: credit[k])
        credit[pick] -= 1.0
        out.append(pick)
    return out


def execution(name: str, outcome: str) -> dict[str, Any]:
    spec = {
        "diagnostic": {"provider": "bench", "slug": "scale", "version": "1"},
        "groupKey": "scale",
        "image": "example-diagnostic:0.1",
        "command": ["true"],
        "resources": {"memory": MEMORY[outcome], "cpu": "100m", "wallClock": "10m"},
        "retry": {"backoff": {"initial": "1s", "max": "5s"}},
    }
    return {
        "apiVersion": "diagnostic-operator.io/v1alpha1",
        "kind": "DiagnosticExecution",
        "metadata": {"name": name, "labels": {"scale.bench/outcome": outcome}},
        "spec": spec,
    }


def key(obj: dict[str, Any]) -> str:
    """The execution an object stands for: its name, or for a direct Job its execution label."""
    return str((obj["metadata"].get("labels") or {}).get(EXECUTION_LABEL) or obj["metadata"]["name"])


@dataclasses.dataclass
class Sender:
    """Sends the bursts; records when each object's POST was first sent and each burst started."""

    path: str
    bursts: list[list[dict[str, Any]]]
    gap: float
    concurrency: int
    sent: dict[str, float] = dataclasses.field(default_factory=dict)
    burst_start: list[float] = dataclasses.field(default_factory=list)
    burst_sent: list[float] = dataclasses.field(default_factory=list)
    statuses: Counter[int] = dataclasses.field(default_factory=Counter)
    errors: list[str] = dataclasses.field(default_factory=list)

    async def run(self) -> None:
        config = KubeConfig.from_file(cluster_env()["KUBECONFIG"]).get()
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        params = ConnectionParams(timeout=httpx.Timeout(60)).httpx_params(config)  # lightkube's TLS and auth
        async with httpx.AsyncClient(**params, limits=limits) as http:
            gate = asyncio.Semaphore(self.concurrency)
            t0 = time.monotonic()
            for b, burst in enumerate(self.bursts):
                await asyncio.sleep(max(0.0, t0 + b * self.gap - time.monotonic()))
                self.burst_start.append(time.monotonic())
                await asyncio.gather(*(self._post(http, gate, obj) for obj in burst))
                self.burst_sent.append(time.monotonic())
                log(
                    f"burst {b + 1}/{len(self.bursts)}: {len(burst)} sent in "
                    f"{self.burst_sent[-1] - self.burst_start[-1]:.1f} s"
                )

    async def _post(self, http: Any, gate: asyncio.Semaphore, obj: dict[str, Any]) -> None:
        name = key(obj)
        async with gate:
            for attempt in range(8):
                self.sent.setdefault(name, time.monotonic())
                try:
                    response = await http.post(self.path, json=obj)
                except httpx.TransportError as exc:
                    self.statuses[-1] += 1
                    if attempt == 7:
                        self.errors.append(f"{name}: {type(exc).__name__}: {exc}")
                    await asyncio.sleep(1.0)
                    continue
                self.statuses[response.status_code] += 1
                if response.status_code in (200, 201, 409):  # 409: a retried POST that had arrived
                    return
                if response.status_code not in (429, 500, 502, 503, 504):
                    self.errors.append(f"{name}: HTTP {response.status_code}: {response.text[:300]}")
                    return
                await asyncio.sleep(1.0)
            self.errors.append(f"{name}: gave up after 8 tries")


# ---------------------------------------------------------------------------------------------- apiserver


def api_requests() -> dict[str, float]:
    """``apiserver_request_total`` summed by "VERB resource[/subresource]" (every code, every client)."""
    config = KubeConfig.from_file(cluster_env()["KUBECONFIG"]).get()
    with Client(config, ConnectionParams(timeout=httpx.Timeout(30))) as http:
        response = http.get("/metrics")
        response.raise_for_status()
    totals: dict[str, float] = defaultdict(float)
    for line in response.text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_text, _, value = line.rpartition("} ")
        labels = dict(re.findall(r'(\w+)="([^"]*)"', labels_text))
        resource = labels.get("resource", "") + (f"/{labels['subresource']}" if labels.get("subresource") else "")
        totals[f"{labels.get('verb', '?')} {resource or '-'}"] += float(value)
    return totals


def api_delta(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, Any]:
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    delta = {k: v for k, v in sorted(delta.items(), key=lambda kv: -kv[1]) if v > 0}
    total = sum(delta.values())
    return {
        "total": int(total),
        "per_execution": round(total / max(1, n), 2),
        "by_verb_resource_per_execution": {k: round(v / max(1, n), 3) for k, v in list(delta.items())[:25]},
        "note": "whole apiserver: includes the controller-manager, scheduler, kwok, the benchmark's own "
        "watches and other users of the shared cluster: approximate",
    }


# ---------------------------------------------------------------------------------------------- database


def db_rows(db_url: str, namespace: str) -> dict[str, Any]:
    engine = create_engine_for(db_url)
    try:
        with engine.connect() as conn:
            executions = conn.execute(
                text(
                    "SELECT phase, coalesce(failure_class, '-'), count(*) FROM executions WHERE namespace = :ns "
                    "GROUP BY 1, 2 ORDER BY 1, 2"
                ),
                {"ns": namespace},
            ).all()
            attempts = conn.execute(
                text(
                    "SELECT coalesce(a.failure_class, '-'), coalesce(a.decision, '-'), count(*) FROM attempts a "
                    "JOIN executions e ON e.id = a.execution_id WHERE e.namespace = :ns GROUP BY 1, 2 ORDER BY 1, 2"
                ),
                {"ns": namespace},
            ).all()
    finally:
        engine.dispose()
    return {
        "executions": sum(r[2] for r in executions),
        "attempts": sum(r[2] for r in attempts),
        "executions_by_phase_class": {f"{r[0]}/{r[1]}": r[2] for r in executions},
        "attempts_by_class_decision": {f"{r[0]}/{r[1]}": r[2] for r in attempts},
    }


# ---------------------------------------------------------------------------------------------- one subject


def peak_rate(times: list[float], window: float = 10.0) -> float:
    ordered, best, lo = sorted(times), 0, 0
    for hi, t in enumerate(ordered):
        while t - ordered[lo] > window:
            lo += 1
        best = max(best, hi - lo + 1)
    return round(best / window, 2)


@dataclasses.dataclass
class Run:
    ctx: Context
    n: int
    mix: dict[str, float]
    bursts: int
    gap: float
    concurrency: int
    timeout: float
    db_url: str


def measure(kind: str, run: Run, rep: int) -> dict[str, Any]:
    ctx, n = run.ctx, run.n
    namespace = f"scale-{ctx.run}-{kind}-{n}-{rep}"
    kubectl("create", "namespace", namespace)
    wait_service_account(namespace)
    names = [f"dx-{i:05d}" for i in range(n)]
    plan = outcomes(n, run.mix) if kind == "ours" else ["success"] * n
    if kind == "ours":
        pod_ctx = ctx
    else:
        pod_ctx = dataclasses.replace(
            ctx, pod={**ctx.pod, "annotations": {f"{KWOK}/outcome": "succeed", f"{KWOK}/delay": ctx.delay}}
        )
    if kind == "direct":
        proc, handle, pid = None, None, os.getpid()
        objects = [job_manifest(name, "example-diagnostic:0.1", ["true"], pod_ctx.pod) for name in names]
        path = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    else:
        proc, handle = start_subject(kind, pod_ctx, namespace)
        pid = proc.pid
        objects = [execution(name, outcome) for name, outcome in zip(names, plan, strict=True)]
        path = f"/apis/diagnostic-operator.io/v1alpha1/namespaces/{namespace}/diagnosticexecutions"
    size = -(-n // run.bursts)
    sender = Sender(path, [objects[i : i + size] for i in range(0, n, size)], run.gap, run.concurrency)
    observer = Observer(namespace, pid, ctx.sample, terminal_on_job=kind in ("direct", "baseline"))
    result: dict[str, Any] = {"namespace": namespace, "load_before": load(), "planned": dict(Counter(plan))}
    spy = None
    if ctx.profile is not None and kind == "ours":  # py-spy (dev extras), folded stacks for a flame graph
        ctx.profile.mkdir(parents=True, exist_ok=True)
        result["profile"] = str(ctx.profile / f"{namespace}.folded")
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--pid",
                str(pid),
                "--rate",
                "25",
                "--format",
                "raw",
                "--nonblocking",
                "-o",
                result["profile"],
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    api_before: dict[str, float] = {}
    api_after: dict[str, float] = {}
    alive = True
    try:
        observer.start()
        time.sleep(3.0)  # watches established, idle samples taken
        idle = observer.samples[-1] if observer.samples else {"rss_mb": 0.0, "cpu_s": 0.0}
        api_before = api_requests()
        log(f"{kind}: N={n} in {len(sender.bursts)} bursts into {namespace} (load {load()})")
        asyncio.run(sender.run())
        deadline = sender.burst_start[0] + run.timeout
        last_report = time.monotonic()
        while len(observer.dx_terminal) < n and time.monotonic() < deadline and (proc is None or proc.poll() is None):
            time.sleep(0.5)
            if time.monotonic() - last_report > 15:
                last_report = time.monotonic()
                s = observer.samples[-1] if observer.samples else {}
                log(
                    f"{kind}: {len(observer.dx_added)} created, {len(observer.job_added)} jobs, "
                    f"{len(observer.dx_terminal)} terminal, rss {s.get('rss_mb')} MB, cpu {s.get('cpu_s')} s"
                )
        api_after = api_requests()
        time.sleep(2 * ctx.sample)
        if kind == "ours":
            result["db_rows"] = db_rows(run.db_url, namespace)
    finally:
        observer.stop.set()
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        alive = proc is None or proc.poll() is None
        result["load_after"] = load()
        kubectl(
            "delete", "diagnosticexecutions", "--all", "--wait=false", namespace=namespace, check=False, timeout=600
        )
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        if kind in FINALIZING:
            try:  # their executions carry a finalizer: the operator has to run while the namespace goes
                kubectl("wait", "--for=delete", "namespace", namespace, "--timeout=600s", timeout=620, check=False)
            finally:
                stop_subject(kind, proc, handle)
        elif proc is not None:
            stop_subject(kind, proc, handle)

    t0 = sender.burst_start[0] if sender.burst_start else 0.0
    first_jobs = {name: observer.job_added.get(f"{name}-a1") for name in names}
    latencies, sent_to_job = [], []
    for name in names:
        job = first_jobs[name]
        if job is None:
            continue
        start = sender.sent.get(name) if kind == "direct" else observer.dx_added.get(name)
        if start is not None:
            latencies.append(job - start)
        if name in sender.sent:
            sent_to_job.append(job - sender.sent[name])
    burst_rates = []
    for b, burst in enumerate(sender.bursts):
        times = [first_jobs[key(o)] for o in burst]
        times = [t for t in times if t is not None]
        if times and b < len(sender.burst_start):
            burst_rates.append(round(len(times) / max(1e-3, max(times) - sender.burst_start[b]), 2))
    created = [t for t in first_jobs.values() if t is not None]
    terminal_times = [t for t, _ in observer.dx_terminal.values()]
    all_terminal = round(max(terminal_times) - t0, 2) if len(terminal_times) >= n else None
    samples = observer.samples
    measured = kind != "direct"  # direct has no process of its own (the sender is this one)
    peak = max(samples, key=lambda s: s["rss_mb"]) if samples and measured else None
    cpu = round(samples[-1]["cpu_s"] - idle["cpu_s"], 2) if samples and measured else None
    phases = Counter(p for _, p in observer.dx_terminal.values())
    result.update(
        {
            "operator_alive_at_end": alive,
            "post_statuses": {str(k): v for k, v in sorted(sender.statuses.items())},
            "send_errors": sender.errors[:20],
            "burst_send_s": [round(e - s, 2) for s, e in zip(sender.burst_start, sender.burst_sent, strict=False)],
            "created": len(observer.dx_added) if kind != "direct" else len(sender.sent),
            "jobs": len(observer.job_added),
            "terminal": len(observer.dx_terminal),
            "terminal_phases": dict(phases),
            "create_to_job_s": distribution(latencies),
            "post_sent_to_job_s": distribution(sent_to_job),
            "job_rate_per_burst": burst_rates,
            "job_rate_median_per_s": round(statistics.median(burst_rates), 2) if burst_rates else None,
            "job_rate_overall_per_s": round(len(created) / max(1e-3, max(created) - t0), 2) if created else None,
            "all_jobs_created_s": round(max(created) - t0, 2) if created else None,
            "all_terminal_s": all_terminal,
            "attempts": len(observer.job_added),
            "attempts_per_s": round(len(observer.job_added) / all_terminal, 2) if all_terminal else None,
            "attempts_peak_10s_per_s": peak_rate(list(observer.job_added.values())),
            "idle_rss_mb": idle["rss_mb"] if measured else None,
            "peak_rss_mb": peak["rss_mb"] if peak else None,
            "peak_rss_at_live": peak["live"] if peak else None,
            "peak_live": max((s["live"] for s in samples), default=0) if kind != "direct" else None,
            "cpu_s": cpu,
            "cpu_ms_per_execution": round(1000 * cpu / n, 1) if cpu is not None else None,
            "api_requests": api_delta(api_before, api_after, n) if api_after else None,
            "errors": observer.errors,
            "series": samples if measured else [],
        }
    )
    if kind == "ours":
        counts = Counter(plan)
        expected = {"Succeeded": n - counts["error"], "Failed": counts["error"]}
        result["expected_phases"] = {k: v for k, v in expected.items() if v}
        result["expected_attempts"] = n + counts["oom"] + counts["evict"]
        result["mix_as_expected"] = (
            dict(phases) == result["expected_phases"] and len(observer.job_added) == result["expected_attempts"]
        )
    log(
        f"{kind}: p50 {result['create_to_job_s']['p50']} s, p99 {result['create_to_job_s']['p99']} s, "
        f"Job rate {result['job_rate_median_per_s']}/s, all terminal {all_terminal} s, "
        f"peak rss {result['peak_rss_mb']} MB, cpu {cpu} s, phases {dict(phases)}"
    )
    return result


# ---------------------------------------------------------------------------------------------- report


def memory_check(points: list[dict[str, Any]]) -> dict[str, Any]:
    """points: one per N of ours (n, peak_live, peak_rss_mb, idle_rss_mb), sorted by n."""
    if len(points) < 2:
        return {"points": points, "sublinear": None, "note": "one N only: not checked"}
    lo, hi = points[0], points[-1]
    rss_ratio = hi["peak_rss_mb"] / lo["peak_rss_mb"]
    n_ratio = hi["n"] / lo["n"]
    marginal = []
    for a, b in itertools.pairwise(points):
        extra = b["peak_live"] - a["peak_live"]
        marginal.append(round((b["peak_rss_mb"] - a["peak_rss_mb"]) / extra, 4) if extra > 0 else None)
    above_idle = [(p["peak_rss_mb"] - p["idle_rss_mb"]) / max(1, p["peak_live"]) for p in points]
    return {
        "points": points,
        "rss_ratio_largest_smallest": round(rss_ratio, 3),
        "n_ratio": round(n_ratio, 3),
        "marginal_mb_per_extra_live": marginal,
        "mb_above_idle_per_live": [round(x, 4) for x in above_idle],
        "sublinear": rss_ratio < n_ratio,
    }


def plot_memory(path: Path, ours: dict[int, dict[str, Any]], title: str) -> None:
    import matplotlib  # noqa: PLC0415 (only when plotting)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    cmap = plt.get_cmap("viridis")
    ns = sorted(ours)
    for i, n in enumerate(ns):
        r = ours[n]
        colour = cmap(i / max(1, len(ns) - 1))
        series = r["series"]
        axes[0].scatter([s["live"] for s in series], [s["rss_mb"] for s in series], s=4, alpha=0.35, color=colour)
        axes[0].scatter(
            [r["peak_live"]],
            [r["peak_rss_mb"]],
            s=80,
            marker="D",
            color=colour,
            edgecolor="black",
            label=f"N={n}: peak {r['peak_rss_mb']} MB, {r['peak_live']} live",
        )
        axes[1].plot([s["t"] for s in series], [s["rss_mb"] for s in series], color=colour, label=f"N={n}")
    if ns and ours[ns[0]]["peak_live"]:
        first = ours[ns[0]]
        idle = first["idle_rss_mb"]
        slope = (first["peak_rss_mb"] - idle) / first["peak_live"]
        xmax = max(ours[n]["peak_live"] or 0 for n in ns)
        axes[0].plot(
            [0, xmax],
            [idle, idle + slope * xmax],
            color="red",
            linestyle="--",
            linewidth=0.9,
            label="linear from the smallest run",
        )
    axes[0].set(
        title="ours: RSS against live executions (dots: samples; diamonds: peak)",
        xlabel="live executions (created, not terminal)",
        ylabel="RSS (MB)",
    )
    axes[1].set(title="ours: RSS over time", xlabel="s since the watches started", ylabel="RSS (MB)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def condensed(r: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "namespace",
        "load_before",
        "load_after",
        "operator_alive_at_end",
        "planned",
        "terminal_phases",
        "expected_phases",
        "mix_as_expected",
        "attempts",
        "expected_attempts",
        "create_to_job_s",
        "post_sent_to_job_s",
        "job_rate_median_per_s",
        "job_rate_overall_per_s",
        "job_rate_per_burst",
        "burst_send_s",
        "all_jobs_created_s",
        "all_terminal_s",
        "attempts_per_s",
        "attempts_peak_10s_per_s",
        "idle_rss_mb",
        "peak_rss_mb",
        "peak_rss_at_live",
        "peak_live",
        "cpu_s",
        "cpu_ms_per_execution",
        "api_requests",
        "db_rows",
        "post_statuses",
        "send_errors",
        "errors",
        "profile",
    )
    return {k: r[k] for k in keep if k in r}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="5000", help="total executions; a comma list runs each (e.g. 500,1000,2000,5000)")
    ap.add_argument("--bursts", type=int, default=5, help="the N are sent in this many bursts of N/bursts")
    ap.add_argument("--burst-gap", type=float, default=20.0, help="seconds between the starts of two bursts")
    ap.add_argument("--concurrency", type=int, default=16, help="POSTs in flight (every subject)")
    ap.add_argument("--mix", default="success=70,oom=10,error=10,evict=10", help="outcome shares (ours)")
    ap.add_argument("--delay", default="60s", help="kwok: time a Pod runs before it ends (Go duration)")
    ap.add_argument("--only", default=",".join(SUBJECTS),
                    help="subjects, comma separated: direct,baseline,writes,ours (writes: the baseline plus the API "
                         "writes issue 4 asks of any operator of this CRD, BASELINE_WRITES=1)")
    ap.add_argument("--repeats", type=int, default=1, help="rounds per N; the subjects' order rotates")
    ap.add_argument("--nodes", type=int, default=2, help="private kwok nodes")
    ap.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="per subject, until all are terminal (default 900 s + 0.6 s per execution)",
    )
    ap.add_argument("--sample", type=float, default=0.5, help="seconds between RSS/CPU samples")
    ap.add_argument("--min-rate-ratio", type=float, default=0.8)
    ap.add_argument("--max-ratio", type=float, default=1.5)
    ap.add_argument("--run-id", default=datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--plot", type=Path, default=None, help="write the RSS-vs-live PNG here")
    ap.add_argument("--keep", type=Path, default=None, help="keep the operators' and kwok's logs in this folder")
    ap.add_argument("--profile", type=Path, default=None, help="py-spy our operator; folded stacks go here")
    ap.add_argument("--no-check", action="store_true")
    args = ap.parse_args(argv)
    n_list = [int(x) for x in args.n.split(",") if x.strip()]
    subjects = [s for s in SUBJECTS if s in args.only.split(",")]
    mix = parse_mix(args.mix)
    os.environ.update({k: v for k, v in cluster_env().items() if k in ("KUBECONFIG", "PATH")})
    short = uuid.uuid4().hex[:5]
    apply_crd()
    runs: dict[int, dict[str, list[dict[str, Any]]]] = {n: {k: [] for k in subjects} for n in n_list}
    t_start, load_start = time.monotonic(), load()
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        workdir = Path(tmp) if args.keep is None else args.keep
        workdir.mkdir(parents=True, exist_ok=True)
        stages = workdir / "kwok-stages.yaml"
        stages.write_text(stages_text())
        with bench_services(workdir, "bench_scale", f"bench-scale-{short}", short, args.nodes, stages=stages,
                            node_kind=SCALE_NODE_KIND, prefix="scale-kwok", cidr="10.217.0.0/16") as (db_url, s3, _):
            pod = {
                "nodeSelector": {NODE_KIND_LABEL: SCALE_NODE_KIND},
                "tolerations": [dict(TEST_NODE_TOLERATION)],
                "annotations": {
                    f"{KWOK}/outcome": "scale",
                    f"{KWOK}/delay": args.delay,
                    f"{KWOK}/scale-message.oom": failure_summary(
                        s3.url, 137, signal=9, oomKills=1, memoryLimitBytes=257 * 2**20
                    ),
                    f"{KWOK}/scale-message.error": failure_summary(s3.url, ERROR_EXIT_CODE),
                },
            }
            for n in n_list:
                timeout = args.timeout if args.timeout is not None else 900 + 0.6 * n
                ctx = Context(short, workdir, n, args.delay, timeout, args.sample, db_url, s3, pod, args.profile)
                run = Run(ctx, n, mix, max(1, min(args.bursts, n)), args.burst_gap, args.concurrency, timeout, db_url)
                for rep in range(args.repeats):
                    order = subjects[rep % len(subjects) :] + subjects[: rep % len(subjects)]
                    for kind in order:
                        runs[n][kind].append(measure(kind, run, rep))

    def median(n: int, kind: str, *keys: str) -> float | None:
        return median_of(runs[n].get(kind, []), *keys)

    per_n: dict[str, Any] = {}
    checks: list[bool] = []
    for n in n_list:
        entry: dict[str, Any] = {}
        for kind in subjects:
            entry[kind] = {
                "create_to_job_p50_s": median(n, kind, "create_to_job_s", "p50"),
                "create_to_job_p99_s": median(n, kind, "create_to_job_s", "p99"),
                "job_rate_per_s": median(n, kind, "job_rate_median_per_s"),
                "job_rate_overall_per_s": median(n, kind, "job_rate_overall_per_s"),
                "all_terminal_s": median(n, kind, "all_terminal_s"),
                "attempts_per_s": median(n, kind, "attempts_per_s"),
                "api_requests_per_execution": median(n, kind, "api_requests", "per_execution"),
                "peak_rss_mb": median(n, kind, "peak_rss_mb"),
                "cpu_s": median(n, kind, "cpu_s"),
                "cpu_ms_per_execution": median(n, kind, "cpu_ms_per_execution"),
            }
        ours_rate, direct_rate = (
            median(n, "ours", "job_rate_median_per_s"),
            median(n, "direct", "job_rate_median_per_s"),
        )
        ours_p99 = median(n, "ours", "create_to_job_s", "p99")
        base_p99 = median(n, "baseline", "create_to_job_s", "p99")
        entry["rate_ratio_ours_direct"] = ratio(ours_rate, direct_rate)
        for kind in ("baseline", "writes"):
            rate = median(n, kind, "job_rate_median_per_s")
            entry[f"rate_ratio_{kind}_direct"] = ratio(rate, direct_rate)
        writes_p99 = median(n, "writes", "create_to_job_s", "p99")
        entry["p99_ratio_writes_baseline"] = ratio(writes_p99, base_p99)
        entry["p99_ratio_ours_writes"] = ratio(ours_p99, writes_p99)
        entry["p99_ratio_ours_baseline"] = ratio(ours_p99, base_p99)
        entry["ours_mix_as_expected"] = (
            all(r.get("mix_as_expected") for r in runs[n]["ours"]) if runs[n].get("ours") else None
        )
        if entry["rate_ratio_ours_direct"] is not None:
            checks.append(entry["rate_ratio_ours_direct"] >= args.min_rate_ratio)
        if entry["p99_ratio_ours_baseline"] is not None:
            checks.append(entry["p99_ratio_ours_baseline"] <= args.max_ratio)
        if entry["ours_mix_as_expected"] is not None:
            checks.append(entry["ours_mix_as_expected"])
        per_n[str(n)] = entry
    ours_first = {n: runs[n]["ours"][0] for n in n_list if runs[n].get("ours") and runs[n]["ours"][0]["peak_live"]}
    points = [
        {"n": n, "peak_live": r["peak_live"], "peak_rss_mb": r["peak_rss_mb"], "idle_rss_mb": r["idle_rss_mb"]}
        for n, r in sorted(ours_first.items())
    ]
    memory = memory_check(points)
    if memory["sublinear"] is not None:
        checks.append(memory["sublinear"])
    summary: dict[str, Any] = {
        "benchmark": "scale",
        "run_id": args.run_id,
        "n": n_list,
        "subjects": subjects,
        "bursts": args.bursts,
        "burst_gap_s": args.burst_gap,
        "concurrency": args.concurrency,
        "mix": args.mix,
        "kwok_delay": args.delay,
        "repeats": args.repeats,
        "latency_clock": "watch-event arrival in the benchmark process",
        "operator_code": operator_source(),
        "per_n": per_n,
        "memory": memory,
        "goals": {"min_rate_ratio": args.min_rate_ratio, "max_p99_ratio": args.max_ratio},
        "ok": bool(checks) and all(checks),
        "load_start": load_start,
        "load_end": load(),
        "wall_s": round(time.monotonic() - t_start, 1),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    full = args.results / f"{args.run_id}-scale-full.json"
    full.write_text(json.dumps({"summary": summary, "runs": runs}, indent=1))
    summary["full_results"] = str(full.relative_to(ROOT)) if full.is_relative_to(ROOT) else str(full)
    if args.plot is not None and ours_first:
        plot_memory(
            args.plot,
            ours_first,
            f"scale run {args.run_id}: N={args.n}, mix {args.mix}, "
            f"{args.bursts} bursts / {args.burst_gap} s, kwok delay {args.delay}; "
            f"load {load_start}→{summary['load_end']} (2 CPUs, shared)",
        )
        summary["plot"] = str(args.plot)
    summary["runs"] = {str(n): {k: [condensed(r) for r in v] for k, v in runs[n].items()} for n in n_list}
    print(json.dumps(summary, indent=2))
    if not summary["ok"] and not args.no_check:
        print(f"FAIL: {json.dumps(per_n)}; memory sublinear {memory['sublinear']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
