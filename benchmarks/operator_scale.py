"""Operator at scale (issue 4): N DiagnosticExecutions created at once, our operator against a minimal Kopf
operator (benchmarks/baseline_operator.py: one Job per object, nothing else), on the same cluster, in the same run.

Set-up (all torn down at the end): a throw-away PostgreSQL (tests/services/postgres.py), the moto S3 server, and
a private kwok process (the repository's tests/cluster/kwok/stages.yaml) with its own fake nodes
``bench-kwok-*`` (label ``diagnostic-operator.io/node-kind=kwok-bench``), so the shared kwok nodes and other
people's Pods are untouched. Every execution Pod goes there through the operator config's ``podDefaults``
(nodeSelector, toleration, annotations): ``outcome=succeed`` after ``--delay``, and the ``ingest`` container
ends with a real publish summary as its termination message (``termination-message.ingest``), which is what
the sidecar writes — so our operator classifies the attempt as Success. The sidecar does not run on kwok: the
database sees the execution and attempt rows only; the store is not written (only its URL is used).

Subjects: ``baseline`` (one Job per object), ``writes`` (the baseline plus the API writes issue 4 asks of any
operator of this CRD: a finalizer, a status PATCH and an Event per transition; ``BASELINE_WRITES=1``; skip with
``--no-writes``) and ``ours``. The writes baseline separates the cost of those writes on the shared API server
from the cost of our own code: ``p99_ratio_writes_baseline`` and ``p99_ratio_ours_writes``.

Per subject (baseline, writes, ours; with ``--repeats`` the order alternates), in a fresh namespace ``bench-*``:
start the operator process, wait for its liveness endpoint, start watches on DiagnosticExecutions and Jobs,
``kubectl create -f`` ONE List of N executions (kubectl sends them one by one, as fast as it can), and wait
until every execution is terminal (ours, writes: ``status.phase``; baseline: its Job is Complete — it has no
status).

Measured:
* creation → Job latency per execution: the arrival time, in this process, of the watch event ADDED of the
  Job minus that of the execution (both watches on the same connection pool and clock; sub-millisecond
  resolution; watch delivery delays cancel to first order). Cross-check: the server's creationTimestamps
  (1 s resolution). p50/p90/p99/max.
* time from the first execution created until every Job exists, and until every execution is terminal.
* the operator process's RSS (``/proc/PID/status`` VmRSS) and CPU seconds (utime+stime of ``/proc/PID/stat``),
  sampled every ``--sample`` seconds, with the number of live executions (created, not terminal) at each sample:
  a time series kept in the results file (issue 7 plots memory against live executions).

Goal (exit 1 if missed, unless --no-check): our p99 creation→Job ≤ 1.5× the baseline's, our peak RSS < 250 MB.

    .venv/bin/python benchmarks/operator_scale.py                  # N=500, delay 30s
    .venv/bin/python benchmarks/operator_scale.py --n 50 --delay 5s --no-check   # smoke
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lightkube.config.client_adapter import Client, ConnectionParams, httpx  # noqa: E402 (lightkube's httpx)
from lightkube.config.kubeconfig import KubeConfig  # noqa: E402
from tests.cluster.fixtures import TEST_NODE_TAINT_KEY, TEST_NODE_TOLERATION, cluster_env, kubectl  # noqa: E402
from tests.helpers import free_port, publish_summary, site_config  # noqa: E402
from tests.k8s.operator_harness import OperatorProcess, apply_crd, write_secret  # noqa: E402
from tests.services.postgres import start_postgres  # noqa: E402
from tests.services.s3 import S3Target, start_s3_server  # noqa: E402

BENCH_NODE_KIND = "kwok-bench"
NODE_KIND_LABEL = "diagnostic-operator.io/node-kind"
EXECUTION_LABEL = "diagnostic-operator.io/execution"
KWOK = "kwok.diagnostic-operator.io"
TERMINAL = {"Succeeded", "Failed", "Cancelled"}
SUBJECTS = ("baseline", "writes", "ours")
#: Subjects whose executions carry a finalizer: the operator must run until their namespace is gone
FINALIZING = ("ours", "writes")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def operator_source() -> str:
    """Which code the operator process runs: the package folder the venv resolves (PYTHONPATH first), its commit,
    and whether that folder has uncommitted changes (others share this working tree)."""
    probe = subprocess.run([sys.executable, "-c", "import diagnostic_operator, os; "
                            "print(os.path.dirname(diagnostic_operator.__file__))"],
                           capture_output=True, text=True, check=False)
    folder = probe.stdout.strip()
    if not folder:
        return "?"

    def git(*argv: str) -> str:
        return subprocess.run(["git", "-C", folder, *argv], capture_output=True, text=True, check=False).stdout.strip()

    dirty = git("status", "--porcelain", "--", ".")
    return f"{folder} at {git('rev-parse', '--short', 'HEAD')}" + (" + uncommitted changes" if dirty else "")


def log(message: str) -> None:
    print(f"[{datetime.now(UTC).strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load() -> float:
    return round(os.getloadavg()[0], 2)


# ---------------------------------------------------------------------------------------------- kwok


class PrivateKwok:
    """A kwok process of our own managing fake nodes of our own (the shared kwok never sees them)."""

    def __init__(self, workdir: Path, nodes: int, run: str, *, stages: Path = ROOT / "tests/cluster/kwok/stages.yaml",
                 node_kind: str = BENCH_NODE_KIND, prefix: str = "bench-kwok", cidr: str = "10.216.0.0/16") -> None:
        """``stages``, ``node_kind``, ``prefix`` and ``cidr``: benchmarks/scale.py runs its own kwok (own stages,
        own node label) next to this one without either managing the other's nodes."""
        self.names = [f"{prefix}-{run}-{i}" for i in range(nodes)]
        self.log_path = workdir / "kwok.log"
        env = cluster_env()
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                ["kwok", "--kubeconfig", env["KUBECONFIG"], "--config", str(stages),
                 "--manage-nodes-with-label-selector", f"{NODE_KIND_LABEL}={node_kind}",
                 "--node-lease-duration-seconds", "40", "--cidr", cidr, "--node-ip", "10.213.0.3"],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        nodes_doc = {"apiVersion": "v1", "kind": "List", "items": [{
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
                         "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok",
                                    NODE_KIND_LABEL: node_kind}},
            "spec": {"taints": [{"key": TEST_NODE_TAINT_KEY, "value": "kwok", "effect": "NoSchedule"}]}}
            for name in self.names]}
        kubectl("apply", "-f", "-", input=json.dumps(nodes_doc))
        for name in self.names:
            kubectl("wait", "--for=condition=Ready", f"node/{name}", "--timeout=60s", timeout=90)

    def stop(self) -> None:
        kubectl("delete", "node", *self.names, "--wait=false", check=False)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# ---------------------------------------------------------------------------------------------- observing


