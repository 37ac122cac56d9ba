"""The exit record: what the runner shim writes when the diagnostic ends (one JSON file, atomically).

Schema ``diagnostic-operator.io/exit-record/v1`` (documented in docs/exit-record.md). The shim
(``runtime/shim.sh``, POSIX sh) writes the fields marked *shim*; the local transport adds the
fields marked *host* from what the host knows (the child's rusage, the limit it set).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA = "diagnostic-operator.io/exit-record/v1"
STATE_DIR = ".diagnostic-operator"  # the shim's own folder in the output folder
EXIT_RECORD_FILE = f"{STATE_DIR}/exit.json"
HEARTBEAT_FILE = f"{STATE_DIR}/heartbeat"
LOG_FILE = "out.log"

MemorySource = Literal["cgroup-v2", "cgroup-v1", "rusage"]
LimitMechanism = Literal["cgroup-v2", "cgroup-v1", "rlimit-as", "kubernetes"]


class ExitRecord(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    schema_: Literal["diagnostic-operator.io/exit-record/v1"] = Field(
        default="diagnostic-operator.io/exit-record/v1", alias="schema")
    # shim
    exit_code: int | None = Field(default=None, alias="exitCode", description="wait status 0-255 of the child")
    signal: int | None = Field(default=None, description="signal that ended the child, if any (status > 128)")
    timed_out: bool = Field(default=False, alias="timedOut", description="the shim's own deadline fired")
    deadline_seconds: float | None = Field(default=None, alias="deadlineSeconds")
    forwarded_signal: str | None = Field(default=None, alias="forwardedSignal",
                                         description="TERM/INT/HUP the shim received and passed on")
    started_at: str | None = Field(default=None, alias="startedAt")
    ended_at: str | None = Field(default=None, alias="endedAt")
    wall_seconds: float | None = Field(default=None, alias="wallSeconds")
    peak_memory_bytes: int | None = Field(default=None, alias="peakMemoryBytes")
    peak_memory_source: MemorySource | None = Field(default=None, alias="peakMemorySource")
    memory_limit_bytes: int | None = Field(default=None, alias="memoryLimitBytes")
    oom_kills: int | None = Field(default=None, alias="oomKills",
                                  description="OOM kills the cgroup recorded while the command ran")
    log_bytes: int | None = Field(default=None, alias="logBytes")
    shim_version: str | None = Field(default=None, alias="shimVersion")
    # host (local transport)
    cpu_seconds: float | None = Field(default=None, alias="cpuSeconds")
    max_rss_bytes: int | None = Field(default=None, alias="maxRssBytes")
    limit_mechanism: LimitMechanism | None = Field(default=None, alias="limitMechanism")

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.oom_kills and self.signal is None


class ExitRecordError(ValueError):
    pass


def read_exit_record(output_dir: Path) -> ExitRecord | None:
    """The record in ``output_dir``, or None when the shim never wrote one (it died too)."""
    path = output_dir / EXIT_RECORD_FILE
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return ExitRecord.model_validate(json.loads(raw))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ExitRecordError(f"{path}: unreadable exit record: {exc}") from None
