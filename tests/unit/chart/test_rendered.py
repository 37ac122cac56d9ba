"""The chart rendered by ``helm template`` (no cluster): the CRD hook, the aggregated ClusterRoles, the ``helm
test`` hook and the operator's log/extra values. Skipped when no helm binary is found (``helm`` on PATH or the
cluster layer's pinned one under ~/.cache/diagnostic-operator/bin/)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "diagnostic-operator"
CI = CHART / "ci"
KUBE_VERSION = "1.36.2"
HOOK = "helm.sh/hook"
CRD_NAME = "diagnosticexecutions.diagnostic-operator.io"


def _helm() -> str | None:
    found = shutil.which("helm")
    if found:
        return found
    pinned = sorted(Path.home().glob(".cache/diagnostic-operator/bin/*/helm"))
    return str(pinned[-1]) if pinned else None


HELM = _helm()
pytestmark = pytest.mark.skipif(HELM is None, reason="no helm binary")


def render(*values_files: str, **sets: str) -> list[dict[str, Any]]:
    assert HELM is not None
    args = [HELM, "template", "rel", str(CHART), "--namespace", "ops", "--kube-version", KUBE_VERSION,
            "--set", "secret.existingSecret=db"]
    for name in values_files:
        args += ["--values", str(CI / name)]
    for key, value in sets.items():
        args += ["--set", f"{key.replace('__', '.')}={value}"]
    proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def _hooks(docs: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [d for d in docs if event in (d["metadata"].get("annotations") or {}).get(HOOK, "").split(",")]


def _weight(doc: dict[str, Any]) -> int:
    return int(doc["metadata"]["annotations"].get("helm.sh/hook-weight", "0"))


RESTRICTED = {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
              "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


# ------------------------------------------------------------------------------------------------ CRD hook


def test_crd_hook_applies_the_crd_before_install_and_upgrade_with_rbac_first() -> None:
    docs = render()
    for event in ("pre-install", "pre-upgrade"):
        hooks = _hooks(docs, event)
        assert sorted(d["kind"] for d in hooks) == ["ClusterRole", "ClusterRoleBinding", "Job", "ServiceAccount"]
        job = next(d for d in hooks if d["kind"] == "Job")
        assert all(_weight(d) < _weight(job) for d in hooks if d is not job), "RBAC exists before the Job"
    for doc in _hooks(docs, "pre-install"):
        assert doc["metadata"]["annotations"]["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    role = next(d for d in _hooks(docs, "pre-install") if d["kind"] == "ClusterRole")
    assert role["rules"] == [{"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
                              "resourceNames": [CRD_NAME], "verbs": ["get", "create", "patch"]}]
    binding = next(d for d in _hooks(docs, "pre-install") if d["kind"] == "ClusterRoleBinding")
    sa = next(d for d in _hooks(docs, "pre-install") if d["kind"] == "ServiceAccount")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "ops"}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]

    job = next(d for d in docs if d["kind"] == "Job")
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == sa["metadata"]["name"] and pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is True
    container = pod["containers"][0]
    assert container["args"] == ["crd", "--apply", "--annotate=helm.sh/resource-policy=keep"]
    assert RESTRICTED.items() <= container["securityContext"].items()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert "hostNetwork" not in pod


def test_crd_hook_follows_the_operators_network_and_placement_values() -> None:
    docs = render("test-cluster-values.yaml")
    job_pod = next(d for d in docs if d["kind"] == "Job")["spec"]["template"]["spec"]
    operator_pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    for key in ("hostNetwork", "dnsPolicy", "nodeSelector", "tolerations"):
        assert job_pod[key] == operator_pod[key], key
    env = {e["name"]: e.get("value") for e in job_pod["containers"][0]["env"]}
    assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) == ("127.0.0.1", "6443")
    assert job_pod["containers"][0]["imagePullPolicy"] == "Never"


def test_crds_values() -> None:
    assert not [d for d in render(crds__install="false") if d["kind"] == "Job"]
    job = next(d for d in render(crds__keep="false") if d["kind"] == "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["crd", "--apply"]


def test_the_crd_in_crds_is_the_one_the_hook_applies() -> None:
    """The first install's copy (crds/) and the hook's CRD (generated by the image) are the same object."""
    from diagnostic_operator.crd import build_crd  # noqa: PLC0415

    text = (CHART / "crds" / "diagnostic-operator.io_diagnosticexecutions.yaml").read_text()
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert docs == [build_crd()]


# ------------------------------------------------------------------------------------------------ operator values


def test_operator_log_format_verbosity_extra_args_and_env() -> None:
    def operator(**sets: str) -> dict[str, Any]:
        deployment = next(d for d in render(**sets) if d["kind"] == "Deployment")
        container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
        return container

    default = operator()
    assert "--log-format=json" in default["args"] and "--verbose" not in default["args"]
    changed = operator(**{"operator.logFormat": "plain", "operator.verbose": "true",
                          "operator.extraArgs[0]": "--no-gc-tuning",
                          "operator.extraEnv[0].name": "EXTRA", "operator.extraEnv[0].value": "on"})
    assert "--log-format=plain" in changed["args"] and "--verbose" in changed["args"]
    assert changed["args"][-1] == "--no-gc-tuning"
    assert {"name": "EXTRA", "value": "on"} in changed["env"]


# ------------------------------------------------------------------------------------------------ user roles

AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


def _user_roles(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Aggregated ClusterRoles by the built-in role they feed (view, edit, admin)."""
    roles: dict[str, dict[str, Any]] = {}
    for doc in docs:
        if doc["kind"] != "ClusterRole":
            continue
        for label, value in doc["metadata"]["labels"].items():
            if label.startswith(AGGREGATE) and value == "true":
                assert label.removeprefix(AGGREGATE) not in roles, "one role per built-in role"
                roles[label.removeprefix(AGGREGATE)] = doc
    return roles


