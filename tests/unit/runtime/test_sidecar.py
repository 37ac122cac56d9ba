"""The ingest sidecar: settings, the /proc view, the "has the runner ended?" decision, the summary's size,
structured logs without secrets, and whole runs against SQLite + a local store."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from diagnostic_operator.cli import app
from diagnostic_operator.contracts.exit_record import EXIT_RECORD_FILE, HEARTBEAT_FILE, LOG_FILE
from diagnostic_operator.contracts.publish_summary import PublishSummary
from diagnostic_operator.db.engine import create_engine_for, upgrade
from diagnostic_operator.db.lifecycle_writes import allocate_execution, record_attempt_start, resolve_attempt
from diagnostic_operator.db.models import Output
from diagnostic_operator.db.queries import count_rows, get_execution, query_scalars
from diagnostic_operator.runtime import sidecar as sc
from diagnostic_operator.runtime.publish import RetrySettings
from diagnostic_operator.runtime.shim import shim_path
from diagnostic_operator.spec import AttemptResources, DiagnosticExecutionSpec, IngestCounts
from diagnostic_operator.store import LocalStore, attempt_prefix
from tests.helpers import publish_summary, read_summary

# ------------------------------------------------------------------------------------------ settings

OUT = "/do/output"


def base_env(output_dir: Path, **changes: str) -> dict[str, str]:
    env = {
        "DIAGNOSTIC_OUTPUT_DIR": str(output_dir),
        "DIAGNOSTIC_EXECUTION_NAMESPACE": "science",
        "DIAGNOSTIC_EXECUTION_NAME": "gmst",
        "DIAGNOSTIC_EXECUTION_UID": "0f1e2d3c-aaaa-bbbb-cccc-000000000001",
        "DIAGNOSTIC_ATTEMPT": "1",
        "DIAGNOSTIC_RESULTS": json.dumps({"metricBundle": "diagnostic.json", "outputBundle": "output.json",
                                          "series": "series.json"}),
        "DIAGNOSTIC_OPERATOR_STORE_URL": str(output_dir.parent / "store"),
        "DIAGNOSTIC_OPERATOR_DATABASE_URL": f"sqlite:///{output_dir.parent / 'db.sqlite'}",
        "DIAGNOSTIC_TERMINATION_LOG": str(output_dir.parent / "termination-log"),
    }
    env.update(changes)
    return {k: v for k, v in env.items() if v != "<unset>"}


def test_settings_from_the_environment(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    s = sc.load_settings(base_env(out, DIAGNOSTIC_HEARTBEAT_SECONDS="2", DIAGNOSTIC_RUNNER_SHIM="false"))
    assert s.output_dir == out
    assert (s.target.namespace, s.target.name, s.target.attempt) == ("science", "gmst", 1)
    assert (s.target.execution_id, s.target.attempt_id) == (None, None)  # looked up at ingest
    given = sc.load_settings(base_env(out, DIAGNOSTIC_EXECUTION_ID="7", DIAGNOSTIC_ATTEMPT_ID="9"))
    assert (given.target.execution_id, given.target.attempt_id) == (7, 9)
    assert s.results.metric_bundle == "diagnostic.json"
    assert s.heartbeat_seconds == 2.0
    assert s.runner_shim is False
    assert s.termination_log == tmp_path / "termination-log"
    assert s.publish_budget_seconds is None  # not set: no bound
    assert sc.load_settings(base_env(out, DIAGNOSTIC_PUBLISH_BUDGET_SECONDS="260")).publish_budget_seconds == 260
    assert sc.load_settings(base_env(out, DIAGNOSTIC_TERMINATION_LOG="<unset>")).termination_log == Path(
        "/dev/termination-log")


@pytest.mark.parametrize(("name", "value", "message"), [
    ("DIAGNOSTIC_OUTPUT_DIR", "<unset>", "not set"),
    ("DIAGNOSTIC_OUTPUT_DIR", "relative/dir", "not an absolute path"),
    ("DIAGNOSTIC_OUTPUT_DIR", "/nonexistent/do/output", "not a directory"),
    ("DIAGNOSTIC_EXECUTION_NAMESPACE", "", "not set"),
    ("DIAGNOSTIC_EXECUTION_NAME", "<unset>", "not set"),
    ("DIAGNOSTIC_EXECUTION_UID", "  ", "not set"),
    ("DIAGNOSTIC_ATTEMPT", "one", "not an integer"),
    ("DIAGNOSTIC_ATTEMPT", "0", "less than 1"),
    ("DIAGNOSTIC_EXECUTION_ID", "seven", "not an integer"),
    ("DIAGNOSTIC_ATTEMPT_ID", "-3", "less than 1"),
    ("DIAGNOSTIC_RESULTS", "<unset>", "not set"),
    ("DIAGNOSTIC_RESULTS", "{not json", "not a valid results object"),
    ("DIAGNOSTIC_RESULTS", '{"metricBundle": "/etc/passwd"}', "relative path"),
    ("DIAGNOSTIC_OPERATOR_STORE_URL", "<unset>", "not set"),
    ("DIAGNOSTIC_OPERATOR_DATABASE_URL", "<unset>", "not set"),
    ("DIAGNOSTIC_OPERATOR_DATABASE_URL", "user:secret@host/db", "not a database URL"),
    ("DIAGNOSTIC_HEARTBEAT_SECONDS", "soon", "not a number"),
    ("DIAGNOSTIC_HEARTBEAT_SECONDS", "-1", "non-negative"),
    ("DIAGNOSTIC_RUNNER_SHIM", "maybe", "not a boolean"),
    ("DIAGNOSTIC_PUBLISH_BUDGET_SECONDS", "-5", "non-negative"),
    ("DIAGNOSTIC_PUBLISH_BUDGET_SECONDS", "inf", "non-negative"),
])
def test_a_bad_setting_is_named(tmp_path: Path, name: str, value: str, message: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(sc.SettingsError, match=message) as err:
        sc.load_settings(base_env(out, **{name: value}))
    assert err.value.name == name
    assert str(err.value).startswith(name)
    assert "secret" not in str(err.value)


def test_usage_error_exits_2_with_a_message(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stream = io.StringIO()
    code = sc.run(base_env(out, DIAGNOSTIC_ATTEMPT="x"), sc.SidecarOptions(install_signal_handlers=False), stream)
    assert code == 2
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["event"] == "usage-error" and line["setting"] == "DIAGNOSTIC_ATTEMPT"
    assert "DIAGNOSTIC_ATTEMPT" in (tmp_path / "termination-log").read_text()


def test_cli_usage_error_exit_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("DIAGNOSTIC_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv(sc.TERMINATION_LOG_ENV, str(tmp_path / "t"))
    result = CliRunner().invoke(app, ["sidecar", "--max-wait", "1"])
    assert result.exit_code == 2
    assert "DIAGNOSTIC_OUTPUT_DIR" in result.stdout


# ------------------------------------------------------------------------------------------ /proc


@pytest.mark.parametrize(("text", "expected"), [
    ("1 (pause) S 0 1 1 0 -1 4194560", sc.ProcInfo(1, 0, 1, "S")),
    ("42 (python3) R 0 42 42 0 -1", sc.ProcInfo(42, 0, 42, "R")),
    ("43 (a (b) c) Z 42 42 40 0", sc.ProcInfo(43, 42, 40, "Z")),
    ("44 (with space) S 1 44 44", sc.ProcInfo(44, 1, 44, "S")),
    ("45 ()) S 1 45 45", sc.ProcInfo(45, 1, 45, "S")),
    ("garbage", None),
    ("46 (short) S", None),
    ("x (bad) S 1 2 3", None),
])
def test_parse_stat(text: str, expected: sc.ProcInfo | None) -> None:
    assert sc.parse_stat(text) == expected


def procs(*rows: tuple[int, int, int, str]) -> dict[int, sc.ProcInfo]:
    return {pid: sc.ProcInfo(pid, ppid, sid, state) for pid, ppid, sid, state in rows}


PAUSE = (1, 0, 1, "S")
SIDECAR = (30, 0, 30, "S")
SHIM = (18, 0, 18, "S")
COMMAND = (22, 18, 22, "R")  # setsid: its own session
TEE = (21, 18, 18, "S")


@pytest.mark.parametrize(("snapshot", "own", "shared", "runner"), [
    # the Pod: pause, the runner's shim + tee + command, the sidecar
    (procs(PAUSE, SHIM, TEE, COMMAND, SIDECAR), 30, True, {18, 21, 22}),
    # the runner is gone: only pause and the sidecar
    (procs(PAUSE, SIDECAR), 30, True, set()),
    # a zombie of the runner does not count
    (procs(PAUSE, (18, 0, 18, "Z"), SIDECAR), 30, True, set()),
    # an orphan of the runner re-parented to pause still counts
    (procs(PAUSE, (25, 1, 22, "S"), SIDECAR), 30, True, {25}),
    # the sidecar's own children and its session are not the runner
    (procs(PAUSE, SIDECAR, (31, 30, 30, "S"), (32, 31, 30, "S"), (33, 1, 30, "S")), 30, True, set()),
    # the sidecar started through a wrapper (its parent in the namespace)
    (procs(PAUSE, (29, 0, 29, "S"), (30, 29, 29, "S"), SHIM), 30, True, {18}),
    # no shared PID namespace: the sidecar is PID 1 (or a child of it)
    (procs((1, 0, 1, "S")), 1, False, set()),
    (procs((1, 0, 1, "S"), (7, 1, 1, "S")), 7, False, set()),
])
def test_runner_processes(snapshot: dict[int, sc.ProcInfo], own: int, shared: bool, runner: set[int]) -> None:
    assert sc.shares_pid_namespace(snapshot, own) is shared
    assert sc.runner_pids(snapshot, own) == runner


def test_read_proc(tmp_path: Path) -> None:
    for pid, stat in ((1, "1 (pause) S 0 1 1 0"), (18, "18 (sh) S 0 18 18 0"), (30, "30 (python) R 0 30 30 0")):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(stat)
    (tmp_path / "99").mkdir()  # vanished while we read: no stat file
    (tmp_path / "self").mkdir()
    (tmp_path / "uptime").write_text("1 1")
    snapshot = sc.read_proc(tmp_path)
    assert sorted(snapshot) == [1, 18, 30]
    assert sc.runner_pids(snapshot, 30) == {18}
    assert sc.read_proc(tmp_path / "missing") == {}


def test_read_proc_on_this_machine() -> None:
    me = sc.read_proc()[os.getpid()]
    assert me.pid == os.getpid() and me.ppid == os.getppid() and me.session == os.getsid(0)


# ------------------------------------------------------------------------------------------ the decision

P = sc.WaitPolicy(heartbeat_seconds=5, start_timeout=120, max_wait=None, term_wait=10)
SEEN = sc.WaitState(runner_seen=True)
NEW = sc.WaitState()


def obs(elapsed: float = 1, record: bool = False, alive: bool | None = True, heartbeat: float | None = None,
        shim: bool = False, term: float | None = None) -> sc.Observation:
    return sc.Observation(elapsed, record, alive, heartbeat, shim, term)


@pytest.mark.parametrize(("o", "state", "policy", "reason"), [
    # the exit record ends the wait, whatever else is seen
    (obs(record=True), NEW, P, sc.EXIT_RECORD),
    (obs(record=True, alive=True, heartbeat=1), SEEN, P, sc.EXIT_RECORD),
    (obs(record=True, alive=None), NEW, P, sc.EXIT_RECORD),
    # the runner is running
    (obs(alive=True), NEW, P, None),
    (obs(alive=True, heartbeat=2, shim=True), SEEN, P, None),
    # live processes win over a stale heartbeat
    (obs(alive=True, heartbeat=600), SEEN, P, None),
    # gone without a record, after it was seen (a process, or the shim's traces)
    (obs(alive=False), SEEN, P, sc.RUNNER_GONE),
    (obs(alive=False, shim=True), NEW, P, sc.RUNNER_GONE),
    (obs(alive=False, heartbeat=0.5), NEW, P, sc.RUNNER_GONE),
    # not seen yet: wait (kubelet may still be starting it), until the start timeout
    (obs(alive=False, elapsed=3), NEW, P, None),
    (obs(alive=False, elapsed=119.9), NEW, P, None),
    (obs(alive=False, elapsed=120), NEW, P, sc.NOT_SEEN),
    (obs(alive=False, elapsed=5), NEW, sc.WaitPolicy(start_timeout=5), sc.NOT_SEEN),
    # no shared PID namespace: the heartbeat decides
    (obs(alive=None, heartbeat=4, shim=True), NEW, P, None),
    (obs(alive=None, heartbeat=15, shim=True), SEEN, P, None),
    (obs(alive=None, heartbeat=15.1, shim=True), SEEN, P, sc.HEARTBEAT_STALE),
    (obs(alive=None, heartbeat=15.1), SEEN, sc.WaitPolicy(heartbeat_seconds=0), None),
    (obs(alive=None, heartbeat=None, elapsed=200), NEW, P, sc.NOT_SEEN),
    (obs(alive=None, heartbeat=1, elapsed=200, shim=True), SEEN, P, None),
    # bounds
    (obs(alive=True, elapsed=30), SEEN, sc.WaitPolicy(max_wait=30), sc.MAX_WAIT),
    (obs(alive=True, elapsed=29), SEEN, sc.WaitPolicy(max_wait=30), None),
    (obs(alive=True, term=9.9), SEEN, P, None),
    (obs(alive=True, term=10), SEEN, P, sc.TERMINATED),
    (obs(alive=False, term=0), SEEN, P, sc.RUNNER_GONE),
])
def test_decide(o: sc.Observation, state: sc.WaitState, policy: sc.WaitPolicy, reason: str | None) -> None:
    assert sc.decide(o, state, policy)[1] == reason


def test_decide_remembers_the_runner() -> None:
    state, reason = sc.decide(obs(alive=True), NEW, P)
    assert state.runner_seen and reason is None
    state, reason = sc.decide(obs(alive=False, elapsed=2), state, P)
    assert reason == sc.RUNNER_GONE


def test_observe_reads_files_and_proc(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / ".diagnostic-operator").mkdir(parents=True)
    proc = tmp_path / "proc"
    for pid, stat in ((1, "1 (pause) S 0 1 1"), (18, "18 (sh) S 0 18 18"), (30, "30 (py) R 0 30 30")):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "stat").write_text(stat)
    (out / HEARTBEAT_FILE).write_text("1")
    os.utime(out / HEARTBEAT_FILE, (time.time() - 20, time.time() - 20))
    o = sc.observe(out, 1.5, 30, None, proc)
    assert (o.exit_record, o.runner_alive, o.shim_started) == (False, True, True)
    assert o.heartbeat_age is not None and 19 < o.heartbeat_age < 30
    (out / EXIT_RECORD_FILE).write_text("{}")
    assert sc.observe(out, 2, 30, None, proc).exit_record


# ------------------------------------------------------------------------------------------ the summary


def summary(**changes: Any) -> PublishSummary:
    """A failed attempt 2's summary (nothing ingested), with ``changes`` over it."""
    return publish_summary(**({"attempt": 2, "exitCode": 1, "outputLocation": "s3://b/p", "ingested": None,
                               "counts": None, "logLocation": "s3://b/p/out.log", "wallSeconds": 1.5} | changes))


