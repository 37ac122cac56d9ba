"""What the site gives an execution Pod: named volumes, env sources, the results folder, Pod security."""

from __future__ import annotations

from typing import Any

import pytest

from diagnostic_operator.transports.kubernetes import ConfigurationError, OperatorConfig
from diagnostic_operator.transports.kubernetes.job import covered
from tests.unit.kubernetes.test_job import build, container, make_config, make_spec, pod

SITE: dict[str, Any] = {
    "volumes": {
        "cmip6": {"persistentVolumeClaim": {"claimName": "cmip6-archive", "readOnly": True}},
        "scratch": {"nfs": {"server": "nfs.example.org", "path": "/export/ref/scratch"}},
        "ref-config": {"configMap": {"name": "ref-config"}},
        "certs": {"secret": {"secretName": "esgf-certs"}},
        "work": {"emptyDir": {"sizeLimit": "20Gi"}},
        "results": {"persistentVolumeClaim": {"claimName": "ref-results"}},
    },
    "mounts": [{"name": "cmip6", "mountPath": "/data/cmip6"}],
    "envSources": {"esgf": {"secret": "esgf-credentials", "keys": ["ESGF_USER", "ESGF_TOKEN"]},
                   "endpoints": {"configMap": "ref-endpoints", "keys": ["REF_API"]}},
}


def site_config(**changes: Any) -> OperatorConfig:
    return make_config(**(SITE | changes))


def test_each_volume_source_becomes_its_pod_volume_and_only_used_ones_are_in_the_pod() -> None:
    spec = make_spec(volumes=[{"name": "scratch", "mountPath": "/ref/scratch"},
                              {"name": "ref-config", "mountPath": "/ref/config"},
                              {"name": "certs", "mountPath": "/ref/certs"},
                              {"name": "work", "mountPath": "/work"}])
    volumes = pod(build(spec, config=site_config()))["volumes"]
    site = {v["name"]: {k: x for k, x in v.items() if k != "name"} for v in volumes[5:]}
    assert site == {
        "certs": {"secret": {"secretName": "esgf-certs"}},
        "cmip6": {"persistentVolumeClaim": {"claimName": "cmip6-archive", "readOnly": True}},
        "ref-config": {"configMap": {"name": "ref-config"}},
        "scratch": {"nfs": {"server": "nfs.example.org", "path": "/export/ref/scratch"}},
        "work": {"emptyDir": {"sizeLimit": "20Gi"}},
    }  # "results" is configured but neither the site nor the spec mounts it


def test_runner_mounts_the_site_mounts_then_the_specs_read_only_where_either_says_so() -> None:
    spec = make_spec(volumes=[{"name": "scratch", "mountPath": "/ref/scratch", "subPath": "example/abc"},
                              {"name": "results", "mountPath": "/ref/results", "readOnly": True},
                              {"name": "ref-config", "mountPath": "/ref/config"}])
    mounts = container(build(spec, config=site_config()), "runner")["volumeMounts"][4:]
    assert mounts == [
        {"name": "cmip6", "mountPath": "/data/cmip6", "readOnly": True},        # the site's PVC is read-only
        {"name": "scratch", "mountPath": "/ref/scratch", "subPath": "example/abc"},
        {"name": "results", "mountPath": "/ref/results", "readOnly": True},    # the spec asked
        {"name": "ref-config", "mountPath": "/ref/config", "readOnly": True},  # a ConfigMap always is
    ]