def _verbs(role: dict[str, Any], resource: str) -> set[str]:
    return {verb for rule in role["rules"] if resource in rule["resources"]
            and rule["apiGroups"] == ["diagnostic-operator.io"] for verb in rule["verbs"]}


def test_aggregated_roles_for_view_edit_and_admin() -> None:
    roles = _user_roles(render())
    assert set(roles) == {"view", "edit", "admin"}
    read = {"get", "list", "watch"}
    assert _verbs(roles["view"], "diagnosticexecutions") == read
    assert _verbs(roles["view"], "diagnosticexecutions/status") == read
    for name in ("edit", "admin"):
        assert _verbs(roles[name], "diagnosticexecutions") == read | {"create", "update", "patch", "delete"}
        assert _verbs(roles[name], "diagnosticexecutions/status") == read, "the status is the operator's"
    for role in roles.values():
        assert {g for rule in role["rules"] for g in rule["apiGroups"]} == {"diagnostic-operator.io"}


def test_aggregated_roles_can_be_switched_off() -> None:
    assert _user_roles(render(rbac__aggregateToDefaultRoles="false")) == {}
    assert _user_roles(render(rbac__create="false")) == {}


# ------------------------------------------------------------------------------------------------ helm test


def test_helm_test_hook_creates_an_execution_with_the_least_rbac() -> None:
    docs = render(watchNamespaces="{runs}")
    hooks = _hooks(docs, "test")
    by_kind = {d["kind"]: d for d in hooks}
    assert sorted(by_kind) == ["Pod", "Role", "RoleBinding", "ServiceAccount"]
    assert all(_weight(d) < _weight(by_kind["Pod"]) for d in hooks if d["kind"] != "Pod")
    role = by_kind["Role"]
    assert role["metadata"]["namespace"] == "runs"
    assert role["rules"] == [{"apiGroups": ["diagnostic-operator.io"], "resources": ["diagnosticexecutions"],
                              "verbs": ["create", "get", "delete"]}]
    assert by_kind["RoleBinding"]["subjects"] == [
        {"kind": "ServiceAccount", "name": by_kind["ServiceAccount"]["metadata"]["name"], "namespace": "ops"}]
    pod = by_kind["Pod"]["spec"]
    assert pod["serviceAccountName"] == by_kind["ServiceAccount"]["metadata"]["name"]
    assert pod["containers"][0]["args"] == ["selftest", "--namespace=runs", "--image=diagnostic-operator:0.1.0",
                                            "--timeout=300"]
    assert RESTRICTED.items() <= pod["containers"][0]["securityContext"].items()
    assert not [d for d in docs if d["kind"] == "Pod" and d not in hooks], "only hook Pods"


