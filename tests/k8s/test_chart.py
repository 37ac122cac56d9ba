"""The Helm chart on the real test cluster: lint, render + server-side dry-run of the main value combinations,
RBAC proved with ``kubectl auth can-i``, and the whole install story (install, executions, upgrade in flight,
uninstall) with the operator running in-cluster under the chart's own ServiceAccount.

Every namespace here starts with ``chart-`` (the cluster is shared); cluster-scoped objects carry a random
release name. helm and kubectl come from the cluster's bin dir (tests/cluster/build, pinned Go modules).
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text

from diagnostic_operator.db.engine import create_engine_for
from diagnostic_operator.db.queries import get_execution
from diagnostic_operator.transports.kubernetes.config import OperatorConfig
from tests.cluster.fixtures import (
    apply,
    apply_crds,
    build_product_images,
    cluster_env,
    describe_namespace,
    kubectl,
    wait_for,
)
from tests.helpers import free_port
from tests.services.s3 import S3Target
from tests.unit.chart.status_rules import argocd_health, kstatus

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "diagnostic-operator"
CI = CHART / "ci"
KUBE_VERSION = "1.36.2"
SECRET = "diagnostic-operator-db"
EXECUTION_SA = "diagnostic-execution"
GROUP = "diagnostic-operator.io"


# ------------------------------------------------------------------------------------------------ helpers


def helm(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["helm", *args], capture_output=True, text=True, timeout=timeout, env=cluster_env(),
                          check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}\n{proc.stdout[-2000:]}")
    return proc


def _suffix() -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=5))


def render(release: str, namespace: str, *values_files: str, **sets: str) -> list[dict[str, Any]]:
    args = ["template", release, str(CHART), "--namespace", namespace, "--kube-version", KUBE_VERSION]
    for name in values_files:
        args += ["--values", str(CI / name)]
    for key, value in sets.items():
        args += ["--set", f"{key.replace('__', '.')}={value}"]
    return [doc for doc in yaml.safe_load_all(helm(*args).stdout) if doc]


def kubectl_proc(*args: str, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True, timeout=timeout,
                          env=cluster_env(), check=False)


def _hook(doc: dict[str, Any]) -> str:
    return str((doc["metadata"].get("annotations") or {}).get("helm.sh/hook", ""))


def dry_run(docs: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    # The `helm test` Pod is left out: a dry run creates no ServiceAccount, and the ServiceAccount admission
    # refuses a Pod whose ServiceAccount does not exist (the chart story runs the real `helm test`).
    docs = [d for d in docs if not (d["kind"] == "Pod" and _hook(d) == "test")]
    proc = kubectl_proc("apply", "--dry-run=server", "-f", "-", input="\n".join(json.dumps(d) for d in docs))
    assert proc.returncode == 0, f"server-side dry run rejected the chart:\n{proc.stderr}"
    return proc


def can_i(verb: str, resource: str, sa: str, namespace: str | None = None, subresource: str | None = None) -> bool:
    args = ["auth", "can-i", verb, resource, f"--as={sa}"]
    args += ["--namespace", namespace] if namespace else ["--all-namespaces"]
    if subresource:
        args.append(f"--subresource={subresource}")
    proc = kubectl_proc(*args)
    answer = proc.stdout.strip()
    assert answer in ("yes", "no"), f"kubectl {' '.join(args)}: {proc.stdout} {proc.stderr}"
    return answer == "yes"


@pytest.fixture(scope="module")
def chart_crds(cluster: Any) -> None:
    """The chart's CRDs (the product's and Kopf's peering CRDs), as `helm install` would create them."""
    apply_crds(CHART / "crds", "diagnosticexecutions.diagnostic-operator.io", "kopfpeerings.kopf.dev",
               "clusterkopfpeerings.kopf.dev")


@pytest.fixture
def chart_namespaces(cluster: Any, request: pytest.FixtureRequest) -> Iterator[Callable[[str], str]]:
    """A factory of fresh ``chart-<what>-<random>`` namespaces, all deleted afterwards."""
    made: list[str] = []

    def make(what: str) -> str:
        name = f"chart-{what}-{_suffix()}"
        apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        made.append(name)
        return name

    yield make
    rep = getattr(request.node, "_do_rep_call", None)
    for name in made:
        if rep is not None and rep.failed:
            request.node.add_report_section("call", f"cluster {name}", describe_namespace(name))
        # Executions keep Kopf's finalizer once their operator is gone: drop it, or the namespace never goes.
        names = kubectl("get", "diagnosticexecutions", "-o", "name", namespace=name, check=False).split()
        for obj in names:
            kubectl("patch", obj, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', namespace=name,
                    check=False)
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