def proc_sample(pid: int) -> tuple[float, float] | None:
    """(RSS in MB, CPU seconds user+sys) of one process."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rss = next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0.0)
    fields = stat[stat.rindex(")") + 2:].split()
    return rss, (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class Observer:
    """Watches executions and Jobs of one namespace; samples the operator process."""

    namespace: str
    pid: int
    interval: float
    terminal_on_job: bool  # baseline: an execution is done when its Job is Complete
    dx_added: dict[str, float] = field(default_factory=dict)
    dx_created_ts: dict[str, str] = field(default_factory=dict)
    dx_terminal: dict[str, tuple[float, str]] = field(default_factory=dict)
    job_added: dict[str, float] = field(default_factory=dict)
    job_created_ts: dict[str, str] = field(default_factory=dict)
    job_done: dict[str, float] = field(default_factory=dict)
    jobs_per_execution: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, float]] = field(default_factory=list)
    t0: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)

    def start(self) -> None:
        self.t0 = time.monotonic()
        for target in (self._watch_dx, self._watch_jobs, self._sample):
            threading.Thread(target=self._guard, args=(target,), daemon=True).start()

    def _guard(self, target: Any) -> None:
        try:
            target()
        except Exception as exc:  # reported in the result, never silently lost
            self.errors.append(f"{target.__name__}: {type(exc).__name__}: {exc}")

    def _stream(self, path: str) -> Any:
        """Watch events of one collection, as (type, object) — raw JSON through kubectl's credentials."""
        config = KubeConfig.from_file(cluster_env()["KUBECONFIG"]).get()
        http = Client(config, ConnectionParams(timeout=httpx.Timeout(10, read=None)))  # TLS and auth as lightkube's
        version = "0"
        while not self.stop.is_set():
            params = {"watch": "1", "resourceVersion": version, "allowWatchBookmarks": "1",
                      "timeoutSeconds": "60"}
            with http.stream("GET", path, params=params) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if self.stop.is_set():
                        return
                    if not line:
                        continue
                    event = json.loads(line)
                    obj = event.get("object") or {}
                    version = (obj.get("metadata") or {}).get("resourceVersion", version)
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        yield event["type"], obj

    def _watch_dx(self) -> None:
        path = f"/apis/diagnostic-operator.io/v1alpha1/namespaces/{self.namespace}/diagnosticexecutions"
        for _, obj in self._stream(path):
            now = time.monotonic()
            name = obj["metadata"]["name"]
            if name not in self.dx_added:
                self.dx_added[name] = now
                self.dx_created_ts[name] = obj["metadata"]["creationTimestamp"]
            phase = (obj.get("status") or {}).get("phase")
            if not self.terminal_on_job and phase in TERMINAL and name not in self.dx_terminal:
                self.dx_terminal[name] = (now, phase)

    def _watch_jobs(self) -> None:
        for _, obj in self._stream(f"/apis/batch/v1/namespaces/{self.namespace}/jobs"):
            now = time.monotonic()
            name = obj["metadata"]["name"]
            execution = (obj["metadata"].get("labels") or {}).get(EXECUTION_LABEL, "")
            if name not in self.job_added:
                self.job_added[name] = now
                self.job_created_ts[name] = obj["metadata"]["creationTimestamp"]
                self.jobs_per_execution[execution] += 1
            complete = any(c.get("type") == "Complete" and c.get("status") == "True"
                           for c in (obj.get("status") or {}).get("conditions") or [])
            if complete and name not in self.job_done:
                self.job_done[name] = now
                if self.terminal_on_job and execution not in self.dx_terminal:
                    self.dx_terminal[execution] = (now, "JobComplete")

    def _sample(self) -> None:
        while not self.stop.is_set():
            sample = proc_sample(self.pid)
            if sample is not None:
                self.samples.append({"t": round(time.monotonic() - self.t0, 2), "rss_mb": round(sample[0], 1),
                                     "cpu_s": round(sample[1], 2), "created": len(self.dx_added),
                                     "jobs": len(self.job_added),
                                     "live": len(self.dx_added) - len(self.dx_terminal)})
            self.stop.wait(self.interval)


