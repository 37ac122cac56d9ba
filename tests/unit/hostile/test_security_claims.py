"""Claims of docs/security.md that need no server: a spec cannot reference a secret, the diagnostic's
container gets no credentials, and a publish failure never shows the database password."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diagnostic_operator.contracts.exit_record import ExitRecord
from diagnostic_operator.db.engine import create_engine_for
from diagnostic_operator.manifest import ManifestError, parse_manifest
from diagnostic_operator.runtime.publish import AttemptTarget, RetrySettings, publish_and_ingest
from diagnostic_operator.spec import ResultFiles
from diagnostic_operator.store import LocalStore

from ..kubernetes.test_job import build, container, make_config, make_spec
from .bundles import NO_CV, entry, write_bundle
from .test_spec_properties import VALID

PASSWORD = "hunter2-very-secret"


def test_a_spec_cannot_reference_a_secret() -> None:
    for env in ([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],):
        doc = json.loads(json.dumps(VALID))
        doc["spec"]["env"] = env
        with pytest.raises(ManifestError, match="unknown field"):
            parse_manifest(doc)
    doc = json.loads(json.dumps(VALID))
    doc["spec"]["envFrom"] = [{"secretRef": {"name": "db"}}]
    with pytest.raises(ManifestError, match="unknown field"):
        parse_manifest(doc)


def test_only_the_sidecar_gets_the_database_secret() -> None:
    job = build(make_spec(), config=make_config(databaseSecret="do-db"))
    runner = container(job, "runner")
    assert "envFrom" not in runner
    assert not any(k in json.dumps(runner) for k in ("do-db", "DATABASE", "AWS_", "PASSWORD"))
    assert container(job, "ingest")["envFrom"] == [{"secretRef": {"name": "do-db"}}]
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False  # no Kubernetes API credentials in the Pod


def test_a_publish_failure_never_shows_the_database_password(tmp_path: Path) -> None:
    out = write_bundle(tmp_path / "out", {"p": entry("a.png")})
    (out / "a.png").write_bytes(b"png")
    engine = create_engine_for(f"postgresql://ingest:{PASSWORD}@127.0.0.1:1/do")  # nothing listens on port 1
    summary = publish_and_ingest(
        out, ExitRecord.model_validate({"exitCode": 0}), ResultFiles(), AttemptTarget("ns", "x", "uid-1", 1, 1, 1),
        LocalStore(tmp_path / "store"), engine, options=NO_CV, retry=RetrySettings(attempts=2, sleep=lambda _: None))
    assert summary.infrastructure_error and "ingest:***@127.0.0.1:1" in summary.infrastructure_error
    assert PASSWORD not in summary.to_message()
