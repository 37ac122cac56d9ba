"""The operator end to end on the test cluster: ``diagnostic-operator operator`` (a real process, the admin
kubeconfig) reconciling DiagnosticExecutions whose attempt Jobs run on the REAL node, publishing to the S3
server and ingesting into a real PostgreSQL. Each test asserts the object's status, its events, its Jobs and
the database rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from diagnostic_operator.db.engine import create_engine_for
from tests.cluster.fixtures import Cluster, apply, apply_crds, build_product_images, kubectl, wait_for
from tests.helpers import free_port, kwok_summary, site_config
from tests.k8s.operator_harness import (
    ROOT,
    OperatorProcess,
    Site,
    apply_crd,
    proxied_kubeconfig,
    release_finalizers,
    restrict,
    wait_gone,
    write_secret,
)
from tests.services.fault_proxy import TcpProxy
from tests.services.s3 import S3Target

pytestmark = pytest.mark.cluster

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def crd(cluster: Cluster) -> None:
    apply_crd()


@pytest.fixture(scope="module")
def images(cluster: Cluster) -> None:
    build_product_images()


def make_site(namespace: str, pg_url: str, s3: S3Target, workdir: Path, **config: Any) -> Site:
    write_secret(namespace, pg_url, s3)
    operator = OperatorProcess(namespace, pg_url, s3, workdir, site_config(s3.url, **config))
    return Site(namespace, pg_url, create_engine_for(pg_url), s3, operator)


@pytest.fixture
def site(crd: None, images: None, namespace: str, pg_url: str, s3_store_url: S3Target,
         tmp_path: Path) -> Iterator[Site]:
    """The examples' site: a namespace that enforces the restricted Pod Security Standard (no exemption), the
    execution Pods on the Pod network."""
    restrict(namespace)
    s = make_site(namespace, pg_url, s3_store_url, tmp_path, pod_network=True)
    s.operator.start()
    try:
        yield s
    finally:
        s.operator.stop()
        s.engine.dispose()
        release_finalizers(namespace)
        print(s.operator.log()[-8000:])


def example(name: str) -> dict[str, Any]:
    path = EXAMPLES / name
    return dict(yaml.safe_load(path.read_text()))


def runner(job: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in job["spec"]["template"]["spec"]["containers"] if c["name"] == "runner")


# ---------------------------------------------------------------------------------------------- the real node


def test_success(site: Site) -> None:
    name = site.apply_execution(example("global-mean-bias.yaml"))
    status = site.wait_phase(name)
    assert status["phase"] == "Succeeded", status
    assert status["attempt"] == 1
    assert status["failureClass"] == "Success"
    assert status["observedGeneration"] == site.get(name)["metadata"]["generation"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Succeeded"]["status"] == "True"
    assert conditions.get("Reconciling", {"status": "False"})["status"] == "False"
    assert conditions.get("Stalled", {"status": "False"})["status"] == "False"
    [attempt] = status["attempts"]
    assert attempt["decision"] == "SUCCESS" and attempt["exitCode"] == 0
    assert attempt["node"] == "do-real-node"
    assert status["databaseExecutionId"] == site.execution_row(name)["id"]
    # one Job, owned by the execution, never retried by Kubernetes
    [job] = site.jobs(name)
    assert job["spec"]["backoffLimit"] == 0
    assert job["metadata"]["ownerReferences"][0]["kind"] == "DiagnosticExecution"
    assert runner(job)["resources"]["limits"]["memory"] == "512Mi"
    # database: the execution, one attempt, the values
    row = site.execution_row(name)
    assert row["phase"] == "Succeeded" and row["successful"] is True
    [attempt_row] = site.attempt_rows(name)
    assert attempt_row["decision"] == "SUCCESS" and attempt_row["exit_code"] == 0
    assert site.count("scalar_values", name) == 24
    assert site.count("outputs", name) == 6
    # events tell the story
    reasons = site.event_reasons(name)
    # (an "Unschedulable" may come first while other tests fill the node; event times have 1 s resolution)
    assert {"Accepted", "Running"} <= set(reasons) and reasons[-1] == "Succeeded", reasons
    # the init container and the image unpacking are the normal way to start: no Warning for them
    warnings = [(e["reason"], e["message"]) for e in site.events(name) if e["type"] == "Warning"]
    assert all(reason == "Unschedulable" for reason, _ in warnings), warnings


def test_a_spec_the_operator_refuses_ends_once_as_invalid_spec(site: Site) -> None:
    """The CRD's rules let this backoff through (its durations in days are not compared there); the models
    refuse it. The execution ends at once, Failed, InvalidSpec, the field named, recorded in the database,
    said in one Warning; nothing runs."""
    manifest = example("global-mean-bias.yaml")
    manifest["metadata"]["name"] = "refused-backoff"
    name = site.apply_execution(manifest, retry={"backoff": {"initial": "1d", "max": "1h"}})
    status = site.wait_phase(name, timeout=60)
    assert (status["phase"], status["failureClass"], status["reason"]) == ("Failed", "Configuration", "InvalidSpec")
    assert "retry.backoff.initial (1d)" in status["message"], status
    assert status["observedGeneration"] == site.get(name)["metadata"]["generation"]
    row = site.execution_row(name)
    assert (row["phase"], row["failure_class"], row["reason"]) == ("Failed", "Configuration", "InvalidSpec")
    assert status["databaseExecutionId"] == row["id"]
    time.sleep(5)  # passes after the end say nothing more
    warnings = [e for e in site.events(name) if e["type"] == "Warning"]
    assert [(e["reason"], e.get("count", 1)) for e in warnings] == [("InvalidSpec", 1)], warnings
    assert site.jobs(name) == []


def memory_limit(job: dict[str, Any]) -> str:
    return str(runner(job)["resources"]["limits"]["memory"])


def test_oom_then_success_with_more_memory(site: Site) -> None:
    name = site.apply_execution(example("failing/oom-then-succeed.yaml"))
    status = site.wait_phase(name, timeout=300)
    assert status["phase"] == "Succeeded", status
    first, second = status["attempts"][:2]
    assert (first["failureClass"], first["decision"]) == ("OutOfMemory", "RETRY"), first
    assert first["reason"] == "OOMKilled" or "OOM" in (first.get("message") or ""), first
    assert (second["failureClass"], second["decision"]) == ("Success", "SUCCESS"), second
    assert second["resources"]["memory"] == "384Mi"
    jobs = site.jobs(name)
    assert [j["metadata"]["name"] for j in jobs] == [f"{name}-a1", f"{name}-a2"]
    assert [memory_limit(j) for j in jobs] == ["256Mi", "384Mi"]
    assert [runner(j)["resources"]["requests"]["memory"] for j in jobs] == ["256Mi", "384Mi"]
    rows = site.attempt_rows(name)
    assert [(r["number"], r["failure_class"], r["decision"], r["requested_memory"]) for r in rows] == [
        (1, "OutOfMemory", "RETRY", "256Mi"), (2, "Success", "SUCCESS", "384Mi")]
    assert site.execution_row(name)["phase"] == "Succeeded"
    assert site.count("scalar_values", name) == 24, "values ingested once, by the attempt that succeeded"
    reasons = site.event_reasons(name)
    assert "OutOfMemory" in reasons and "Retrying" in reasons and reasons[-1] == "Succeeded", reasons


def test_diagnostic_error_gives_up_at_once(site: Site) -> None:
    name = site.apply_execution(example("failing/exit-nonzero.yaml"))
    status = site.wait_phase(name)
    assert (status["phase"], status["failureClass"], status["attempt"]) == ("Failed", "DiagnosticError", 1), status
    [attempt] = status["attempts"]
    assert (attempt["exitCode"], attempt["decision"]) == (3, "GIVE_UP")
    assert len(site.jobs(name)) == 1
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Failed"]["status"] == "True" and conditions["Stalled"]["status"] == "True"
    assert conditions["Ready"]["status"] == "False"
    row = site.execution_row(name)
    assert (row["phase"], row["failure_class"], row["successful"]) == ("Failed", "DiagnosticError", False)
    assert site.count("scalar_values", name) == 0
    [attempt_row] = site.attempt_rows(name)
    assert attempt_row["exit_code"] == 3 and attempt_row["log_location"], attempt_row
    assert site.event_reasons(name)[-1] == "DiagnosticError"


def test_invalid_bundle_is_a_diagnostic_error(site: Site) -> None:
    name = site.apply_execution(example("failing/invalid-bundle.yaml"))
    status = site.wait_phase(name)
    assert (status["phase"], status["failureClass"], status["reason"]) == (
        "Failed", "DiagnosticError", "InvalidResults"), status
    assert status["attempts"][0]["exitCode"] == 0 and site.count("scalar_values", name) == 0


def test_retryable_exit_code_is_retried(site: Site) -> None:
    name = site.apply_execution(example("failing/retryable-exit.yaml"))
    status = site.wait_phase(name, timeout=300)
    assert (status["phase"], status["failureClass"]) == ("Failed", "DiagnosticError"), status
    assert [(a["exitCode"], a["decision"]) for a in status["attempts"]] == [(75, "RETRY"), (75, "GIVE_UP")]
    assert len(site.jobs(name)) == 2
    assert [r["decision"] for r in site.attempt_rows(name)] == ["RETRY", "GIVE_UP"]
    assert site.event_reasons(name).count("Retrying") == 1


def test_wall_clock_timeout(site: Site) -> None:
    name = site.apply_execution(example("failing/timeout.yaml"))
    status = site.wait_phase(name)
    assert (status["phase"], status["failureClass"], status["attempt"]) == ("Failed", "TimedOut", 1), status
    [attempt] = status["attempts"]
    assert attempt["decision"] == "GIVE_UP"
    assert attempt["telemetry"]["durationSeconds"] < 30, "killed at the 3 s deadline, not the Pod's"
    [attempt_row] = site.attempt_rows(name)
    assert attempt_row["failure_class"] == "TimedOut" and attempt_row["log_location"]
    assert site.execution_row(name)["phase"] == "Failed"
    assert site.event_reasons(name)[-1] == "TimedOut"


def test_missing_image_fails_after_pending_timeout(site: Site) -> None:
    spec = example("global-mean-bias.yaml")
    spec["metadata"]["name"] = "no-such-image"
    name = site.apply_execution(spec, image="example-diagnostic:does-not-exist", pendingTimeout="30s")
    pending = site.wait_phase(name, ("Pending",), timeout=60)
    assert pending["attempt"] == 1
    # the wait is announced once, as a Warning naming the deadline (the status says the same while it lasts,
    # but a slow node can report the pull error so late that the status is already final when we look)
    image_reasons = ("ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff")
    warning = wait_for(lambda: next((e for e in site.events(name) if e["reason"] in image_reasons), None),
                       timeout=90, describe="a Warning naming the image problem", diagnostics=site.diagnostics)
    assert warning["type"] == "Warning" and "pendingTimeout 30s" in warning["message"], warning
    status = site.wait_phase(name, timeout=120)
    assert (status["phase"], status["failureClass"]) == ("Failed", "Configuration"), status
    assert status["reason"] in ("ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff")
    assert len(status["attempts"]) == 1, "a configuration error is not retried"
    # the stuck Job was stopped
    wait_for(lambda: all(j["metadata"].get("deletionTimestamp") for j in site.jobs(name)) or not site.jobs(name),
             timeout=60, describe="the stuck Job to be deleted")
    assert site.execution_row(name)["failure_class"] == "Configuration"


def sleeper(seconds: int = 120) -> dict[str, Any]:
    spec = example("global-mean-bias.yaml")
    spec["metadata"]["name"] = "sleeper"
    spec["spec"]["args"] = ["--sleep", str(seconds)]
    return spec


def test_cancel_stops_the_job(site: Site) -> None:
    name = site.apply_execution(sleeper())
    site.wait_phase(name, ("Running",), timeout=120)
    kubectl("patch", "dx", name, "--type=merge", "-p", '{"spec": {"cancel": true}}', namespace=site.namespace)
    status = site.wait_phase(name, timeout=60)
    assert (status["phase"], status["failureClass"]) == ("Cancelled", "Cancelled"), status
    assert status["attempts"][0]["decision"] == "CANCEL"
    wait_for(lambda: not [p for p in site.pods(name) if p["status"].get("phase") == "Running"
                          and not p["metadata"].get("deletionTimestamp")],
             timeout=60, describe="the running Pod to be stopped")
    row = site.execution_row(name)
    assert (row["phase"], row["failure_class"]) == ("Cancelled", "Cancelled")
    assert site.event_reasons(name)[-1] == "Cancelled"


def test_deletion_mid_run(site: Site) -> None:
    name = site.apply_execution(sleeper())
    site.wait_phase(name, ("Running",), timeout=120)
    started = time.monotonic()
    kubectl("delete", "dx", name, "--wait=false", namespace=site.namespace)
    wait_gone("dx", name, site.namespace, timeout=90)
    assert time.monotonic() - started < 60, "deletion is never blocked for long"
    wait_for(lambda: not site.jobs(name), timeout=90, describe="the Jobs to be deleted")
    row = site.execution_row(name)
    assert (row["phase"], row["failure_class"]) == ("Cancelled", "Cancelled"), row
    [attempt_row] = site.attempt_rows(name)
    assert attempt_row["decision"] == "CANCEL"


def test_operator_killed_and_restarted_mid_run(site: Site) -> None:
    """SIGKILL while attempt 1 runs, restart: the execution resumes from the cluster and the database, with
    no second Job, no attempt recorded twice and a correct end."""
    spec = sleeper(15)
    name = site.apply_execution(spec)
    site.wait_phase(name, ("Running",), timeout=120)
    site.operator.kill()
    time.sleep(20)  # the attempt ends while no operator runs
    site.operator.start()
    status = site.wait_phase(name, timeout=180)
    assert (status["phase"], status["attempt"]) == ("Succeeded", 1), status
    assert [j["metadata"]["name"] for j in site.jobs(name)] == [f"{name}-a1"]
    assert len(site.attempt_rows(name)) == 1
    assert site.count("scalar_values", name) == 24
    reasons = site.event_reasons(name)
    assert reasons.count("Accepted") == 1 and reasons.count("Succeeded") == 1, reasons
    # the restarted process saw the end (one execution Succeeded) and created no Job
    samples = {k: v for k, v in site.operator.samples().items() if k[0].startswith("diagnostic_operator_")}
    assert site.operator.sample("diagnostic_operator_executions_finished_total", phase="Succeeded") == 1, samples
    assert site.operator.sample("diagnostic_operator_jobs_created_total") == 0, samples
    assert site.operator.sample("diagnostic_operator_active_peer") == 1, samples  # standalone: always active


def test_operator_killed_between_job_creation_and_status(site: Site) -> None:
    """Killed at the earliest moment: the execution applied while no operator runs, the operator started and
    killed as soon as the Job exists, restarted: one Job, one attempt."""
    site.operator.stop()
    name = site.apply_execution(sleeper(5))
    site.operator.start()
    wait_for(lambda: site.jobs(name), timeout=60, describe="attempt 1's Job", diagnostics=site.diagnostics)
    site.operator.kill()
    site.operator.start()
    status = site.wait_phase(name, timeout=180)
    assert status["phase"] == "Succeeded", status
    assert len(site.jobs(name)) == 1 and len(site.attempt_rows(name)) == 1


# ---------------------------------------------------------------------------------------------- kwok nodes


@pytest.fixture
def kwok_site(crd: None, namespace: str, pg_url: str, s3_store_url: S3Target, tmp_path: Path) -> Iterator[Site]:
    s = make_site(namespace, pg_url, s3_store_url, tmp_path, node="kwok")
    yield s
    s.operator.stop()
    s.engine.dispose()
    release_finalizers(namespace)


def test_active_peer_metric_follows_kopf_peering(kwok_site: Site) -> None:
    """Two replicas with one --peering name and the same priority: the first alone is active (metric 1); with
    the second alive both pause (0 on both, and a new execution waits untouched); the second stopped, the first
    is active again and handles it."""
    site = kwok_site
    apply_crds(ROOT / "charts" / "diagnostic-operator" / "crds" / "kopf.dev_peerings.yaml",
               "kopfpeerings.kopf.dev", "clusterkopfpeerings.kopf.dev")
    apply({"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "do-peers"}},
          namespace=site.namespace)
    first = site.operator
    first.extra_args = ["--peering", "do-peers"]
    second_dir = first.workdir / "second"
    second_dir.mkdir()
    second = OperatorProcess(site.namespace, site.db_url, site.s3, second_dir, first.config,
                             extra_args=["--peering", "do-peers"])

    def active(*operators: OperatorProcess) -> list[float | None]:
        return [o.sample("diagnostic_operator_active_peer") for o in operators]

    first.start()
    try:
        wait_for(lambda: active(first) == [1], timeout=60, describe="the only replica active",
                 diagnostics=first.log)
        second.start()
        wait_for(lambda: active(first, second) == [0, 0], timeout=60,
                 describe="both replicas paused (same priority)", diagnostics=lambda: first.log() + second.log())
        name = site.apply_execution(infra_spec("peer-paused"))
        time.sleep(5)
        assert site.status(name) == {}, "a paused replica handled an execution"
        assert active(first, second) == [0, 0]
        second.stop()
        wait_for(lambda: active(first) == [1], timeout=60, describe="the remaining replica active again",
                 diagnostics=first.log)
        wait_for(lambda: site.status(name).get("phase"), timeout=60, describe="the execution handled",
                 diagnostics=site.diagnostics)
    finally:
        second.stop()


def infra_spec(name: str) -> dict[str, Any]:
    spec = example("global-mean-bias.yaml")
    spec["metadata"]["name"] = name
    spec["spec"]["retry"] = {"maxAttempts": 1, "infrastructureRetries": 2,
                             "backoff": {"initial": "1s", "max": "2s"}}
    return spec


@pytest.mark.parametrize(("outcome", "reason"), [("evict", "Evicted"), ("disrupt", "PreemptionByScheduler")])
def test_kwok_eviction_and_preemption_do_not_use_the_retry_budget(kwok_site: Site, outcome: str,
                                                                   reason: str) -> None:
    """Every Pod is evicted (or preempted): with maxAttempts 1 the execution still gets 1 + 2 infrastructure
    retries, and then fails as Infrastructure, not as the user's failure."""
    site = kwok_site
    annotations = {"kwok.diagnostic-operator.io/outcome": outcome, "kwok.diagnostic-operator.io/delay": "1s",
                   "kwok.diagnostic-operator.io/reason": reason}
    site.operator.config["podDefaults"]["annotations"] = annotations
    site.operator.start()
    name = site.apply_execution(infra_spec(f"infra-{outcome}"))
    status = site.wait_phase(name, timeout=180)
    assert (status["phase"], status["failureClass"]) == ("Failed", "Infrastructure"), status
    assert [a["failureClass"] for a in status["attempts"]] == ["Infrastructure"] * 3
    assert [a["decision"] for a in status["attempts"]] == ["RETRY", "RETRY", "GIVE_UP"]
    assert "infrastructureRetries" in status["message"]
    assert len(site.jobs(name)) == 3
    assert [r["failure_class"] for r in site.attempt_rows(name)] == ["Infrastructure"] * 3
    assert site.execution_row(name)["failure_class"] == "Infrastructure"
    assert site.event_reasons(name).count("Infrastructure") == 3


