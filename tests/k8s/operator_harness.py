"""The operator under test, run for real against the test cluster: ``diagnostic-operator operator`` as a
process on this machine with the admin kubeconfig, watching one test namespace, talking to a real
PostgreSQL database and the S3 server. Execution Pods run on the real node (hostNetwork, so that they reach
both services on 127.0.0.1) or on the kwok nodes.

Used by tests/k8s/test_operator*.py and the fault-injection suite.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text

from tests.cluster.fixtures import (
    STATE_DIR,
    apply,
    apply_crds,
    cluster_env,
    describe_namespace,
    kubectl,
    wait_for,
)
from tests.helpers import free_port
from tests.services.postgres import for_pods
from tests.services.s3 import S3Target

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "example-diagnostic:0.1"
CRD_FILE = ROOT / "crds" / "diagnostic-operator.io_diagnosticexecutions.yaml"
CRD_NAME = "diagnosticexecutions.diagnostic-operator.io"
TERMINAL = ("Succeeded", "Failed", "Cancelled")
PORT_TRIES = 3


def apply_crd() -> None:
    apply_crds(CRD_FILE, CRD_NAME)


def restrict(namespace: str) -> None:
    """Enforce the ``restricted`` Pod Security Standard in ``namespace``, with no exemption."""
    kubectl("label", "--overwrite", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/warn=restricted")


def write_secret(namespace: str, db_url: str, s3: S3Target, name: str = "do-db") -> None:
    """The sidecar's Secret: the database as the Pods reach it (the node's address in the cluster layer)."""
    data = {"DIAGNOSTIC_OPERATOR_DATABASE_URL": for_pods(db_url), **s3.env}
    apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque",
           "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}, namespace=namespace)


@dataclass
class OperatorProcess:
    """``diagnostic-operator operator`` in a subprocess; its log goes to a file the tests can read."""

    namespace: str
    db_url: str
    s3: S3Target
    workdir: Path
    config: dict[str, Any]
    proc: subprocess.Popen[bytes] | None = None
    metrics_port: int = 0
    starts: int = 0
    log_paths: list[Path] = field(default_factory=list)
    #: more options of ``diagnostic-operator operator`` (e.g. ``--api-grace 3``)
    extra_args: list[str] = field(default_factory=list)
    #: the environment to run in instead of ``cluster_env()`` (e.g. a kubeconfig through a proxy)
    env: dict[str, str] | None = None

    def start(self) -> OperatorProcess:
        """Start the operator on two free ports. A port found free can be taken by another test process before
        the operator binds it: then the operator exits at once ("address already in use") and is started again
        on other ports."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        for _ in range(PORT_TRIES):
            self._launch()
            if not self._lost_a_port():
                break
        return self

    def _launch(self) -> None:
        self.starts += 1
        config_file = self.workdir / "operator.yaml"
        config_file.write_text(yaml.safe_dump(self.config))
        log_path = self.workdir / f"operator-{self.starts}.log"
        self.log_paths.append(log_path)
        self.metrics_port = free_port()
        health = free_port()
        env = {**(self.env or cluster_env()), **self.s3.env, "PYTHONUNBUFFERED": "1"}
        argv = [str(Path(sys.executable).with_name("diagnostic-operator")), "operator", "--namespace", self.namespace,
                "--database", self.db_url, "--store", self.s3.url, "--config", str(config_file),
                "--metrics-port", str(self.metrics_port), "--liveness", f"http://127.0.0.1:{health}/healthz", *self.extra_args]
        with log_path.open("wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                         start_new_session=True)
        self.health_url = f"http://127.0.0.1:{health}/healthz"

    def _lost_a_port(self, timeout: float = 30.0) -> bool:
        """Wait until the liveness endpoint answers (any status) or the process ends; True when it ended because
        one of its ports was taken."""
        deadline = time.monotonic() + timeout
        answered = None  # another process may answer on a port taken from us: look once more a moment later
        while time.monotonic() < deadline:
            if not self.alive():
                return "address already in use" in self.log_paths[-1].read_text(errors="replace")
            if answered is None and self.health()[0] != 0:
                answered = time.monotonic()
            if answered is not None and time.monotonic() - answered > 1.0:
                return False
            time.sleep(0.2)
        return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no finalizer handling, exactly what an OOM kill or a node loss does."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}" for p in self.log_paths if p.exists())

    def health(self) -> tuple[int, str]:
        """The liveness endpoint's HTTP status and body (0 when nothing answers)."""
        try:
            with urllib.request.urlopen(self.health_url, timeout=10) as r:
                return int(r.status), r.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode(errors="replace")
        except OSError as exc:
            return 0, str(exc)

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def samples(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """Every sample of the metrics page, read as the Prometheus text format: (name, labels) -> value."""
        return {(s.name, frozenset(s.labels.items())): s.value
                for family in text_string_to_metric_families(self.metrics()) for s in family.samples}

    def sample(self, name: str, **labels: str) -> float | None:
        """The value of the sample with exactly this name and these labels; None when the page has none."""
        return self.samples().get((name, frozenset(labels.items())))


@dataclass
class Site:
    """One test namespace with its own operator, database and bucket prefix."""

    namespace: str
    db_url: str
    engine: Engine
    s3: S3Target
    operator: OperatorProcess

    # --------------------------------------------------------------------------------- objects
    def apply_execution(self, manifest: dict[str, Any] | Path | str, **spec_changes: Any) -> str:
        if isinstance(manifest, (Path, str)) and Path(manifest).exists():
            manifest = yaml.safe_load(Path(manifest).read_text())
        assert isinstance(manifest, dict)
        manifest = dict(manifest)
        manifest.setdefault("apiVersion", "diagnostic-operator.io/v1alpha1")
        manifest.setdefault("kind", "DiagnosticExecution")
        manifest["metadata"] = {k: v for k, v in dict(manifest.get("metadata") or {}).items() if k != "namespace"}
        manifest["spec"] = {**dict(manifest.get("spec") or {}), **spec_changes}
        apply(manifest, namespace=self.namespace)
        return str(manifest["metadata"]["name"])

    def get(self, name: str) -> dict[str, Any]:
        obj = kubectl("get", "dx", name, namespace=self.namespace, json=True)
        assert obj is not None, f"DiagnosticExecution {name} not found"
        return dict(obj)

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.get(name).get("status") or {})

    def wait_phase(self, name: str, phases: tuple[str, ...] = TERMINAL, timeout: float = 180) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            status = self.status(name)
            return status if status.get("phase") in phases else None

        return dict(wait_for(reached, timeout=timeout, describe=f"{name} to reach {'/'.join(phases)}",
                             diagnostics=self.diagnostics))

    def wait_attempt(self, name: str, attempt: int, timeout: float = 240) -> dict[str, Any]:
        return dict(wait_for(lambda: (s := self.status(name)).get("attempt", 0) >= attempt and s,
                             timeout=timeout, describe=f"{name} to start attempt {attempt}",
                             diagnostics=self.diagnostics))

    def jobs(self, name: str | None = None) -> list[dict[str, Any]]:
        selector = ["-l", f"diagnostic-operator.io/execution={name}"] if name else []
        items = kubectl("get", "jobs", *selector, namespace=self.namespace, json=True)["items"]
        return sorted(items, key=lambda j: j["metadata"]["name"])

    def pods(self, name: str | None = None) -> list[dict[str, Any]]:
        selector = ["-l", f"diagnostic-operator.io/execution={name}"] if name else []
        return list(kubectl("get", "pods", *selector, namespace=self.namespace, json=True)["items"])

    def events(self, name: str) -> list[dict[str, Any]]:
        items = kubectl("get", "events", "--field-selector", f"involvedObject.name={name},"
                        "involvedObject.kind=DiagnosticExecution", namespace=self.namespace, json=True)["items"]
        return sorted(items, key=lambda e: e.get("firstTimestamp") or e.get("eventTime") or "")

    def event_reasons(self, name: str) -> list[str]:
        return [e["reason"] for e in self.events(name)]

    # --------------------------------------------------------------------------------- database
    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), params)]

    def execution_row(self, name: str) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM executions WHERE namespace = :ns AND name = :name",
                         ns=self.namespace, name=name)
        assert len(rows) == 1, f"expected one execution row for {name}, got {rows}"
        return rows[0]

    def attempt_rows(self, name: str) -> list[dict[str, Any]]:
        return self.rows("SELECT a.* FROM attempts a JOIN executions e ON a.execution_id = e.id "
                         "WHERE e.namespace = :ns AND e.name = :name ORDER BY a.number",
                         ns=self.namespace, name=name)

    def count(self, table: str, name: str) -> int:
        return int(self.rows(f"SELECT count(*) AS n FROM {table} t JOIN executions e ON t.execution_id = e.id "
                             "WHERE e.namespace = :ns AND e.name = :name", ns=self.namespace, name=name)[0]["n"])

    def diagnostics(self) -> str:
        tail = self.operator.log()[-6000:]
        return f"{describe_namespace(self.namespace)}\n--- operator log (tail)\n{tail}"


def proxied_kubeconfig(proxy_port: int, path: Path) -> dict[str, str]:
    """cluster_env() with a kubeconfig whose server is a proxy on ``proxy_port`` (the apiserver's certificate
    names 127.0.0.1, any port)."""
    env = cluster_env()
    config = yaml.safe_load(Path(env.get("KUBECONFIG") or STATE_DIR / "kubeconfig" / "admin.kubeconfig").read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{proxy_port}"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return env | {"KUBECONFIG": str(path)}


def release_finalizers(namespace: str) -> None:
    """With no operator left to run the delete handler, let the namespace's executions go."""
    for item in (kubectl("get", "dx", namespace=namespace, json=True, check=False) or {}).get("items", []):
        kubectl("patch", "dx", item["metadata"]["name"], "--type=merge", "-p", '{"metadata":{"finalizers":null}}',
                namespace=namespace, check=False)


def wait_gone(kind: str, name: str, namespace: str, timeout: float = 90) -> None:
    wait_for(lambda: kubectl("get", kind, name, namespace=namespace, check=False, json=True) is None,
             timeout=timeout, describe=f"{kind}/{name} to be gone")


def elapsed(since: float) -> float:
    return time.monotonic() - since
