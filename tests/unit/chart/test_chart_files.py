"""The chart's static files: CRD copies, values schema, README table, defaults shared with the operator.

Fast and without a cluster or helm (tests/k8s/test_chart.py renders and applies the chart on the test cluster).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from kopf._cogs.structs import references as kopf_references

from diagnostic_operator.transports.kubernetes.config import OperatorConfig

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "diagnostic-operator"
PEERING_CRDS = "kopf.dev_peerings.yaml"
PASSTHROUGH = "passed through"


def _load_render_readme() -> Any:
    spec = importlib.util.spec_from_file_location("render_readme", ROOT / "charts" / "render_readme.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["render_readme"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


render_readme = _load_render_readme()


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return data


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return data


# ------------------------------------------------------------------------------------------------ CRDs


def test_chart_crds_are_byte_identical_copies_of_the_generated_crds() -> None:
    generated = sorted((ROOT / "crds").glob("*.yaml"))
    assert generated, "no CRDs in crds/"
    for source in generated:
        copy_ = CHART / "crds" / source.name
        assert copy_.exists(), f"{copy_} missing: cp crds/*.yaml charts/diagnostic-operator/crds/"
        assert copy_.read_bytes() == source.read_bytes(), (
            f"{copy_} differs from {source}: cp crds/*.yaml charts/diagnostic-operator/crds/")
    extra = {p.name for p in (CHART / "crds").iterdir()} - {p.name for p in generated}
    assert extra == {PEERING_CRDS}, f"unexpected files in the chart's crds/: {sorted(extra)}"


def test_peering_crds_are_the_ones_kopf_looks_for() -> None:
    docs = [d for d in yaml.safe_load_all((CHART / "crds" / PEERING_CRDS).read_text()) if d]
    served = {(d["spec"]["group"], v["name"], d["spec"]["names"]["plural"], d["spec"]["scope"])
              for d in docs for v in d["spec"]["versions"] if v["served"]}
    cluster, namespaced = kopf_references.CLUSTER_PEERINGS_K, kopf_references.NAMESPACED_PEERINGS_K
    assert (cluster.group, cluster.version, cluster.any_name, "Cluster") in served
    assert (namespaced.group, namespaced.version, namespaced.any_name, "Namespaced") in served


def test_chart_versions() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == "0.1.0"
    assert yaml.safe_load((CHART / "values.yaml").read_text())["image"]["repository"] == "diagnostic-operator"


# ------------------------------------------------------------------------------------------------ schema


def _object_nodes(node: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every schema node of type object, with the values path that leads to it (``*`` for map entries)."""
    kind = node.get("type")
    if "object" in (kind if isinstance(kind, list) else [kind]):
        yield path, node
    for key, child in (node.get("properties") or {}).items():
        yield from _object_nodes(child, (*path, key))
    if isinstance(node.get("additionalProperties"), dict):
        yield from _object_nodes(node["additionalProperties"], (*path, "*"))
    if isinstance(node.get("items"), dict):
        yield from _object_nodes(node["items"], (*path, "[]"))
    for alternative in node.get("oneOf", []):
        yield from _object_nodes(alternative, path)


def test_every_object_in_the_schema_is_closed(schema: dict[str, Any]) -> None:
    """additionalProperties: false everywhere, except maps (labels: string values) and Kubernetes sub-objects
    passed through to the API server (marked with a $comment)."""
    assert schema["additionalProperties"] is False
    open_nodes = []
    for path, node in _object_nodes(schema):
        if node.get("properties") is not None:
            if node.get("additionalProperties") is not False:
                open_nodes.append(".".join(path))
        elif isinstance(node.get("additionalProperties"), dict):
            continue  # a map whose values are checked
        elif PASSTHROUGH not in node.get("$comment", "") and path != ("global",):
            open_nodes.append(".".join(path))
    assert not open_nodes, f"schema objects open to unknown keys: {open_nodes}"


def test_values_and_ci_values_are_valid(schema: dict[str, Any], values: dict[str, Any]) -> None:
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(values, schema)
    for path in sorted((CHART / "ci").glob("*.yaml")):
        merged = _merge(copy.deepcopy(values), yaml.safe_load(path.read_text()))
        jsonschema.validate(merged, schema)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def _closed_paths(schema: dict[str, Any], values: dict[str, Any]) -> list[tuple[str, ...]]:
    """Paths of closed objects that exist in the default values (so a test can add a key there)."""
    paths = []
    for path, node in _object_nodes(schema):
        if node.get("additionalProperties") is not False or any(p in ("*", "[]") for p in path):
            continue
        target: Any = values
        for part in path:
            target = target.get(part) if isinstance(target, dict) else None
        if isinstance(target, dict) and (path == () or target or "properties" in node):
            paths.append(path)
    return paths


