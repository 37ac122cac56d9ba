"""Real diagnostics' needs on the test cluster's real node: site volumes (a PersistentVolume on the node, bound
by a claim), read-only mounts, data credentials from a site-named Secret, results written to a shared folder, and
what the site does not cover ending at once as a Configuration failure. Every namespace here enforces the
``restricted`` Pod Security Standard and the execution Pods use the Pod network.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from diagnostic_operator.db.engine import create_engine_for
from tests.cluster.fixtures import STATE_DIR, Cluster, apply, build_product_images, kubectl, wait_for
from tests.helpers import site_config
from tests.k8s.operator_harness import (
    ROOT,
    OperatorProcess,
    Site,
    apply_crd,
    release_finalizers,
    restrict,
    write_secret,
)
from tests.services.s3 import S3Target

pytestmark = pytest.mark.cluster

TOKEN = "tok-5f3a9c1e-never-anywhere"  # a test credential that must appear nowhere but in the Pod
TOKEN_SHA = hashlib.sha256(TOKEN.encode()).hexdigest()  # what the diagnostic compares it with


@pytest.fixture(scope="module")
def crd(cluster: Cluster) -> None:
    apply_crd()


@pytest.fixture(scope="module")
def images(cluster: Cluster) -> None:
    build_product_images()


class Volumes:
    """Host folders of this machine (the real node) as PersistentVolumes, each bound by a claim."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.root = STATE_DIR / "pv" / namespace
        self.names: list[str] = []

    def make(self, claim: str, mode: int = 0o755) -> Path:
        folder = self.root / claim
        folder.mkdir(parents=True, exist_ok=True)
        for part in (STATE_DIR / "pv", self.root, folder):
            part.chmod(0o755 if part != folder else mode)
        pv = f"{self.namespace}-{claim}"[:63]
        apply({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv},
               "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"],
                        "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                        "hostPath": {"path": str(folder), "type": "Directory"},
                        "claimRef": {"namespace": self.namespace, "name": claim}}})
        apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim},
               "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "", "volumeName": pv,
                        "resources": {"requests": {"storage": "1Gi"}}}}, namespace=self.namespace)
        self.names.append(pv)
        wait_for(lambda: (kubectl("get", "pvc", claim, namespace=self.namespace, json=True) or {})
                 .get("status", {}).get("phase") == "Bound", timeout=60, describe=f"claim {claim} to be bound")
        return folder

    def remove(self) -> None:
        for pv in self.names:
            kubectl("delete", "pv", pv, "--wait=false", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


DATA_SITE: dict[str, Any] = {
    "volumes": {
        "inputs": {"persistentVolumeClaim": {"claimName": "inputs"}},
        "inputs-ro": {"persistentVolumeClaim": {"claimName": "inputs", "readOnly": True}},
        "scratch": {"persistentVolumeClaim": {"claimName": "scratch"}},
    },
    "mounts": [{"name": "inputs-ro", "mountPath": "/data/inputs"}],
    "envSources": {"esgf": {"secret": "esgf-credentials", "keys": ["ESGF_TOKEN"]},
                   "missing": {"secret": "no-such-secret", "keys": ["ESGF_TOKEN"]}},
}


@pytest.fixture
def data_site(crd: None, images: None, namespace: str, pg_url: str, s3_store_url: S3Target,
              tmp_path: Path) -> Iterator[tuple[Site, Volumes]]:
    restrict(namespace)
    volumes = Volumes(namespace)
    write_secret(namespace, pg_url, s3_store_url)
    apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "esgf-credentials"}, "type": "Opaque",
           "data": {"ESGF_TOKEN": base64.b64encode(TOKEN.encode()).decode()}}, namespace=namespace)
    operator = OperatorProcess(namespace, pg_url, s3_store_url, tmp_path,
                               site_config(s3_store_url.url, pod_network=True, **DATA_SITE))
    site = Site(namespace, pg_url, create_engine_for(pg_url), s3_store_url, operator)
    (volumes.make("inputs") / "tas.txt").write_text("288.5\n")  # the site mounts it into every Pod
    operator.start()
    try:
        yield site, volumes
    finally:
        operator.stop()
        site.engine.dispose()
        release_finalizers(namespace)
        volumes.remove()
        print(operator.log()[-6000:])


def example(name: str = "data-test", **spec: Any) -> dict[str, Any]:
    manifest = dict(yaml.safe_load((ROOT / "examples" / "global-mean-bias.yaml").read_text()))
    manifest["metadata"] = {"name": name}
    manifest["spec"] = {**manifest["spec"], **spec}
    return manifest


def shell(script: str) -> list[str]:
    return ["/bin/sh", "-c", script]


# ---------------------------------------------------------------------------------------------- refusals