def test_a_small_summary_is_unchanged() -> None:
    s = summary(cpuSeconds=3.5)
    assert sc.fit_message(s) == s.to_message()
    assert json.loads(sc.fit_message(s))["cpuSeconds"] == 3.5


@pytest.mark.parametrize("changes", [
    {"infrastructureError": "x" * 5000},
    {"bundleError": "é" * 3000, "infrastructureError": "€" * 3000},
    {"outputLocation": "s3://b/" + "p" * 1100, "bundleError": "b" * 900, "infrastructureError": "i" * 900},
    {"logLocation": "s3://b/" + "€" * 1100, "outputLocation": "s3://b/" + "€" * 1100, "bundleError": "b" * 900},
])
def test_a_large_summary_fits_4096_bytes(changes: dict[str, Any]) -> None:
    message = sc.fit_message(summary(**changes))
    assert len(message.encode()) <= 4096
    data = json.loads(message)
    back = read_summary(message)  # still a summary the operator can read
    assert back.attempt == 2 and back.log_published and back.exit_record_present
    assert ("bundleError" in data) == ("bundleError" in changes)
    assert ("infrastructureError" in data) == ("infrastructureError" in changes)


def test_the_partial_error_goes_first_and_the_partial_count_stays() -> None:
    s = summary(partialFiles=7, partialSkipped=2, partialError="p" * 300, bundleError="b" * 900,
                infrastructureError="i" * 900, outputLocation="s3://b/" + "€" * 600)
    data = json.loads(sc.fit_message(s))
    assert "partialError" not in data and data["partialFiles"] == 7
    assert data["bundleError"] == "b" * 900, "evidence is not cut while a note can go"


