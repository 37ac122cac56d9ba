"""A ``run`` that dies or is interrupted leaves nothing Running: SIGTERM/SIGINT stop the diagnostic's
processes and record the execution as Cancelled; after a SIGKILL the diagnostic is stopped too (the shim gets
TERM when its ``run`` dies) and the next command records the execution as Failed, Infrastructure, RunnerLost."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from diagnostic_operator.db import lifecycle_writes
from diagnostic_operator.db.queries import get_execution
from diagnostic_operator.manifest import load_manifests
from diagnostic_operator.settings import Settings
from diagnostic_operator.transports.local import LocalOptions, LocalTransport

from .test_local_run import cli, local_env  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


def _manifest(tmp_path: Path) -> Path:
    pids = tmp_path / "pids"
    script = f"sleep 300 & echo $! > {pids}.child; echo $$ > {pids}; echo started; wait"
    doc = {"apiVersion": "diagnostic-operator.io/v1alpha1", "kind": "DiagnosticExecution",
           "metadata": {"name": "sleeper"},
           "spec": {"diagnostic": {"provider": "p", "slug": "s", "version": "1"}, "groupKey": "g",
                    "image": "i:1", "command": ["/bin/sh", "-c", script],
                    "resources": {"memory": "256Mi", "cpu": "1", "wallClock": "10m"},
                    "retry": {"maxAttempts": 1}}}
    path = tmp_path / "sleeper.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _start(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], list[int]]:
    full_env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", **env}
    proc = subprocess.Popen([sys.executable, "-m", "diagnostic_operator.cli", "run", str(_manifest(tmp_path)),
                             "--no-progress", "--memory-limits", "off"], env=full_env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    pids = tmp_path / "pids"
    while time.monotonic() < deadline:
        if pids.exists() and Path(f"{pids}.child").exists() and _phase(env) == "Running":
            return proc, [int(pids.read_text()), int(Path(f"{pids}.child").read_text())]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.kill()
    pytest.fail("the diagnostic did not start")


def _phase(env: dict[str, str]) -> str | None:
    listing = cli("executions", "list", "--json", env=env)
    rows = json.loads(listing.stdout) if listing.returncode == 0 else []
    return rows[0]["phase"] if rows else None


def _gone(pids: list[int], within: float = 20) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                os.kill(pid, 0)
                alive.append(pid)
            except ProcessLookupError:
                pass
        if not alive:
            return True
        time.sleep(0.1)
    for pid in pids:  # leave nothing behind
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_term_or_int_stops_the_diagnostic_and_records_cancelled(signum: int, tmp_path: Path,
                                                                local_env: dict[str, str]) -> None:  # noqa: F811
    proc, pids = _start(tmp_path, local_env)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert _gone(pids), "the diagnostic's processes outlived run"
    shown = json.loads(cli("executions", "show", "sleeper", "--json", env=local_env).stdout)["status"]
    assert (shown["phase"], shown["failureClass"], shown["reason"]) == ("Cancelled", "Cancelled", "Interrupted")


def test_signals_while_stopping_do_not_cut_the_stop_short(tmp_path: Path,
                                                          local_env: dict[str, str]) -> None:  # noqa: F811
    """Ctrl-C pressed again (and a supervisor's TERM) while the attempt is being stopped: the stop and the
    record still happen, and the exit code still says 130 (not a death by signal)."""
    proc, pids = _start(tmp_path, local_env)
    proc.send_signal(signal.SIGINT)
    for again in (signal.SIGINT, signal.SIGTERM, signal.SIGINT):
        time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(again)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert _gone(pids), "the diagnostic's processes outlived run"
    shown = json.loads(cli("executions", "show", "sleeper", "--json", env=local_env).stdout)["status"]
    assert (shown["phase"], shown["reason"]) == ("Cancelled", "Interrupted")


def test_a_killed_run_is_recorded_as_runner_lost(tmp_path: Path, local_env: dict[str, str]) -> None:  # noqa: F811
    proc, pids = _start(tmp_path, local_env)
    run_pid = proc.pid
    proc.kill()
    proc.communicate(timeout=30)
    assert _gone(pids), "the diagnostic outlived its killed run"
    listing = cli("executions", "list", env=local_env)
    assert listing.returncode == 0, listing.stderr
    assert f"its run process (pid {run_pid} on {socket.gethostname()}) is gone" in " ".join(listing.stderr.split())
    shown = json.loads(cli("executions", "show", "sleeper", "--json", env=local_env).stdout)["status"]
    assert (shown["phase"], shown["failureClass"], shown["reason"]) == ("Failed", "Infrastructure", "RunnerLost")
    assert f"pid {run_pid}" in shown["message"]
    again = cli("executions", "list", env=local_env)
    assert "gone" not in again.stderr  # reported once: it is recorded now


def test_an_interrupt_between_the_spawn_and_the_watch_stops_the_attempt(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_args: object, **_kwargs: object) -> int:
        deadline = time.monotonic() + 30
        while not Path(f"{tmp_path / 'pids'}.child").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        raise KeyboardInterrupt

    monkeypatch.setattr(lifecycle_writes, "record_attempt_start", interrupted)
    settings = Settings(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "store"), tmp_path / "scratch")
    transport = LocalTransport(LocalOptions(settings=settings, memory_limits="off"))
    [item] = load_manifests(_manifest(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        transport.run(item)
    pids = [int((tmp_path / "pids").read_text()), int(Path(f"{tmp_path / 'pids'}.child").read_text())]
    assert _gone(pids), "the attempt outlived the interrupt"
    detail = get_execution(transport.engine, "sleeper")
    assert detail is not None and detail.status().reason == "Interrupted"
