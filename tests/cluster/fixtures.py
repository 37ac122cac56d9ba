"""pytest plugin: a real Kubernetes cluster on this machine for tests marked ``cluster``.

Load it with ``pytest_plugins = ["tests.cluster.fixtures"]`` (or ``-p tests.cluster.fixtures``).

Fixtures
  cluster      (session)  the running cluster (``Cluster``); runs tests/cluster/up when it is not up yet.
  namespace    (function) a fresh namespace for one test, deleted afterwards; its Pods/Jobs/events are
                          printed in the report when the test fails.
  base_image   (session)  ``localhost/debian-base:bookworm`` (Debian + python3 + python3-venv) built with
                          tests/cluster/base-image and loaded into the real node.

Helpers (importable: ``from tests.cluster.fixtures import kubectl, wait_for, ...``)
  kubectl(*args, namespace=None, input=None, check=True, timeout=120, json=False)
  apply(manifest, namespace=None)            manifest: dict, list of dicts, or YAML text
  wait_for(predicate, timeout=60, describe="...", interval=0.5, diagnostics=None)
  load_image(tag_or_tar)                     podman tag (or image archive) -> real node's containerd
  build_image(tag, context, dockerfile=None, build_args=None, load=True)
  pod_manifest(...), job_manifest(...)       Pods/Jobs for the real node or the kwok nodes
  container_state(pod), pod_logs(name, namespace)

Environment
  DIAGNOSTIC_OPERATOR_CLUSTER_DIR    state dir of the cluster (default /tmp/diagnostic-operator-cluster)
  DIAGNOSTIC_OPERATOR_REUSE_CLUSTER  "1": leave a cluster this session started running afterwards
"""

from __future__ import annotations

import fcntl
import json as _json
import os
import random
import re
import shutil
import string
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

try:
    import yaml as _yaml
except ImportError:  # pragma: no cover - yaml is only needed for YAML text manifests
    _yaml = None

CLUSTER_SRC = Path(__file__).resolve().parent
REPO_ROOT = CLUSTER_SRC.parent.parent
STATE_DIR = Path(os.environ.get("DIAGNOSTIC_OPERATOR_CLUSTER_DIR", "/tmp/diagnostic-operator-cluster"))

