"""The runner shim (runtime/shim.sh) under dash and under busybox sh.

busybox is not installed by these tests: the busybox cases skip unless `busybox` is on PATH
(`apt-get install -y busybox`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from diagnostic_operator.contracts.exit_record import (
    EXIT_RECORD_FILE,
    HEARTBEAT_FILE,
    LOG_FILE,
    SCHEMA,
    ExitRecord,
    read_exit_record,
)
from diagnostic_operator.runtime.shim import read_heartbeat_age, shim_path

SHIM = shim_path()
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SHIM_KEYS = {
    "schema", "exitCode", "signal", "timedOut", "deadlineSeconds", "forwardedSignal", "startedAt",
    "endedAt", "wallSeconds", "peakMemoryBytes", "peakMemorySource", "memoryLimitBytes", "oomKills", "cpuSeconds",
    "logBytes", "shimVersion",
}
BUSYBOX = shutil.which("busybox")
NO_BUSYBOX = "busybox is not installed (the test command must run `apt-get install -y busybox`)"

SHELLS = [
    pytest.param(["dash"], id="dash",
                 marks=pytest.mark.skipif(shutil.which("dash") is None, reason="dash is not installed")),
    pytest.param([BUSYBOX or "busybox", "sh"], id="busybox",
                 marks=pytest.mark.skipif(BUSYBOX is None, reason=NO_BUSYBOX)),
]


@pytest.fixture(params=SHELLS)
def shell(request: pytest.FixtureRequest) -> list[str]:
    return list(request.param)


def _default_signals() -> None:
    # the shim must see TERM/INT/HUP with their default dispositions, whatever pytest's parent ignored
    # (nohup, a background job); preexec_fn is fine here: the tests start no threads
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _env(out: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIAGNOSTIC_")}
    env["DIAGNOSTIC_OUTPUT_DIR"] = str(out)
    env.update(extra or {})
    return env


def run_shim(shell: Sequence[str], out: Path, cmd: Sequence[str], opts: Sequence[str] = (),
             env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*shell, str(SHIM), *opts, "--", *cmd], env=_env(out, env), capture_output=True,
                          timeout=timeout, preexec_fn=_default_signals, check=False)


def start_shim(shell: Sequence[str], out: Path, cmd: Sequence[str], opts: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*shell, str(SHIM), *opts, "--", *cmd], env=_env(out), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_default_signals)  # noqa: PLW1509


def record_of(out: Path) -> ExitRecord:
    raw = json.loads((out / EXIT_RECORD_FILE).read_text(encoding="utf-8"))
    assert set(raw) == SHIM_KEYS
    rec = read_exit_record(out)
    assert rec is not None
    return rec


def wait_for(predicate: Callable[[], bool], timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def log_has(out: Path, text: bytes) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return text in (out / LOG_FILE).read_bytes()
        except FileNotFoundError:
            return False
    return check


def process_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


# ------------------------------------------------------------------------------------------------ basics


def test_exit_zero_writes_a_valid_record(shell: list[str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_shim(shell, out, ["sh", "-c", "echo hello"])
    assert proc.returncode == 0, proc.stderr
    rec = record_of(out)
    assert rec.schema_ == SCHEMA
    assert rec.exit_code == 0
    assert rec.signal is None
    assert rec.timed_out is False
    assert rec.deadline_seconds is None
    assert rec.forwarded_signal is None
    assert rec.succeeded
    assert rec.shim_version == "1.1.0"
    assert rec.started_at is not None and ISO.match(rec.started_at)
    assert rec.ended_at is not None and ISO.match(rec.ended_at)
    assert rec.started_at <= rec.ended_at
    assert rec.wall_seconds is not None and 0 <= rec.wall_seconds < 5
    # sub-second precision from /proc/uptime: two decimals
    assert re.search(r'"wallSeconds": \d+\.\d\d,', (out / EXIT_RECORD_FILE).read_text())
    assert rec.log_bytes == (out / LOG_FILE).stat().st_size == len(b"hello\n")
    assert rec.peak_memory_source in ("cgroup-v1", "cgroup-v2", None)
    if rec.peak_memory_source is not None:
        assert rec.peak_memory_bytes is not None and rec.peak_memory_bytes > 0


def test_exit_three(shell: list[str], tmp_path: Path) -> None:
    proc = run_shim(shell, tmp_path, ["sh", "-c", "exit 3"])
    assert proc.returncode == 3
    rec = record_of(tmp_path)
    assert (rec.exit_code, rec.signal, rec.timed_out, rec.succeeded) == (3, None, False, False)


def test_command_not_found_is_127(shell: list[str], tmp_path: Path) -> None:
    proc = run_shim(shell, tmp_path, ["no-such-command-xyz", "arg"])
    assert proc.returncode == 127
    assert record_of(tmp_path).exit_code == 127
    assert b"no-such-command-xyz: command not found" in (tmp_path / LOG_FILE).read_bytes()


def test_not_executable_path_is_126(shell: list[str], tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("echo never\n")
    script.chmod(0o644)
    proc = run_shim(shell, tmp_path / "out", [str(script)])
    assert proc.returncode == 126
    assert record_of(tmp_path / "out").exit_code == 126


def test_output_goes_to_log_and_stdout(shell: list[str], tmp_path: Path) -> None:
    proc = run_shim(shell, tmp_path, ["sh", "-c", "echo to-stdout; echo to-stderr >&2; echo again"])
    assert proc.returncode == 0
    log = (tmp_path / LOG_FILE).read_bytes()
    assert log == b"to-stdout\nto-stderr\nagain\n"  # one stream, in order
    assert proc.stdout == log  # the command's stderr reaches the shim's stdout too (kubectl logs)
    assert proc.stderr == b""


def test_large_output_is_drained_before_the_record(shell: list[str], tmp_path: Path) -> None:
    script = 'i=0; while [ $i -lt 20000 ]; do echo "line $i of the output"; i=$((i+1)); done; exit 7'
    proc = run_shim(shell, tmp_path, ["sh", "-c", script])
    assert proc.returncode == 7
    log = (tmp_path / LOG_FILE).read_bytes()
    lines = log.splitlines()
    assert len(lines) == 20000
    assert lines[-1] == b"line 19999 of the output"
    assert record_of(tmp_path).log_bytes == len(log)
    assert proc.stdout == log


def test_special_characters_in_args_and_output(shell: list[str], tmp_path: Path) -> None:
    args = ['sp ace', 'quo"te', "s'q", "back\\slash", "new\nline", "$HOME", "*", "tab\there", "ünï€", "-n", ""]
    proc = run_shim(shell, tmp_path, ["sh", "-c", 'printf "[%s]\\n" "$@"; printf "\\001\\033[1m\\377\\n"', "x", *args])
    assert proc.returncode == 0
    expected = b"".join(b"[" + a.encode() + b"]\n" for a in args) + b"\x01\x1b[1m\xff\n"
    assert (tmp_path / LOG_FILE).read_bytes() == expected
    assert proc.stdout == expected
    record_of(tmp_path)


def test_output_dir_is_created_exported_and_cwd(shell: list[str], tmp_path: Path) -> None:
    out = tmp_path / "a" / "b c" / "out"
    proc = run_shim(shell, out, ["sh", "-c", 'pwd; echo "$DIAGNOSTIC_OUTPUT_DIR"; echo data > file.txt'])
    assert proc.returncode == 0
    assert (out / LOG_FILE).read_text().splitlines() == [str(out), str(out)]
    assert (out / "file.txt").read_text() == "data\n"
    record_of(out)


def test_record_is_atomic_and_leaves_no_temp_files(shell: list[str], tmp_path: Path) -> None:
    state = tmp_path / ".diagnostic-operator"
    state.mkdir()
    (state / "exit.json").write_text('{"stale": true}')  # a previous run's record is replaced
    proc = run_shim(shell, tmp_path, ["sh", "-c", "sleep 1.2"], opts=["--heartbeat", "1", "--deadline", "30"])
    assert proc.returncode == 0
    assert sorted(p.name for p in state.iterdir()) == ["exit.json", "heartbeat"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".diagnostic-operator", "out.log"]
    assert record_of(tmp_path).exit_code == 0


def test_usage_errors_exit_125(shell: list[str], tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DIAGNOSTIC_")}
    no_dir = subprocess.run([*shell, str(SHIM), "--", "true"], env=base, capture_output=True, check=False)
    assert no_dir.returncode == 125
    assert b"DIAGNOSTIC_OUTPUT_DIR" in no_dir.stderr
    assert run_shim(shell, tmp_path, ["true"], opts=["--deadline", "abc"]).returncode == 125
    assert run_shim(shell, tmp_path, [], opts=["--grace", "1"]).returncode == 125
    assert run_shim(shell, tmp_path, ["true"], opts=["--bogus"]).returncode == 125
    assert not (tmp_path / EXIT_RECORD_FILE).exists()


def test_exit_status_above_128_reads_as_a_signal(shell: list[str], tmp_path: Path) -> None:
    # sh reports "killed by SIGKILL" and "exit 137" alike: both record signal 9
    proc = run_shim(shell, tmp_path / "k", ["sh", "-c", "kill -KILL $$"])
    assert proc.returncode == 137
    assert (record_of(tmp_path / "k").exit_code, record_of(tmp_path / "k").signal) == (137, 9)
    proc = run_shim(shell, tmp_path / "e", ["sh", "-c", "exit 137"])
    assert proc.returncode == 137
    assert record_of(tmp_path / "e").signal == 9


# ------------------------------------------------------------------------------------------------ signals


TRAPPING = 'trap "echo got-{sig}; exit {code}" {sig}; echo ready; while :; do sleep 0.05; done'


@pytest.mark.parametrize(("sig", "name", "code"), [(signal.SIGTERM, "TERM", 143), (signal.SIGHUP, "HUP", 129)])
def test_signal_is_forwarded(shell: list[str], tmp_path: Path, sig: signal.Signals, name: str, code: int) -> None:
    proc = start_shim(shell, tmp_path, ["sh", "-c", TRAPPING.format(sig=name, code=code)])
    try:
        wait_for(log_has(tmp_path, b"ready"))
        proc.send_signal(sig)
        stdout, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == code
    assert f"got-{name}".encode() in stdout
    rec = record_of(tmp_path)
    assert rec.forwarded_signal == name
    assert (rec.exit_code, rec.signal, rec.timed_out) == (code, code - 128, False)


def test_int_reaches_a_command_that_sh_started_with_int_ignored(shell: list[str], tmp_path: Path) -> None:
    # sh starts background commands with SIGINT ignored; the shim sends TERM instead and says so
    proc = start_shim(shell, tmp_path, ["sh", "-c", TRAPPING.format(sig="TERM", code=143)])
    try:
        wait_for(log_has(tmp_path, b"ready"))
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 143
    rec = record_of(tmp_path)
    assert (rec.forwarded_signal, rec.exit_code) == ("INT", 143)
    assert b"received SIGINT: sending SIGTERM" in (tmp_path / LOG_FILE).read_bytes()


def test_signal_storm_as_the_command_ends_keeps_its_status(shell: list[str], tmp_path: Path) -> None:
    # signals that land just as the command exits must not turn its status into 128+sig or 127
    # (busybox and dash each got this wrong in a different way before the shim handled it)
    for i in range(6):
        out = tmp_path / str(i)
        proc = start_shim(shell, out, ["sh", "-c", "trap '' HUP; echo s; sleep 0.1; exit 7"])
        try:
            wait_for(log_has(out, b"s\n"))
            while proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGHUP)
                time.sleep(0.003)
            proc.communicate(timeout=10)
        finally:
            proc.kill()
        assert proc.returncode == 7, i
        rec = record_of(out)
        assert (rec.exit_code, rec.forwarded_signal) == (7, "HUP"), i


# ------------------------------------------------------------------------------------------------ deadline


def test_deadline_terminates_the_command(shell: list[str], tmp_path: Path) -> None:
    t0 = time.monotonic()
    proc = run_shim(shell, tmp_path, ["sh", "-c", "echo start; sleep 30"], opts=["--deadline", "1", "--grace", "5"])
    elapsed = time.monotonic() - t0
    assert proc.returncode == 143
    assert elapsed < 4
    rec = record_of(tmp_path)
    assert rec.timed_out is True
    assert rec.deadline_seconds == 1
    assert (rec.exit_code, rec.signal) == (143, 15)
    assert rec.wall_seconds is not None and 1 <= rec.wall_seconds < 4
    assert b"deadline of 1s reached" in (tmp_path / LOG_FILE).read_bytes()


def test_deadline_kills_a_command_that_ignores_term(shell: list[str], tmp_path: Path) -> None:
    script = 'trap "" TERM; sleep 30 & echo $! > sleeper.pid; wait'
    t0 = time.monotonic()
    proc = run_shim(shell, tmp_path, ["sh", "-c", script], opts=["--deadline", "1", "--grace", "1"])
    elapsed = time.monotonic() - t0
    assert proc.returncode == 137
    assert elapsed < 5
    rec = record_of(tmp_path)
    assert (rec.timed_out, rec.exit_code, rec.signal) == (True, 137, 9)
    log = (tmp_path / LOG_FILE).read_bytes()
    assert b"sending KILL" in log
    # the command's whole process group went, not just its first process
    assert not process_running(int((tmp_path / "sleeper.pid").read_text()))


def test_deadline_from_env_and_flag_wins(shell: list[str], tmp_path: Path) -> None:
    env = {"DIAGNOSTIC_DEADLINE_SECONDS": "1", "DIAGNOSTIC_GRACE_SECONDS": "1"}
    proc = run_shim(shell, tmp_path / "env", ["sleep", "30"], env=env)
    assert proc.returncode == 143
    rec = record_of(tmp_path / "env")
    assert (rec.timed_out, rec.deadline_seconds) == (True, 1)
    proc = run_shim(shell, tmp_path / "flag", ["sleep", "1.5"], opts=["--deadline", "30"], env=env)
    assert proc.returncode == 0
    rec = record_of(tmp_path / "flag")
    assert (rec.timed_out, rec.deadline_seconds) == (False, 30)


def test_stray_background_processes_do_not_hang_the_shim(shell: list[str], tmp_path: Path) -> None:
    # the command leaves a child holding its stdout; the shim ends it instead of waiting for EOF forever
    script = "sleep 60 & echo $! > stray.pid; echo left-a-stray"
    t0 = time.monotonic()
    proc = run_shim(shell, tmp_path, ["sh", "-c", script], opts=["--grace", "2"], timeout=20)
    assert proc.returncode == 0
    assert time.monotonic() - t0 < 5
    assert not process_running(int((tmp_path / "stray.pid").read_text()))
    assert b"processes of its group remain" in (tmp_path / LOG_FILE).read_bytes()


# ------------------------------------------------------------------------------------------------ heartbeat


def test_heartbeat_is_updated_while_running(shell: list[str], tmp_path: Path) -> None:
    proc = start_shim(shell, tmp_path, ["sh", "-c", "echo ready; sleep 2.6"], opts=["--heartbeat", "1"])
    hb = tmp_path / HEARTBEAT_FILE
    seen: set[int] = set()
    try:
        end = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < end:
            # not written yet is fine; a partial file is not (it is replaced with mv): int() would fail
            with contextlib.suppress(FileNotFoundError):
                seen.add(int(hb.read_text().strip()))
            age = read_heartbeat_age(tmp_path)
            if age is not None:
                assert age < 2.5
            time.sleep(0.05)
        proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert len(seen) >= 2, seen  # written at least twice, one second apart
    assert all(abs(v - time.time()) < 30 for v in seen)
    assert max(seen) - min(seen) >= 1


def test_read_heartbeat_age(tmp_path: Path) -> None:
    assert read_heartbeat_age(tmp_path) is None
    hb = tmp_path / HEARTBEAT_FILE
    hb.parent.mkdir()
    hb.write_text("123\n")
    os.utime(hb, (1000.0, 1000.0))
    assert read_heartbeat_age(tmp_path, now=1012.5) == 12.5
    assert read_heartbeat_age(tmp_path, now=900.0) == 0.0


def test_shim_path_is_the_packaged_file() -> None:
    assert SHIM.name == "shim.sh"
    assert SHIM.read_text().startswith("#!/bin/sh\n")


# ------------------------------------------------------------------------------------------------ cgroup parsing


def _fake_v2(root: Path, peak: str, limit: str, oom: int) -> None:
    root.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory\n")
    (root / "memory.peak").write_text(peak + "\n")
    (root / "memory.max").write_text(limit + "\n")
    (root / "memory.events").write_text(f"low 0\nhigh 0\nmax 3\noom {oom}\noom_kill {oom}\n")


def test_cgroup_v2_is_read_and_oom_kills_are_a_delta(shell: list[str], tmp_path: Path) -> None:
    root = tmp_path / "cg"
    _fake_v2(root, "52428800", "max", 2)
    bump = f"printf 'oom 3\\noom_kill 3\\n' > '{root}/memory.events'"  # one OOM kill during the run
    proc = run_shim(shell, tmp_path / "out", ["sh", "-c", bump], env={"DIAGNOSTIC_CGROUP_ROOT": str(root)})
    assert proc.returncode == 0
    rec = record_of(tmp_path / "out")
    assert (rec.peak_memory_source, rec.peak_memory_bytes, rec.memory_limit_bytes, rec.oom_kills) == (
        "cgroup-v2", 52428800, None, 1)
    assert not rec.succeeded  # an OOM kill inside the cgroup is never a success


def test_cgroup_v2_limit_and_missing_peak(shell: list[str], tmp_path: Path) -> None:
    root = tmp_path / "cg"
    _fake_v2(root, "0", "1073741824", 0)
    (root / "memory.peak").unlink()  # kernels before 5.19 have no memory.peak
    proc = run_shim(shell, tmp_path / "out", ["true"], env={"DIAGNOSTIC_CGROUP_ROOT": str(root)})
    assert proc.returncode == 0
    rec = record_of(tmp_path / "out")
    assert (rec.peak_memory_source, rec.peak_memory_bytes, rec.memory_limit_bytes, rec.oom_kills) == (
        None, None, 1073741824, 0)


def test_cgroup_v1_falls_back_to_the_mount_root(shell: list[str], tmp_path: Path) -> None:
    mem = tmp_path / "cg" / "memory"  # no directory for /proc/self/cgroup's path: the namespace root is used
    mem.mkdir(parents=True)
    (mem / "memory.max_usage_in_bytes").write_text("12345678\n")
    (mem / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # unlimited
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    proc = run_shim(shell, tmp_path / "out", ["true"], env={"DIAGNOSTIC_CGROUP_ROOT": str(tmp_path / "cg")})
    assert proc.returncode == 0
    rec = record_of(tmp_path / "out")
    assert (rec.peak_memory_source, rec.peak_memory_bytes, rec.memory_limit_bytes, rec.oom_kills) == (
        "cgroup-v1", 12345678, None, 0)
    (mem / "memory.limit_in_bytes").write_text("67108864\n")
    (mem / "memory.oom_control").write_text("garbage\n")  # unreadable counter -> null, not a crash
    proc = run_shim(shell, tmp_path / "out2", ["true"], env={"DIAGNOSTIC_CGROUP_ROOT": str(tmp_path / "cg")})
    assert proc.returncode == 0
    rec = record_of(tmp_path / "out2")
    assert (rec.memory_limit_bytes, rec.oom_kills) == (67108864, None)


def test_cgroup_v2_cpu_seconds_are_the_delta_while_the_command_ran(shell: list[str], tmp_path: Path) -> None:
    root = tmp_path / "cg"
    _fake_v2(root, "1", "max", 0)
    (root / "cpu.stat").write_text("usage_usec 0500000\nuser_usec 400000\nsystem_usec 100000\n")
    bump = f"printf 'usage_usec 3754321\\nuser_usec 1\\n' > '{root}/cpu.stat'"  # 3.254321 s used meanwhile
    proc = run_shim(shell, tmp_path / "out", ["sh", "-c", bump], env={"DIAGNOSTIC_CGROUP_ROOT": str(root)})
    assert proc.returncode == 0
    assert record_of(tmp_path / "out").cpu_seconds == 3.254
    (root / "cpu.stat").write_text("user_usec 1\n")  # no usage line: unknown, not zero
    run_shim(shell, tmp_path / "out2", ["true"], env={"DIAGNOSTIC_CGROUP_ROOT": str(root)})
    assert record_of(tmp_path / "out2").cpu_seconds is None


@pytest.mark.parametrize("hierarchy", ["cpuacct", "cpu,cpuacct"])
def test_cgroup_v1_cpu_seconds_from_cpuacct(shell: list[str], tmp_path: Path, hierarchy: str) -> None:
    mem = tmp_path / "cg" / "memory"
    mem.mkdir(parents=True)
    (mem / "memory.max_usage_in_bytes").write_text("1\n")
    cpu = tmp_path / "cg" / hierarchy
    cpu.mkdir()
    (cpu / "cpuacct.usage").write_text("1000000000\n")  # nanoseconds
    bump = f"echo 1045000000 > '{cpu}/cpuacct.usage'"  # 45 ms used meanwhile
    proc = run_shim(shell, tmp_path / "out", ["sh", "-c", bump], env={"DIAGNOSTIC_CGROUP_ROOT": str(tmp_path / "cg")})
    assert proc.returncode == 0
    assert record_of(tmp_path / "out").cpu_seconds == 0.045


def test_no_cgroup_gives_nulls(shell: list[str], tmp_path: Path) -> None:
    proc = run_shim(shell, tmp_path / "out", ["true"], env={"DIAGNOSTIC_CGROUP_ROOT": str(tmp_path / "none")})
    assert proc.returncode == 0
    rec = record_of(tmp_path / "out")
    assert (rec.peak_memory_source, rec.peak_memory_bytes, rec.memory_limit_bytes, rec.oom_kills, rec.cpu_seconds) == (
        None, None, None, None, None)


# ------------------------------------------------------------------------------------------------ minimal images

APPLETS = ["sh", "mkdir", "rm", "mv", "mkfifo", "tee", "sleep", "setsid", "date", "wc"]


@pytest.fixture
def busybox_bin(tmp_path: Path) -> Iterator[Callable[[Sequence[str]], Path]]:
    if BUSYBOX is None:
        pytest.skip(NO_BUSYBOX)

    def make(applets: Sequence[str]) -> Path:
        d = tmp_path / ("bin-" + "-".join(applets))
        d.mkdir()
        for name in applets:
            (d / name).symlink_to(BUSYBOX)
        return d

    yield make


def test_runs_with_only_busybox_applets(busybox_bin: Callable[[Sequence[str]], Path], tmp_path: Path) -> None:
    bindir = busybox_bin(APPLETS)
    out = tmp_path / "out"
    env = {"PATH": str(bindir), "DIAGNOSTIC_OUTPUT_DIR": str(out)}
    proc = subprocess.run([str(bindir / "sh"), str(SHIM), "--deadline", "10", "--heartbeat", "1", "--",
                           "sh", "-c", "echo hi; echo err >&2; sleep 1.3; exit 5"],
                          env=env, capture_output=True, timeout=30, check=False)
    assert proc.returncode == 5, proc.stderr
    assert proc.stdout == b"hi\nerr\n"
    assert (out / LOG_FILE).read_bytes() == b"hi\nerr\n"
    rec = record_of(out)
    assert (rec.exit_code, rec.timed_out, rec.deadline_seconds, rec.log_bytes) == (5, False, 10, 7)
    assert rec.started_at is not None and ISO.match(rec.started_at)
    assert int((out / HEARTBEAT_FILE).read_text()) > 1_600_000_000
    assert sorted(p.name for p in (out / ".diagnostic-operator").iterdir()) == ["exit.json", "heartbeat"]


def test_degrades_with_only_sh_and_mkdir(busybox_bin: Callable[[Sequence[str]], Path], tmp_path: Path) -> None:
    bindir = busybox_bin(["sh", "mkdir"])
    out = tmp_path / "out"
    env = {"PATH": str(bindir), "DIAGNOSTIC_OUTPUT_DIR": str(out)}
    proc = subprocess.run([str(bindir / "sh"), str(SHIM), "--deadline", "10", "--",
                           "sh", "-c", "echo only-in-the-log; exit 4"],
                          env=env, capture_output=True, timeout=30, check=False)
    assert proc.returncode == 4
    assert b"only-in-the-log" not in proc.stdout  # no tee: the log goes to out.log only
    assert b"mkfifo or tee missing" in proc.stderr
    assert b"only-in-the-log\n" in (out / LOG_FILE).read_bytes()
    rec = record_of(out)
    assert (rec.exit_code, rec.started_at, rec.ended_at, rec.log_bytes) == (4, None, None, None)
    assert rec.deadline_seconds is None  # no sleep: no deadline was enforced, so none is claimed
    assert rec.wall_seconds is not None  # /proc/uptime needs no tool


def test_shell_is_posix_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install -y shellcheck)")
    proc = subprocess.run(["shellcheck", "-s", "sh", str(SHIM)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