def test_helm_test_namespace_and_switch() -> None:
    pod = next(d for d in _hooks(render(rbac__scope="clusterWide"), "test") if d["kind"] == "Pod")
    assert "--namespace=ops" in pod["spec"]["containers"][0]["args"]
    pod = next(d for d in _hooks(render(helmTest__namespace="elsewhere"), "test") if d["kind"] == "Pod")
    assert "--namespace=elsewhere" in pod["spec"]["containers"][0]["args"]
    assert not _hooks(render(helmTest__enabled="false"), "test")


# ------------------------------------------------------------------------------------------------ NOTES, metadata


def render_notes(tmp_path: Path, *values_files: str, **sets: str) -> str:
    """NOTES.txt as `helm install` prints it (helm template does not render NOTES: a copy of the chart renders it
    through `tpl` into a ConfigMap)."""
    assert HELM is not None
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    (chart / "files").mkdir()
    shutil.move(chart / "templates" / "NOTES.txt", chart / "files" / "NOTES.txt")
    (chart / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n"
        'data:\n  notes: {{ tpl (.Files.Get "files/NOTES.txt") . | toJson }}\n')
    args = [HELM, "template", "rel", str(chart), "--namespace", "ops", "--kube-version", KUBE_VERSION,
            "--set", "secret.existingSecret=db", "--show-only", "templates/zz-notes.yaml"]
    for name in values_files:
        args += ["--values", str(CI / name)]
    for key, value in sets.items():
        args += ["--set", f"{key.replace('__', '.')}={value}"]
    proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    notes: str = yaml.safe_load(proc.stdout)["data"]["notes"]
    return notes


def notes_manifest(notes: str) -> str:
    """The first execution's manifest, between `<<'YAML'` and a line `YAML`, as the shell reads it."""
    start = notes.index("<<'YAML'\n") + len("<<'YAML'\n")
    return notes[start:notes.index("\nYAML\n", start)]


def test_notes_first_execution_is_a_valid_manifest_of_the_product_image(tmp_path: Path) -> None:
    from diagnostic_operator.manifest import load_manifests  # noqa: PLC0415

    notes = render_notes(tmp_path, watchNamespaces="{runs}")
    path = tmp_path / "first.yaml"
    path.write_text(notes_manifest(notes))
    [execution] = load_manifests(path)
    assert execution.spec.image == "diagnostic-operator:0.1.0"
    assert execution.spec.command == ["diagnostic-operator", "selftest-diagnostic"]
    assert "kubectl -n runs apply -f - <<'YAML'" in notes
    assert "helm test rel -n ops" in notes
    assert "kubectl -n ops rollout status deployment/rel-diagnostic-operator" in notes
    assert "helm test" not in render_notes(tmp_path / "off", helmTest__enabled="false")


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["annotations"]["artifacthub.io/license"] == "Apache-2.0"
    images = yaml.safe_load(chart["annotations"]["artifacthub.io/images"])
    assert images == [{"name": "diagnostic-operator", "image": f"diagnostic-operator:{chart['appVersion']}"}]
    crds = yaml.safe_load(chart["annotations"]["artifacthub.io/crds"])
    assert [c["name"] for c in crds] == [CRD_NAME]
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("Apache License")
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog and "## [0.1.0]" in changelog
