"""Executions whose local ``run`` is gone: the decision (a table) and what reap_lost records (SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from diagnostic_operator.db import runners
from diagnostic_operator.db.engine import create_engine_for, upgrade
from diagnostic_operator.db.lifecycle_writes import allocate_execution, set_execution_phase
from diagnostic_operator.db.queries import get_execution
from diagnostic_operator.manifest import parse_manifest
from diagnostic_operator.spec import Phase

ROOT = Path(__file__).resolve().parents[3]
DEAD, LIVE = 1001, 1002


def alive(pid: int) -> bool:
    return pid == LIVE


@pytest.mark.parametrize(("phase", "host", "pid", "lost"), [
    ("Running", "here", DEAD, True),
    ("Pending", "here", DEAD, True),
    ("Retrying", "here", DEAD, True),
    ("Running", "here", LIVE, False),        # the run is alive
    ("Running", "elsewhere", DEAD, False),   # another host's process cannot be checked from here
    ("Running", None, None, False),          # the cluster's operator runs it
    ("Succeeded", "here", DEAD, False),      # ended: nothing to do
    ("Failed", "here", DEAD, False),
    ("Cancelled", "here", DEAD, False),
])
def test_is_lost(phase: str, host: str | None, pid: int | None, lost: bool) -> None:
    assert runners.is_lost(phase, host, pid, "here", alive) is lost


def test_reap_lost_records_only_this_hosts_dead_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    engine = create_engine_for(url)
    spec = parse_manifest(yaml.safe_load((ROOT / "examples" / "global-mean-bias.yaml").read_text())).spec
    ids = {}
    for name, host, pid in [("dead", "here", DEAD), ("live", "here", LIVE), ("other", "elsewhere", DEAD),
                            ("cluster", None, None)]:
        ids[name] = allocate_execution(engine, namespace="local", name=name, uid=name, spec=spec,
                                       output_location="file:///x").execution_id
        if host is not None and pid is not None:
            runners.claim(engine, ids[name], host, pid)
        set_execution_phase(engine, ids[name], phase=Phase.RUNNING)

    lost = runners.reap_lost(engine, "here", alive)
    assert [(x.name, x.pid, x.host) for x in lost] == [("dead", DEAD, "here")]
    assert lost[0].message.startswith(f"The run process (pid {DEAD} on host here) that ran this execution is gone")
    phases = {name: get_execution(engine, name) for name in ids}
    dead = phases["dead"]
    assert dead is not None
    status = dead.status()
    assert (status.phase, status.failure_class, status.reason) == ("Failed", "Infrastructure", "RunnerLost")
    assert dead.group.dirty is True
    for name in ("live", "other", "cluster"):
        detail = phases[name]
        assert detail is not None and detail.status().phase == "Running"
    assert runners.reap_lost(engine, "here", alive) == []  # recorded once
