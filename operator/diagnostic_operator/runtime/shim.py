"""Where the runner shim lives (``shim_file``), and how old its heartbeat is.

The shim itself is ``shim.sh`` next to this module (POSIX sh, shipped as package data); its contract is
documented in docs/exit-record.md.
"""

from __future__ import annotations

import time
from pathlib import Path

from diagnostic_operator.contracts.exit_record import HEARTBEAT_FILE
from diagnostic_operator.runtime.shim_file import SHIM_RESOURCE, shim_path

__all__ = ["SHIM_RESOURCE", "read_heartbeat_age", "shim_path"]


def read_heartbeat_age(output_dir: Path, now: float | None = None) -> float | None:
    """Seconds since the shim last touched its heartbeat in ``output_dir``; None when there is none.

    The file's modification time is the evidence (the shim rewrites the file with ``mv`` every
    interval); its content, epoch seconds, is for humans. A negative age (clock skew) reads as 0.
    """
    try:
        mtime = (Path(output_dir) / HEARTBEAT_FILE).stat().st_mtime
    except OSError:
        return None
    return max(0.0, (time.time() if now is None else now) - mtime)