def test_what_the_site_does_not_cover_fails_at_once_naming_the_field(data_site: tuple[Site, Volumes]) -> None:
    site, _ = data_site
    cases = {
        "unknown-volume": ({"volumes": [{"name": "era5", "mountPath": "/data/era5"}]},
                           "volumes[0].name: unknown volume 'era5' (configured: inputs, inputs-ro, scratch)"),
        "unknown-queue": ({"resources": {"memory": "512Mi", "cpu": "250m", "wallClock": "5m", "queue": "gpu"}},
                          "resources.queue: unknown queue 'gpu'"),
        "unknown-env-source": ({"envSources": ["aws"]},
                               "envSources[0]: unknown env source 'aws' (configured: esgf, missing)"),
    }
    for name, (spec, _) in cases.items():
        site.apply_execution(example(name, **spec))
    for name, (_, field) in cases.items():
        status = site.wait_phase(name, timeout=60)
        assert (status["phase"], status["failureClass"], status["reason"]) == (
            "Failed", "Configuration", "Configuration"), status
        assert field in status["message"] and status["attempt"] == 0, status
        assert not site.jobs(name), "nothing was started"
        row = site.execution_row(name)
        assert (row["phase"], row["failure_class"]) == ("Failed", "Configuration")
        # said once: one Warning, no retry loop
        events = [e for e in site.events(name) if e["reason"] == "Configuration"]
        assert len(events) == 1 and events[0]["type"] == "Warning" and field in events[0]["message"], events
        assert (events[0].get("count") or 1) == 1, events


def test_a_missing_env_secret_ends_as_configuration(data_site: tuple[Site, Volumes]) -> None:
    site, _ = data_site
    name = site.apply_execution(example("no-secret", envSources=["missing"], pendingTimeout="15s"))
    status = site.wait_phase(name, timeout=120)
    assert (status["phase"], status["failureClass"], status["reason"]) == (
        "Failed", "Configuration", "CreateContainerConfigError"), status
    assert "no-such-secret" in status["message"], status
    assert "spec envSources[0] ('missing': Secret 'no-such-secret')" in status["message"], status
    assert len(status["attempts"]) == 1, "a configuration error is not retried"


# ---------------------------------------------------------------------------------------------- volumes


def test_read_only_and_writable_mounts_and_data_credentials(data_site: tuple[Site, Volumes]) -> None:
    """Input data from a claim on the node, read through the site's read-only mount; a write there is refused by
    the kernel; the Secret's value reaches the diagnostic and appears nowhere else."""
    site, volumes = data_site
    inputs = volumes.root / "inputs"
    volumes.make("scratch", mode=0o777)
    script = (
        'set -e; test "$(cat /data/inputs/tas.txt)" = 288.5; '
        'if touch /data/inputs/x 2>/dev/null; then echo "the read-only mount was writable"; exit 4; fi; '
        'echo "write refused as expected"; touch /ref/scratch/written-by-the-diagnostic; '
        f'test "$(printf %s "$ESGF_TOKEN" | sha256sum | cut -c1-64)" = "{TOKEN_SHA}" || '
        '{ echo "no credential"; exit 5; }; '
        'exec python3 -m example_diagnostic')
    name = site.apply_execution(example(
        "with-data", command=shell(script), volumes=[{"name": "scratch", "mountPath": "/ref/scratch"}],
        envSources=["esgf"]))
    status = site.wait_phase(name, timeout=180)
    assert (status["phase"], status["failureClass"]) == ("Succeeded", "Success"), status
    assert (volumes.root / "scratch" / "written-by-the-diagnostic").exists()
    assert not (inputs / "x").exists()
    [pod] = site.pods(name)
    runner = next(c for c in pod["spec"]["containers"] if c["name"] == "runner")
    assert {"name": "inputs-ro", "mountPath": "/data/inputs", "readOnly": True} in runner["volumeMounts"]
    log = kubectl("logs", pod["metadata"]["name"], "-c", "runner", namespace=site.namespace)
    assert "write refused as expected" in log
    # the credential: by reference in the Pod, and its value nowhere we keep or say anything
    assert {"name": "ESGF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "esgf-credentials",
                                                                 "key": "ESGF_TOKEN"}}} in runner["env"]
    seen = json.dumps([site.get(name), site.events(name), site.jobs(name)]) + site.operator.log()
    seen += json.dumps([site.rows(f"SELECT * FROM {table}") for table in (
        "executions", "attempts", "execution_groups", "outputs", "scalar_values")], default=str)
    assert TOKEN not in seen


# ---------------------------------------------------------------------------------------------- compat mode

#: After the example ran: one undeclared leaf key and one NaN in its metric bundle (the strict reader refuses
#: both; Climate-REF drops the key and stores the NaN as a missing value).
LOOSEN = ("python3 -m example_diagnostic && python3 -c '"
          "import json; d = json.load(open(\"diagnostic.json\")); first = next(iter(d[\"RESULTS\"])); "
          "leaf = d[\"RESULTS\"][first][\"global\"]; leaf[\"undeclared_statistic\"] = 1.0; "
          "leaf[\"bias\"] = float(\"nan\"); json.dump(d, open(\"diagnostic.json\", \"w\"))'")


