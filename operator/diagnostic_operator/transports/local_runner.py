"""This ``run`` process as the owner of the executions it runs, and the executions whose ``run`` is gone."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from diagnostic_operator.db.runners import RUNNER_LOST, LostRunner, reap_lost

if TYPE_CHECKING:
    from sqlalchemy import Engine


def this_host() -> str:
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (one we may not signal exists too)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap(engine: Engine) -> list[LostRunner]:
    """End this host's executions whose ``run`` process is gone (db.runners.reap_lost)."""
    return reap_lost(engine, this_host(), pid_alive)


def describe(lost: LostRunner) -> str:
    return (f"{lost.namespace}/{lost.name} (id {lost.execution_id}) was {lost.phase} but its run process "
            f"(pid {lost.pid} on {lost.host}) is gone: recorded as Failed, class Infrastructure, reason "
            f"{RUNNER_LOST}")