# ---------------------------------------------------------------------------------------------- one subject


def manifests(n: int) -> dict[str, Any]:
    spec = {"diagnostic": {"provider": "bench", "slug": "noop", "version": "1"}, "groupKey": "bench",
            "image": "example-diagnostic:0.1", "command": ["true"],
            "resources": {"memory": "128Mi", "cpu": "100m", "wallClock": "10m"}}
    return {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "diagnostic-operator.io/v1alpha1", "kind": "DiagnosticExecution",
         "metadata": {"name": f"dx-{i:05d}"}, "spec": spec} for i in range(n)]}


@contextlib.contextmanager
def bench_services(workdir: Path, database: str, bucket: str, short: str, nodes: int,
                   **kwok_options: Any) -> Iterator[tuple[str, S3Target, PrivateKwok]]:
    """A throw-away PostgreSQL database, an S3 bucket on the moto server, and a private kwok with ``nodes``
    nodes; all stopped on the way out."""
    pg = start_postgres()  # its own temp dir: the postgres user cannot enter ours (0700)
    s3_server = start_s3_server()
    kwok = None
    try:
        db_url = pg.create_database(database)
        name = s3_server.create_bucket(bucket)
        s3 = S3Target(f"s3://{name}/bench", s3_server.env, name, "bench", s3_server)
        kwok = PrivateKwok(workdir, nodes, short, **kwok_options)
        yield db_url, s3, kwok
    finally:
        if kwok is not None:
            kwok.stop()
        s3_server.stop()
        pg.stop()


