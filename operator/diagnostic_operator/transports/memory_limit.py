"""Memory limits for local runs: a real memory cgroup where the machine allows one, else RLIMIT_AS.

Under a cgroup the kernel OOM-kills the diagnostic at the limit, exactly as in a Kubernetes
container, and the shim reads the OOM kill count from the cgroup. Under RLIMIT_AS a program is
not killed; its allocations fail (``MemoryError``, ``std::bad_alloc``, ``Cannot allocate memory``),
and the classifier treats those words in the log of a limited run as OOM evidence.
"""

from __future__ import annotations

import contextlib
import os
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CGROUP_V1_MEMORY = Path("/sys/fs/cgroup/memory")
CGROUP_V2_CANDIDATES = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))
PARENT = "diagnostic-operator"

Mechanism = Literal["cgroup-v1", "cgroup-v2", "rlimit-as"]


@dataclass
class MemoryLimit:
    mechanism: Mechanism
    limit_bytes: int
    cgroup: Path | None = None

    def enter(self) -> None:
        """Called in the child between fork and exec: join the cgroup or set the rlimit."""
        if self.cgroup is not None:
            (self.cgroup / "cgroup.procs").write_text(str(os.getpid()))
        else:
            resource.setrlimit(resource.RLIMIT_AS, (self.limit_bytes, self.limit_bytes))

    def oom_kills(self) -> int | None:
        """OOM kills the kernel recorded in this attempt's cgroup (None without a cgroup)."""
        if self.cgroup is None:
            return None
        name = "memory.events" if self.mechanism == "cgroup-v2" else "memory.oom_control"
        try:
            for line in (self.cgroup / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            return None
        return 0

    def close(self) -> None:
        """Remove the cgroup (it is empty once the attempt's processes have ended)."""
        if self.cgroup is not None:
            with contextlib.suppress(OSError):
                self.cgroup.rmdir()


def _v2_root() -> Path | None:
    for root in CGROUP_V2_CANDIDATES:
        controllers = root / "cgroup.controllers"
        try:
            if "memory" in controllers.read_text().split() and os.access(root, os.W_OK):
                return root
        except OSError:
            continue
    return None


def _v1_root() -> Path | None:
    probe = CGROUP_V1_MEMORY / "memory.limit_in_bytes"
    if probe.exists() and os.access(CGROUP_V1_MEMORY, os.W_OK):
        return CGROUP_V1_MEMORY
    return None


def create_limit(name: str, limit_bytes: int, prefer: str = "auto") -> MemoryLimit:
    """A fresh limit for one attempt. ``prefer``: auto, cgroup or rlimit."""
    if prefer != "rlimit":
        v2 = _v2_root()
        if v2 is not None:
            try:
                parent = v2 / PARENT
                parent.mkdir(exist_ok=True)
                with contextlib.suppress(OSError):
                    (v2 / "cgroup.subtree_control").write_text("+memory")
                    (parent / "cgroup.subtree_control").write_text("+memory")
                group = parent / name
                group.mkdir(exist_ok=True)
                (group / "memory.max").write_text(str(limit_bytes))
                with contextlib.suppress(OSError):
                    (group / "memory.swap.max").write_text("0")
                return MemoryLimit("cgroup-v2", limit_bytes, group)
            except OSError:
                pass
        v1 = _v1_root()
        if v1 is not None:
            try:
                group = v1 / PARENT / name
                group.mkdir(parents=True, exist_ok=True)
                (group / "memory.limit_in_bytes").write_text(str(limit_bytes))
                with contextlib.suppress(OSError):
                    (group / "memory.swappiness").write_text("0")
                return MemoryLimit("cgroup-v1", limit_bytes, group)
            except OSError:
                pass
        if prefer == "cgroup":
            raise OSError("no writable memory cgroup on this machine (tried cgroup v2 and v1)")
    return MemoryLimit("rlimit-as", limit_bytes)
