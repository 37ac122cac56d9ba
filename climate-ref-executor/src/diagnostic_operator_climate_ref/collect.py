"""Recording one finished execution in Climate-REF's database, once.

The ``Execution`` row is the mark: the solver creates it with ``successful`` unset and every path here sets
it, inside the same transaction, so collecting twice (a second ``join``, a second process) ingests once.
"""

from __future__ import annotations

from pathlib import Path

from climate_ref.config import Config
from climate_ref.database import Database
from climate_ref.executor.result_handling import handle_execution_result, record_failure
from climate_ref.models import Execution
from climate_ref.models.execution import ExecutionFailureReason
from climate_ref_core.diagnostics import ExecutionDefinition, ExecutionResult
from climate_ref_core.logging import EXECUTION_LOG_FILENAME
from climate_ref_core.output_files import copy_output_file
from loguru import logger

from .outcome import Action, FailureReason, Outcome
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
    return True


def _copy_log(config: Config, execution: Execution) -> None:
    try:
        copy_output_file(config.paths.scratch, config.paths.results, execution.output_fragment,
                         EXECUTION_LOG_FILENAME)
    except (OSError, ValueError):
        logger.debug(f"no log to copy for execution {execution.id}")