REAL_NODE = os.environ.get("DIAGNOSTIC_OPERATOR_NODE_NAME", "do-real-node")
NODE_KIND_LABEL = "diagnostic-operator.io/node-kind"
REAL_NODE_SELECTOR = {NODE_KIND_LABEL: "real"}
KWOK_NODE_SELECTOR = {NODE_KIND_LABEL: "kwok"}
TEST_NODE_TAINT_KEY = "diagnostic-operator.io/test-node"
#: Every test Pod needs this toleration: all nodes of the test cluster carry the taint.
TEST_NODE_TOLERATION = {"key": TEST_NODE_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
KWOK = "kwok.diagnostic-operator.io"
#: Annotations that choose what a kwok node does with a Pod (see tests/cluster/README.md).
KWOK_OUTCOME = f"{KWOK}/outcome"  # succeed | fail | evict | disrupt | errimagepull | (absent: Jobs succeed)
KWOK_EXIT_CODE = f"{KWOK}/exit-code"  # fail: default 1; evict/disrupt: default 137
KWOK_DELAY = f"{KWOK}/delay"  # Go duration ("3s") before the outcome, after the Pod is Running
KWOK_REASON = f"{KWOK}/reason"  # fail: terminated.reason (default Error); disrupt: condition reason
BASE_IMAGE = "localhost/debian-base:bookworm"


class KubectlError(AssertionError):
    """kubectl exited non-zero."""

    def __init__(self, args: list[str], returncode: int, stdout: str, stderr: str):
        self.args_ = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(f"kubectl {' '.join(args)} exited {returncode}: {stderr.strip() or stdout.strip()}")


# --------------------------------------------------------------------------- environment


def _bin_dir() -> Path | None:
    f = STATE_DIR / "bin-dir"
    if f.exists():
        return Path(f.read_text().strip())
    return None


def cluster_env() -> dict[str, str]:
    """Environment for subprocesses that talk to the cluster (KUBECONFIG, PATH with kubectl/helm/kwok)."""
    env = dict(os.environ)
    env["KUBECONFIG"] = str(STATE_DIR / "kubeconfig" / "admin.kubeconfig")
    bin_dir = _bin_dir()
    if bin_dir:
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["DIAGNOSTIC_OPERATOR_CLUSTER_DIR"] = str(STATE_DIR)
    return env


def _run_script(name: str, *args: str, timeout: float = 3600, check: bool = True) -> subprocess.CompletedProcess:
    """Run tests/cluster/NAME, streaming its progress lines to stderr (pytest shows them on failure)."""
    t0 = time.monotonic()
    proc = subprocess.run(
        [str(CLUSTER_SRC / name), *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=timeout,
        env=cluster_env(),
    )
    sys.stderr.write(proc.stderr)
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"tests/cluster/{name} {' '.join(args)} failed with exit code {proc.returncode} "
            f"after {time.monotonic() - t0:.0f}s:\n{proc.stderr[-4000:]}"
        )
    return proc


# --------------------------------------------------------------------------- helpers


def kubectl(
    *args: str,
    namespace: str | None = None,
    input: str | None = None,
    check: bool = True,
    timeout: float = 120,
    json: bool = False,
) -> Any:
    """Run kubectl against the test cluster; return stdout (text), or the parsed object with ``json=True``."""
    argv = list(args)
    if namespace:
        argv = ["--namespace", namespace, *argv]
    if json:
        argv += ["-o", "json"]
    env = cluster_env()
    exe = shutil.which("kubectl", path=env["PATH"]) or "kubectl"
    proc = subprocess.run(
        [exe, *argv], input=input, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if check and proc.returncode != 0:
        raise KubectlError(argv, proc.returncode, proc.stdout, proc.stderr)
    if json:
        return _json.loads(proc.stdout) if proc.returncode == 0 else None
    return proc.stdout


def apply(manifest: Any, namespace: str | None = None) -> str:
    """``kubectl apply`` a dict, a list of dicts or YAML text."""
    if isinstance(manifest, str):
        text = manifest
    else:
        docs = manifest if isinstance(manifest, (list, tuple)) else [manifest]
        text = "\n".join(_json.dumps(d) for d in docs)  # kubectl reads a stream of JSON objects
    return kubectl("apply", "-f", "-", namespace=namespace, input=text)


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 60,
    describe: str | Callable[[], str] = "condition",
    interval: float = 0.5,
    diagnostics: Callable[[], str] | None = None,
) -> Any:
    """Poll ``predicate`` until it returns something truthy, and return that.

    Exceptions from the predicate count as "not yet" (the last one is reported). On timeout an
    AssertionError says what was awaited, the last value or error, and the output of ``diagnostics()``.
    """
    deadline = time.monotonic() + timeout
    last_value: Any = None
    last_error: BaseException | None = None
    while True:
        try:
            last_value = predicate()
            last_error = None
            if last_value:
                return last_value
        except Exception as e:
            last_error = e
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    what = describe() if callable(describe) else describe
    lines = [f"timed out after {timeout:.0f}s waiting for {what}"]
    if last_error is not None:
        lines.append(f"last error: {type(last_error).__name__}: {last_error}")
    else:
        lines.append(f"last value: {last_value!r}"[:2000])
    if diagnostics is not None:
        try:
            lines.append(diagnostics())
        except Exception as e:
            lines.append(f"(diagnostics failed: {e})")
    raise AssertionError("\n".join(lines))


_loaded_images: dict[str, str] = {}


def _podman(*args: str, timeout: float = 1800, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(CLUSTER_SRC / "podman"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cluster_env(),
        check=False,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc


def load_image(image: str) -> str:
    """Load a podman-built image (tag) or an image archive (path) into the real node; returns ``image``.

    Pods must use ``imagePullPolicy: Never``. A tag is loaded again only when podman's image ID changed.
    """
    if os.path.isfile(image):
        _run_script("load-image", image, timeout=600)
        return image
    image_id = _podman("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()
    if _loaded_images.get(image) == image_id:
        return image
    _run_script("load-image", image, timeout=600)
    _loaded_images[image] = image_id
    return image


def build_image(
    tag: str,
    context: str | os.PathLike,
    dockerfile: str | os.PathLike | None = None,
    build_args: dict[str, str] | None = None,
    load: bool = True,
) -> str:
    """``podman build --pull=never`` (FROM python:3.11-slim etc. resolve to the local Debian base) and load it."""
    ensure_base_image()
    argv = ["build", "--pull=never", "-t", tag]
    if dockerfile:
        argv += ["-f", str(dockerfile)]
    for k, v in (build_args or {}).items():
        argv += ["--build-arg", f"{k}={v}"]
    argv.append(str(context))
    _podman(*argv)
    if load:
        load_image(tag)
    return tag


_session_state: dict[str, bool] = {}


def apply_crds(path: str | Path, *names: str) -> None:
    """Apply CRD file(s) server-side and wait until ``names`` are Established. Serialised by a file lock:
    parallel workers applying the same cluster-scoped CRD at once would race (AlreadyExists)."""
    with open(STATE_DIR.parent / "diagnostic-operator-crds.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=diagnostic-operator-tests",
                "-f", str(path))
    for name in names:
        kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s", timeout=90)


def build_product_images() -> None:
    """``images/build --load`` (the product and example images, cached by their inputs' hash), serialised by a
    file lock: parallel test workers (pytest -n) must not build in the same checkout at the same time."""
    with open(STATE_DIR.parent / "diagnostic-operator-images.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run([str(REPO_ROOT / "images" / "build"), "--load"], capture_output=True, text=True,
                              timeout=3000, env=cluster_env(), check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]


def ensure_base_image() -> str:
    """Build (once, cached) and tag the Debian base image in podman's storage."""
    if not _session_state.get("base_image"):
        _run_script("base-image", timeout=1800)
        _session_state["base_image"] = True
    return BASE_IMAGE


def pod_logs(name: str, namespace: str, container: str | None = None) -> str:
    args = ["logs", name] + (["-c", container] if container else [])
    return kubectl(*args, namespace=namespace)


def container_state(pod: dict, index: int = 0) -> dict:
    """``status.containerStatuses[index].state`` of a Pod object ({} when not reported yet)."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return statuses[index].get("state", {}) if len(statuses) > index else {}


def pod_spec(
    image: str,
    command: list[str] | None = None,
    node: str = "real",
    host_network: bool = False,
    resources: dict | None = None,
    restart_policy: str = "Never",
    env: dict[str, str] | None = None,
) -> dict:
    """A Pod spec for the real node (``node="real"``) or the kwok nodes (``node="kwok"``)."""
    container: dict[str, Any] = {"name": "main", "image": image, "imagePullPolicy": "Never"}
    if command:
        container["command"] = command
    if resources:
        container["resources"] = resources
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    spec: dict[str, Any] = {
        "restartPolicy": restart_policy,
        "nodeSelector": dict(REAL_NODE_SELECTOR if node == "real" else KWOK_NODE_SELECTOR),
        "tolerations": [dict(TEST_NODE_TOLERATION)],
        "containers": [container],
        "terminationGracePeriodSeconds": 2,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
    }
    if host_network:
        spec["hostNetwork"] = True
        spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    return spec


def kwok_annotations(
    outcome: str | None = None,
    exit_code: int | None = None,
    delay: str | None = None,
    reason: str | None = None,
) -> dict[str, str]:
    ann = {}
    if outcome is not None:
        ann[KWOK_OUTCOME] = outcome
    if exit_code is not None:
        ann[KWOK_EXIT_CODE] = str(exit_code)
    if delay is not None:
        ann[KWOK_DELAY] = delay
    if reason is not None:
        ann[KWOK_REASON] = reason
    return ann


def pod_manifest(
    name: str,
    image: str = BASE_IMAGE,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    **spec_kwargs: Any,
) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations or {}, "labels": labels or {}},
        "spec": pod_spec(image, **spec_kwargs),
    }


def job_manifest(
    name: str,
    image: str = BASE_IMAGE,
    annotations: dict[str, str] | None = None,
    backoff_limit: int = 0,
    **spec_kwargs: Any,
) -> dict:
    """A Job whose Pod template gets ``annotations`` (e.g. ``kwok_annotations(...)``)."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {
                "metadata": {"annotations": annotations or {}, "labels": {"job-name": name}},
                "spec": pod_spec(image, **spec_kwargs),
            },
        },
    }


def describe_namespace(namespace: str) -> str:
    """Pods, Jobs and events of a namespace, for failure messages."""
    parts = []
    for args in (
        ("get", "pods,jobs", "-o", "wide"),
        (
            "get",
            "pods",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}: phase={.status.phase} "
            "reason={.status.reason} node={.spec.nodeName} states={.status.containerStatuses[*].state}{'\\n'}{end}",
        ),
        ("get", "events", "--sort-by=.lastTimestamp"),
    ):
        try:
            parts.append(kubectl(*args, namespace=namespace, check=False, timeout=30))
        except Exception as e:
            parts.append(f"(kubectl {' '.join(args)} failed: {e})")
    return f"--- namespace {namespace} ---\n" + "\n".join(parts)


