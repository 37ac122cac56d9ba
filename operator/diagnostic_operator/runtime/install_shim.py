"""The execution Pod's init container: put the runner shim where the runner can run it.

``diagnostic-operator install-shim BIN_DIR OUTPUT_DIR`` (docs/pod-layout.md):

* copies ``shim.sh`` to ``BIN_DIR/shim.sh`` with mode 0755 (written to a temporary file and renamed, so a
  reader never sees half a shim);
* creates ``OUTPUT_DIR`` with mode 0777: the runner may run as any UID and must be able to write there
  (emptyDir volumes are created 0777 already; a plain directory is chmod-ed explicitly, since the umask
  would narrow ``mkdir``'s mode).

Running it again is harmless: an identical shim is left alone, a different one is replaced.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from diagnostic_operator.runtime.shim_file import SHIM_RESOURCE, shim_path

SHIM_MODE = 0o755
OUTPUT_MODE = 0o777


@dataclass(frozen=True, slots=True)
class InstallResult:
    shim: Path
    output_dir: Path
    shim_copied: bool  # False when an identical shim was there already


class InstallError(RuntimeError):
    pass


def install_shim(bin_dir: Path, output_dir: Path, source: Path | None = None) -> InstallResult:
    """Copy the shim into ``bin_dir`` and create ``output_dir`` (mode 0777). Idempotent."""
    src = source or shim_path()
    try:
        content = src.read_bytes()
    except OSError as exc:
        raise InstallError(f"cannot read the runner shim {src}: {exc.strerror or exc}") from None
    target = bin_dir / SHIM_RESOURCE
    try:
        bin_dir.mkdir(parents=True, exist_ok=True)
        copied = _write_if_changed(target, content)
    except OSError as exc:
        raise InstallError(f"cannot install the shim into {bin_dir}: {exc.strerror or exc}") from None
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        if stat.S_IMODE(output_dir.stat().st_mode) != OUTPUT_MODE:
            output_dir.chmod(OUTPUT_MODE)
    except OSError as exc:
        raise InstallError(f"cannot create the output directory {output_dir} (mode 0777): "
                           f"{exc.strerror or exc}") from None
    return InstallResult(target, output_dir, copied)


def _write_if_changed(target: Path, content: bytes) -> bool:
    with contextlib.suppress(OSError):
        if target.read_bytes() == content:
            if stat.S_IMODE(target.stat().st_mode) != SHIM_MODE:
                target.chmod(SHIM_MODE)
            return False
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SHIM_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        tmp.chmod(SHIM_MODE)  # the umask may have narrowed os.open's mode
        tmp.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return True


def run(bin_dir: Path, output_dir: Path, out: TextIO, err: TextIO) -> int:
    """The init container's command: install, print one JSON event line; exit code 0, or 1 with the error."""
    try:
        result = install_shim(bin_dir, output_dir)
    except InstallError as exc:
        err.write(f"error: {exc}\n")
        return 1
    out.write(json.dumps({"event": "shim-installed", "shim": str(result.shim), "copied": result.shim_copied,
                          "outputDir": str(result.output_dir)}) + "\n")
    return 0
