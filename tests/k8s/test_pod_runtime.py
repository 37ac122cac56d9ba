"""The execution Pod's runtime on the REAL node: install-shim init container, the runner under the shim, and
the ingest sidecar publishing to the S3 server (moto) and ingesting into a real PostgreSQL.

Pods are the Jobs of ``transports.kubernetes.job.build_job`` (docs/pod-layout.md), with ``hostNetwork: true``
so that they reach both services on 127.0.0.1, the test node's toleration and selector, pull policy Never,
and the database URL + S3 credentials in a Secret of the test namespace. The rows the sidecar ingests into
are allocated first with ``db.lifecycle_writes``, as the operator would.
"""

from __future__ import annotations

import subprocess
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from diagnostic_operator.contracts.publish_summary import PublishSummary
from diagnostic_operator.db.engine import create_engine_for
from diagnostic_operator.db.lifecycle_writes import allocate_execution, record_attempt_start
from diagnostic_operator.db.queries import query_scalars
from diagnostic_operator.spec import AttemptResources, DiagnosticExecutionSpec
from diagnostic_operator.store import attempt_prefix
from diagnostic_operator.transports.kubernetes.config import OperatorConfig
from diagnostic_operator.transports.kubernetes.job import build_job
from tests.cluster.fixtures import (
    apply,
    build_image,
    build_product_images,
    cluster_env,
    describe_namespace,
    kubectl,
    pod_logs,
    wait_for,
)
from tests.helpers import PRODUCT, free_port, read_summary, site_config
from tests.k8s.operator_harness import write_secret
from tests.services.s3 import S3Target

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "example-diagnostic:0.1"
BARE = "localhost/diagnostic-operator/bare-exit4:test"


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def images(cluster: Any) -> list[str]:
    """Both images, built (cached by their inputs' hash) and loaded into the real node by images/build."""
    build_product_images()
    return [PRODUCT, EXAMPLE]