# ------------------------------------------------------------------------------------------------ lint, render


@pytest.mark.parametrize("values", sorted(p.name for p in CI.glob("*.yaml")))
def test_helm_lint_strict(cluster: Any, values: str) -> None:
    proc = helm("lint", "--strict", str(CHART), "--values", str(CI / values), "--kube-version", KUBE_VERSION)
    assert "0 chart(s) failed" in proc.stdout, proc.stdout


def test_helm_template_without_the_secret_name_fails_clearly(cluster: Any) -> None:
    proc = helm("template", "r", str(CHART), "--kube-version", KUBE_VERSION, check=False)
    assert proc.returncode != 0 and "secret.existingSecret is required" in proc.stderr


def test_helm_template_rejects_an_unknown_value(cluster: Any) -> None:
    proc = helm("template", "r", str(CHART), "--kube-version", KUBE_VERSION, "--values", str(CI / "namespaced-values.yaml"),
                "--set", "executionPods.hostNetwrk=true", check=False)
    assert proc.returncode != 0 and "hostNetwrk" in proc.stderr and "not allowed" in proc.stderr


def _kinds(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    return by_kind


def _operator_config(docs: list[dict[str, Any]]) -> OperatorConfig:
    configmap = next(d for d in docs if d["kind"] == "ConfigMap")
    return OperatorConfig.from_mapping(yaml.safe_load(configmap["data"]["config.yaml"]), source="chart ConfigMap")


RESTRICTED = {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
              "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def test_namespaced_install_renders_and_passes_server_dry_run_under_restricted_pod_security(
        chart_crds: None, chart_namespaces: Callable[[str], str]) -> None:
    release_ns = chart_namespaces("rel")
    kubectl("label", "namespace", release_ns, "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/warn=restricted")
    watched = [chart_namespaces("w1"), chart_namespaces("w2")]
    release = f"chart-{_suffix()}"
    docs = render(release, release_ns, "namespaced-values.yaml", watchNamespaces="{" + ",".join(watched) + "}")
    by_kind = _kinds(docs)
    assert sorted(by_kind) == ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Job", "KopfPeering",
                               "Pod", "Role", "RoleBinding", "Service", "ServiceAccount"]
    assert [_hook(p) for p in by_kind["Pod"]] == ["test"]
    assert sorted(r["metadata"]["namespace"] for r in by_kind["Role"] if not _hook(r)) == sorted(watched)
    assert [j["metadata"]["name"] for j in by_kind["Job"]] == [f"{release}-diagnostic-operator-crds"]
    assert sorted(p["metadata"]["namespace"] for p in by_kind["KopfPeering"]) == sorted(watched)
    execution_sas = [s for s in by_kind["ServiceAccount"] if s["metadata"]["name"] == EXECUTION_SA]
    assert sorted(s["metadata"]["namespace"] for s in execution_sas) == sorted(watched)
    assert all(s["automountServiceAccountToken"] is False for s in execution_sas)

    deployment = by_kind["Deployment"][0]
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    operator = pod["containers"][0]
    assert [f"--namespace={ns}" for ns in watched] == [a for a in operator["args"] if a.startswith("--namespace")]
    assert f"--peering={release}-diagnostic-operator" in operator["args"]
    assert pod["initContainers"][0]["args"] == ["db", "upgrade"]
    for container in (operator, pod["initContainers"][0]):
        assert RESTRICTED.items() <= container["securityContext"].items()
        assert container["envFrom"] == [{"secretRef": {"name": SECRET}}]
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {p for p in ("livenessProbe", "readinessProbe", "startupProbe") if p in operator} == {
        "livenessProbe", "readinessProbe", "startupProbe"}
    assert operator["resources"]["limits"]["memory"]

    config = _operator_config(docs)  # the operator accepts the rendered configuration
    assert config.database_secret == SECRET and config.pod_defaults.service_account_name == EXECUTION_SA
    assert RESTRICTED.items() <= config.security_context.items()

    proc = dry_run(docs)
    assert "would violate PodSecurity" not in proc.stderr, proc.stderr


