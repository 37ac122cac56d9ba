"""The runner shim inside a real cgroup-v1 memory cgroup with a 64 MiB limit (needs root).

Each case makes a fresh cgroup (memory.max_usage_in_bytes is a high-water mark for the cgroup's
lifetime), moves a wrapper shell into it, and execs the shim there, so the shim, its tee and the
command are all charged to that cgroup, as in a container.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from diagnostic_operator.contracts.exit_record import ExitRecord, read_exit_record
from diagnostic_operator.runtime.shim import shim_path

V1_MEMORY = Path("/sys/fs/cgroup/memory")
LIMIT = 64 * 1024 * 1024
MIB = 1024 * 1024


def _why_unusable() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create a memory cgroup"
    if not (V1_MEMORY / "memory.limit_in_bytes").exists():
        return f"no cgroup-v1 memory controller mounted at {V1_MEMORY}"
    probe = V1_MEMORY / f"diagnostic-operator-probe-{uuid.uuid4().hex[:8]}"
    try:
        probe.mkdir()
    except OSError as exc:
        return f"cannot create a child memory cgroup under {V1_MEMORY}: {exc}"
    try:
        (probe / "memory.limit_in_bytes").write_text(str(LIMIT))
    except OSError as exc:
        return f"cannot set memory.limit_in_bytes in {probe}: {exc}"
    finally:
        probe.rmdir()
    return None


REASON = _why_unusable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

SHELLS = [
    pytest.param(["dash"], id="dash",
                 marks=pytest.mark.skipif(shutil.which("dash") is None, reason="dash is not installed")),
    pytest.param(["busybox", "sh"], id="busybox",
                 marks=pytest.mark.skipif(shutil.which("busybox") is None,
                                          reason="busybox is not installed (apt-get install -y busybox)")),
]


@pytest.fixture
def cgroup() -> Iterator[Path]:
    path = V1_MEMORY / f"diagnostic-operator-test-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    try:
        (path / "memory.limit_in_bytes").write_text(str(LIMIT))
        memsw = path / "memory.memsw.limit_in_bytes"
        if memsw.exists():  # no escape into swap: the limit must end in an OOM kill
            memsw.write_text(str(LIMIT))
        yield path
    finally:
        deadline = time.monotonic() + 10
        while True:
            try:
                path.rmdir()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                for pid in (path / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), 9)
                time.sleep(0.1)


def run_in_cgroup(shell: list[str], cgroup: Path, out: Path, code: str) -> tuple[int, ExitRecord]:
    wrapper = 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"'
    env = {**os.environ, "DIAGNOSTIC_OUTPUT_DIR": str(out)}
    proc = subprocess.run(["sh", "-c", wrapper, "wrapper", str(cgroup), *shell, str(shim_path()), "--deadline", "60",
                           "--", sys.executable, "-c", code],
                          env=env, capture_output=True, timeout=60, check=False)
    rec = read_exit_record(out)
    assert rec is not None, proc.stderr
    return proc.returncode, rec


@pytest.mark.parametrize("shell", SHELLS)
def test_oom_kill_is_recorded(shell: list[str], cgroup: Path, tmp_path: Path) -> None:
    code = "b = bytearray(200 * 1024 * 1024)\nprint('survived', flush=True)"
    rc, rec = run_in_cgroup(shell, cgroup, tmp_path, code)
    assert rc == 137
    assert (rec.exit_code, rec.signal, rec.timed_out) == (137, 9, False)
    assert rec.oom_kills is not None and rec.oom_kills >= 1
    assert rec.memory_limit_bytes == LIMIT
    assert rec.peak_memory_source == "cgroup-v1"
    assert rec.peak_memory_bytes is not None and LIMIT - 4 * MIB <= rec.peak_memory_bytes <= LIMIT
    assert not rec.succeeded
    assert b"survived" not in (tmp_path / "out.log").read_bytes()


@pytest.mark.parametrize("shell", SHELLS)
def test_small_allocation_is_not_an_oom(shell: list[str], cgroup: Path, tmp_path: Path) -> None:
    code = "b = bytearray(20 * 1024 * 1024)\nb[::4096] = b'x' * len(b[::4096])\nprint('ok', flush=True)"
    rc, rec = run_in_cgroup(shell, cgroup, tmp_path, code)
    assert rc == 0
    assert (rec.exit_code, rec.signal, rec.oom_kills, rec.timed_out) == (0, None, 0, False)
    assert rec.memory_limit_bytes == LIMIT
    assert rec.peak_memory_source == "cgroup-v1"
    # the 20 MiB buffer plus the interpreter, well under the limit
    assert rec.peak_memory_bytes is not None and 20 * MIB <= rec.peak_memory_bytes < 60 * MIB
    assert rec.succeeded
    assert (tmp_path / "out.log").read_bytes() == b"ok\n"