def test_kwok_node_loss_is_retried_and_unschedulable_waits(kwok_site: Site) -> None:
    """The only node an execution may use is deleted while its Pod runs: infrastructure failure, retried; the
    retry is unschedulable (a condition, no failure) until the node is back, then succeeds."""
    site = kwok_site
    node = f"do-kwok-lost-{site.namespace[-5:]}"
    node_manifest = {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node, "annotations": {"kwok.x-k8s.io/node": "fake"},
                     "labels": {"diagnostic-operator.io/node-kind": "kwok", "type": "kwok",
                                "kubernetes.io/hostname": node, "diagnostic-operator.io/lost-node": node}},
        "spec": {"taints": [{"key": "diagnostic-operator.io/test-node", "value": "kwok", "effect": "NoSchedule"}]},
    }
    apply(node_manifest)
    try:
        wait_for(lambda: kubectl("wait", "--for=condition=Ready", f"node/{node}", "--timeout=1s", check=False),
                 timeout=60, describe=f"{node} Ready")
        site.operator.config["podDefaults"]["nodeSelector"] = {"diagnostic-operator.io/lost-node": node}
        site.operator.config["podDefaults"]["annotations"] = {
            "kwok.diagnostic-operator.io/outcome": "succeed", "kwok.diagnostic-operator.io/delay": "600s",
            "kwok.diagnostic-operator.io/termination-message.ingest": kwok_summary()}
        site.operator.start()
        name = site.apply_execution(infra_spec("node-loss"))
        site.wait_phase(name, ("Running",), timeout=90)
        kubectl("delete", "node", node, "--wait=false")
        status = wait_for(lambda: (s := site.status(name)).get("attempt", 0) >= 2 and s.get("reason") == "Unschedulable"
                          and s, timeout=180, describe="attempt 2 waiting for a node", diagnostics=site.diagnostics)
        assert status["phase"] == "Pending"
        assert status["attempts"][0]["failureClass"] == "Infrastructure", status["attempts"]
        assert "Unschedulable" in site.event_reasons(name)
        time.sleep(5)
        assert site.status(name)["phase"] == "Pending", "merely unschedulable: keeps waiting"
        apply(node_manifest)
        # the node is back: attempt 2's Pod runs there; shorten its kwok delay so that it completes now
        def annotate() -> bool:
            pods = [p for p in site.pods(name) if p["metadata"]["labels"].get("diagnostic-operator.io/attempt") == "2"]
            for p in pods:
                kubectl("annotate", "pod", p["metadata"]["name"], "--overwrite",
                        "kwok.diagnostic-operator.io/delay=1s", namespace=site.namespace)
            return bool(pods)

        wait_for(annotate, timeout=30, describe="attempt 2's Pod")
        final = site.wait_phase(name, timeout=180)
        assert (final["phase"], final["attempt"]) == ("Succeeded", 2), final
        assert [a["decision"] for a in final["attempts"]] == ["RETRY", "SUCCESS"]
        assert [r["failure_class"] for r in site.attempt_rows(name)] == ["Infrastructure", "Success"]
    finally:
        kubectl("delete", "node", node, "--ignore-not-found", "--wait=false", check=False)


