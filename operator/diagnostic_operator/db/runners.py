"""Which local ``run`` process runs an execution, and the executions whose ``run`` is gone.

A local ``run`` records its host and process id on the execution (``claim``). A ``run`` that dies without
ending it (SIGKILL, a crash, a power cut) leaves it Running: ``reap_lost`` finds such executions owned by
this host whose process no longer exists and ends them as Failed, class Infrastructure, reason RunnerLost.
Rows of another host are never touched (their process cannot be checked from here), nor rows whose process
is alive. A process id reused by an unrelated process keeps the row as it is: the safe side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from diagnostic_operator.db.lifecycle_writes import finish_execution
from diagnostic_operator.db.models import Execution
from diagnostic_operator.db.transactions import translate_errors
from diagnostic_operator.spec import FailureClass, Phase

if TYPE_CHECKING:
    from sqlalchemy import Engine

RUNNER_LOST = "RunnerLost"
ACTIVE = (Phase.PENDING, Phase.RUNNING, Phase.RETRYING)


@dataclass(frozen=True, slots=True)
class LostRunner:
    execution_id: int
    namespace: str
    name: str
    phase: str
    host: str
    pid: int

    @property
    def message(self) -> str:
        return (f"The run process (pid {self.pid} on host {self.host}) that ran this execution is gone; it "
                f"ended while the execution was {self.phase}. Run the manifest again.")


def is_lost(phase: str, host: str | None, pid: int | None, this_host: str, alive: Callable[[int], bool]) -> bool:
    """Whether an execution's ``run`` is known to be gone: it is still active, a local ``run`` on this host
    owns it, and that process no longer exists."""
    if phase not in {p.value for p in ACTIVE} or host is None or pid is None:
        return False
    return host == this_host and not alive(pid)


def claim(engine: Engine, execution_id: int, host: str, pid: int) -> None:
    """Record that the ``run`` process ``pid`` on ``host`` runs the execution."""
    with translate_errors(engine, f"recording the runner of execution {execution_id}"), engine.begin() as conn:
        conn.execute(update(Execution).where(Execution.id == execution_id)
                     .values(runner_host=host, runner_pid=pid))


def reap_lost(engine: Engine, this_host: str, alive: Callable[[int], bool]) -> list[LostRunner]:
    """End every execution whose ``run`` on this host is gone (Failed, Infrastructure, RunnerLost) and
    return them. The group stays dirty: it still needs a run."""
    query = (select(Execution.id, Execution.namespace, Execution.name, Execution.phase, Execution.runner_host,
                    Execution.runner_pid)
             .where(Execution.phase.in_([p.value for p in ACTIVE]), Execution.runner_host == this_host))
    with translate_errors(engine, "looking for executions whose run process is gone"), engine.connect() as conn:
        rows = conn.execute(query).all()
    lost = [LostRunner(r.id, r.namespace, r.name, r.phase, r.runner_host, r.runner_pid) for r in rows
            if is_lost(r.phase, r.runner_host, r.runner_pid, this_host, alive)]
    for item in lost:
        finish_execution(engine, item.execution_id, phase=Phase.FAILED, failure_class=FailureClass.INFRASTRUCTURE,
                         reason=RUNNER_LOST, message=item.message, dirty=True)
    return lost
