"""Show the site's host folders to a local diagnostic at the spec's mount paths, as a Pod would see them.

Climate-REF-style diagnostics need the same absolute paths everywhere, so a local run cannot just pass the
host folder's name. Where the platform allows it, each attempt runs in a private mount namespace::

    unshare --mount --propagation private -- /bin/sh -c WRAPPER ... -- setpriv ... -- /bin/sh shim.sh ...

The wrapper bind-mounts each host folder at its mount path (parents first, so nested mounts work),
remounts the read-only ones read-only, and execs the shim without CAP_SYS_ADMIN, so the diagnostic cannot
undo a read-only mount. Every step execs, so the shim keeps the spawned process's pid (the interrupt's
SIGTERM and the process-group kill reach it) and its memory cgroup or RLIMIT_AS (set before the first
exec). The mounts live only in that namespace: the host's mount table is never touched, and they vanish
with the attempt's last process. The mount points are created on the host beforehand (an empty folder,
or an empty file for a file), as the kubelet creates them in a container; they are left in place.

Not root: the same in a user namespace (``unshare --user --map-root-user``): the diagnostic runs as root of
that namespace, which is the invoking user outside it. Where neither works (no ``unshare``, no ``mount``,
or the kernel refuses the namespace), a spec with mounts runs only if each host folder already is its
mount path; read-only is then not enforced (``Plan.unenforced``). Otherwise the run is refused.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from diagnostic_operator.transports.local_site import Bind, mount_points

#: Left in the attempt's output folder before the spawn, emptied by the wrapper once it runs: a non-empty
#: file after an attempt without an exit record says why the shim never started.
MOUNT_ERROR_FILE = ".mounts.err"
NAMESPACE_FAILED = "the mount namespace could not be created (unshare failed before the mounts)"

# $1 error file, $2 number of binds, then HOST PATH ro|rw per bind, then the command. POSIX sh, no bashisms.
WRAPPER = r"""
err=$1; n=$2; shift 2
: >"$err" || exit 125
while [ "$n" -gt 0 ]; do
    host=$1; path=$2; mode=$3; shift 3; n=$((n - 1))
    if ! out=$(mount --bind -- "$host" "$path" 2>&1); then
        printf 'cannot mount %s at %s: %s\n' "$host" "$path" "$out" >"$err"; exit 125
    fi
    if [ "$mode" = ro ] && ! out=$(mount -o remount,bind,ro -- "$path" 2>&1); then
        printf 'cannot make %s read-only: %s\n' "$path" "$out" >"$err"; exit 125
    fi
done
exec "$@"
"""

Kind = Literal["none", "namespace", "in-place", "refused"]


@dataclass(frozen=True, slots=True)
class Platform:
    """What this machine offers for the mounts: the tools, and a namespace command that worked."""

    unshare: str | None
    mount: str | None
    setpriv: str | None
    namespace: tuple[str, ...] | None  # the unshare command that created a mount namespace here, or None
    why_not: str | None = None         # why no namespace command worked


@dataclass(frozen=True, slots=True)
class Plan:
    kind: Kind
    binds: tuple[Bind, ...] = ()
    namespace: tuple[str, ...] = ()
    setpriv: str | None = None
    refusal: str | None = None
    unenforced: tuple[Bind, ...] = ()  # read-only mounts that stay writable (in-place)


def namespace_commands(unshare: str, root: bool) -> list[tuple[str, ...]]:
    """The unshare commands to try, in order: root creates a mount namespace directly (and, where that is
    refused, as in a container without CAP_SYS_ADMIN, tries a user namespace too); others need a user
    namespace, in which they are root."""
    plain = (unshare, "--mount", "--propagation", "private")
    user = (unshare, "--user", "--map-root-user", "--mount", "--propagation", "private")
    return [plain, user] if root else [user]


def plan(planned: Sequence[Bind], platform: Platform, identical: Collection[str]) -> Plan:
    """How to show ``planned`` to the diagnostic here. ``identical``: the mount paths whose host folder
    already is the mount path (the same folder on the host)."""
    if not planned:
        return Plan("none")
    if platform.namespace is not None and platform.mount is not None:
        return Plan("namespace", tuple(planned), platform.namespace, platform.setpriv)
    if all(bind.path in identical for bind in planned):
        return Plan("in-place", tuple(planned), unenforced=tuple(b for b in planned if b.read_only))
    if platform.unshare is None:
        why = "`unshare` (util-linux) is not installed"
    elif platform.mount is None:
        why = "`mount` is not installed"
    else:
        why = platform.why_not or "the kernel refused a mount namespace"
    elsewhere = "; ".join(f"{b.field} ({b.volume!r}): the host folder {b.host!r} is not {b.path!r}"
                          for b in planned if b.path not in identical)
    return Plan("refused", tuple(planned), refusal=(
        f"This machine cannot show the site's folders at the spec's mount paths: {why}, so a run can only use "
        f"volumes whose `local` folder is their mount path ({elsewhere}). Run as root, allow user namespaces, "
        "or set each `local` folder to the mount path."))


def command(chosen: Plan, error_file: Path, shim: Sequence[str]) -> list[str]:
    """The argv that runs ``shim`` with ``chosen``'s mounts in place."""
    if chosen.kind != "namespace":
        return list(shim)
    args = [str(error_file), str(len(chosen.binds))]
    for bind in chosen.binds:
        args += [bind.host, bind.path, "ro" if bind.read_only else "rw"]
    drop = [chosen.setpriv, "--bounding-set", "-sys_admin", "--inh-caps", "-sys_admin", "--"] if chosen.setpriv else []
    return [*chosen.namespace, "--", "/bin/sh", "-c", WRAPPER, "diagnostic-operator-mounts", *args, *drop, *shim]


