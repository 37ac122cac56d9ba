"""`diagnostic-operator run` end to end on this machine: the real shim, real memory cgroups, the real
example diagnostic, SQLite + a local folder, and PostgreSQL + the S3 server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
pytestmark = pytest.mark.integration


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", **(env or {})}
    return subprocess.run([sys.executable, "-m", "diagnostic_operator.cli", *args], capture_output=True,
                          text=True, env=full_env, timeout=timeout, check=False)


@pytest.fixture
def local_env(tmp_path: Path) -> dict[str, str]:
    return {"DIAGNOSTIC_OPERATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
            "DIAGNOSTIC_OPERATOR_STORE_URL": str(tmp_path / "store"),
            "DIAGNOSTIC_OPERATOR_HOME": str(tmp_path / "home")}


def show(name: str, env: dict[str, str]) -> dict:
    result = cli("executions", "show", name, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def run_json(manifest: Path, env: dict[str, str], *extra: str) -> tuple[int, dict, str]:
    result = cli("run", str(manifest), "--json", "--no-progress", *extra, env=env)
    try:
        data = json.loads(result.stdout)[0]
    except (json.JSONDecodeError, IndexError):
        pytest.fail(f"no JSON from run (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.returncode, data, result.stderr


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_success_publishes_and_ingests(local_env: dict[str, str], tmp_path: Path) -> None:
    code, data, err = run_json(EXAMPLES / "global-mean-bias.yaml", local_env)
    assert code == 0, err
    assert (data["phase"], data["failureClass"]) == ("Succeeded", "Success")
    assert len(data["attempts"]) == 1 and data["attempts"][0]["decision"] == "SUCCESS"
    telemetry = data["attempts"][0]["telemetry"]
    assert telemetry["durationSeconds"] > 0 and telemetry["cpuSeconds"] > 0 and telemetry["peakMemoryBytes"] > 0
    status = show(data["name"], local_env)
    assert status["status"]["phase"] == "Succeeded"
    ingested = status["status"]["ingested"]
    assert ingested["scalarValues"] == 24 and ingested["seriesValues"] == 4 and ingested["outputs"] >= 5
    assert status["group"]["dirty"] is False
    stored = files_under(tmp_path / "store")
    assert any(f.endswith("attempt-1/out.log") for f in stored)
    assert any(f.endswith(".png") for f in stored) and any(f.endswith("diagnostic.json") for f in stored)
    values = cli("executions", "values", data["name"], "--where", "region=Tropics", "--json", env=local_env)
    assert values.returncode == 0, values.stderr
    rows = json.loads(values.stdout)
    assert len(rows) == 6 and all(r["dimensions"]["region"] == "Tropics" for r in rows)


def test_exit_nonzero_gives_up_at_once(local_env: dict[str, str], tmp_path: Path) -> None:
    code, data, _ = run_json(EXAMPLES / "failing" / "exit-nonzero.yaml", local_env)
    assert code == 1
    assert (data["phase"], data["failureClass"], data["reason"]) == ("Failed", "DiagnosticError", "ExitCode3")
    assert [a["decision"] for a in data["attempts"]] == ["GIVE_UP"]
    status = show(data["name"], local_env)["status"]
    assert status["ingested"] == {"outputs": 0, "scalarValues": 0, "seriesValues": 0, "dropped": 0}
    assert any(f.endswith("attempt-1/out.log") for f in files_under(tmp_path / "store")), "log published on failure"


def test_oom_then_success_with_more_memory(local_env: dict[str, str]) -> None:
    code, data, err = run_json(EXAMPLES / "failing" / "oom-then-succeed.yaml", local_env, "--memory-limits", "cgroup")
    assert code == 0, err
    first, second = data["attempts"]
    assert (first["failureClass"], first["decision"]) == ("OutOfMemory", "RETRY")
    assert second["failureClass"] == "Success"
    assert first["resources"]["memory"] == "256Mi" and second["resources"]["memory"] == "384Mi"
    assert first["telemetry"]["memoryLimitBytes"] == 256 * 2**20


def test_oom_under_rlimit_is_recognised_from_the_log(local_env: dict[str, str]) -> None:
    _, data, err = run_json(EXAMPLES / "failing" / "oom-then-succeed.yaml", local_env, "--memory-limits", "rlimit")
    first = data["attempts"][0]
    assert (first["failureClass"], first["reason"]) == ("OutOfMemory", "AllocationFailed"), err


def test_invalid_bundle_is_a_diagnostic_error_and_nothing_is_ingested(local_env: dict[str, str]) -> None:
    code, data, _ = run_json(EXAMPLES / "failing" / "invalid-bundle.yaml", local_env)
    assert code == 1
    assert (data["failureClass"], data["reason"]) == ("DiagnosticError", "InvalidResults")
    assert "diagnostic.json" in data["message"]
    assert show(data["name"], local_env)["status"]["ingested"]["scalarValues"] == 0


def test_timeout_is_not_retried_without_growth(local_env: dict[str, str]) -> None:
    code, data, _ = run_json(EXAMPLES / "failing" / "timeout.yaml", local_env)
    assert code == 1
    assert (data["failureClass"], data["reason"]) == ("TimedOut", "DeadlineExceeded")
    assert len(data["attempts"]) == 1 and data["attempts"][0]["telemetry"]["durationSeconds"] < 30


def test_retryable_exit_code_retries_then_gives_up(local_env: dict[str, str]) -> None:
    code, data, _ = run_json(EXAMPLES / "failing" / "retryable-exit.yaml", local_env)
    assert code == 1
    assert [a["decision"] for a in data["attempts"]] == ["RETRY", "GIVE_UP"]


def test_postgres_and_s3(postgres_url: str, s3_store_url, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, s3_env = s3_store_url.url, s3_store_url.env
    env = {"DIAGNOSTIC_OPERATOR_DATABASE_URL": postgres_url, "DIAGNOSTIC_OPERATOR_STORE_URL": url,
           "DIAGNOSTIC_OPERATOR_HOME": str(tmp_path / "home"), **s3_env}
    code, data, err = run_json(EXAMPLES / "global-mean-bias.yaml", env)
    assert code == 0, err
    status = show(data["name"], env)["status"]
    assert status["ingested"]["scalarValues"] == 24
    assert status["outputLocation"].startswith(url.rstrip("/"))


def test_malformed_manifest_is_a_clear_error(local_env: dict[str, str], tmp_path: Path) -> None:
    manifest = yaml.safe_load((EXAMPLES / "global-mean-bias.yaml").read_text())
    manifest["spec"]["resources"]["memory"] = "4GB"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(manifest))
    result = cli("run", str(bad), env=local_env)
    assert result.returncode == 2
    assert "spec.resources.memory" in result.stderr and "4GB" in result.stderr
    assert not (tmp_path / "db.sqlite").exists() and not (tmp_path / "store").exists(), "nothing written"


def test_unreachable_database_writes_nothing(local_env: dict[str, str], tmp_path: Path) -> None:
    env = {**local_env, "DIAGNOSTIC_OPERATOR_DATABASE_URL": "postgresql://user:secret@127.0.0.1:9/none"}
    result = cli("run", str(EXAMPLES / "global-mean-bias.yaml"), "--no-progress", env=env, timeout=120)
    assert result.returncode == 1
    assert "127.0.0.1:9" in result.stderr and "secret" not in result.stderr
    assert not (tmp_path / "store").exists() or files_under(tmp_path / "store") == []


def test_unreachable_store_writes_no_execution(local_env: dict[str, str], tmp_path: Path) -> None:
    env = {**local_env, "DIAGNOSTIC_OPERATOR_STORE_URL": "s3://no-such-bucket/x",
           "DIAGNOSTIC_OPERATOR_S3_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "k",
           "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "us-east-1"}
    result = cli("run", str(EXAMPLES / "global-mean-bias.yaml"), "--no-progress", env=env, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "no-such-bucket" in result.stderr
    listing = cli("executions", "list", "--json", env=local_env)
    assert json.loads(listing.stdout) == []
