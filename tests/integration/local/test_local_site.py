"""`diagnostic-operator run` with a site configuration: host folders at the spec's mount paths in a private
mount namespace, env sources from run's environment, results.directory on a host folder, and specs the site
does not cover. Real subprocesses; the mount paths live under a folder of each test's own, removed after it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from diagnostic_operator.settings import Settings
from diagnostic_operator.site import Site
from diagnostic_operator.spec import DiagnosticExecution
from diagnostic_operator.transports import local_mounts
from diagnostic_operator.transports.local import LocalOptions, LocalTransport
from diagnostic_operator.transports.local_mounts import detect
from tests.integration.local.test_local_run import EXAMPLES, cli, files_under, run_json, show

pytestmark = pytest.mark.integration
needs_namespace = pytest.mark.skipif(detect().namespace is None,
                                     reason=f"no mount namespace on this machine: {detect().why_not}")


@pytest.fixture
def local_env(tmp_path: Path) -> dict[str, str]:
    return {"DIAGNOSTIC_OPERATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
            "DIAGNOSTIC_OPERATOR_STORE_URL": str(tmp_path / "store"),
            "DIAGNOSTIC_OPERATOR_HOME": str(tmp_path / "home"), "MPLBACKEND": "Agg"}


@pytest.fixture
def root() -> Iterator[Path]:
    """Where the mount paths of one test are: outside /tmp (a product folder, no mount path may be under it),
    created by the run as mount points on the host (empty folders), removed afterwards."""
    path = Path("/var/tmp") / f"diagnostic-operator-mounts-{uuid.uuid4().hex[:12]}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


def write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def manifest(tmp_path: Path, name: str, script: str, **spec: Any) -> Path:
    """A manifest whose diagnostic is a shell script (no bundles unless it writes them)."""
    return write(tmp_path / f"{name}.yaml", {
        "apiVersion": "diagnostic-operator.io/v1alpha1", "kind": "DiagnosticExecution", "metadata": {"name": name},
        "spec": {"diagnostic": {"provider": "test", "slug": "site"}, "groupKey": name, "image": "none",
                 "command": ["/bin/sh", "-c", script], "retry": {"maxAttempts": 1}, **spec}})


def stored_log(tmp_path: Path) -> str:
    logs = [p for p in (tmp_path / "store").rglob("out.log")]
    assert len(logs) == 1, logs
    return logs[0].read_text(encoding="utf-8", errors="replace")


def host_mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        return [line for line in handle if f" {path}" in line]


@needs_namespace
def test_with_data_example_reads_its_input_and_publishes_its_results_folder(
        local_env: dict[str, str], tmp_path: Path, root: Path) -> None:
    """examples/with-data.yaml and examples/site.yaml, with their paths moved under this test's folders."""
    data, results = tmp_path / "cmip-sample", tmp_path / "ref-results"
    made = subprocess.run([sys.executable, "-m", "example_diagnostic", "make-input", str(data)], capture_output=True,
                          text=True, check=False, timeout=120)
    assert made.returncode == 0, made.stderr
    results.mkdir()
    (results / "kept.txt").write_text("the diagnostic owns this folder\n")
    site = yaml.safe_load((EXAMPLES / "site.yaml").read_text())
    site["volumes"]["cmip-sample"]["local"] = str(data)
    site["volumes"]["ref-results"]["local"] = str(results)
    text = (EXAMPLES / "with-data.yaml").read_text().replace("/data/", f"{root}/")
    code, out, err = run_json(write(tmp_path / "with-data.yaml", yaml.safe_load(text)), local_env,
                              "--config", str(write(tmp_path / "site.yaml", site)), "--keep-scratch")
    assert code == 0, err + json.dumps(out)
    assert (out["phase"], out["failureClass"]) == ("Succeeded", "Success")
    assert show(out["name"], local_env)["status"]["ingested"] == {"outputs": 6, "scalarValues": 24, "seriesValues": 4,
                                                                  "dropped": 0}
    log = stored_log(tmp_path)
    assert f"reading annual-mean tas from {root}/cmip-sample" in log and "generating synthetic" not in log
    # The bundles are where the diagnostic put them (seen through the mount: the host folder), and stay there.
    folder = results / "global-mean-bias"
    assert {"diagnostic.json", "output.json", "series.json", "index.html"} <= set(os.listdir(folder))
    assert (results / "kept.txt").exists()
    stored = files_under(tmp_path / "store")
    assert any(f.endswith("outputs/diagnostic.json") for f in stored) and any(f.endswith(".png") for f in stored)
    scratch = next((tmp_path / "home" / "scratch").iterdir()) / "attempt-1"
    assert not (scratch / "diagnostic.json").exists() and (scratch / "out.log").exists()
    assert os.listdir(root / "cmip-sample") == [] and os.listdir(root / "ref-results") == []  # bare mount points
    assert host_mounts_under(root) == [], "the host's mount table is untouched"