# ------------------------------------------------------------------------------------------------ I/O


@functools.cache
def detect() -> Platform:
    """This machine's tools, and the first namespace command that works (tried once per process: a
    fork and exec of ``unshare ... true``, a few milliseconds)."""
    unshare, mount, setpriv = shutil.which("unshare"), shutil.which("mount"), shutil.which("setpriv")
    if unshare is None:
        return Platform(None, mount, setpriv, None)
    why: list[str] = []
    for candidate in namespace_commands(unshare, os.geteuid() == 0):
        try:
            probe = subprocess.run([*candidate, "--", "true"], capture_output=True, text=True, timeout=10,
                                   check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            why.append(f"{' '.join(candidate[1:])}: {exc}")
            continue
        if probe.returncode == 0:
            return Platform(unshare, mount, setpriv, candidate)
        why.append(f"{' '.join(candidate[1:])}: {probe.stderr.strip() or f'exit {probe.returncode}'}")
    return Platform(unshare, mount, setpriv, None, "unshare failed (" + "; ".join(why) + ")")


def identical_paths(planned: Sequence[Bind]) -> set[str]:
    """The mount paths whose host folder is already the same folder (or file) as the mount path."""
    same: set[str] = set()
    for bind in planned:
        with contextlib.suppress(OSError):
            if os.path.samefile(bind.host, bind.path):
                same.add(bind.path)
    return same


def prepare(chosen: Plan) -> list[str]:
    """Check every host folder and create every mount point on the host (namespace plans); returns the
    problems, each naming the field. Nothing is mounted here."""
    found: list[str] = []
    for bind in chosen.binds:
        if not os.path.exists(bind.host):
            found.append(f"{bind.field}: the local folder {bind.host!r} of volume {bind.volume!r} does not exist")
    if found or chosen.kind != "namespace":
        return found
    for bind, point in mount_points(chosen.binds):
        try:
            if os.path.isdir(bind.host):
                os.makedirs(point, exist_ok=True)
                if not os.path.isdir(point):
                    raise NotADirectoryError(f"{point} is a file, {bind.host} a folder")
            else:
                os.makedirs(os.path.dirname(point), exist_ok=True)
                if not os.path.exists(point):
                    Path(point).touch()
                if os.path.isdir(point):
                    raise IsADirectoryError(f"{point} is a folder, {bind.host} a file")
        except OSError as exc:
            found.append(f"{bind.field}.mountPath: cannot create the mount point {bind.path!r} on this machine "
                         f"({point}): {exc.strerror or exc}")
    return found


def read_error(error_file: Path) -> str | None:
    """Why the mounts failed, if they did (the wrapper's message, or that it never ran)."""
    try:
        text = error_file.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    return text[:900] or None


__all__ = ["MOUNT_ERROR_FILE", "NAMESPACE_FAILED", "Plan", "Platform", "command", "detect", "identical_paths",
           "namespace_commands", "plan", "prepare", "read_error"]
