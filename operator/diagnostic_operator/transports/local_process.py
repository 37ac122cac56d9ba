"""The processes of a local attempt: what the shim's process does before exec, and how what is left of an
attempt is found and killed (the command leads a session of its own, so the shim's group alone misses it)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from collections.abc import Callable
from pathlib import Path

from diagnostic_operator.transports.memory_limit import MemoryLimit

PR_SET_PDEATHSIG = 1
try:  # loaded here: the child between fork and exec should not load libraries
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - no C library to call
    _LIBC = None

def child_setup(limit: MemoryLimit | None) -> Callable[[], None]:
    """What the shim's process does before exec: join the attempt's memory cgroup, and ask the kernel for a
    TERM when this ``run`` dies (Linux PR_SET_PDEATHSIG): a killed ``run`` does not leave its diagnostic
    running (the shim passes the TERM to the command's group)."""
    def setup() -> None:
        if limit is not None:
            limit.enter()
        if _LIBC is not None:
            with contextlib.suppress(AttributeError):
                _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    return setup


def groups_under(pid: int) -> set[int]:
    """The process groups of ``pid`` and of all its descendants (from /proc): the shim's group and the
    command's, which leads a session of its own."""
    parents: dict[int, int] = {}
    groups: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            child = int(stat.parent.name)
            parents[child], groups[child] = int(fields[1]), int(fields[2])
    found, wanted = set(), {pid}
    changed = True
    while changed:
        changed = False
        for child, parent in parents.items():
            if parent in wanted and child not in wanted:
                wanted.add(child)
                changed = True
    for member in wanted:
        if member in groups:
            found.add(groups[member])
    found.add(pid)
    return found


def kill_rest(limit: MemoryLimit | None, groups: set[int]) -> None:
    """KILL what is left of an attempt: its process groups, and every process of its memory cgroup."""
    for group in groups:
        if group > 1 and group != os.getpgrp():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
    if limit is not None and limit.cgroup is not None:
        with contextlib.suppress(OSError, ValueError):
            for member in (limit.cgroup / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(member), signal.SIGKILL)