@needs_namespace
def test_a_read_only_mount_cannot_be_written_nor_remounted(local_env: dict[str, str], tmp_path: Path,
                                                           root: Path) -> None:
    inputs, scratch = tmp_path / "inputs", tmp_path / "scratch"
    inputs.mkdir()
    scratch.mkdir()
    (inputs / "a.txt").write_text("input\n")
    site = write(tmp_path / "site.yaml", {"volumes": {"inputs": {"local": str(inputs)},
                                                      "work": {"local": str(scratch)}}})
    script = (f"cat {root}/in/a.txt; grep -c ' {root}/in ' /proc/self/mountinfo; "
              f"echo w > {root}/work/ok.txt; "
              f"mount -o remount,bind,rw {root}/in || echo remount refused; "
              f"echo w > {root}/in/b.txt || exit 9")
    path = manifest(tmp_path, "read-only", script, volumes=[
        {"name": "inputs", "mountPath": f"{root}/in", "readOnly": True}, {"name": "work", "mountPath": f"{root}/work"}])
    code, out, err = run_json(path, local_env, "--config", str(site))
    assert code == 1, err
    assert (out["failureClass"], out["reason"]) == ("DiagnosticError", "ExitCode9")
    log = stored_log(tmp_path)
    assert "input\n1\n" in log  # the host folder, mounted at the spec's path inside the namespace only
    assert "Read-only file system" in log and "remount refused" in log
    assert sorted(os.listdir(inputs)) == ["a.txt"]
    assert (scratch / "ok.txt").read_text() == "w\n"  # the writable one is the host folder itself
    assert host_mounts_under(root) == []


@needs_namespace
def test_the_memory_limit_holds_inside_the_namespace(local_env: dict[str, str], tmp_path: Path, root: Path) -> None:
    (tmp_path / "inputs").mkdir()
    site = write(tmp_path / "site.yaml", {"volumes": {"inputs": {"local": str(tmp_path / "inputs")}}})
    path = manifest(tmp_path, "oom", f"exec {sys.executable} -c 'b = bytearray(400 * 2**20); b[::4096] = b\"x\" * len(b[::4096])'",
                    volumes=[{"name": "inputs", "mountPath": f"{root}/in", "readOnly": True}],
                    resources={"memory": "128Mi"})
    code, out, err = run_json(path, local_env, "--config", str(site), "--memory-limits", "cgroup")
    assert code == 1, err
    attempt = out["attempts"][0]
    assert attempt["failureClass"] == "OutOfMemory", json.dumps(out)
    assert attempt["telemetry"]["memoryLimitBytes"] == 128 * 2**20
    assert attempt["telemetry"]["peakMemorySource"].startswith("cgroup")