def test_schema_rejects_an_unknown_key_at_every_level(schema: dict[str, Any], values: dict[str, Any]) -> None:
    paths = _closed_paths(schema, values)
    assert len(paths) > 20, paths
    accepted = []
    for path in paths:
        doc = copy.deepcopy(values)
        target = doc
        for part in path:
            target = target.setdefault(part, {})
        target["notAField"] = True
        if jsonschema.Draft7Validator(schema).is_valid(doc):
            accepted.append(".".join(path) or "(top level)")
    assert not accepted, f"unknown keys accepted under: {accepted}"


@pytest.mark.parametrize(("path", "value"), [
    (("rbac", "scope"), "cluster"),
    (("image", "pullPolicy"), "Sometimes"),
    (("executionPods", "publishGrace"), "5 minutes"),
    (("executionPods", "queues"), {"gpu": {"kueue": {"localQueue": "q", "extra": 1}}}),
    (("executionPods", "queues"), {"Bad_Name": {"nodeSelector": {}}}),
    (("executionPods", "tolerations"), [{"key": "a", "operatr": "Exists"}]),
    (("securityContext",), {"runAsNonRoot": True, "readOnlyRootFileSystem": True}),
    (("watchNamespaces",), ["Not A Namespace"]),
])
def test_schema_rejects_bad_values(schema: dict[str, Any], values: dict[str, Any], path: tuple[str, ...],
                                   value: Any) -> None:
    doc = copy.deepcopy(values)
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    assert not jsonschema.Draft7Validator(schema).is_valid(doc)


def test_every_value_has_a_schema_entry_and_every_schema_entry_a_value(schema: dict[str, Any],
                                                                         values: dict[str, Any]) -> None:
    """Down to the documented fields (whose insides may be Kubernetes objects with more optional keys)."""
    documented = {f.key for f in render_readme.fields((CHART / "values.yaml").read_text())}

    def keys(node: dict[str, Any], data: dict[str, Any], path: str = "") -> list[str]:
        problems = []
        props = node.get("properties") or {}
        for key in sorted(set(props) - {"global"} | set(data)):
            if key not in data:
                problems.append(f"{path}{key}: in the schema, not in values.yaml")
            elif key not in props:
                problems.append(f"{path}{key}: in values.yaml, not in the schema")
            elif f"{path}{key}" not in documented and isinstance(data[key], dict):
                problems += keys(props[key], data[key], f"{path}{key}.")
        return problems

    assert keys(schema, values) == []


# ------------------------------------------------------------------------------------------------ README


def test_readme_values_table_is_up_to_date() -> None:
    assert render_readme.main([str(CHART), "--check"]) == 0, (
        "charts/diagnostic-operator/README.md drifted from values.yaml: run .venv/bin/python charts/render_readme.py")


def test_every_values_field_is_documented() -> None:
    fields = render_readme.fields((CHART / "values.yaml").read_text())
    keys = {f.key for f in fields}
    assert {"secret.existingSecret", "rbac.scope", "executionPods.securityContext", "pdb.enabled"} <= keys
    assert all(f.description for f in fields)


def test_an_undocumented_field_is_an_error() -> None:
    text = "# -- documented\na: 1\nb: 2\ngroup:\n  # -- inside\n  c: 3\n"
    with pytest.raises(render_readme.ValuesDocError, match=r"\bb\b"):
        render_readme.fields(text)
    assert [f.key for f in render_readme.fields("# -- one\n# more\na: {x: 1}\ngroup:\n  # -- c\n  c: 3\n")] == [
        "a", "group.c"]


def test_readme_render_replaces_only_the_marked_section() -> None:
    readme = "# Title\n\nhand\n<!-- values:begin -->\nold\n<!-- values:end -->\ntail\n"
    out = render_readme.render(readme, "# -- the answer\nanswer: 42\n")
    assert out.startswith("# Title\n\nhand\n<!-- values:begin -->\n| Key |")
    assert "| `answer` | int | `42` | the answer |" in out
    assert out.endswith("<!-- values:end -->\ntail\n")


# ------------------------------------------------------------------------------------------------ defaults


def test_execution_pod_defaults_are_the_operators_defaults(values: dict[str, Any]) -> None:
    """The chart writes these into the operator's configuration; they match what the operator does without one,
    so the chart changes no behaviour by itself (and the hardening of the sidecar is the restricted set)."""
    default = OperatorConfig()
    pods = values["executionPods"]
    assert pods["securityContext"] == default.security_context
    assert pods["sidecarResources"] == default.sidecar_resources
    assert (pods["publishGrace"], pods["initAllowance"], pods["gpuResource"], pods["jobTTLSeconds"],
            pods["keepJobs"]) == (default.publish_grace, default.init_allowance, default.gpu_resource,
                                  default.job_ttl_seconds, default.keep_jobs)
    assert values["executionServiceAccount"]["name"] == default.pod_defaults.service_account_name
    assert f"{values['image']['repository']}:0.1.0" == default.image


def test_operator_and_sidecar_security_contexts_are_restricted(values: dict[str, Any]) -> None:
    for context in (values["securityContext"], values["executionPods"]["securityContext"]):
        assert context["runAsNonRoot"] is True
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert values["podSecurityContext"]["runAsNonRoot"] is True
    assert values["pdb"]["enabled"] is False