def test_no_secret_in_status_events_or_operator_logs(crd: None, images: None, namespace: str, pg_url: str,
                                                     s3_store_url: S3Target, tmp_path: Path) -> None:
    """The database password and the S3 secret key reach the operator (flag, environment) and the sidecar
    (Secret): they never appear in the object's status, its events, or the operator's log — also when the
    database cannot be reached and the error is reported. (The test server trusts local connections, so
    any password is accepted; what matters is where the password string travels.)"""
    secret_key = s3_store_url.env["AWS_SECRET_ACCESS_KEY"]
    password = "pw-" + namespace[-5:] + "-s3cr3t"
    url = make_url(pg_url).set(password=password).render_as_string(hide_password=False)
    site = make_site(namespace, url, s3_store_url, tmp_path)
    site.operator.start()
    try:
        ok = site.apply_execution(example("global-mean-bias.yaml"))
        assert site.wait_phase(ok)["phase"] == "Succeeded"
        # the sidecar's Secret names a database that does not answer: ingest fails, the error is reported
        bad_url = make_url(url).set(port=free_port()).render_as_string(hide_password=False)
        write_secret(namespace, bad_url, s3_store_url)
        spec = example("global-mean-bias.yaml")
        spec["metadata"]["name"] = "database-down"
        spec["spec"]["retry"] = {"maxAttempts": 1, "infrastructureRetries": 0}
        bad = site.apply_execution(spec)
        status = site.wait_phase(bad, timeout=300)
        assert status["failureClass"] == "Infrastructure", status
        texts = {"status ok": json.dumps(site.get(ok)), "status bad": json.dumps(site.get(bad)),
                 "events ok": json.dumps(site.events(ok)), "events bad": json.dumps(site.events(bad)),
                 "operator log": site.operator.log()}
        for where, text_ in texts.items():
            assert password not in text_, where
            assert secret_key not in text_, where
        assert site.operator.log().count("Accepted: Attempt 1 started") >= 2, "the log is not empty"
    finally:
        site.operator.stop()
        site.engine.dispose()
        release_finalizers(namespace)


