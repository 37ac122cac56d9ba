"""The operator end to end on the test cluster: ``diagnostic-operator operator`` (a real process, the admin
kubeconfig) reconciling DiagnosticExecutions whose attempt Jobs run on the REAL node, publishing to the S3
server and ingesting into a real PostgreSQL. Each test asserts the object's status, its events, its Jobs and
the database rows.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from diagnostic_operator.db.engine import create_engine_for
from tests.cluster.fixtures import Cluster, cluster_env
from tests.k8s.operator_harness import (
    ROOT,
    OperatorProcess,
    Site,
    apply_crd,
    site_config,
    write_secret,
)
from tests.services.s3 import S3Target

pytestmark = pytest.mark.cluster

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def crd(cluster: Cluster) -> None:
    apply_crd()


@pytest.fixture(scope="module")
def images(cluster: Cluster) -> None:
    proc = subprocess.run([str(ROOT / "images" / "build"), "--load"], capture_output=True, text=True,
                          timeout=3000, env=cluster_env(), check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]


def make_site(namespace: str, pg_url: str, s3: S3Target, workdir: Path, **config: Any) -> Site:
    write_secret(namespace, pg_url, s3)
    operator = OperatorProcess(namespace, pg_url, s3, workdir, site_config(s3, **config))
    return Site(namespace, pg_url, create_engine_for(pg_url), s3, operator)


@pytest.fixture
def site(crd: None, images: None, namespace: str, pg_url: str, s3_store_url: S3Target,
         tmp_path: Path) -> Iterator[Site]:
    s = make_site(namespace, pg_url, s3_store_url, tmp_path)
    s.operator.start()
    try:
        yield s
    finally:
        s.operator.stop()
        s.engine.dispose()
        if not s.operator.alive():
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
    assert reasons[0] == "Accepted" and "Running" in reasons and reasons[-1] == "Succeeded", reasons