@pytest.mark.parametrize(("budget", "elapsed", "terminating", "left"), [
    (None, 1e6, False, math.inf),
    (None, 0.0, True, 0.0),
    (260.0, 60.0, False, 200.0),
    (260.0, 300.0, False, -40.0),
    (260.0, 1.0, True, 0.0),  # SIGTERM: the kubelet's SIGKILL is near, no more partial uploads
])
def test_partial_budget(budget: float | None, elapsed: float, terminating: bool, left: float) -> None:
    seconds_left = sc.partial_budget(budget, 100.0, lambda: terminating, clock=lambda: 100.0 + elapsed)
    assert seconds_left() == left


def test_logs_never_show_secrets() -> None:
    env = {"AWS_SECRET_ACCESS_KEY": "s3cr3t-key", "AWS_ACCESS_KEY_ID": "AKIAID"}
    url = "postgresql://ingest:hunter22@db:5432/do"
    stream = io.StringIO()
    log = sc.StructuredLog(stream, sc.secrets_of(env, url), (url,))
    log("retry", message=f"could not reach {url}: auth hunter22 s3cr3t-key", count=3)
    line = json.loads(stream.getvalue())
    assert line["component"] == "ingest-sidecar" and line["event"] == "retry" and line["count"] == 3
    assert "hunter22" not in stream.getvalue() and "s3cr3t-key" not in stream.getvalue()
    assert "postgresql://ingest:***@db:5432/do" in line["message"]


