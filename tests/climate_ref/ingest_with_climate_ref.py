"""Ingest result bundles with Climate-REF itself and dump the rows it stored, as JSON.

Run with the Python of ``tests/climate_ref/ensure-env`` (Climate-REF 0.20.2, Python 3.12):

    python ingest_with_climate_ref.py BUNDLES_DIR OUT.json

Each sub-folder of BUNDLES_DIR is one execution's output folder (diagnostic.json, output.json, optionally
series.json and the files output.json names). For each, this script does what Climate-REF does after a
diagnostic reported success, as close to the real path as runs offline and without a diagnostic:

1. a fresh SQLite database with Climate-REF's own schema (its alembic migrations, run once into a template
   that is copied per bundle), holding a provider, a diagnostic, an execution group and an execution row,
   as the solver would have made them;
2. the bundle copied into ``scratch/<fragment>`` with an ``out.log`` (the executor's log redirection
   writes one; without it Climate-REF records a system error before looking at the bundles);
3. ``climate_ref.executor.result_handling.handle_execution_result`` inside ``db.session.begin()``, with an
   ``ExecutionResult`` naming the three files (``series_filename`` only when the file exists), exactly
   as ``ExecutionResult.build_from_output_bundle`` would name them;
4. the rows read back through Climate-REF's ORM models: scalar values (dimensions from the CV columns),
   series values with their index axis, outputs; the execution's ``successful`` / ``failure_reason`` and
   the group's ``dirty`` flag; the Python and loguru warnings it emitted.

Nothing here decides anything: the test on the other side compares.
"""
# Climate-REF is imported inside the functions: importing it reads HOME and REF_CONFIGURATION, set first.
# ruff: noqa: PLC0415

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

FRAGMENT_PARENT = "compat/bundle"


