"""The mount namespace of a local run: which way a machine shows the site's folders (a table), the command
that does it, and the host-side preparation."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from diagnostic_operator.transports.local_mounts import (
    NAMESPACE_FAILED,
    WRAPPER,
    Plan,
    Platform,
    command,
    namespace_commands,
    plan,
    prepare,
    read_error,
)
from diagnostic_operator.transports.local_site import Bind

RO = Bind("volumes[0]", "cmip", "/data/cmip", "/srv/cmip", True)
RW = Bind("volumes[1]", "out", "/data/out", "/srv/out", False)
NS = ("/usr/bin/unshare", "--mount", "--propagation", "private")
FULL = Platform("/usr/bin/unshare", "/usr/bin/mount", "/usr/bin/setpriv", NS)
NO_UNSHARE = Platform(None, "/usr/bin/mount", None, None)
NO_MOUNT = Platform("/usr/bin/unshare", None, None, NS)
REFUSED = Platform("/usr/bin/unshare", "/usr/bin/mount", None, None, "unshare failed (--user ...: Operation not permitted)")


def test_namespace_commands() -> None:
    assert namespace_commands("/u", root=True) == [
        ("/u", "--mount", "--propagation", "private"),
        ("/u", "--user", "--map-root-user", "--mount", "--propagation", "private")]
    assert namespace_commands("/u", root=False) == [
        ("/u", "--user", "--map-root-user", "--mount", "--propagation", "private")]


@pytest.mark.parametrize(("binds", "platform", "identical", "kind", "unenforced", "why"), [
    ([], NO_UNSHARE, set(), "none", (), None),                                # nothing to mount: nothing needed
    ([RO, RW], FULL, set(), "namespace", (), None),
    ([RO, RW], FULL, {"/data/cmip", "/data/out"}, "namespace", (), None),     # a namespace still enforces ro
    ([RO, RW], NO_UNSHARE, {"/data/cmip", "/data/out"}, "in-place", (RO,), None),
    ([RW], REFUSED, {"/data/out"}, "in-place", (), None),
    ([RO, RW], NO_UNSHARE, {"/data/cmip"}, "refused", (), "`unshare` (util-linux) is not installed"),
    ([RO], NO_MOUNT, set(), "refused", (), "`mount` is not installed"),
    ([RO], REFUSED, set(), "refused", (), "unshare failed (--user ...: Operation not permitted)"),
])
def test_plan(binds: list[Bind], platform: Platform, identical: set[str], kind: str,
              unenforced: tuple[Bind, ...], why: str | None) -> None:
    chosen = plan(binds, platform, identical)
    assert (chosen.kind, chosen.unenforced) == (kind, unenforced)
    if why is None:
        assert chosen.refusal is None
    else:
        assert chosen.refusal is not None and f"mount paths: {why}," in chosen.refusal
        for bind in binds:  # each folder that is not its mount path is named, with its field
            named = f"{bind.field} ({bind.volume!r}): the host folder {bind.host!r} is not {bind.path!r}"
            assert (named in chosen.refusal) is (bind.path not in identical)


def test_command_without_a_namespace_is_the_shim() -> None:
    shim = ["/bin/sh", "shim.sh", "--", "python3", "-m", "x"]
    assert command(Plan("none"), Path("/w/.err"), shim) == shim
    assert command(plan([RO], NO_UNSHARE, {"/data/cmip"}), Path("/w/.err"), shim) == shim


def test_command_in_a_namespace_mounts_then_drops_sys_admin_then_runs_the_shim() -> None:
    shim = ["/bin/sh", "shim.sh", "--", "python3", "-m", "x"]
    argv = command(plan([RO, RW], FULL, set()), Path("/w/.err"), shim)
    assert argv == [*NS, "--", "/bin/sh", "-c", WRAPPER, "diagnostic-operator-mounts", "/w/.err", "2",
                    "/srv/cmip", "/data/cmip", "ro", "/srv/out", "/data/out", "rw",
                    "/usr/bin/setpriv", "--bounding-set", "-sys_admin", "--inh-caps", "-sys_admin", "--", *shim]
    without_setpriv = Platform(FULL.unshare, FULL.mount, None, NS)
    assert command(plan([RW], without_setpriv, set()), Path("/w/.err"), shim)[-len(shim) - 3:] == [
        "/srv/out", "/data/out", "rw", *shim]


def run_wrapper(tmp_path: Path, *args: str) -> tuple[int, str]:
    """The wrapper with `mount` replaced by a recorder (no privilege needed)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "mount").write_text('#!/bin/sh\necho "mount $*" >>"$LOG"\n[ "$FAIL" != "$*" ] || { echo nope >&2; exit 32; }\n')
    (bin_dir / "mount").chmod(0o755)
    err = tmp_path / ".mounts.err"
    err.write_text(NAMESPACE_FAILED)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LOG": str(tmp_path / "log"), "FAIL": args[0]}
    proc = subprocess.run(["/bin/sh", "-c", WRAPPER, "w", str(err), *args[1:]], env=env, capture_output=True,
                          text=True, check=False)
    return proc.returncode, proc.stdout