# ------------------------------------------------------------------------------------------ whole runs

SPEC = DiagnosticExecutionSpec.model_validate({
    "diagnostic": {"provider": "example", "slug": "global-mean-bias", "version": "0.1.0"},
    "groupKey": "g", "image": "example-diagnostic:0.1", "command": ["python3", "-m", "example_diagnostic"]})


@pytest.fixture(scope="module")
def example_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example diagnostic, run once under the shim; tests copy the folder."""
    out = tmp_path_factory.mktemp("example") / "out"
    env = {**os.environ, "DIAGNOSTIC_OUTPUT_DIR": str(out), "MPLCONFIGDIR": str(out.parent)}
    subprocess.run(["/bin/sh", str(shim_path()), "--", sys.executable, "-m", "example_diagnostic"], env=env,
                   check=True, capture_output=True, timeout=120)
    return out


@pytest.fixture
def attempt_env(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    out = tmp_path / "out"
    out.mkdir()
    env = base_env(out)
    url = env["DIAGNOSTIC_OPERATOR_DATABASE_URL"]
    upgrade(url)
    engine = create_engine_for(url)
    alloc = allocate_execution(engine, namespace="science", name="gmst",
                               uid=env["DIAGNOSTIC_EXECUTION_UID"], spec=SPEC, output_location="x")
    record_attempt_start(
        engine, alloc.execution_id, 1, resources=AttemptResources(memory="1Gi", cpu="1", wall_clock="1h"))
    engine.dispose()
    # no ids in the environment (as in a Pod the operator makes): the sidecar looks them up by uid and attempt
    yield out, env


def quick(tmp_path: Path) -> sc.SidecarOptions:
    """Fast polling, and a fake /proc as the Pod shows it after the runner ended: pause (1) and us (30)."""
    proc = tmp_path / "proc"
    for pid, stat in ((1, "1 (pause) S 0 1 1"), (30, "30 (diagnostic-oper) R 0 30 30")):
        (proc / str(pid)).mkdir(parents=True, exist_ok=True)
        (proc / str(pid) / "stat").write_text(stat)
    return sc.SidecarOptions(poll_seconds=0.01, install_signal_handlers=False, start_timeout=2, max_wait=30,
                             retry=RetrySettings(attempts=2, initial_seconds=0.01), proc_root=proc, own_pid=30)


def events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_successful_attempt_is_published_and_ingested(attempt_env: tuple[Path, dict[str, str]],
                                                        example_output: Path) -> None:
    out, env = attempt_env
    shutil.copytree(example_output, out, dirs_exist_ok=True)
    stream = io.StringIO()
    assert sc.run(env, quick(out.parent), stream) == 0
    s = read_summary(Path(env["DIAGNOSTIC_TERMINATION_LOG"]).read_text())
    assert s.exit_record_present and s.exit_code == 0 and s.log_published and s.ingested
    assert s.counts.scalar_values == 24
    log = events(stream)
    assert [e["event"] for e in log][:3] == ["started", "waiting", "runner-seen"]
    assert {"runner-ended", "exit-record", "publishing", "published"} <= {e["event"] for e in log}
    assert next(e for e in log if e["event"] == "runner-ended")["reason"] == sc.EXIT_RECORD
    store = Path(env["DIAGNOSTIC_OPERATOR_STORE_URL"])
    assert list(store.rglob("out.log")) and list(store.rglob("diagnostic.json"))
    # a replay (the sidecar restarted) inserts nothing twice
    assert sc.run(env, quick(out.parent), io.StringIO()) == 0
    again = read_summary(Path(env["DIAGNOSTIC_TERMINATION_LOG"]).read_text())
    assert again.ingested and again.inserted.scalar_values == 0
    # the values went to the rows of this uid and attempt, found without ids in the environment
    engine = create_engine_for(env["DIAGNOSTIC_OPERATOR_DATABASE_URL"])
    try:
        execution_id, attempt_id = resolve_attempt(engine, env["DIAGNOSTIC_EXECUTION_UID"], 1)
        assert len(query_scalars(engine, execution_id)) == 24
        # ids given in the environment (a maker that knew them) are used as they are: nothing looked up
        env.update(DIAGNOSTIC_EXECUTION_ID=str(execution_id), DIAGNOSTIC_ATTEMPT_ID=str(attempt_id),
                   DIAGNOSTIC_EXECUTION_UID="uid-not-in-the-database")
        assert sc.run(env, quick(out.parent), io.StringIO()) == 0
        third = read_summary(Path(env["DIAGNOSTIC_TERMINATION_LOG"]).read_text())
        assert third.ingested and third.counts.scalar_values == 24
    finally:
        engine.dispose()


def test_rows_not_in_the_database_are_an_infrastructure_failure(attempt_env: tuple[Path, dict[str, str]],
                                                                example_output: Path) -> None:
    """The operator makes an attempt's rows just after its Job; if they never come, the sidecar retries the
    look-up within its budget, then reports an infrastructure failure (the attempt is retried) and ingests
    nothing."""
    out, env = attempt_env
    shutil.copytree(example_output, out, dirs_exist_ok=True)
    env["DIAGNOSTIC_ATTEMPT"] = "2"  # the fixture made attempt 1 only
    stream = io.StringIO()
    assert sc.run(env, quick(out.parent), stream) == 1
    s = read_summary(Path(env["DIAGNOSTIC_TERMINATION_LOG"]).read_text())
    assert s.log_published and not s.ingested
    assert s.infrastructure_error and "attempt 2 of execution" in s.infrastructure_error
    assert "is not in the database (yet)" in s.infrastructure_error
    assert any(e["event"] == "retry" for e in events(stream))


def test_no_exit_record_still_publishes_the_log(attempt_env: tuple[Path, dict[str, str]]) -> None:
    out, env = attempt_env
    (out / LOG_FILE).write_text("allocating...\nKilled\n")  # the shim's trace; the shim died with the runner
    stream = io.StringIO()
    assert sc.run(env, quick(out.parent), stream) == 0
    s = read_summary(Path(env["DIAGNOSTIC_TERMINATION_LOG"]).read_text())
    assert not s.exit_record_present and s.log_published and not s.ingested
    ended = next(e for e in events(stream) if e["event"] == "runner-ended")
    assert ended["reason"] == sc.RUNNER_GONE
    assert any(e["event"] == "no-exit-record" for e in events(stream))


def test_a_failed_attempt_keeps_its_files_as_partial_and_ingests_nothing(
        attempt_env: tuple[Path, dict[str, str]], example_output: Path) -> None:
    """Valid bundles from an attempt that exited 3: published under partial/, recorded as partial rows, never
    ingested as values; a replay uploads and inserts nothing new."""
    out, env = attempt_env
    shutil.copytree(example_output, out, dirs_exist_ok=True)
    record = json.loads((out / EXIT_RECORD_FILE).read_text())
    (out / EXIT_RECORD_FILE).write_text(json.dumps({**record, "exitCode": 3, "cpuSeconds": 4.25}))
    made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                  if p.is_file() and not p.is_symlink() and p.name != LOG_FILE and ".diagnostic-operator" not in p.parts)
    env["DIAGNOSTIC_PUBLISH_BUDGET_SECONDS"] = "120"
    stream = io.StringIO()
    assert sc.run(env, quick(out.parent), stream) == 0
    s = read_summary(Path(env["DIAGNOSTIC_TERMINATION_LOG"]).read_text())
    assert s.exit_code == 3 and s.log_published and not s.ingested and s.bundle_error is None
    assert s.cpu_seconds == 4.25 and '"cpuSeconds":4.25' in Path(env["DIAGNOSTIC_TERMINATION_LOG"]).read_text()
    assert (s.partial_files, s.partial_skipped) == (len(made), 0) and len(made) >= 8
    published = next(e for e in events(stream) if e["event"] == "published")
    assert published["partialFiles"] == len(made)
    store = LocalStore(Path(env["DIAGNOSTIC_OPERATOR_STORE_URL"]))
    prefix = attempt_prefix("science", "gmst", env["DIAGNOSTIC_EXECUTION_UID"], 1)
    assert store.list_keys(f"{prefix}/partial/") == [f"{prefix}/partial/{p}" for p in made]
    assert store.list_keys(f"{prefix}/outputs/") == []
    assert sorted(store.list_keys(f"{prefix}/")) == sorted(
        [f"{prefix}/out.log", f"{prefix}/exit.json"] + [f"{prefix}/partial/{p}" for p in made])
    engine = create_engine_for(env["DIAGNOSTIC_OPERATOR_DATABASE_URL"])
    try:
        def rows() -> list[tuple[str, bool]]:
            with engine.connect() as conn:
                return sorted((r.filename, bool(r.partial)) for r in conn.execute(select(Output)))
        assert rows() == [(p, True) for p in made]
        execution_id, _ = resolve_attempt(engine, env["DIAGNOSTIC_EXECUTION_UID"], 1)
        assert count_rows(engine, execution_id) == IngestCounts()
        detail = get_execution(engine, env["DIAGNOSTIC_EXECUTION_UID"])
        assert detail is not None and detail.attempts[0].partial_files == len(made)
        assert sc.run(env, quick(out.parent), io.StringIO()) == 0  # a replay
        again = read_summary(Path(env["DIAGNOSTIC_TERMINATION_LOG"]).read_text())
        assert again.partial_files == len(made) and rows() == [(p, True) for p in made]
    finally:
        engine.dispose()


def test_a_bare_runner_that_left_nothing(attempt_env: tuple[Path, dict[str, str]]) -> None:
    out, env = attempt_env
    stream = io.StringIO()
    options = quick(out.parent)
    options.start_timeout = 0.05
    assert sc.run(env, options, stream) == 0
    s = read_summary(Path(env["DIAGNOSTIC_TERMINATION_LOG"]).read_text())
    assert not s.exit_record_present and not s.log_published and not s.ingested


def test_an_unreachable_database_is_an_infrastructure_failure(attempt_env: tuple[Path, dict[str, str]],
                                                              example_output: Path) -> None:
    out, env = attempt_env
    shutil.copytree(example_output, out, dirs_exist_ok=True)
    env["DIAGNOSTIC_OPERATOR_DATABASE_URL"] = "postgresql://ingest:pw-hunter22@127.0.0.1:1/nothing"
    stream = io.StringIO()
    assert sc.run(env, quick(out.parent), stream) == 1
    s = read_summary(Path(env["DIAGNOSTIC_TERMINATION_LOG"]).read_text())
    assert s.infrastructure_error and s.log_published and not s.ingested
    assert "pw-hunter22" not in stream.getvalue()
    assert "pw-hunter22" not in Path(env["DIAGNOSTIC_TERMINATION_LOG"]).read_text()
    assert any(e["event"] == "retry" for e in events(stream))