def _number(value: Any) -> Any:
    """JSON-safe: NaN and infinities as tagged strings (the reader turns them back)."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"nonfinite": repr(value)}
    return value


def _numbers(values: Any) -> Any:
    return None if values is None else [_number(v) for v in values]


def main(bundles_dir: Path, out_path: Path) -> int:
    work = Path(tempfile.mkdtemp(prefix="climate-ref-ingest-"))
    # Importing climate-ref creates ~/.config/intake-esgf, and REF reads its configuration from here.
    os.environ["HOME"] = str(work / "home")
    os.environ["REF_CONFIGURATION"] = str(work / "config")
    (work / "home").mkdir()
    (work / "config").mkdir()
    template = work / "template.sqlite"
    os.environ["REF_DATABASE_URL"] = f"sqlite:///{template}"

    from loguru import logger

    logger.remove()
    log_lines: list[str] = []

    def keep(message: Any) -> None:
        """One line per warning or error: its text and, when it carries one, the exception (no traceback)."""
        record = message.record
        exception = record["exception"]
        cause = f" ({exception.type.__name__}: {exception.value})" if exception is not None else ""
        log_lines.append(f"{record['level'].name}: {record['message']}{cause}")

    logger.add(keep, level="WARNING")

    from climate_ref.config import Config
    from climate_ref.database import Database

    config = Config.default()
    Database.from_config(config, skip_backup=True).close()  # migrations once, into the template

    report: dict[str, Any] = {"climate_ref": _versions(), "bundles": {}}
    try:
        for bundle in sorted(p for p in bundles_dir.iterdir() if p.is_dir()):
            report["bundles"][bundle.name] = _ingest_one(bundle, work, template, log_lines)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out_path.write_text(json.dumps(report, indent=1, sort_keys=True, allow_nan=False))
    return 0


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("climate-ref", "climate-ref-core")}


def _ingest_one(bundle: Path, work: Path, template: Path, log_lines: list[str]) -> dict[str, Any]:
    from climate_ref.config import Config
    from climate_ref.database import Database
    from climate_ref.executor.result_handling import handle_execution_result
    from climate_ref.models import ScalarMetricValue, SeriesMetricValue
    from climate_ref.models.diagnostic import Diagnostic
    from climate_ref.models.execution import Execution, ExecutionGroup, ExecutionOutput
    from climate_ref.models.provider import Provider
    from climate_ref_core.datasets import ExecutionDatasetCollection
    from climate_ref_core.diagnostics import ExecutionDefinition, ExecutionResult
    from climate_ref_core.logging import EXECUTION_LOG_FILENAME

    root = work / bundle.name
    database = root / "ref.sqlite"
    root.mkdir()
    shutil.copyfile(template, database)
    os.environ["REF_DATABASE_URL"] = f"sqlite:///{database}"
    os.environ["REF_SCRATCH_ROOT"] = str(root / "scratch")
    os.environ["REF_RESULTS_ROOT"] = str(root / "results")
    config = Config.default()
    db = Database.from_config(config, run_migrations=False)

    fragment = f"{FRAGMENT_PARENT}/{bundle.name}"
    scratch = config.paths.scratch / fragment
    shutil.copytree(bundle, scratch)
    (scratch / EXECUTION_LOG_FILENAME).touch()

    with db.session.begin():
        provider = Provider(slug="compat", name="compat", version="0")
        db.session.add(provider)
        db.session.flush()
        diagnostic = Diagnostic(slug="bundle", name="bundle", provider_id=provider.id)
        db.session.add(diagnostic)
        db.session.flush()
        group = ExecutionGroup(diagnostic_id=diagnostic.id, key=bundle.name, dirty=True, selectors={})
        db.session.add(group)
        db.session.flush()
        execution = Execution(output_fragment=fragment, execution_group_id=group.id, dataset_hash="0")
        db.session.add(execution)
        db.session.flush()
        execution_id = execution.id

    definition = ExecutionDefinition(
        diagnostic=None,
        key=bundle.name,
        datasets=ExecutionDatasetCollection({}),
        output_directory=scratch,
        root_directory=config.paths.scratch,
        diagnostic_full_slug="compat/bundle",
    )
    result = ExecutionResult(
        definition=definition,
        output_bundle_filename=Path("output.json"),
        metric_bundle_filename=Path("diagnostic.json"),
        series_filename=Path("series.json") if (scratch / "series.json").exists() else None,
        successful=True,
    )

    del log_lines[:]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with db.session.begin():
            execution = db.session.get(Execution, execution_id)
            handle_execution_result(config, db, execution, result)

    with db.session.begin():
        execution = db.session.get(Execution, execution_id)
        scalars = [
            {"dimensions": row.dimensions, "value": _number(row.value), "attributes": row.attributes,
             "kind": row.kind}
            for row in db.session.query(ScalarMetricValue).filter_by(execution_id=execution_id)
            .order_by(ScalarMetricValue.id)
        ]
        series = [
            {"dimensions": row.dimensions, "values": _numbers(row.values), "index": _numbers(row.index),
             "index_name": row.index_name, "attributes": row.attributes, "kind": row.kind}
            for row in db.session.query(SeriesMetricValue).filter_by(execution_id=execution_id)
            .order_by(SeriesMetricValue.id)
        ]
        outputs = [
            {"output_type": row.output_type.value, "short_name": row.short_name, "filename": row.filename,
             "long_name": row.long_name, "description": row.description, "dimensions": row.dimensions}
            for row in db.session.query(ExecutionOutput).filter_by(execution_id=execution_id)
            .order_by(ExecutionOutput.id)
        ]
        outcome = {
            "successful": execution.successful,
            "failure_reason": execution.failure_reason,
            "dirty": execution.execution_group.dirty,
        }
    db.close()
    return {
        **outcome,
        "scalars": scalars,
        "series": series,
        "outputs": outputs,
        "warnings": [str(w.message) for w in caught] + list(log_lines),
    }


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