# --------------------------------------------------------------------------- fixtures


@dataclass
class Cluster:
    state_dir: Path
    kubeconfig: Path
    bin_dir: Path
    real_node: str = REAL_NODE
    started_here: bool = False
    env: dict[str, str] = field(default_factory=dict)

    kubectl = staticmethod(kubectl)
    apply = staticmethod(apply)
    load_image = staticmethod(load_image)
    build_image = staticmethod(build_image)
    wait_for = staticmethod(wait_for)

    def kwok_nodes(self) -> list[str]:
        out = kubectl("get", "nodes", "-l", f"{NODE_KIND_LABEL}=kwok", "-o", "name")
        return [line.split("/", 1)[1] for line in out.split()]


def _cannot_run_reason() -> str | None:
    """Why this machine cannot run the cluster at all (then cluster tests are skipped), else None."""
    if sys.platform != "linux":
        return f"the test cluster needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return "the test cluster needs root (kubelet, containerd, network interfaces); run the tests as root"
    if not Path("/sys/fs/cgroup").is_dir():
        return "no /sys/fs/cgroup: the kubelet cannot run here"
    if not (STATE_DIR / "up").exists() and shutil.which("go") is None and not Path("/usr/local/go/bin/go").exists():
        cache = Path(os.environ.get("DIAGNOSTIC_OPERATOR_CACHE", Path.home() / ".cache/diagnostic-operator"))
        if not (cache / "k8s").is_dir() and not os.environ.get("KUBEBUILDER_ASSETS"):
            return "no Go toolchain to build Kubernetes and no cached binaries (KUBEBUILDER_ASSETS unset)"
    return None