def test_cluster_wide_install_renders_and_passes_server_dry_run(chart_crds: None,
                                                                 chart_namespaces: Callable[[str], str]) -> None:
    release_ns = chart_namespaces("rel")
    release = f"chart-{_suffix()}"
    docs = render(release, release_ns, "clusterwide-values.yaml")
    by_kind = _kinds([d for d in docs if not _hook(d)])
    assert "Role" not in by_kind and "KopfPeering" not in by_kind
    assert [c["metadata"]["name"] for c in by_kind["ClusterRole"]
            if c["metadata"]["labels"]["app.kubernetes.io/component"] == "operator"] == [f"{release}-diagnostic-operator"]
    assert [p["metadata"]["name"] for p in by_kind["ClusterKopfPeering"]] == [f"{release}-diagnostic-operator"]
    args = by_kind["Deployment"][0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not [a for a in args if a.startswith("--namespace")], "cluster-wide: no --namespace"
    dry_run(docs)


def test_optional_objects_render_and_pass_server_dry_run(chart_crds: None,
                                                          chart_namespaces: Callable[[str], str]) -> None:
    """ServiceMonitor (only rendered: the cluster has no Prometheus Operator CRD), NetworkPolicy, PDB, queues."""
    release_ns = chart_namespaces("rel")
    docs = render(f"chart-{_suffix()}", release_ns, "options-values.yaml")
    by_kind = _kinds(docs)
    monitor = by_kind.pop("ServiceMonitor")[0]
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert "KopfPeering" not in by_kind
    assert by_kind["PodDisruptionBudget"][0]["spec"]["minAvailable"] == 1
    policy = by_kind["NetworkPolicy"][0]["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    args = by_kind["Deployment"][0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not [a for a in args if a.startswith("--peering")]
    config = _operator_config(docs)
    assert set(config.queues) == {"batch", "gpu"} and config.job_ttl_seconds == 3600
    dry_run([d for d in docs if d["kind"] != "ServiceMonitor"])


def test_defaults_render_no_optional_objects(chart_crds: None, chart_namespaces: Callable[[str], str]) -> None:
    docs = render(f"chart-{_suffix()}", chart_namespaces("rel"), "namespaced-values.yaml")
    assert not {"ServiceMonitor", "NetworkPolicy", "PodDisruptionBudget"} & {d["kind"] for d in docs}


def test_test_cluster_values_render_and_pass_server_dry_run(chart_crds: None,
                                                             chart_namespaces: Callable[[str], str]) -> None:
    release_ns = chart_namespaces("rel")
    docs = render(f"chart-{_suffix()}", release_ns, "test-cluster-values.yaml")
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) == ("127.0.0.1", "6443")
    assert _operator_config(docs).pod_defaults.host_network is True
    dry_run(docs)


# ------------------------------------------------------------------------------------------------ RBAC


def _apply_rbac(release: str, release_ns: str, values: str, **sets: str) -> list[dict[str, Any]]:
    docs = [d for d in render(release, release_ns, values, **sets)
            if d["kind"] in ("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")]
    apply(docs)
    return docs


def _delete(docs: list[dict[str, Any]]) -> None:
    kubectl("delete", "--ignore-not-found", "--wait=false", "-f", "-",
            input="\n".join(json.dumps(d) for d in docs), check=False)


OPERATOR_CAN = [  # (verb, resource, subresource): what operator.py and Kopf do
    ("list", f"diagnosticexecutions.{GROUP}", None), ("watch", f"diagnosticexecutions.{GROUP}", None),
    ("patch", f"diagnosticexecutions.{GROUP}", None), ("patch", f"diagnosticexecutions.{GROUP}", "status"),
    ("create", "jobs.batch", None), ("delete", "jobs.batch", None), ("get", "jobs.batch", None),
    ("list", "jobs.batch", None),
    ("watch", "jobs.batch", None), ("list", "pods", None), ("watch", "pods", None), ("create", "events", None),
]
OPERATOR_CANNOT = [
    ("get", "secrets", None), ("list", "secrets", None), ("get", "configmaps", None), ("create", "pods", None),
    ("delete", "pods", None), ("create", "pods", "exec"), ("update", f"diagnosticexecutions.{GROUP}", None),
    ("create", f"diagnosticexecutions.{GROUP}", None), ("delete", f"diagnosticexecutions.{GROUP}", None),
    ("update", "jobs.batch", None), ("patch", "jobs.batch", None), ("create", "serviceaccounts", "token"),
    ("create", "rolebindings.rbac.authorization.k8s.io", None), ("delete", "events", None),
]
NOTHING = [("get", "pods", None), ("list", "pods", None), ("get", "secrets", None), ("list", "configmaps", None),
           ("create", "jobs.batch", None), ("list", f"diagnosticexecutions.{GROUP}", None),
           ("get", f"diagnosticexecutions.{GROUP}", None), ("create", "events", None), ("list", "namespaces", None),
           ("get", "serviceaccounts", None), ("list", "kopfpeerings.kopf.dev", None)]


def test_namespaced_rbac_grants_exactly_what_the_operator_uses(chart_crds: None,
                                                                chart_namespaces: Callable[[str], str]) -> None:
    release_ns, watched, other = chart_namespaces("rel"), chart_namespaces("w"), chart_namespaces("other")
    release = f"chart-{_suffix()}"
    docs = _apply_rbac(release, release_ns, "namespaced-values.yaml", watchNamespaces="{" + watched + "}")
    operator = f"system:serviceaccount:{release_ns}:{release}-diagnostic-operator"
    execution = f"system:serviceaccount:{watched}:{EXECUTION_SA}"
    try:
        wait_for(lambda: can_i("create", "jobs.batch", operator, watched), timeout=30,
                 describe="the RoleBinding to take effect")
        wrong = [f"cannot {v} {r}{'/' + s if s else ''}" for v, r, s in OPERATOR_CAN
                 if not can_i(v, r, operator, watched, s)]
        wrong += [f"can {v} {r}{'/' + s if s else ''}" for v, r, s in OPERATOR_CANNOT
                  if can_i(v, r, operator, watched, s)]
        for verb in ("list", "watch", "patch"):
            if not can_i(verb, "kopfpeerings.kopf.dev", operator, watched):
                wrong.append(f"cannot {verb} kopfpeerings")
        # nothing in a namespace it does not watch (its own included), nothing cluster-wide but discovery
        for ns in (other, release_ns, "kube-system"):
            wrong += [f"can {v} {r} in {ns}" for v, r, s in OPERATOR_CAN if can_i(v, r, operator, ns, s)]
        wrong += [f"can {v} {r} in all namespaces" for v, r in (("list", "jobs.batch"), ("list", "pods"),
                                                                 ("list", f"diagnosticexecutions.{GROUP}"))
                  if can_i(v, r, operator)]
        for verb in ("list", "watch"):
            if not can_i(verb, "customresourcedefinitions.apiextensions.k8s.io", operator):
                wrong.append(f"cannot {verb} CRDs (discovery)")
            if not can_i(verb, "namespaces", operator):
                wrong.append(f"cannot {verb} namespaces (discovery)")
        wrong += [f"can {v} {r}" for v, r in (("get", "customresourcedefinitions.apiextensions.k8s.io"),
                                              ("create", "customresourcedefinitions.apiextensions.k8s.io"),
                                              ("get", "nodes"), ("patch", "clusterkopfpeerings.kopf.dev"),
                                              ("delete", "namespaces"))
                  if can_i(v, r, operator)]
        # the execution Pods' ServiceAccount: nothing at all
        wrong += [f"execution SA can {v} {r}" for v, r, s in NOTHING + OPERATOR_CAN
                  for ns in (watched, None) if can_i(v, r, execution, ns, s)]
        assert not wrong, wrong
    finally:
        _delete(docs)


def test_cluster_wide_rbac(chart_crds: None, chart_namespaces: Callable[[str], str]) -> None:
    release_ns, some_ns = chart_namespaces("rel"), chart_namespaces("any")
    release = f"chart-{_suffix()}"
    docs = _apply_rbac(release, release_ns, "clusterwide-values.yaml")
    operator = f"system:serviceaccount:{release_ns}:{release}-diagnostic-operator"
    execution = f"system:serviceaccount:{release_ns}:{EXECUTION_SA}"
    try:
        wait_for(lambda: can_i("create", "jobs.batch", operator, some_ns), timeout=30,
                 describe="the ClusterRoleBinding to take effect")
        wrong = [f"cannot {v} {r} in {ns or 'all namespaces'}" for v, r, s in OPERATOR_CAN
                 for ns in (some_ns, None) if not can_i(v, r, operator, ns, s)]
        wrong += [f"can {v} {r}" for v, r, s in OPERATOR_CANNOT if can_i(v, r, operator, some_ns, s)]
        for verb in ("list", "watch", "patch"):
            if not can_i(verb, "clusterkopfpeerings.kopf.dev", operator):
                wrong.append(f"cannot {verb} clusterkopfpeerings")
        wrong += [f"can {v} {r}" for v, r in (("list", "namespaces"), ("get", "nodes"),
                                              ("patch", "kopfpeerings.kopf.dev"), ("list", "secrets"))
                  if can_i(v, r, operator)]
        wrong += [f"execution SA can {v} {r}" for v, r, s in NOTHING if can_i(v, r, execution, release_ns, s)]
        assert not wrong, wrong
    finally:
        _delete(docs)


def test_crd_hook_rbac_reaches_only_the_products_crd(chart_crds: None, chart_namespaces: Callable[[str], str]) -> None:
    """The CRD hook's ServiceAccount (a hook object, so applied here by hand) may get, create and patch the one
    CRD by name, and nothing else."""
    release_ns = chart_namespaces("rel")
    release = f"chart-{_suffix()}"
    docs = [d for d in render(release, release_ns, "namespaced-values.yaml")
            if d["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding") and "pre-install" in _hook(d)]
    assert len(docs) == 3, docs
    apply(docs)
    hook = f"system:serviceaccount:{release_ns}:{release}-diagnostic-operator-crds"
    crd = f"customresourcedefinitions.apiextensions.k8s.io/diagnosticexecutions.{GROUP}"
    other = "customresourcedefinitions.apiextensions.k8s.io/kopfpeerings.kopf.dev"
    try:
        wait_for(lambda: can_i("patch", crd, hook), timeout=30, describe="the hook's ClusterRoleBinding")
        wrong = [f"cannot {v} the CRD" for v in ("get", "create", "patch") if not can_i(v, crd, hook)]
        wrong += [f"can {v} the CRD" for v in ("delete", "update") if can_i(v, crd, hook)]
        wrong += [f"can {v} another CRD" for v in ("get", "patch", "delete") if can_i(v, other, hook)]
        wrong += [f"can {v} {r}" for v, r in (("list", "customresourcedefinitions.apiextensions.k8s.io"),
                                              ("list", f"diagnosticexecutions.{GROUP}"), ("get", "secrets"),
                                              ("create", "pods"))
                  if can_i(v, r, hook)]
        assert not wrong, wrong
    finally:
        _delete(docs)


def test_aggregated_roles_give_view_and_edit_users_their_rights_on_executions(
        chart_crds: None, chart_namespaces: Callable[[str], str]) -> None:
    """The chart's ClusterRoles aggregate into the built-in view / edit roles: users bound to those in a
    namespace (RoleBindings) can read, respectively also create, patch (cancel) and delete executions there."""
    release_ns, work, other = chart_namespaces("rel"), chart_namespaces("users"), chart_namespaces("other")
    release = f"chart-{_suffix()}"
    docs = [d for d in render(release, release_ns, "namespaced-values.yaml")
            if d["kind"] == "ClusterRole" and d["metadata"]["labels"].get("app.kubernetes.io/component") == "user-roles"]
    assert len(docs) == 2, docs
    viewer, editor = f"chart-viewer-{_suffix()}", f"chart-editor-{_suffix()}"
    bindings = [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                 "metadata": {"name": f"chart-{role}", "namespace": work},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                 "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}
                for role, user in (("view", viewer), ("edit", editor))]
    apply(docs)
    apply(bindings)
    dx = f"diagnosticexecutions.{GROUP}"
    try:
        # the aggregation controller copies the rules into view/edit/admin shortly after the roles exist
        wait_for(lambda: can_i("list", dx, viewer, work) and can_i("create", dx, editor, work), timeout=60,
                 describe="the aggregated rules to reach the built-in roles")
        wrong = [f"viewer cannot {v}" for v in ("get", "list", "watch") if not can_i(v, dx, viewer, work)]
        if not can_i("get", dx, viewer, work, "status"):
            wrong.append("viewer cannot get status")
        wrong += [f"viewer can {v}" for v in ("create", "update", "patch", "delete") if can_i(v, dx, viewer, work)]
        wrong += [f"editor cannot {v}" for v in ("get", "list", "watch", "create", "update", "patch", "delete")
                  if not can_i(v, dx, editor, work)]
        if can_i("patch", dx, editor, work, "status"):
            wrong.append("editor can patch status (the operator's)")
        wrong += [f"{who} can list in another namespace" for who in (viewer, editor) if can_i("list", dx, who, other)]
        admin = kubectl("get", "clusterrole", "admin", json=True)
        if not any("diagnosticexecutions" in rule.get("resources", []) and "delete" in rule.get("verbs", [])
                   for rule in admin.get("rules", [])):
            wrong.append("the built-in admin role did not aggregate the edit rules")
        assert not wrong, wrong
    finally:
        _delete(bindings + docs)


# ------------------------------------------------------------------------------------------------ the story


@pytest.fixture(scope="module")
def product_images(cluster: Any) -> None:
    """diagnostic-operator:0.1.0 and example-diagnostic:0.1, built (cached by input hash) and loaded."""
    build_product_images()


@pytest.fixture
def empty_database(postgres_url: str) -> Iterator[str]:
    """A fresh, empty (unmigrated) database: the chart's migrate init container creates the schema."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    name = f"chart_{_suffix()}"
    admin = create_engine_for(postgres_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _secret(namespace: str, data: dict[str, str]) -> None:
    apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": SECRET},
           "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}, namespace=namespace)


def _execution(path: Path, name: str | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    if name:
        doc["metadata"]["name"] = name
    if env:
        doc["spec"]["env"] = [*doc["spec"].get("env", []), *({"name": k, "value": v} for k, v in env.items())]
    return doc


def _get(name: str, namespace: str) -> dict[str, Any]:
    obj = kubectl("get", f"diagnosticexecutions.{GROUP}", name, namespace=namespace, json=True)
    assert isinstance(obj, dict)
    return obj


def _phase(name: str, namespace: str) -> str:
    return str((_get(name, namespace).get("status") or {}).get("phase", ""))


def _operator_logs(namespace: str) -> str:
    return str(kubectl("logs", "-l", "app.kubernetes.io/component=operator", "--all-containers", "--tail=80",
                       "--prefix", namespace=namespace, check=False))


def _forbidden(namespace: str) -> list[str]:
    """Lines of the operator's whole log that report a refused API call (the chart's RBAC was not enough)."""
    logs = str(kubectl("logs", "-l", "app.kubernetes.io/component=operator", "--all-containers", "--tail=-1",
                       namespace=namespace))
    return [line for line in logs.splitlines() if "forbidden" in line.lower()]


def check_operator_pod_is_non_root_with_a_read_only_root(pod: dict[str, Any]) -> None:
    """docs/security.md: the installed operator Pod, as the API server has it, runs restricted (non-root UID
    65532, read-only root, no privilege escalation, no capabilities, RuntimeDefault seccomp), and the running
    process really is so: its UID, no effective capabilities, no_new_privs, ``/`` refuses a write, ``/tmp``
    (the emptyDir) takes one."""
    spec = pod["spec"]
    assert {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532}.items() <= spec["securityContext"].items()
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in (*spec["containers"], *spec.get("initContainers", [])):
        assert RESTRICTED.items() <= container["securityContext"].items(), container["name"]
    probe = (
        "import errno, os\n"
        "status = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
        "print('uid', os.getuid(), os.getgid())\n"
        "print('caps', status['CapEff'].strip(), status['NoNewPrivs'].strip())\n"
        "try:\n    open('/written-by-test', 'w')\nexcept OSError as e:\n    print('root', errno.errorcode[e.errno])\n"
        "else:\n    print('root writable')\n"
        "open('/tmp/written-by-test', 'w').write('x'); os.remove('/tmp/written-by-test'); print('tmp ok')\n"
    )
    proc = kubectl_proc("exec", "--namespace", pod["metadata"]["namespace"], pod["metadata"]["name"],
                        "--container=operator", "--", "python3", "-c", probe, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:4] == ["uid 65532 65532", "caps 0000000000000000 1", "root EROFS", "tmp ok"], \
        proc.stdout




@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_install_executions_upgrade_in_flight_and_uninstall(
        chart_crds: None, chart_namespaces: Callable[[str], str], product_images: None, empty_database: str,
        s3_store_url: S3Target) -> None:
    release_ns, runs = chart_namespaces("op"), chart_namespaces("runs")
    release = f"chart-{_suffix()}"
    settings = {"DIAGNOSTIC_OPERATOR_DATABASE_URL": empty_database,
                "DIAGNOSTIC_OPERATOR_STORE_URL": s3_store_url.url, **s3_store_url.env}
    _secret(release_ns, settings)
    _secret(runs, settings)
    ports = {"operator.healthPort": str(free_port()), "operator.metricsPort": str(free_port())}
    sets = [arg for key, value in {**ports, "watchNamespaces": "{" + runs + "}"}.items()
            for arg in ("--set", f"{key}={value}")]
    diagnostics = lambda: _operator_logs(release_ns) + describe_namespace(runs)  # noqa: E731

    try:
        _story(release, release_ns, runs, sets, empty_database, s3_store_url, diagnostics)
    finally:  # a failed story must not leave the release (and its cluster-scoped RBAC) behind
        helm("uninstall", release, "--namespace", release_ns, "--ignore-not-found", "--wait", "--timeout", "2m",
             timeout=180, check=False)


def _story(release: str, release_ns: str, runs: str, sets: list[str], empty_database: str, s3_store_url: S3Target,
           diagnostics: Callable[[], str]) -> None:
    # 1. install: the operator runs in-cluster under the chart's ServiceAccount, after the migrations
    helm("install", release, str(CHART), "--namespace", release_ns, "--values", str(CI / "test-cluster-values.yaml"),
         *sets, "--wait", "--timeout", "5m", timeout=400)
    pod = kubectl("get", "pods", "-l", "app.kubernetes.io/component=operator", namespace=release_ns,
                  json=True)["items"][0]
    assert pod["spec"]["serviceAccountName"] == f"{release}-diagnostic-operator"
    assert pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    with create_engine_for(empty_database).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    check_operator_pod_is_non_root_with_a_read_only_root(pod)

    # 2. the examples run on the real node and land in PostgreSQL and S3
    examples = ROOT / "examples"
    apply([_execution(examples / "global-mean-bias.yaml"), _execution(examples / "failing" / "exit-nonzero.yaml")],
          namespace=runs)
    wait_for(lambda: kubectl("get", "jobs", "-o", "name", namespace=runs).strip(), timeout=120,
             describe="the operator to create the first attempt Job", interval=2, diagnostics=diagnostics)
    wait_for(lambda: _phase("global-mean-bias", runs) == "Succeeded", timeout=300,
             describe="global-mean-bias to succeed", interval=2, diagnostics=diagnostics)
    wait_for(lambda: _phase("example-exit-nonzero", runs) == "Failed", timeout=300,
             describe="example-exit-nonzero to fail", interval=2, diagnostics=diagnostics)
    succeeded, failed = _get("global-mean-bias", runs), _get("example-exit-nonzero", runs)
    assert succeeded["status"]["ingested"]["scalarValues"] == 24, succeeded["status"]
    assert failed["status"]["failureClass"] == "DiagnosticError", failed["status"]
    # GitOps reads the real objects the same way as the unit tests' statuses
    assert (kstatus(succeeded), argocd_health(succeeded)["status"]) == ("Current", "Healthy")
    assert (kstatus(failed), argocd_health(failed)["status"]) == ("Failed", "Degraded")
    engine = create_engine_for(empty_database)
    detail = get_execution(engine, f"{runs}/global-mean-bias")
    assert detail is not None and str(detail.status().phase) == "Succeeded"
    keys = [o["Key"] for o in s3_store_url.server.client().list_objects_v2(
        Bucket=s3_store_url.bucket).get("Contents", [])]
    assert any(key.endswith("diagnostic.json") for key in keys), keys

    # 2b. `helm test`: the test Pod (its own ServiceAccount and Role) runs a tiny execution of the product image
    #     in the watched namespace, which succeeds and is deleted; the hook objects go once it passed
    proc = helm("test", release, "--namespace", release_ns, "--timeout", "5m", timeout=400, check=False)
    assert proc.returncode == 0, f"helm test failed:\n{proc.stdout}\n{proc.stderr}\n{diagnostics()}"
    assert re.search(r"^Phase:\s+Succeeded$", proc.stdout, re.MULTILINE), proc.stdout
    assert not kubectl("get", f"diagnosticexecutions.{GROUP}", "-l", "app.kubernetes.io/component=helm-test",
                       "-o", "name", namespace=runs).strip(), "the passed test deletes its execution"
    assert not kubectl("get", "pods,serviceaccounts", "-l", "app.kubernetes.io/component=helm-test", "-o", "name",
                       namespace=release_ns).strip()

    # 2c. NOTES.txt's next steps work as printed: its first execution (the product image) succeeds
    notes = helm("get", "notes", release, "--namespace", release_ns).stdout
    assert f"kubectl -n {runs} apply -f - <<'YAML'" in notes, notes
    start = notes.index("<<'YAML'\n") + len("<<'YAML'\n")
    apply(notes[start:notes.index("\nYAML\n", start)], namespace=runs)
    wait_for(lambda: _phase("first-run", runs) == "Succeeded", timeout=300, describe="NOTES' first-run to succeed",
             interval=2, diagnostics=diagnostics)

    # 3. helm upgrade with a changed value while an execution is in flight: the operator Pod is replaced
    #    (Recreate), the new one adopts the running attempt, and the run ends with that one attempt
    apply(_execution(examples / "global-mean-bias.yaml", name="in-flight", env={"EXAMPLE_SLEEP": "45"}),
          namespace=runs)
    wait_for(lambda: _phase("in-flight", runs) == "Running", timeout=180, describe="in-flight to run",
             interval=1, diagnostics=diagnostics)
    running = _get("in-flight", runs)
    assert (kstatus(running), argocd_health(running)["status"]) == ("InProgress", "Progressing")
    old_pod = pod["metadata"]["name"]
    assert not _forbidden(release_ns), "the chart's RBAC refused the operator something"
    helm("upgrade", release, str(CHART), "--namespace", release_ns, "--reuse-values",
         "--set", "executionPods.publishGrace=2m", "--wait", "--timeout", "5m", timeout=400)
    new_pods = kubectl("get", "pods", "-l", "app.kubernetes.io/component=operator", namespace=release_ns,
                       json=True)["items"]
    assert [p["metadata"]["name"] for p in new_pods] != [old_pod], "a changed configuration restarts the operator"
    assert _phase("in-flight", runs) in ("Running", "Succeeded"), "the upgrade did not disturb the run"
    wait_for(lambda: _phase("in-flight", runs) == "Succeeded", timeout=300, describe="in-flight to succeed",
             interval=2, diagnostics=diagnostics)
    assert [a["number"] for a in _get("in-flight", runs)["status"]["attempts"]] == [1]
    jobs = kubectl("get", "jobs", "-l", f"{GROUP}/execution=in-flight", "-o", "name", namespace=runs).split()
    assert len(jobs) == 1, jobs
    configmap = kubectl("get", "configmap", f"{release}-diagnostic-operator", namespace=release_ns, json=True)
    assert OperatorConfig.from_mapping(yaml.safe_load(configmap["data"]["config.yaml"])).publish_grace == "2m"

    assert not _forbidden(release_ns), "the chart's RBAC refused the upgraded operator something"

    # 4. helm uninstall leaves no operator object behind; executions and CRDs stay
    helm("uninstall", release, "--namespace", release_ns, "--wait", "--timeout", "3m", timeout=240)
    selector = f"app.kubernetes.io/instance={release}"

    def left_behind() -> str:
        found = [kubectl("get", "deployments,replicasets,pods,configmaps,serviceaccounts,services,roles,rolebindings,"
                         "kopfpeerings.kopf.dev", "-l", selector, "-o", "name", namespace=ns) for ns in (release_ns, runs)]
        found.append(kubectl("get", "clusterroles,clusterrolebindings,clusterkopfpeerings.kopf.dev", "-l", selector,
                             "-o", "name"))
        return "".join(found).strip()

    # `helm uninstall --wait` returns once the Deployment is gone; its ReplicaSet and Pod are then removed by the
    # garbage collector, the Pod after its graceful stop (Kopf stops within terminationGracePeriodSeconds, 30 s).
    wait_for(lambda: not left_behind(), timeout=90, interval=2, describe="every operator object to be gone",
             diagnostics=left_behind)
    assert kubectl("get", "secrets", SECRET, "-o", "name", namespace=release_ns).strip(), "the user's Secret stays"
    names = kubectl("get", f"diagnosticexecutions.{GROUP}", "-o", "name", namespace=runs).split()
    assert len(names) == 4, names  # global-mean-bias, example-exit-nonzero, first-run, in-flight
    kubectl("get", f"crd/diagnosticexecutions.{GROUP}")
    engine.dispose()