def test_the_wrapper_mounts_in_order_remounts_read_only_and_execs(tmp_path: Path) -> None:
    code, out = run_wrapper(tmp_path, "", "2", "/h a", "/p a", "ro", "/h b", "/p b", "rw", "echo", "ran", "$HOME")
    assert (code, out) == (0, "ran $HOME\n")
    assert (tmp_path / "log").read_text().splitlines() == [
        "mount --bind -- /h a /p a", "mount -o remount,bind,ro -- /p a", "mount --bind -- /h b /p b"]
    assert read_error(tmp_path / ".mounts.err") is None  # emptied: the namespace exists


def test_a_failed_mount_stops_before_the_command_and_says_why(tmp_path: Path) -> None:
    code, out = run_wrapper(tmp_path, "-o remount,bind,ro -- /p", "1", "/h", "/p", "ro", "echo", "ran")
    assert (code, out) == (125, "")
    assert read_error(tmp_path / ".mounts.err") == "cannot make /p read-only: nope"


def test_read_error(tmp_path: Path) -> None:
    assert read_error(tmp_path / "missing") is None
    (tmp_path / "e").write_text(NAMESPACE_FAILED + "\n")
    assert read_error(tmp_path / "e") == NAMESPACE_FAILED  # left as written: the wrapper never ran


def test_prepare_names_a_missing_local_folder(tmp_path: Path) -> None:
    missing = Bind("volumes[0]", "cmip", "/data/cmip", str(tmp_path / "nope"), True)
    assert prepare(Plan("namespace", (missing,), NS)) == [
        f"volumes[0]: the local folder {str(tmp_path / 'nope')!r} of volume 'cmip' does not exist"]
    assert prepare(Plan("in-place", (missing,))) != []


def test_prepare_creates_mount_points_through_earlier_binds(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "in" / "config.yaml").write_text("a: 1\n")
    root = tmp_path / "root"  # stands for / : the mount paths are made under it
    binds = (Bind("volumes[0]", "in", f"{root}/data", str(tmp_path / "in"), True),
             Bind("volumes[1]", "out", f"{root}/data/out", str(tmp_path / "out"), False),
             Bind("volumes[2]", "in", f"{root}/etc/app.yaml", str(tmp_path / "in" / "config.yaml"), True))
    assert prepare(Plan("namespace", binds, NS)) == []
    assert (root / "data").is_dir()
    assert (tmp_path / "in" / "out").is_dir()           # inside the folder mounted at /data, not at /data/out
    assert not (root / "data" / "out").exists()
    assert (root / "etc" / "app.yaml").is_file()        # a file's mount point is an empty file


def test_prepare_refuses_a_folder_over_a_file(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "taken").write_text("")
    bind = Bind("volumes[0]", "in", str(tmp_path / "taken"), str(tmp_path / "in"), False)
    found = prepare(Plan("namespace", (bind,), NS))
    assert len(found) == 1 and found[0].startswith(f"volumes[0].mountPath: cannot create the mount point {str(tmp_path / 'taken')!r}")