def test_compat_mode_ingests_what_the_strict_reader_refuses_and_counts_what_it_dropped(
        data_site: tuple[Site, Volumes]) -> None:
    site, _ = data_site
    results = {"metricBundle": "diagnostic.json", "outputBundle": "output.json", "series": "series.json"}
    compat = site.apply_execution(example("compat", command=shell(LOOSEN), results={**results,
                                                                                     "compat": "climate-ref"}))
    strict = site.apply_execution(example("strict", command=shell(LOOSEN), results=results))
    status = site.wait_phase(compat, timeout=180)
    assert (status["phase"], status["failureClass"]) == ("Succeeded", "Success"), status
    assert status["ingested"]["dropped"] == 2, status["ingested"]
    assert status["ingested"]["scalarValues"] == 24, "the NaN is a row with a missing value, as in Climate-REF"
    assert site.rows("SELECT count(*) AS n FROM scalar_values WHERE value IS NULL")[0]["n"] == 1
    refused = site.wait_phase(strict, timeout=180)
    assert (refused["phase"], refused["reason"]) == ("Failed", "InvalidResults"), refused


# ---------------------------------------------------------------------------------------------- results folder


def keys(site: Site, part: str) -> list[str]:
    client = site.s3.server.client()
    found = client.list_objects_v2(Bucket=site.s3.bucket, Prefix=site.s3.prefix).get("Contents", [])
    return sorted(item["Key"] for item in found if part in item["Key"])


def test_the_example_reads_a_claim_and_writes_its_results_to_a_shared_folder(
        crd: None, images: None, namespace: str, pg_url: str, s3_store_url: S3Target, tmp_path: Path) -> None:
    """examples/with-data.yaml with examples/site.yaml's volumes: input data made by the test on a claim of the
    real node, read-only; results written by the diagnostic on a second claim, published and ingested from there."""
    restrict(namespace)
    volumes = Volumes(namespace)
    site_volumes = yaml.safe_load((ROOT / "examples" / "site.yaml").read_text())["volumes"]
    write_secret(namespace, pg_url, s3_store_url)
    operator = OperatorProcess(namespace, pg_url, s3_store_url, tmp_path,
                               site_config(s3_store_url.url, pod_network=True, volumes=site_volumes))
    site = Site(namespace, pg_url, create_engine_for(pg_url), s3_store_url, operator)
    try:
        inputs = volumes.make("cmip-sample")
        made = subprocess.run([sys.executable, "-m", "example_diagnostic", "make-input", str(inputs)],
                              capture_output=True, text=True, check=False)
        assert made.returncode == 0, made.stderr
        for path in inputs.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        shared = volumes.make("ref-results", mode=0o777)
        operator.start()
        name = site.apply_execution(ROOT / "examples" / "with-data.yaml")
        status = site.wait_phase(name, timeout=180)
        assert (status["phase"], status["failureClass"]) == ("Succeeded", "Success"), status
        assert status["ingested"]["scalarValues"] == 24 and status["ingested"]["outputs"] == 6, status["ingested"]
        # the bundles are where the diagnostic wrote them (and stay: the product never deletes them) ...
        assert sorted(p.name for p in (shared / "global-mean-bias").glob("*.json")) == [
            "diagnostic.json", "output.json", "series.json"]
        # ... and in the store; the shim's log came from the product's own folder
        assert keys(site, "/diagnostic.json") and keys(site, "/out.log")
        [pod] = site.pods(name)
        ingest = next(c for c in pod["spec"]["containers"] if c["name"] == "ingest")
        assert {"name": "ref-results", "mountPath": "/data/ref-results", "readOnly": True} in ingest["volumeMounts"]
        log = kubectl("logs", pod["metadata"]["name"], "-c", "runner", namespace=namespace)
        assert "/data/cmip-sample" in log, "the example said where it read its input"
    finally:
        operator.stop()
        site.engine.dispose()
        release_finalizers(namespace)
        volumes.remove()


def test_a_timeout_keeps_what_the_diagnostic_wrote_as_partial_outputs(data_site: tuple[Site, Volumes]) -> None:
    site, _ = data_site
    script = "mkdir -p plots; echo half > plots/first.png; echo '{}' > diagnostic.json; sleep 60"
    name = site.apply_execution(example("half-done", command=shell(script),
                                        resources={"memory": "256Mi", "cpu": "250m", "wallClock": "3s"}))
    status = site.wait_phase(name, timeout=120)
    assert (status["phase"], status["failureClass"]) == ("Failed", "TimedOut"), status
    attempt = status["attempts"][0]
    assert attempt["partialFiles"] == 2, attempt
    assert (attempt["telemetry"].get("cpuSeconds") or -1) >= 0, attempt["telemetry"]
    rows = site.rows("SELECT filename, partial FROM outputs ORDER BY filename")
    assert rows == [{"filename": "diagnostic.json", "partial": True}, {"filename": "plots/first.png", "partial": True}]
    assert len(keys(site, "/partial/")) == 2
    assert site.rows("SELECT count(*) AS n FROM scalar_values")[0]["n"] == 0, "nothing ingested"
