"""Recording one finished execution in Climate-REF's database, once.

The ``Execution`` row is the mark: the solver creates it with ``successful`` unset and every path here sets
it, inside the same transaction, so collecting twice (a second ``join``, a second process) ingests once.
"""

from __future__ import annotations

from pathlib import Path

from climate_ref.config import Config
from climate_ref.database import Database
from climate_ref.executor.result_handling import handle_execution_result, record_failure, record_resource_usage
from climate_ref.models import Execution
from climate_ref.models.execution import ExecutionFailureReason
from climate_ref_core.diagnostics import ExecutionDefinition, ExecutionResult
from climate_ref_core.logging import EXECUTION_LOG_FILENAME
from climate_ref_core.output_files import copy_output_file
from climate_ref_core.resources import ResourceUsage
from loguru import logger

from .outcome import Action, FailureReason, Outcome, ShimUsage
from .wire import read_result


def collect(config: Config, database: Database, definition: ExecutionDefinition, execution_id: int,
            result_path: Path, outcome: Outcome, *, queue_seconds: float | None) -> bool:
    """Record ``outcome``; False when the row was already recorded (or is gone)."""
    with database.session.begin():
        execution = database.session.get(Execution, execution_id)
        if execution is None or execution.successful is not None:
            logger.debug(f"execution {execution_id} already recorded; not collected again")
            return False
        if outcome.action is Action.INGEST:
            result = read_result(result_path)
            handle_execution_result(config, database, execution, result, queue_seconds=queue_seconds)
        elif outcome.reason is FailureReason.CANCELLED:
            _copy_log(config, execution)
            record_failure(config, execution, ExecutionFailureReason.Cancelled, outcome.detail)
        else:
            failure = ExecutionResult.build_from_failure(definition, retryable=outcome.dirty is True)
            handle_execution_result(config, database, execution, failure, detail=outcome.detail)
            if outcome.usage is not None:
                record_resource_usage(execution, _resource_usage(outcome.usage), queue_seconds=queue_seconds)
    return True


def _resource_usage(usage: ShimUsage) -> ResourceUsage:
    """The shim's measurement in Climate-REF's terms: the runner container's cgroup is the diagnostic's own
    (exclusive); the sampled per-process peak is Climate-REF's, which the shim does not take."""
    return ResourceUsage(
        wall_seconds=usage.wall_seconds, cpu_seconds=usage.cpu_seconds, peak_memory_bytes=usage.peak_memory_bytes,
        memory_source=usage.memory_source,
        cgroup_peak_bytes=usage.peak_memory_bytes if usage.memory_source == "cgroup" else None,
        proc_tree_peak_bytes=None, memory_limit_bytes=usage.memory_limit_bytes, cpu_limit=None, exclusive=True,
        context={"measuredBy": "diagnostic-operator shim"})


def _copy_log(config: Config, execution: Execution) -> None:
    try:
        copy_output_file(config.paths.scratch, config.paths.results, execution.output_fragment,
                         EXECUTION_LOG_FILENAME)
    except (OSError, ValueError):
        logger.debug(f"no log to copy for execution {execution.id}")