@pytest.fixture(scope="session")
def bare_image(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An image with no /bin/sh: FROM scratch + one static Go binary that prints and exits 4."""
    ctx = tmp_path_factory.mktemp("bare")
    (ctx / "main.go").write_text(textwrap.dedent("""\
        package main

        import ("fmt"; "os")

        func main() { fmt.Println("bare runner: no shell here, exiting 4"); os.Exit(4) }
        """))
    go = next((g for g in ("/usr/local/go/bin/go", "go") if Path(g).exists() or g == "go"), "go")
    subprocess.run([go, "build", "-trimpath", "-o", str(ctx / "exit4"), str(ctx / "main.go")], check=True,
                   cwd=ctx, timeout=600, env={**cluster_env(), "CGO_ENABLED": "0", "GO111MODULE": "off"})
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY exit4 /exit4\nUSER 65532\nENTRYPOINT [\"/exit4\"]\n")
    return build_image(BARE, ctx)


@dataclass
class Site:
    """One test namespace set up like a site: the Secrets, the service account, the database and the bucket."""

    namespace: str
    db_url: str
    engine: Engine
    s3: S3Target

    def config(self, secret: str = "do-db", **changes: Any) -> OperatorConfig:
        return OperatorConfig.from_mapping(site_config(self.s3.url, databaseSecret=secret, **changes))

    def secret(self, name: str, db_url: str) -> None:
        write_secret(self.namespace, db_url, self.s3, name)


@pytest.fixture
def site(namespace: str, images: list[str], pg_url: str, s3_store_url: S3Target) -> Iterator[Site]:
    engine = create_engine_for(pg_url)
    s = Site(namespace, pg_url, engine, s3_store_url)
    s.secret("do-db", pg_url)
    yield s
    engine.dispose()


def make_spec(**changes: Any) -> DiagnosticExecutionSpec:
    data: dict[str, Any] = {
        "diagnostic": {"provider": "example", "slug": "global-mean-bias", "version": "0.1.0"},
        "groupKey": "cmip6-historical-tas", "image": EXAMPLE, "command": ["python3", "-m", "example_diagnostic"],
        "resources": {"memory": "512Mi", "cpu": "250m", "wallClock": "2m"},
    }
    data.update(changes)
    return DiagnosticExecutionSpec.model_validate(data)


@dataclass
class Attempt:
    job: dict[str, Any]
    pod: dict[str, Any]
    execution_id: int
    attempt_id: int
    summary: PublishSummary | None
    seconds: float

    def container(self, name: str) -> dict[str, Any]:
        return next(c for c in self.pod["status"]["containerStatuses"] if c["name"] == name)

    def terminated(self, name: str) -> dict[str, Any]:
        return dict(self.container(name)["state"].get("terminated") or {})


def allocate(site: Site, name: str, uid: str, spec: DiagnosticExecutionSpec, attempt: int) -> tuple[int, int]:
    alloc = allocate_execution(site.engine, namespace=site.namespace, name=name, uid=uid, spec=spec,
                               output_location=site.s3.url)
    r = spec.resources
    attempt_id = record_attempt_start(
        site.engine, alloc.execution_id, attempt,
        resources=AttemptResources(memory=r.memory, cpu=r.cpu, wall_clock=r.wall_clock))
    return alloc.execution_id, attempt_id


def run_attempt(site: Site, name: str, spec: DiagnosticExecutionSpec, *, attempt: int = 1, uid: str | None = None,
                config: OperatorConfig | None = None, timeout: float = 240) -> Attempt:
    uid = uid or str(uuid.uuid4())
    execution_id, attempt_id = allocate(site, name, uid, spec, attempt)
    job = build_job(namespace=site.namespace, name=name, uid=uid, spec=spec, attempt=attempt,
                    resources=spec.resources, config=config or site.config())
    job["metadata"].pop("ownerReferences")  # no DiagnosticExecution object here: the GC would delete the Job
    started = time.monotonic()
    apply(job, namespace=site.namespace)
    job_name = job["metadata"]["name"]

    def finished() -> dict[str, Any] | None:
        pods = kubectl("get", "pods", "-l", f"job-name={job_name}", namespace=site.namespace, json=True)["items"]
        if pods and pods[0]["status"].get("phase") in ("Succeeded", "Failed"):
            return dict(pods[0])
        return None

    pod = wait_for(finished, timeout=timeout, describe=f"the Pod of {job_name} to finish",
                   diagnostics=lambda: describe_namespace(site.namespace))
    seconds = time.monotonic() - started
    ingest = next((c for c in pod["status"]["containerStatuses"] if c["name"] == "ingest"), {})
    message = ((ingest.get("state") or {}).get("terminated") or {}).get("message")
    summary = read_summary(message) if message else None
    return Attempt(job, pod, execution_id, attempt_id, summary, seconds)


def keys(site: Site, name: str, uid: str, attempt: int) -> set[str]:
    prefix = f"{site.s3.prefix}/{attempt_prefix(site.namespace, name, uid, attempt)}/"
    client = site.s3.server.client()
    out: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=site.s3.bucket, Prefix=prefix):
        out |= {o["Key"][len(prefix):] for o in page.get("Contents", [])}
    return out


def log_text(site: Site, name: str, uid: str, attempt: int) -> str:
    key = f"{site.s3.prefix}/{attempt_prefix(site.namespace, name, uid, attempt)}/out.log"
    return str(site.s3.server.client().get_object(Bucket=site.s3.bucket, Key=key)["Body"].read().decode())


def scalars(site: Site, execution_id: int) -> int:
    return len(query_scalars(site.engine, execution_id))


def sidecar_log(site: Site, a: Attempt) -> str:
    return str(pod_logs(a.pod["metadata"]["name"], site.namespace, "ingest"))


def why(site: Site, a: Attempt) -> str:
    return f"summary={a.summary}\n--- ingest log ---\n{sidecar_log(site, a)}\n{describe_namespace(site.namespace)}"


# ------------------------------------------------------------------------------------------ cases


def test_success_publishes_and_ingests(site: Site) -> None:
    uid = str(uuid.uuid4())
    a = run_attempt(site, "gmb-ok", make_spec(), uid=uid)
    assert a.summary is not None, why(site, a)
    assert a.summary.exit_record_present and a.summary.exit_code == 0, why(site, a)
    assert a.summary.ingested and a.summary.log_published, why(site, a)
    assert a.summary.counts.scalar_values == 24
    assert scalars(site, a.execution_id) == 24
    stored = keys(site, "gmb-ok", uid, 1)
    assert {"out.log", "exit.json", "outputs/diagnostic.json", "outputs/output.json", "outputs/series.json"} <= stored
    assert any(k.startswith("outputs/plots/") for k in stored)
    assert a.terminated("runner")["exitCode"] == 0 and a.terminated("ingest")["exitCode"] == 0
    job = kubectl("get", "job", a.job["metadata"]["name"], namespace=site.namespace, json=True)
    wait_for(lambda: (kubectl("get", "job", a.job["metadata"]["name"], namespace=site.namespace, json=True)
                      .get("status", {}).get("succeeded") == 1), timeout=30, describe="the Job to complete")
    assert job is not None
    # structured logs: one JSON object per line, and no secret in them
    lines = sidecar_log(site, a).splitlines()
    assert [line for line in lines if line.strip() and not line.startswith("{")] == []
    assert site.s3.env["AWS_SECRET_ACCESS_KEY"] not in "\n".join(lines)


def test_oom_kill_publishes_the_log(site: Site) -> None:
    uid = str(uuid.uuid4())
    spec = make_spec(args=["--allocate-mib", "280"], resources={"memory": "256Mi", "cpu": "250m", "wallClock": "2m"})
    a = run_attempt(site, "gmb-oom", spec, uid=uid)
    runner = a.terminated("runner")
    assert a.summary is not None, why(site, a)
    # the kernel's own evidence (docs/exit-record.md): the shim's record counts the OOM kill in the runner's
    # cgroup, or the kubelet says OOMKilled (also when the shim itself was killed and wrote no record)
    recorded = a.summary.exit_record_present and (a.summary.oom_kills or 0) >= 1
    assert recorded or runner.get("reason") == "OOMKilled", f"runner={runner}\n{why(site, a)}"
    print(f"OOM evidence: runner={runner.get('reason')}/{runner.get('exitCode')} "
          f"record={a.summary.exit_record_present} oomKills={a.summary.oom_kills}")
    assert a.summary.log_published and not a.summary.ingested, why(site, a)
    assert "out.log" in keys(site, "gmb-oom", uid, 1)
    assert "example-diagnostic" in log_text(site, "gmb-oom", uid, 1)  # what the runner printed before the kill
    assert scalars(site, a.execution_id) == 0


def test_crash_publishes_the_log_and_ingests_nothing(site: Site) -> None:
    uid = str(uuid.uuid4())
    a = run_attempt(site, "gmb-crash", make_spec(args=["--exit-code", "3"]), uid=uid)
    assert a.terminated("runner")["exitCode"] == 3
    assert a.summary is not None and a.summary.exit_code == 3, why(site, a)
    assert a.summary.log_published and not a.summary.ingested
    assert "example-diagnostic" in log_text(site, "gmb-crash", uid, 1)
    assert a.terminated("ingest")["exitCode"] == 0
    assert a.pod["status"]["phase"] == "Failed"
    assert scalars(site, a.execution_id) == 0


def test_timeout_is_published_before_the_pod_deadline(site: Site) -> None:
    uid = str(uuid.uuid4())
    spec = make_spec(args=["--sleep", "60"], resources={"memory": "512Mi", "cpu": "250m", "wallClock": "5s"})
    a = run_attempt(site, "gmb-timeout", spec, uid=uid)
    assert a.summary is not None and a.summary.timed_out, why(site, a)
    assert a.summary.log_published and not a.summary.ingested
    deadline = a.pod["spec"]["activeDeadlineSeconds"]
    started = _time(a.pod["status"]["startTime"])
    published = _time(a.terminated("ingest")["finishedAt"])
    assert (published - started) < deadline, f"published {published - started:.0f}s after start; deadline {deadline}s"
    assert a.pod["status"].get("reason") != "DeadlineExceeded"
    assert {"out.log", "exit.json"} <= keys(site, "gmb-timeout", uid, 1)
    assert "sleeping" in log_text(site, "gmb-timeout", uid, 1).lower()


def test_invalid_bundle_is_not_ingested(site: Site) -> None:
    a = run_attempt(site, "gmb-invalid", make_spec(args=["--invalid-bundle"]))
    assert a.summary is not None and a.summary.exit_code == 0, why(site, a)
    assert a.summary.bundle_error and not a.summary.ingested, why(site, a)
    assert a.summary.log_published
    assert scalars(site, a.execution_id) == 0


def test_unreachable_database_then_a_second_attempt(site: Site) -> None:
    uid = str(uuid.uuid4())
    closed = f"postgresql://postgres:not-a-real-password@127.0.0.1:{free_port()}/nothing"
    site.secret("do-db-bad", closed)
    first = run_attempt(site, "gmb-nodb", make_spec(), uid=uid, config=site.config("do-db-bad"))
    assert first.terminated("ingest")["exitCode"] == 1, why(site, first)
    assert first.summary is not None and first.summary.infrastructure_error and not first.summary.ingested
    assert "not-a-real-password" not in first.summary.to_message() + sidecar_log(site, first)
    assert "out.log" in keys(site, "gmb-nodb", uid, 1)
    second = run_attempt(site, "gmb-nodb", make_spec(), uid=uid, attempt=2)
    assert second.summary is not None and second.summary.ingested, why(site, second)
    assert second.execution_id == first.execution_id
    assert scalars(site, second.execution_id) == 24  # ingested once


def test_bare_image_without_shell(site: Site, bare_image: str) -> None:
    spec = make_spec(image=bare_image, command=["/exit4"], runtime={"shim": False})
    a = run_attempt(site, "bare", spec)
    assert a.terminated("runner")["exitCode"] == 4, why(site, a)
    assert a.summary is not None and not a.summary.exit_record_present and not a.summary.ingested, why(site, a)
    assert a.terminated("ingest")["exitCode"] == 0
    assert "exiting 4" in pod_logs(a.pod["metadata"]["name"], site.namespace, "runner")


def _time(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
