"""The test cluster itself: a real node that runs containers, and kwok nodes whose Pods do what we ask.

Every later claim about Kubernetes behaviour is proved on this cluster, so these tests check the
behaviours the operator relies on: exit codes, OOM kills, logs, host networking, evictions, disruptions
and image pull failures.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time

import pytest

from tests.cluster.fixtures import (
    KWOK_NODE_SELECTOR,
    REAL_NODE,
    TEST_NODE_TAINT_KEY,
    apply,
    build_image,
    cluster_env,
    container_state,
    describe_namespace,
    job_manifest,
    kubectl,
    kwok_annotations,
    pod_logs,
    pod_manifest,
    wait_for,
)

pytestmark = pytest.mark.cluster


def _get_pod(namespace: str, name: str) -> dict:
    return kubectl("get", "pod", name, namespace=namespace, json=True)


def _job_pod(namespace: str, job: str) -> dict | None:
    pods = kubectl("get", "pods", "-l", f"job-name={job}", namespace=namespace, json=True)["items"]
    return pods[0] if pods else None


def _wait_terminated(namespace: str, job: str, timeout: float = 120) -> dict:
    """Wait until the Job's Pod reports its container terminated; return the Pod."""

    def terminated():
        pod = _job_pod(namespace, job)
        return pod if pod and "terminated" in container_state(pod) else None

    return wait_for(
        terminated,
        timeout=timeout,
        describe=f"a terminated container in Job {job}",
        diagnostics=lambda: describe_namespace(namespace),
    )


def _job_condition(namespace: str, job: str, cond: str) -> bool:
    obj = kubectl("get", "job", job, namespace=namespace, json=True)
    return any(c["type"] == cond and c["status"] == "True" for c in obj.get("status", {}).get("conditions", []))


# --------------------------------------------------------------------------- nodes