def test_env_sources_are_references_never_values() -> None:
    spec = make_spec(envSources=["esgf", "endpoints"], env=[{"name": "A", "value": "1"}])
    env = container(build(spec, config=site_config()), "runner")["env"]
    assert env[:4] == [
        {"name": "A", "value": "1"},
        {"name": "ESGF_USER", "valueFrom": {"secretKeyRef": {"name": "esgf-credentials", "key": "ESGF_USER"}}},
        {"name": "ESGF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "esgf-credentials", "key": "ESGF_TOKEN"}}},
        {"name": "REF_API", "valueFrom": {"configMapKeyRef": {"name": "ref-endpoints", "key": "REF_API"}}},
    ]
    # the sidecar gets none of them
    sidecar = container(build(spec, config=site_config()), "ingest")
    assert not any(item["name"] in ("ESGF_USER", "ESGF_TOKEN", "REF_API") for item in sidecar["env"])


def test_results_directory_is_exported_and_mounted_read_only_into_the_sidecar() -> None:
    spec = make_spec(volumes=[{"name": "scratch", "mountPath": "/ref/scratch", "subPath": "s"},
                              {"name": "work", "mountPath": "/ref/scratch/deeper"}],
                     results={"directory": "/ref/scratch/deeper/example/run-1"})
    job = build(spec, config=site_config())
    runner = {item["name"]: item.get("value") for item in container(job, "runner")["env"]}
    assert runner["DIAGNOSTIC_RESULTS_DIR"] == "/ref/scratch/deeper/example/run-1"
    assert runner["DIAGNOSTIC_OUTPUT_DIR"] == "/do/output"  # the shim's own files stay there
    # the innermost mount holding the folder, at the same path, read-only
    assert container(job, "ingest")["volumeMounts"][-1] == {"name": "work", "mountPath": "/ref/scratch/deeper",
                                                             "readOnly": True}


def test_a_spec_setting_home_keeps_its_own() -> None:
    env = container(build(make_spec(env=[{"name": "HOME", "value": "/ref/home"}])), "runner")["env"]
    assert [item for item in env if item["name"] == "HOME"] == [{"name": "HOME", "value": "/ref/home"}]


def test_pod_security_and_runtime_class_from_the_site() -> None:
    config = make_config(podSecurity={"runAsUser": 1000, "runAsGroup": 100, "fsGroup": 2000,
                                      "supplementalGroups": [5000, 5001]},
                         podDefaults={"runtimeClassName": "gvisor"})
    spec = pod(build(config=config))
    assert spec["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 100, "fsGroup": 2000,
                                       "supplementalGroups": [5000, 5001],
                                       "seccompProfile": {"type": "RuntimeDefault"}}
    assert spec["runtimeClassName"] == "gvisor"


@pytest.mark.parametrize(("changes", "problem"), [
    ({"resources": {"queue": "gpu"}}, "resources.queue: unknown queue 'gpu'"),
    ({"volumes": [{"name": "cmip5", "mountPath": "/data/cmip5"}]},
     "volumes[0].name: unknown volume 'cmip5' (configured: certs, cmip6, ref-config, results, scratch, work)"),
    ({"volumes": [{"name": "work", "mountPath": "/data/cmip6"}]},
     "volumes[0].mountPath: '/data/cmip6' is the site's mounts[0] already"),
    ({"envSources": ["esgf", "aws"]}, "envSources[1]: unknown env source 'aws' (configured: endpoints, esgf)"),
    ({"envSources": ["esgf"], "env": [{"name": "ESGF_USER", "value": "me"}]},
     "envSources[0]: env source 'esgf' sets ESGF_USER, which the spec's env or the runner sets already"),
    ({"results": {"directory": "/elsewhere/out"}},
     "results.directory: '/elsewhere/out' is not inside a mounted volume (mount paths: /data/cmip6)"),
    ({"results": {"directory": "/data/cmip6/out"}},
     "results.directory: '/data/cmip6/out' is inside mounts[0] ('cmip6' at '/data/cmip6'), which is read-only"),
    ({"volumes": [{"name": "results", "mountPath": "/out", "readOnly": True}], "results": {"directory": "/out/x"}},
     "results.directory: '/out/x' is inside volumes[0] ('results' at '/out'), which is read-only"),
])
def test_what_the_site_does_not_cover_is_named_and_refused(changes: dict[str, Any], problem: str) -> None:
    spec = make_spec(**changes)
    message = covered(spec, spec.resources, site_config())
    assert message is not None and problem in message
    with pytest.raises(ConfigurationError, match=r"unknown|already|inside"):
        build(spec, config=site_config())


def test_a_covered_spec_has_no_problem() -> None:
    spec = make_spec(volumes=[{"name": "scratch", "mountPath": "/ref/scratch"}], envSources=["esgf"],
                     results={"directory": "/ref/scratch/out"})
    assert covered(spec, spec.resources, site_config()) is None
    assert covered(make_spec(), make_spec().resources, OperatorConfig()) is None


@pytest.mark.parametrize(("site", "field", "text"), [
    ({"volumes": {"a": {"nfs": {"server": "s", "path": "/p"}, "emptyDir": {}}}}, "volumes.a", "one source"),
    ({"volumes": {"a": {}}}, "volumes.a", "needs a source"),
    ({"volumes": {"do-output": {"emptyDir": {}}}}, "(top level)", "execution Pod's own volumes"),
    ({"volumes": {"a": {"emptyDir": {"sizeLimit": "20GB"}}}}, "volumes.a.emptyDir", "20GB"),
    ({"mounts": [{"name": "x", "mountPath": "/x"}]}, "(top level)", "mounts[0].name: unknown volume 'x'"),
    ({"volumes": {"a": {"emptyDir": {}}}, "mounts": [{"name": "a", "mountPath": "/do/x"}]},
     "mounts.0.mountPath", "/do"),
    ({"envSources": {"e": {"secret": "s", "configMap": "c", "keys": ["K"]}}}, "envSources.e", "exactly one"),
    ({"envSources": {"e": {"secret": "s", "keys": []}}}, "envSources.e.keys", "at least 1"),
    ({"podSecurity": {"runAsUser": 0}}, "podSecurity.runAsUser", "greater than or equal to 1"),
])
def test_a_bad_site_configuration_names_the_field(site: dict[str, Any], field: str, text: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make_config(**site)
    assert f"{field}:" in str(caught.value) and text in str(caught.value)