def median_of(runs: list[dict[str, Any]], *keys: str) -> float | None:
    """The median over repeated runs of the number at ``keys`` (a path into each run's dict), rounded."""
    values = []
    for r in runs:
        value: Any = r
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, (int, float)):
            values.append(float(value))
    return round(statistics.median(values), 3) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b to 3 digits; None when either is missing (or b is 0)."""
    return round(a / b, 3) if a is not None and b else None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def distribution(values: list[float], digits: int = 3) -> dict[str, float]:
    return {"p50": round(percentile(values, 0.5), digits), "p90": round(percentile(values, 0.9), digits),
            "p99": round(percentile(values, 0.99), digits), "max": round(max(values), digits) if values else -1}


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"operator exited with {proc.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"operator not healthy at {url} after {timeout}s")


def wait_service_account(namespace: str) -> None:
    for _ in range(120):
        if kubectl("get", "serviceaccount", "default", namespace=namespace, check=False):
            return
        time.sleep(0.5)


@dataclass
class Context:
    run: str
    workdir: Path
    n: int
    delay: str
    timeout: float
    sample: float
    db_url: str
    s3: S3Target
    pod: dict[str, Any]
    profile: Path | None = None


def start_subject(kind: str, ctx: Context, namespace: str) -> tuple[subprocess.Popen[bytes], Any]:
    workdir = ctx.workdir / namespace
    workdir.mkdir()
    if kind == "ours":
        summary = publish_summary(wallSeconds=1.0, logLocation=f"{ctx.s3.url}/kwok/attempt-1/out.log",
                                  outputLocation=f"{ctx.s3.url}/kwok", counts={})
        annotations = {**ctx.pod["annotations"], f"{KWOK}/termination-message.ingest": summary.to_message()}
        config = site_config(ctx.s3.url, podDefaults={
            "imagePullPolicy": "Never", "serviceAccountName": "default", "nodeSelector": ctx.pod["nodeSelector"],
            "tolerations": ctx.pod["tolerations"], "annotations": annotations})
        write_secret(namespace, ctx.db_url, ctx.s3)
        operator = OperatorProcess(namespace, ctx.db_url, ctx.s3, workdir, config).start()
        assert operator.proc is not None
        wait_healthy(operator.health_url, operator.proc)
        return operator.proc, operator
    health = free_port()
    env = {**cluster_env(), "BASELINE_POD": json.dumps(ctx.pod), "PYTHONUNBUFFERED": "1",
           "BASELINE_WRITES": "1" if kind == "writes" else ""}
    out = (workdir / f"{kind}.log").open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("kopf")), "run", "--standalone", "--namespace", namespace,
         "--liveness", f"http://127.0.0.1:{health}/healthz", str(ROOT / "benchmarks" / "baseline_operator.py")],
        stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
    wait_healthy(f"http://127.0.0.1:{health}/healthz", proc)
    return proc, out


def stop_subject(kind: str, proc: subprocess.Popen[bytes], handle: Any) -> None:
    if kind == "ours":
        handle.stop()
    else:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        handle.close()


def measure(kind: str, ctx: Context, rep: int) -> dict[str, Any]:
    namespace = f"bench-opscale-{ctx.run}-{kind[:4]}{rep}"
    kubectl("create", "namespace", namespace)
    wait_service_account(namespace)
    proc, handle = start_subject(kind, ctx, namespace)
    observer = Observer(namespace, proc.pid, ctx.sample, terminal_on_job=(kind == "baseline"))
    result: dict[str, Any] = {"namespace": namespace, "load_before": load()}
    spy = None
    if ctx.profile is not None and kind == "ours":  # py-spy (dev extras), folded stacks for a flame graph
        ctx.profile.mkdir(parents=True, exist_ok=True)
        spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(proc.pid),
                                "--rate", "25", "--format", "raw", "--nonblocking", *os.environ.get("PYSPY_EXTRA", "").split(), "-o",
                                str(ctx.profile / f"{namespace}.folded")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result["profile"] = str(ctx.profile / f"{namespace}.folded")
    try:
        observer.start()
        time.sleep(3.0)  # watches established, idle samples taken
        idle = observer.samples[-1] if observer.samples else {"rss_mb": 0.0, "cpu_s": 0.0}
        log(f"{kind}: creating {ctx.n} executions in {namespace} (load {load()})")
        t_create = time.monotonic()
        kubectl("create", "-f", "-", namespace=namespace, input=json.dumps(manifests(ctx.n)), timeout=600)
        create_s = time.monotonic() - t_create
        deadline = t_create + ctx.timeout
        last_report = 0.0
        while len(observer.dx_terminal) < ctx.n and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            if time.monotonic() - last_report > 15:
                last_report = time.monotonic()
                s = observer.samples[-1] if observer.samples else {}
                log(f"{kind}: {len(observer.dx_added)} created, {len(observer.job_added)} jobs, "
                    f"{len(observer.dx_terminal)} terminal, rss {s.get('rss_mb')} MB, cpu {s.get('cpu_s')} s")
        time.sleep(2 * ctx.sample)
    finally:
        observer.stop.set()
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        alive = proc.poll() is None
        result["load_after"] = load()
        # Our executions carry our finalizer: delete them while the operator runs, then the namespace.
        kubectl("delete", "diagnosticexecutions", "--all", "--wait=false", namespace=namespace, check=False,
                timeout=300)
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        if kind in FINALIZING:
            try:
                kubectl("wait", "--for=delete", "namespace", namespace, "--timeout=300s", timeout=320, check=False)
            finally:
                stop_subject(kind, proc, handle)
        else:
            stop_subject(kind, proc, handle)
    first = min(observer.dx_added.values(), default=t_create)
    latencies, server_latencies = [], []
    for execution, added in observer.dx_added.items():
        job = f"{execution}-a1" if kind in ("baseline", "writes") else next(
            (j for j in observer.job_added if j.startswith(f"{execution}-")), None)
        if job in observer.job_added:
            latencies.append(observer.job_added[job] - added)
            server_latencies.append(ts(observer.job_created_ts[job]) - ts(observer.dx_created_ts[execution]))
    terminal_times = [t for t, _ in observer.dx_terminal.values()]
    to_terminal = [observer.dx_terminal[e][0] - observer.dx_added[e] for e in observer.dx_terminal
                   if e in observer.dx_added]
    samples = observer.samples
    peak = max(samples, key=lambda s: s["rss_mb"]) if samples else {"rss_mb": -1.0, "t": -1}
    at_full = [s["rss_mb"] for s in samples if s["live"] >= ctx.n]
    cpu_end = samples[-1]["cpu_s"] if samples else 0.0
    result.update({
        "operator_alive_at_end": alive,
        "create_command_s": round(create_s, 2),
        "created": len(observer.dx_added), "jobs": len(observer.job_added),
        "executions_with_more_than_one_job": sum(1 for c in observer.jobs_per_execution.values() if c > 1),
        "terminal": len(observer.dx_terminal),
        "terminal_phases": dict(Counter(p for _, p in observer.dx_terminal.values())),
        "create_to_job_s": distribution(latencies),
        "create_to_job_server_timestamps_s": distribution(server_latencies, 0),
        "all_jobs_created_s": round(max(observer.job_added.values()) - first, 2) if observer.job_added else None,
        "all_terminal_s": round(max(terminal_times) - first, 2) if len(terminal_times) >= ctx.n else None,
        "create_to_terminal_s": distribution(to_terminal, 2),
        "idle_rss_mb": idle["rss_mb"],
        "peak_rss_mb": peak["rss_mb"],
        "peak_rss_at_live": peak.get("live"),
        "rss_at_all_live_max_mb": max(at_full) if at_full else None,
        "cpu_s": round(cpu_end - idle["cpu_s"], 2),
        "cpu_ms_per_execution": round(1000 * (cpu_end - idle["cpu_s"]) / max(1, ctx.n), 1),
        "errors": observer.errors,
        "series": samples,
    })
    log(f"{kind}: p50 {result['create_to_job_s']['p50']} s, p99 {result['create_to_job_s']['p99']} s, "
        f"all terminal {result['all_terminal_s']} s, peak rss {result['peak_rss_mb']} MB, cpu {result['cpu_s']} s")
    return result


# ---------------------------------------------------------------------------------------------- report


def plot(path: Path, runs: dict[str, list[dict[str, Any]]], title: str) -> None:
    import matplotlib  # noqa: PLC0415 (only when plotting)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    colours = {"ours": "tab:blue", "baseline": "tab:orange", "writes": "tab:green"}
    for kind, results in runs.items():
        for i, r in enumerate(results):
            series = r["series"]
            label = kind if i == 0 else None
            t = [s["t"] for s in series]
            axes[0].plot(t, [s["rss_mb"] for s in series], color=colours[kind], label=label)
            axes[1].plot(t, [s["live"] for s in series], color=colours[kind], label=label)
            axes[1].plot(t, [s["jobs"] for s in series], color=colours[kind], linestyle=":")
            axes[2].plot(t, [s["cpu_s"] - series[0]["cpu_s"] for s in series], color=colours[kind], label=label)
    axes[0].axhline(250, color="red", linestyle="--", linewidth=0.8, label="goal 250 MB")
    axes[0].set(title="operator RSS", xlabel="s since the operator's watches started", ylabel="MB")
    axes[1].set(title="live executions (solid), Jobs created (dotted)", xlabel="s", ylabel="count")
    axes[2].set(title="operator CPU", xlabel="s", ylabel="CPU seconds")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=500, help="executions created at once")
    ap.add_argument("--delay", default="30s", help="kwok: time a Pod runs before it succeeds (Go duration)")
    ap.add_argument("--repeats", type=int, default=1, help="rounds (baseline, writes, ours); the order alternates")
    ap.add_argument("--only", choices=SUBJECTS, default=None, help="measure one subject only")
    ap.add_argument("--no-writes", action="store_true",
                    help="skip the baseline with our API writes (BASELINE_WRITES=1 of benchmarks/baseline_operator.py)")
    ap.add_argument("--nodes", type=int, default=2, help="private kwok nodes")
    ap.add_argument("--timeout", type=float, default=900, help="per subject: until all are terminal")
    ap.add_argument("--sample", type=float, default=0.5, help="seconds between RSS/CPU samples")
    ap.add_argument("--max-ratio", type=float, default=1.5)
    ap.add_argument("--max-rss-mb", type=float, default=250.0)
    ap.add_argument("--run-id", default=datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results",
                    help="where the full result (with the time series) goes")
    ap.add_argument("--plot", type=Path, default=None, help="write a PNG plot here")
    ap.add_argument("--keep", type=Path, default=None, help="keep the operators' logs in this folder")
    ap.add_argument("--profile", type=Path, default=None, help="py-spy our operator; folded stacks go here")
    ap.add_argument("--no-check", action="store_true")
    args = ap.parse_args(argv)
    os.environ.update({k: v for k, v in cluster_env().items() if k in ("KUBECONFIG", "PATH")})
    short = uuid.uuid4().hex[:5]
    apply_crd()
    pod = {"nodeSelector": {NODE_KIND_LABEL: BENCH_NODE_KIND}, "tolerations": [dict(TEST_NODE_TOLERATION)],
           "annotations": {f"{KWOK}/outcome": "succeed", f"{KWOK}/delay": args.delay}}
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in SUBJECTS}
    t_start = time.monotonic()
    load_start = load()
    with tempfile.TemporaryDirectory(prefix="bench-opscale-") as tmp:
        workdir = Path(tmp) if args.keep is None else args.keep
        workdir.mkdir(parents=True, exist_ok=True)
        with bench_services(workdir, "bench_opscale", f"bench-opscale-{short}", short, args.nodes) as (
                db_url, s3, _):
            ctx = Context(short, workdir, args.n, args.delay, args.timeout, args.sample, db_url, s3, pod,
                          args.profile)
            for rep in range(args.repeats):
                order = list(SUBJECTS) if rep % 2 == 0 else list(reversed(SUBJECTS))
                for kind in order:
                    if args.only in (None, kind) and not (kind == "writes" and args.no_writes):
                        runs[kind].append(measure(kind, ctx, rep))

    def median(kind: str, *keys: str) -> float | None:
        return median_of(runs[kind], *keys)

    summary: dict[str, Any] = {"benchmark": "operator_scale", "run_id": args.run_id, "n": args.n,
                               "kwok_delay": args.delay, "repeats": args.repeats,
                               "creation": "kubectl create -f of one List of N (sequential POSTs)",
                               "latency_clock": "watch-event arrival in the benchmark process",
                               "operator_code": operator_source()}
    for kind in SUBJECTS:
        if runs[kind]:
            summary[kind] = {
                "create_to_job_p50_s": median(kind, "create_to_job_s", "p50"),
                "create_to_job_p99_s": median(kind, "create_to_job_s", "p99"),
                "all_jobs_created_s": median(kind, "all_jobs_created_s"),
                "all_terminal_s": median(kind, "all_terminal_s"),
                "peak_rss_mb": median(kind, "peak_rss_mb"), "cpu_s": median(kind, "cpu_s"),
                "terminal_phases": [r["terminal_phases"] for r in runs[kind]],
            }
    ours_p99 = median("ours", "create_to_job_s", "p99")
    base_p99 = median("baseline", "create_to_job_s", "p99")
    p99_ratio = ratio(ours_p99, base_p99)
    writes_p99 = median("writes", "create_to_job_s", "p99")
    summary["p99_ratio_writes_baseline"] = ratio(writes_p99, base_p99)
    summary["p99_ratio_ours_writes"] = ratio(ours_p99, writes_p99)
    peak = median("ours", "peak_rss_mb")
    all_succeeded = all(r["terminal_phases"].get("Succeeded", 0) == args.n for r in runs["ours"])
    summary.update({
        "p99_ratio": p99_ratio, "max_ratio": args.max_ratio, "ours_peak_rss_mb": peak, "max_rss_mb": args.max_rss_mb,
        "ours_all_succeeded": all_succeeded,
        "ok": bool(p99_ratio is not None and p99_ratio <= args.max_ratio and peak is not None and peak < args.max_rss_mb
                   and all_succeeded),
        "load_start": load_start, "load_end": load(), "wall_s": round(time.monotonic() - t_start, 1),
    })
    args.results.mkdir(parents=True, exist_ok=True)
    full = args.results / f"{args.run_id}-operator_scale-full.json"
    full.write_text(json.dumps({"summary": summary, "runs": runs}, indent=1))
    summary["full_results"] = str(full.relative_to(ROOT)) if full.is_relative_to(ROOT) else str(full)
    if args.plot is not None:
        plot(args.plot, runs, f"operator_scale run {args.run_id}: N={args.n}, kwok delay {args.delay}; "
             f"load {load_start}→{summary['load_end']} (2 CPUs, shared)")
        summary["plot"] = str(args.plot)
    for kind in SUBJECTS:  # the per-run details, without the time series, in the printed document
        summary[f"{kind}_runs"] = [{k: v for k, v in r.items() if k != "series"} for r in runs[kind]]
    print(json.dumps(summary, indent=2))
    if not summary["ok"] and not args.no_check:
        print(f"FAIL: p99 ratio {p99_ratio} (max {args.max_ratio}), peak RSS {peak} MB (max {args.max_rss_mb}), "
              f"all succeeded {all_succeeded}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
