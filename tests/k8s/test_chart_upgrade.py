"""Upgrading from chart 0.1.0 with no kubectl step, and removing everything in the README's order.

This file deletes and re-creates the cluster-wide DiagnosticExecution CRD (a real first install of chart 0.1.0
needs the CRD absent, and the removal ends with the CRD deleted), so it must not share the cluster with other
tests: tests/run runs it alone, after the parallel workers (like test_faults.py). It leaves the current CRD
applied when it ends.

Chart 0.1.0 is taken from git: the commit that set version 0.1.0 in charts/diagnostic-operator/Chart.yaml,
extracted with ``git archive``; its CRD is the one in its ``crds/``, without ``spec.volumes`` and
``spec.results.compat`` (added later), which the upgrade must bring.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.fixtures import apply, apply_crds, describe_namespace, kubectl, wait_for
from tests.helpers import free_port
from tests.k8s.test_chart import (
    CHART,
    GROUP,
    ROOT,
    _execution,
    _get,
    _operator_logs,
    _phase,
    _secret,
    _suffix,
    helm,
    kubectl_proc,
)
from tests.k8s.test_chart import chart_namespaces as chart_namespaces  # noqa: PLC0414 - a fixture used here
from tests.k8s.test_chart import empty_database as empty_database  # noqa: PLC0414
from tests.k8s.test_chart import product_images as product_images  # noqa: PLC0414
from tests.services.s3 import S3Target

pytestmark = pytest.mark.cluster

CRD = f"diagnosticexecutions.{GROUP}"
CHART_PATH = "charts/diagnostic-operator"


def _released_chart(version: str, into: Path) -> Path:
    """The chart as released at ``version``: the commit that set that version in Chart.yaml (the chart's files
    changed later under the same version number, while nothing was released; the release is where the version
    was set), extracted under ``into``."""
    commits = subprocess.run(["git", "log", "--format=%H", "--", f"{CHART_PATH}/Chart.yaml"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    for commit in reversed(commits):  # oldest first: the first commit that has `version`
        chart = yaml.safe_load(subprocess.run(["git", "show", f"{commit}:{CHART_PATH}/Chart.yaml"], cwd=ROOT,
                                              capture_output=True, text=True, check=True).stdout)
        if chart["version"] == version:
            archive = subprocess.run(["git", "archive", "--format=tar", commit, CHART_PATH], cwd=ROOT,
                                     capture_output=True, check=True).stdout
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(into, filter="data")
            return into / CHART_PATH
    raise AssertionError(f"no commit has chart version {version}")


def _crd_fields(path: Path) -> dict[str, Any]:
    doc = next(d for d in yaml.safe_load_all(path.read_text()) if d)
    properties: dict[str, Any] = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"]
    return properties


def _drop_finalizers_everywhere() -> None:
    """Executions left by earlier tests whose operator is gone would keep a deleted CRD Terminating."""
    if not _crd_exists():
        return
    listed = kubectl("get", CRD, "--all-namespaces", json=True)
    for item in listed["items"]:
        meta = item["metadata"]
        if meta.get("finalizers"):
            kubectl("patch", CRD, meta["name"], "--type=merge", "-p", '{"metadata":{"finalizers":null}}',
                    namespace=meta["namespace"], check=False)


def _crd_exists() -> bool:
    return kubectl_proc("get", f"crd/{CRD}", "-o", "name").returncode == 0


def _delete_crd() -> None:
    _drop_finalizers_everywhere()
    kubectl("delete", f"crd/{CRD}", "--ignore-not-found", "--wait=false", check=False)
    wait_for(lambda: not _crd_exists(), timeout=120, interval=2, describe=f"crd/{CRD} to be deleted")


@pytest.fixture
def without_the_crd(cluster: Any) -> Iterator[None]:
    """No DiagnosticExecution CRD before the test (a first install of 0.1.0 creates it from its crds/); the
    current one applied again afterwards, for the tests that run later."""
    _delete_crd()
    yield
    # whatever the test left (nothing, the 0.1.0 CRD, or the hook's), end with the current CRD
    _drop_finalizers_everywhere()
    apply_crds(ROOT / "crds", CRD)


def _compat_kept(namespace: str) -> Any:
    """``spec.results.compat`` of a new execution as the API server would store it (server-side dry run with
    field validation off: the structural schema prunes unknown fields, so an old CRD drops it silently)."""
    doc = _execution(ROOT / "examples" / "global-mean-bias.yaml", name=f"compat-{_suffix()}")
    doc["spec"].setdefault("results", {})["compat"] = "climate-ref"
    proc = kubectl_proc("create", "--dry-run=server", "--validate=false", "-o", "json", "-f", "-", "--namespace", namespace,
                        input=json.dumps(doc))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["spec"].get("results", {}).get("compat")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_upgrade_from_0_1_0_applies_the_crd_without_kubectl_and_removal_leaves_nothing_terminating(
        without_the_crd: None, chart_namespaces: Callable[[str], str], product_images: None, empty_database: str,
        s3_store_url: S3Target, tmp_path: Path) -> None:
    old_chart = _released_chart("0.1.0", tmp_path)
    old_fields = _crd_fields(old_chart / "crds" / "diagnostic-operator.io_diagnosticexecutions.yaml")
    assert "compat" not in old_fields["results"]["properties"] and "volumes" not in old_fields, (
        "chart 0.1.0's CRD lacks the fields this test expects the upgrade to add")
    release_ns, runs = chart_namespaces("upg"), chart_namespaces("upgruns")
    release = f"chart-{_suffix()}"
    settings = {"DIAGNOSTIC_OPERATOR_DATABASE_URL": empty_database,
                "DIAGNOSTIC_OPERATOR_STORE_URL": s3_store_url.url, **s3_store_url.env}
    _secret(release_ns, settings)
    _secret(runs, settings)
    sets = ["--set", f"operator.healthPort={free_port()}", "--set", f"operator.metricsPort={free_port()}",
            "--set", "watchNamespaces={" + runs + "}"]
    diagnostics: Callable[[], str] = lambda: _operator_logs(release_ns) + describe_namespace(runs)  # noqa: E731
    try:
        # 1. chart 0.1.0 as released: its crds/ creates the CRD (no hook in that chart)
        helm("install", release, str(old_chart), "--namespace", release_ns,
             "--values", str(old_chart / "ci" / "test-cluster-values.yaml"), *sets, "--wait", "--timeout", "5m",
             timeout=400)
        assert _compat_kept(runs) is None, "0.1.0's CRD prunes spec.results.compat"
        crd = kubectl("get", f"crd/{CRD}", json=True)
        assert "helm.sh/resource-policy" not in (crd["metadata"].get("annotations") or {})

        # 2. executions in flight (sleeping examples)
        examples = ROOT / "examples"
        names = ["flight-a", "flight-b"]
        apply([_execution(examples / "global-mean-bias.yaml", name=n, env={"EXAMPLE_SLEEP": "60"}) for n in names],
              namespace=runs)
        for name in names:
            wait_for(lambda n=name: _phase(n, runs) == "Running", timeout=180, interval=1,
                     describe=f"{name} to run", diagnostics=diagnostics)

        # 3. helm upgrade to the working tree's chart: no kubectl step; the hook applies the CRD first
        helm("upgrade", release, str(CHART), "--namespace", release_ns,
             "--values", str(CHART / "ci" / "test-cluster-values.yaml"), *sets, "--wait", "--timeout", "5m",
             timeout=400)
        crd = kubectl("get", f"crd/{CRD}", "--show-managed-fields", json=True)
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        managers = {m["manager"] for m in crd["metadata"]["managedFields"]}
        assert "diagnostic-operator" in managers, managers
        assert any(c["type"] == "Established" and c["status"] == "True" for c in crd["status"]["conditions"])
        # the hook's Job and RBAC are gone once it succeeded
        leftovers = kubectl("get", "jobs,serviceaccounts", "-l", "app.kubernetes.io/component=crd-hook", "-o",
                            "name", namespace=release_ns) + kubectl(
            "get", "clusterroles,clusterrolebindings", "-l",
            f"app.kubernetes.io/component=crd-hook,app.kubernetes.io/instance={release}", "-o", "name")
        assert not leftovers.strip(), leftovers

        # 4. the in-flight executions finish (one attempt each), and the new field is accepted and kept
        for name in names:
            wait_for(lambda n=name: _phase(n, runs) == "Succeeded", timeout=300, interval=2,
                     describe=f"{name} to succeed", diagnostics=diagnostics)
            assert [a["number"] for a in _get(name, runs)["status"]["attempts"]] == [1]
        assert _compat_kept(runs) == "climate-ref"

        # 5. removal in the README's order: executions while the operator runs, the release, the CRD
        kubectl("delete", CRD, "--all", "--wait=true", "--timeout=180s", namespace=runs, timeout=240)
        assert not kubectl("get", CRD, "-o", "name", namespace=runs).strip()
        helm("uninstall", release, "--namespace", release_ns, "--wait", "--timeout", "3m", timeout=240)
        assert _crd_exists(), "helm uninstall keeps the CRD"
        kubectl("delete", f"crd/{CRD}", "--wait=true", "--timeout=120s", timeout=180)
        assert not _crd_exists()
        # (the Kopf peering CRDs stay: other tests' operators on this cluster use them)
        terminating = [ns for ns in (release_ns, runs)
                       if kubectl("get", "namespace", ns, json=True)["status"].get("phase") == "Terminating"]
        assert not terminating, terminating
    finally:
        helm("uninstall", release, "--namespace", release_ns, "--ignore-not-found", "--wait", "--timeout", "2m",
             timeout=180, check=False)