def test_liveness_fails_when_the_api_server_stays_unreachable(crd: None, namespace: str, pg_url: str,
                                                               s3_store_url: S3Target, tmp_path: Path) -> None:
    """``/healthz`` answers 200 while the API server answers, and also through an outage shorter than
    ``--api-grace``; it answers 500, naming the silence, once the API server stays unreachable for longer (the
    kubelet then restarts the operator); 200 again once it answers. The operator reaches the API server
    through a TCP proxy that refuses connections on demand."""
    proxy = TcpProxy(6443)
    site = make_site(namespace, pg_url, s3_store_url, tmp_path)
    site.operator.env = proxied_kubeconfig(proxy.port, tmp_path / "proxied.kubeconfig")
    site.operator.extra_args = ["--api-grace", "8"]
    try:
        site.operator.start()
        _, body = wait_for(lambda: (h := site.operator.health())[0] == 200 and h, timeout=60,
                              describe="/healthz 200", diagnostics=site.diagnostics)
        assert "API server answered" in body, body
        proxy.down()
        lost = time.monotonic()
        # within the grace: still alive (Kopf keeps a probe result for 10 s, so look early)
        early = site.operator.health()
        assert early[0] == 200, early
        _, body = wait_for(lambda: (h := site.operator.health())[0] == 500 and h, timeout=60,
                              describe="/healthz 500", diagnostics=site.diagnostics)
        assert time.monotonic() - lost >= 8, "failed before the grace was over"
        assert site.operator.alive(), "the operator exits on its own instead of letting the kubelet decide"
        assert "API server not answering" in site.operator.log(), site.operator.log()[-3000:]
        proxy.up()
        _, body = wait_for(lambda: (h := site.operator.health())[0] == 200 and h, timeout=60,
                              describe="/healthz 200 again", diagnostics=site.diagnostics)
        assert "API server answered" in body, body
    finally:
        proxy.close()
        site.operator.stop()
        site.engine.dispose()
        release_finalizers(namespace)