def test_real_node_and_kwok_nodes_are_ready(cluster):
    nodes = kubectl("get", "nodes", json=True)["items"]
    by_name = {n["metadata"]["name"]: n for n in nodes}

    def ready(n):
        return any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])

    real = by_name[REAL_NODE]
    assert ready(real), real["status"]["conditions"]
    assert real["metadata"]["labels"]["diagnostic-operator.io/node-kind"] == "real"
    assert real["status"]["nodeInfo"]["kubeletVersion"].startswith("v1.36.")
    assert real["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    assert {"key": TEST_NODE_TAINT_KEY, "value": "real", "effect": "NoSchedule"} in real["spec"]["taints"]
    internal = [a["address"] for a in real["status"]["addresses"] if a["type"] == "InternalIP"]
    assert internal and not internal[0].startswith("127."), internal

    kwok = [n for n in nodes if n["metadata"]["labels"].get("diagnostic-operator.io/node-kind") == "kwok"]
    assert len(kwok) >= 1
    for n in kwok:
        assert ready(n), (n["metadata"]["name"], n["status"]["conditions"])
        assert n["spec"]["taints"][0]["key"] == TEST_NODE_TAINT_KEY


def test_pod_without_toleration_is_not_scheduled(cluster, namespace):
    pod = pod_manifest("untolerated", node="kwok")
    pod["spec"]["tolerations"] = []
    apply(pod, namespace=namespace)

    def unschedulable():
        conds = _get_pod(namespace, "untolerated").get("status", {}).get("conditions", [])
        return any(
            c["type"] == "PodScheduled" and c["status"] == "False" and c.get("reason") == "Unschedulable" for c in conds
        )

    wait_for(
        unschedulable,
        timeout=30,
        describe="PodScheduled=False/Unschedulable",
        diagnostics=lambda: describe_namespace(namespace),
    )
    assert not _get_pod(namespace, "untolerated")["spec"].get("nodeName")


# --------------------------------------------------------------------------- real node


def test_real_node_job_exit_code_and_logs(cluster, namespace, base_image):
    job = job_manifest(
        "exit3",
        image=base_image,
        node="real",
        command=["sh", "-c", "echo 'hello from the real node'; echo to-stderr >&2; exit 3"],
    )
    apply(job, namespace=namespace)
    pod = _wait_terminated(namespace, "exit3")
    assert pod["spec"]["nodeName"] == REAL_NODE
    term = container_state(pod)["terminated"]
    assert (term["reason"], term["exitCode"]) == ("Error", 3), term
    logs = pod_logs(pod["metadata"]["name"], namespace)
    assert "hello from the real node" in logs and "to-stderr" in logs, logs
    wait_for(
        lambda: _job_condition(namespace, "exit3", "Failed"),
        timeout=60,
        describe="Job exit3 Failed",
        diagnostics=lambda: describe_namespace(namespace),
    )


def test_real_node_job_over_memory_limit_is_oom_killed(cluster, namespace, base_image):
    job = job_manifest(
        "oom",
        image=base_image,
        node="real",
        # Touch 256 MiB page by page: the kernel's memory cgroup kills it at the 32 MiB limit.
        command=["python3", "-c", "b = bytearray(256 * 1024 * 1024); print('not killed', len(b))"],
        resources={"limits": {"memory": "32Mi"}, "requests": {"memory": "32Mi"}},
    )
    apply(job, namespace=namespace)
    pod = _wait_terminated(namespace, "oom")
    term = container_state(pod)["terminated"]
    assert (term["reason"], term["exitCode"]) == ("OOMKilled", 137), term
    assert "not killed" not in pod_logs(pod["metadata"]["name"], namespace)


def test_real_node_job_success(cluster, namespace, base_image):
    apply(
        job_manifest(
            "ok",
            image=base_image,
            node="real",
            command=["python3", "-c", "import sys; print('python', sys.version_info[:2])"],
        ),
        namespace=namespace,
    )
    pod = _wait_terminated(namespace, "ok")
    term = container_state(pod)["terminated"]
    assert (term["reason"], term["exitCode"]) == ("Completed", 0), term
    assert "python (3, 11)" in pod_logs(pod["metadata"]["name"], namespace)
    wait_for(
        lambda: _job_condition(namespace, "ok", "Complete"),
        timeout=60,
        describe="Job ok Complete",
        diagnostics=lambda: describe_namespace(namespace),
    )


def test_host_network_pod_reaches_a_server_on_loopback(cluster, namespace, base_image):
    """Test Pods reach services on 127.0.0.1 of this machine (PostgreSQL, S3) through hostNetwork."""
    token = f"token-{time.time_ns()}"
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(120)
    port = server.getsockname()[1]
    received: list[bytes] = []

    def serve():
        try:
            conn, _ = server.accept()
            with conn:
                received.append(conn.recv(100))
                conn.sendall(token.encode())
        except OSError:
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        script = (
            f"import socket; s = socket.create_connection(('127.0.0.1', {port}), timeout=10); "
            "s.sendall(b'hello'); print('got', s.recv(100).decode())"
        )
        apply(
            job_manifest(
                "hostnet", image=base_image, node="real", host_network=True, command=["python3", "-c", script]
            ),
            namespace=namespace,
        )
        pod = _wait_terminated(namespace, "hostnet")
        term = container_state(pod)["terminated"]
        assert term["exitCode"] == 0, (term, pod_logs(pod["metadata"]["name"], namespace))
        assert f"got {token}" in pod_logs(pod["metadata"]["name"], namespace)
        assert received == [b"hello"]
    finally:
        server.close()
        t.join(timeout=5)


# --------------------------------------------------------------------------- kwok nodes


def _kwok_pod(namespace: str, name: str, **ann) -> None:
    apply(
        pod_manifest(name, image="kwok.invalid/no-such-image:1", node="kwok", annotations=kwok_annotations(**ann)),
        namespace=namespace,
    )


def _wait_pod(namespace: str, name: str, predicate, describe: str, timeout: float = 60) -> dict:
    def check():
        pod = _get_pod(namespace, name)
        return pod if predicate(pod) else None

    return wait_for(
        check,
        timeout=timeout,
        describe=f"pod {name}: {describe}",
        diagnostics=lambda: describe_namespace(namespace),
    )


def _phase(pod: dict) -> str | None:
    return pod.get("status", {}).get("phase")


def test_kwok_job_without_annotations_completes(cluster, namespace):
    apply(job_manifest("plain", image="kwok.invalid/x:1", node="kwok"), namespace=namespace)
    pod = _wait_terminated(namespace, "plain", timeout=60)
    assert pod["spec"]["nodeName"].startswith("do-kwok-node-")
    assert _phase(_job_pod(namespace, "plain")) in ("Succeeded", "Running")
    wait_for(
        lambda: _job_condition(namespace, "plain", "Complete"),
        timeout=60,
        describe="Job plain Complete",
        diagnostics=lambda: describe_namespace(namespace),
    )


class _PhaseWatch:
    """Every phase a Pod goes through, from a watch (``kubectl get -w``): a poll can miss a short phase when
    the machine is busy (CI saw Succeeded without the Running before it)."""

    def __init__(self, namespace: str, name: str) -> None:
        env = cluster_env()
        exe = shutil.which("kubectl", path=env["PATH"]) or "kubectl"
        self.phases: list[tuple[float, str]] = []
        self._proc = subprocess.Popen(
            [exe, "--namespace", namespace, "get", "pods", "--field-selector", f"metadata.name={name}", "-w",
             "-o", "jsonpath={.status.phase}{\"\\n\"}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.strip() and (not self.phases or self.phases[-1][1] != line.strip()):
                self.phases.append((time.monotonic(), line.strip()))

    def stop(self) -> list[tuple[float, str]]:
        self._proc.terminate()
        self._proc.wait(timeout=10)
        self._reader.join(timeout=10)
        return self.phases


def test_kwok_outcome_succeed_after_delay(cluster, namespace):
    watch = _PhaseWatch(namespace, "succeed")
    time.sleep(1)  # the watch is open before the Pod exists (its first line is the empty list)
    created = time.monotonic()
    try:
        _kwok_pod(namespace, "succeed", outcome="succeed", delay="4s")
        pod = _wait_pod(namespace, "succeed", lambda p: _phase(p) == "Succeeded", "Succeeded")
        time.sleep(1)  # the watch delivers the last event
    finally:
        phases = watch.stop()
    assert time.monotonic() - created >= 3.5
    names = [phase for _, phase in phases]
    assert "Running" in names and names.index("Running") < names.index("Succeeded"), phases
    term = container_state(pod)["terminated"]
    assert (term["reason"], term["exitCode"]) == ("Completed", 0)
    assert pod["spec"]["nodeSelector"] == KWOK_NODE_SELECTOR


@pytest.mark.parametrize("exit_code", [1, 7])
def test_kwok_outcome_fail_with_exit_code(cluster, namespace, exit_code):
    ann = {"outcome": "fail"} if exit_code == 1 else {"outcome": "fail", "exit_code": exit_code}
    _kwok_pod(namespace, "fail", **ann)
    pod = _wait_pod(namespace, "fail", lambda p: _phase(p) == "Failed", "Failed")
    term = container_state(pod)["terminated"]
    assert (term["reason"], term["exitCode"]) == ("Error", exit_code), term


def test_kwok_outcome_fail_drives_job_failure(cluster, namespace):
    apply(
        job_manifest(
            "jobfail",
            image="kwok.invalid/x:1",
            node="kwok",
            annotations=kwok_annotations(outcome="fail", exit_code=42),
        ),
        namespace=namespace,
    )
    pod = _wait_terminated(namespace, "jobfail")
    assert container_state(pod)["terminated"]["exitCode"] == 42
    wait_for(
        lambda: _job_condition(namespace, "jobfail", "Failed"),
        timeout=60,
        describe="Job jobfail Failed",
        diagnostics=lambda: describe_namespace(namespace),
    )


def test_kwok_outcome_evict(cluster, namespace):
    _kwok_pod(namespace, "evict", outcome="evict")
    pod = _wait_pod(namespace, "evict", lambda p: _phase(p) == "Failed", "Failed")
    assert pod["status"]["reason"] == "Evicted"
    conds = {c["type"]: c for c in pod["status"]["conditions"]}
    assert conds["DisruptionTarget"]["status"] == "True"
    assert conds["DisruptionTarget"]["reason"] == "TerminationByKubelet"
    assert container_state(pod)["terminated"]["exitCode"] == 137


def test_kwok_outcome_disrupt(cluster, namespace):
    _kwok_pod(namespace, "disrupt", outcome="disrupt", reason="PreemptionByScheduler")
    pod = _wait_pod(namespace, "disrupt", lambda p: _phase(p) == "Failed", "Failed")
    conds = {c["type"]: c for c in pod["status"]["conditions"]}
    assert conds["DisruptionTarget"]["status"] == "True"
    assert conds["DisruptionTarget"]["reason"] == "PreemptionByScheduler"
    assert pod["status"].get("reason") != "Evicted"
    # The scheduler's own condition is kept alongside.
    assert conds["PodScheduled"]["status"] == "True"


def test_kwok_outcome_errimagepull(cluster, namespace):
    _kwok_pod(namespace, "pull", outcome="errimagepull")
    pod = _wait_pod(namespace, "pull", lambda p: "waiting" in container_state(p), "waiting")
    assert container_state(pod)["waiting"]["reason"] == "ErrImagePull"
    assert _phase(pod) == "Pending"
    time.sleep(2)  # it stays there: no other stage applies
    pod = _get_pod(namespace, "pull")
    assert _phase(pod) == "Pending" and container_state(pod)["waiting"]["reason"] == "ErrImagePull"


def test_kwok_pod_deletion(cluster, namespace):
    _kwok_pod(namespace, "gone")
    _wait_pod(namespace, "gone", lambda p: _phase(p) == "Running", "Running")
    kubectl("delete", "pod", "gone", "--wait=true", "--timeout=30s", namespace=namespace)
    assert kubectl("get", "pod", "gone", "--ignore-not-found", namespace=namespace).strip() == ""


# --------------------------------------------------------------------------- tools


def test_podman_built_image_runs_on_the_real_node(cluster, namespace, tmp_path):
    """A `FROM python:3.11-slim` Dockerfile builds offline against the local base and runs as a Pod."""
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.11-slim\n"
        "RUN python3 -m venv /opt/venv && /opt/venv/bin/python -c 'import sys; print(sys.prefix)' > /opt/prefix\n"
        'CMD ["/opt/venv/bin/python", "-c", "print(\'venv at\', open(\'/opt/prefix\').read().strip())"]\n'
    )
    tag = build_image("localhost/diagnostic-operator/cluster-selftest:test", tmp_path)
    apply(job_manifest("built", image=tag, node="real"), namespace=namespace)
    pod = _wait_terminated(namespace, "built")
    term = container_state(pod)["terminated"]
    logs = pod_logs(pod["metadata"]["name"], namespace)
    assert term["exitCode"] == 0, (term, logs)
    assert "venv at /opt/venv" in logs


def test_helm_installs_a_chart(cluster, namespace, tmp_path):
    """helm works against this apiserver (it needs /openapi/v2, which Go 1.27's jsonv2 breaks)."""
    chart = tmp_path / "selftest"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: selftest\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\ndata:\n  greeting: {{ .Values.greeting | quote }}\n"
    )
    (chart / "values.yaml").write_text("greeting: hello\n")
    env = cluster.env
    helm = str(cluster.bin_dir / "helm")
    proc = subprocess.run(
        [helm, "install", "st", str(chart), "--namespace", namespace, "--set", "greeting=from-helm", "--wait"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    cm = kubectl("get", "configmap", "st-cm", namespace=namespace, json=True)
    assert cm["data"]["greeting"] == "from-helm"