def _is_up() -> bool:
    return subprocess.run([str(CLUSTER_SRC / "status")], capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="session")
def cluster() -> Iterable[Cluster]:
    reason = _cannot_run_reason()
    if reason:
        pytest.skip(f"cluster tests skipped: {reason}")
    started = False
    if not _is_up():
        _run_script("up", timeout=3600)
        started = True
    bin_dir = _bin_dir()
    assert bin_dir is not None, f"{STATE_DIR}/bin-dir missing after tests/cluster/up"
    c = Cluster(
        state_dir=STATE_DIR,
        kubeconfig=STATE_DIR / "kubeconfig" / "admin.kubeconfig",
        bin_dir=bin_dir,
        started_here=started,
        env=cluster_env(),
    )
    yield c
    if started and os.environ.get("DIAGNOSTIC_OPERATOR_REUSE_CLUSTER") != "1":
        _run_script("down", timeout=600, check=False)


@pytest.fixture(scope="session")
def base_image(cluster: Cluster) -> str:
    """The Debian base image (python3, python3-venv), loaded into the real node."""
    ensure_base_image()
    load_image(BASE_IMAGE)
    return BASE_IMAGE


def _slug(text: str, limit: int = 40) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:limit].strip("-") or "test"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"_do_rep_{rep.when}", rep)


@pytest.fixture
def namespace(cluster: Cluster, request) -> Iterable[str]:
    """A namespace of its own for one test; deleted afterwards (its contents are reported on failure)."""
    suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
    name = f"t-{_slug(request.node.name)}-{suffix}"
    apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"diagnostic-operator.io/test-namespace": "true"}},
        }
    )
    # Pods need the namespace's default ServiceAccount (made by the controller-manager) unless they opt out.
    wait_for(
        lambda: kubectl("get", "serviceaccount", "default", namespace=name, check=False),
        timeout=30,
        describe=f"default ServiceAccount in {name}",
    )
    yield name
    rep = getattr(request.node, "_do_rep_call", None)
    if rep is not None and rep.failed:
        request.node.add_report_section("call", "cluster", describe_namespace(name))
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