@needs_namespace
@pytest.mark.parametrize("delay", [0.0, 3.0], ids=["while-starting", "while-running"])
def test_an_interrupt_still_stops_the_diagnostic(local_env: dict[str, str], tmp_path: Path, root: Path,
                                                 delay: float) -> None:
    """Ctrl-C while the first attempt starts (the database still loading: the attempt is aborted) or runs
    (the shim is told to stop): either way the diagnostic, in its own session and mount namespace, ends."""
    (tmp_path / "inputs").mkdir()
    site = write(tmp_path / "site.yaml", {"volumes": {"inputs": {"local": str(tmp_path / "inputs")}}})
    marker = f"marker-{uuid.uuid4().hex}"
    path = manifest(tmp_path, "interrupted", f"echo started; sleep 300; echo never # {marker}",
                    volumes=[{"name": "inputs", "mountPath": f"{root}/in"}])
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", **local_env}
    proc = subprocess.Popen([sys.executable, "-m", "diagnostic_operator.cli", "run", str(path), "--no-progress",
                             "--config", str(site)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a run started from a background job inherits SIGINT ignored: undo that, as a terminal has it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509

    def running() -> list[str]:
        return [p for p in os.listdir("/proc") if p.isdigit() and marker in _cmdline(p)]

    deadline = time.monotonic() + 60
    while not running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert running(), "the diagnostic did not start"
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    deadline = time.monotonic() + 10
    while running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert running() == [], "the diagnostic outlived the interrupt"


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_an_env_source_reaches_the_diagnostic_and_nothing_else(local_env: dict[str, str], tmp_path: Path) -> None:
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    digest = hashlib.sha256(secret.encode()).hexdigest()
    site = write(tmp_path / "site.yaml", {"envSources": {"esgf": {"secret": "esgf-credentials",
                                                                  "keys": ["ESGF_TOKEN"]}}})
    path = manifest(tmp_path, "env-source", 'printf %s "$ESGF_TOKEN" | sha256sum; exit 4', envSources=["esgf"])
    env = {**local_env, "ESGF_TOKEN": secret}
    result = cli("run", str(path), "--config", str(site), env=env)
    assert result.returncode == 1, result.stderr
    assert digest in stored_log(tmp_path), "the value reached the diagnostic"
    shown = cli("executions", "show", "env-source", "--json", env=local_env)
    listed = cli("executions", "list", "--json", env=local_env)
    assert json.loads(shown.stdout)["status"]["attempts"][0]["reason"] == "ExitCode4"
    for where, text in [("run's output", result.stdout + result.stderr), ("executions show", shown.stdout),
                        ("executions list", listed.stdout)]:
        assert secret not in text, where
    assert secret.encode() not in (tmp_path / "db.sqlite").read_bytes()
    for stored in (tmp_path / "store").rglob("*"):
        assert not stored.is_file() or secret.encode() not in stored.read_bytes(), stored


def test_a_spec_the_site_does_not_cover_fails_at_once_as_configuration(local_env: dict[str, str],
                                                                       tmp_path: Path) -> None:
    site = write(tmp_path / "site.yaml", {"volumes": {"cmip": {"local": "/srv/nowhere/[bold]cmip"}},
                                          "envSources": {"esgf": {"secret": "esgf", "keys": ["ESGF_TOKEN"]}}})
    spawned = tmp_path / "spawned"
    path = manifest(tmp_path, "uncovered", f"touch {spawned}",
                    volumes=[{"name": "cmip6", "mountPath": "/data/cmip6", "readOnly": True}],
                    envSources=["esgf", "creds"])
    code, out, err = run_json(path, local_env, "--config", str(site))
    assert code == 1, err
    assert (out["phase"], out["failureClass"], out["reason"], out["attempts"]) == (
        "Failed", "Configuration", "Configuration", [])
    assert out["message"] == (
        "The site's configuration does not cover this spec: volumes[0].name: unknown volume 'cmip6' (configured: "
        "cmip); envSources[0]: env source 'esgf' takes ESGF_TOKEN from the environment of `diagnostic-operator run`, "
        "where it is not set; envSources[1]: unknown env source 'creds' (configured: esgf)")
    status = show("uncovered", local_env)
    assert status["group"]["dirty"] is False
    assert (status["status"]["phase"], status["status"]["failureClass"], status["status"]["attempts"]) == (
        "Failed", "Configuration", [])
    assert status["status"]["message"] == out["message"]
    assert not spawned.exists() and not (tmp_path / "home" / "scratch").exists(), "nothing was spawned"
    assert not (tmp_path / "store").exists() or files_under(tmp_path / "store") == []

    # A known volume whose local folder is missing: named too, and printed as text (no markup from names).
    path = manifest(tmp_path, "missing-folder", f"touch {spawned}",
                    volumes=[{"name": "cmip", "mountPath": "/data/cmip6", "readOnly": True}])
    result = cli("run", str(path), "--config", str(site), "--no-progress", env=local_env)
    assert result.returncode == 1, result.stderr
    assert "volumes[0]: the local folder '/srv/nowhere/[bold]cmip' of volume 'cmip' does not exist" in " ".join(
        result.stdout.split())
    assert not spawned.exists()


def test_the_site_comes_from_diagnostic_operator_config_too(local_env: dict[str, str], tmp_path: Path) -> None:
    site = write(tmp_path / "site.yaml", {"envSources": {"esgf": {"secret": "esgf", "keys": ["ESGF_TOKEN"]}}})
    path = manifest(tmp_path, "from-env", 'test "$ESGF_TOKEN" = t0k', envSources=["esgf"])
    env = {**local_env, "DIAGNOSTIC_OPERATOR_CONFIG": str(site), "ESGF_TOKEN": "t0k"}
    _, out, err = run_json(path, env)
    assert out["reason"] == "InvalidResults", err  # the script exited 0 (no bundles): it saw the value
    bad = write(tmp_path / "bad.yaml", {"volumes": {"x": {}}})
    result = cli("run", str(path), "--config", str(bad), env=local_env)
    assert result.returncode == 2 and "site configuration" in result.stderr and "volumes.x" in result.stderr


@needs_namespace
def test_a_mount_that_fails_in_the_namespace_ends_the_attempt_as_configuration(
        tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wrapper cannot mount (here: the host-side preparation is skipped, so neither the local folder nor the
    mount point exists): the shim never starts, and the attempt ends like a container whose volume did not
    mount, with the wrapper's message."""
    monkeypatch.setattr(local_mounts, "prepare", lambda plan: [])
    spawned = tmp_path / "spawned"
    document = yaml.safe_load(manifest(tmp_path, "mount-fails", f"touch {spawned}",
                                       volumes=[{"name": "gone", "mountPath": f"{root}/gone"}]).read_text())
    site = Site.model_validate({"volumes": {"gone": {"local": str(tmp_path / "gone")}}})
    settings = Settings(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "store"), tmp_path / "scratch")
    result = LocalTransport(LocalOptions(settings=settings, site=site, memory_limits="off")).run(
        DiagnosticExecution.model_validate(document))
    assert (result.phase, result.failure_class, result.reason) == ("Failed", "Configuration", "StartError")
    assert f"cannot mount {tmp_path / 'gone'} at {root}/gone" in result.message
    assert [a.decision for a in result.attempts] == ["GIVE_UP"]
    assert not spawned.exists()
