"""The ingest sidecar's settings: read from the environment the operator sets (docs/sidecar.md).

A missing or invalid setting is a :class:`SettingsError` that names the variable; the sidecar then exits 2.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from diagnostic_operator.runtime.publish import AttemptTarget
from diagnostic_operator.settings import DATABASE_ENV, STORE_ENV
from diagnostic_operator.spec import ResultFiles

TERMINATION_LOG_ENV = "DIAGNOSTIC_TERMINATION_LOG"
DEFAULT_TERMINATION_LOG = "/dev/termination-log"
RUNNER_SHIM_ENV = "DIAGNOSTIC_RUNNER_SHIM"  # "false" when the runner runs without the shim
HEARTBEAT_ENV = "DIAGNOSTIC_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT_SECONDS = 5.0  # the shim's default
PUBLISH_BUDGET_ENV = "DIAGNOSTIC_PUBLISH_BUDGET_SECONDS"  # time for a failed attempt's partial files


class SettingsError(ValueError):
    """A setting is missing or invalid. ``name`` is the environment variable (or option) at fault."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        super().__init__(f"{name}: {problem}")


@dataclass(frozen=True, slots=True)
class SidecarSettings:
    output_dir: Path
    target: AttemptTarget
    results: ResultFiles
    store_url: str
    database_url: str
    termination_log: Path
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    runner_shim: bool = True
    publish_budget_seconds: float | None = None  # None: no bound (an operator that does not set it)


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(name, "not set (the operator sets it on the ingest container)")
    return value


def _integer(env: Mapping[str, str], name: str, minimum: int) -> int:
    raw = _required(env, name)
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(name, f"{raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(name, f"{value} is less than {minimum}")
    return value


def _seconds(raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(name, f"{raw!r} is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise SettingsError(name, f"{raw!r} is not a non-negative number of seconds")
    return value


def _flag(raw: str, name: str) -> bool:
    word = raw.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise SettingsError(name, f"{raw!r} is not a boolean (true or false)")


def load_settings(env: Mapping[str, str]) -> SidecarSettings:
    """The sidecar's settings from the environment of docs/pod-layout.md; SettingsError names what is wrong."""
    output_dir = Path(_required(env, "DIAGNOSTIC_OUTPUT_DIR"))
    if not output_dir.is_absolute():
        raise SettingsError("DIAGNOSTIC_OUTPUT_DIR", f"{output_dir} is not an absolute path")
    if not output_dir.is_dir():
        raise SettingsError("DIAGNOSTIC_OUTPUT_DIR", f"{output_dir} is not a directory (is the volume mounted?)")
    raw_results = _required(env, "DIAGNOSTIC_RESULTS")
    try:
        results = ResultFiles.model_validate_json(raw_results)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
        raise SettingsError("DIAGNOSTIC_RESULTS", f"not a valid results object (JSON): {problems}") from None
    target = AttemptTarget(
        namespace=_required(env, "DIAGNOSTIC_EXECUTION_NAMESPACE"),
        name=_required(env, "DIAGNOSTIC_EXECUTION_NAME"),
        uid=_required(env, "DIAGNOSTIC_EXECUTION_UID"),
        attempt=_integer(env, "DIAGNOSTIC_ATTEMPT", 1),
        # the rows' ids, when the Pod's maker knew them; else looked up by uid and attempt at ingest
        execution_id=_integer(env, "DIAGNOSTIC_EXECUTION_ID", 1) if env.get("DIAGNOSTIC_EXECUTION_ID") else None,
        attempt_id=_integer(env, "DIAGNOSTIC_ATTEMPT_ID", 1) if env.get("DIAGNOSTIC_ATTEMPT_ID") else None,
    )
    database_url = _required(env, DATABASE_ENV)
    if "://" not in database_url:
        # not echoed: a malformed URL may still hold a password
        raise SettingsError(DATABASE_ENV, "not a database URL (expected postgresql://user:password@host:port/db)")
    store_url = _required(env, STORE_ENV)
    heartbeat = _seconds(env.get(HEARTBEAT_ENV, "").strip() or str(DEFAULT_HEARTBEAT_SECONDS), HEARTBEAT_ENV)
    shim = _flag(env.get(RUNNER_SHIM_ENV, "").strip() or "true", RUNNER_SHIM_ENV)
    termination_log = Path(env.get(TERMINATION_LOG_ENV, "").strip() or DEFAULT_TERMINATION_LOG)
    raw_budget = env.get(PUBLISH_BUDGET_ENV, "").strip()
    budget = _seconds(raw_budget, PUBLISH_BUDGET_ENV) if raw_budget else None
    return SidecarSettings(output_dir, target, results, store_url, database_url, termination_log, heartbeat, shim,
                           budget)
