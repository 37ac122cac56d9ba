"""Compat mode against Climate-REF 0.20.2 itself: the same folders ingested by both, compared row by row.

Climate-REF runs in its own Python 3.12 virtualenv (``tests/climate_ref/ensure-env``, made once and reused)
through ``tests/climate_ref/ingest_with_climate_ref.py``, which calls its ``handle_execution_result`` on
each folder and dumps the rows its database then holds. This product reads the same folders with
``results.compat: climate-ref`` through the publish step the local runner uses (``publish_and_ingest``:
parse, upload to a local store, ingest into SQLite). For every folder (bundles.py):

- both accept it, and the scalar values (dimensions, value, attributes, kind), the series (dimensions,
  values, index, index name, attributes, kind) and the outputs are the same, except where ``DIVERGENCES``
  says this product cannot hold what Climate-REF holds (checked to differ, and to differ only so);
- or both refuse it: Climate-REF records a ``result_error`` and leaves the group dirty (retried at its next
  solve); this product reports a bundle error, which the lifecycle classifies DiagnosticError/InvalidResults
  and gives up on (docs/climate-ref-compat.md says why), and neither stores a row;
- the items compat mode dropped or made missing are counted as ``BUNDLES`` expects, in the summary too.
"""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from diagnostic_operator.contracts.exit_record import ExitRecord
from diagnostic_operator.contracts.publish_summary import PublishSummary
from diagnostic_operator.db.engine import create_engine_for, upgrade
from diagnostic_operator.db.lifecycle_writes import allocate_execution, record_attempt_start
from diagnostic_operator.db.models import Output, ScalarValue, SeriesIndexAxis, SeriesValue
from diagnostic_operator.lifecycle.classify import classify
from diagnostic_operator.lifecycle.evidence import Evidence, publish_outcome
from diagnostic_operator.lifecycle.policy import decide, dirty_after
from diagnostic_operator.results import BundleError, load_results
from diagnostic_operator.results.compat import DropKind
from diagnostic_operator.runtime.publish import AttemptTarget, publish_and_ingest
from diagnostic_operator.spec import AttemptResources, CompatMode, Decision, FailureClass, ResultFiles
from diagnostic_operator.store import LocalStore
from tests.integration.db.examples import make_spec

from .bundles import BUNDLES, DIVERGENCES, Row, write_bundles

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
ENSURE_ENV = ROOT / "tests" / "climate_ref" / "ensure-env"
DRIVER = ROOT / "tests" / "climate_ref" / "ingest_with_climate_ref.py"
FILES = ResultFiles(compat=CompatMode.CLIMATE_REF)
SUCCESS = ExitRecord.model_validate({"exitCode": 0})
RES = AttemptResources(memory="1Gi", cpu="1", wall_clock="1h")


@dataclass(frozen=True)
class Ours:
    summary: PublishSummary
    scalars: list[Row]
    series: list[Row]
    outputs: list[Row]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bundles(tmp_path_factory.mktemp("bundles"))


@pytest.fixture(scope="module")
def climate_ref(folders: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What Climate-REF stored for each folder (the driver's report)."""
    made = subprocess.run([str(ENSURE_ENV)], check=False, capture_output=True, text=True, timeout=1800)
    assert made.returncode == 0, f"tests/climate_ref/ensure-env failed:\n{made.stderr[-4000:]}"
    python = made.stdout.strip().splitlines()[-1]
    report = tmp_path_factory.mktemp("climate-ref") / "report.json"
    ran = subprocess.run([python, str(DRIVER), str(folders), str(report)], check=False, capture_output=True,
                         text=True, timeout=600)
    assert ran.returncode == 0, f"the Climate-REF driver failed:\n{ran.stderr[-4000:]}"
    data: dict[str, Any] = json.loads(report.read_text())
    assert data["climate_ref"] == {"climate-ref": "0.20.2", "climate-ref-core": "0.20.2"}
    return data


@pytest.fixture(scope="module")
def ours(folders: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ours]:
    """What this product stored for each folder, ingested as the local runner does."""
    root = tmp_path_factory.mktemp("ours")
    url = f"sqlite:///{root / 'do.db'}"
    upgrade(url)
    engine = create_engine_for(url)
    store = LocalStore(root / "store")
    try:
        stored = {}
        for name in BUNDLES:
            a = allocate_execution(engine, namespace="compat", name=name, uid=f"uid-{name}",
                                   spec=make_spec(group_key=name), output_location=store.url)
            attempt = record_attempt_start(engine, a.execution_id, 1, resources=RES)
            target = AttemptTarget("compat", name, f"uid-{name}", 1, a.execution_id, attempt)
            summary = publish_and_ingest(folders / name, SUCCESS, FILES, target, store, engine)
            stored[name] = Ours(summary, *_rows(engine, a.execution_id))
        return stored
    finally:
        engine.dispose()


def _rows(engine: Engine, execution_id: int) -> tuple[list[Row], list[Row], list[Row]]:
    with engine.connect() as conn:
        scalars = [{"dimensions": r.dimensions, "value": r.value, "attributes": r.attributes, "kind": r.kind}
                   for r in conn.execute(select(ScalarValue).where(ScalarValue.execution_id == execution_id)
                                         .order_by(ScalarValue.id))]
        series = [{"dimensions": r.dimensions, "values": r.values, "index": r.index, "index_name": r.name,
                   "attributes": r.attributes, "kind": r.kind}
                  for r in conn.execute(
                      select(SeriesValue.dimensions, SeriesValue.values, SeriesValue.attributes, SeriesValue.kind,
                             SeriesIndexAxis.values.label("index"), SeriesIndexAxis.name)
                      .join(SeriesIndexAxis, SeriesIndexAxis.id == SeriesValue.index_axis_id)
                      .where(SeriesValue.execution_id == execution_id).order_by(SeriesValue.id))]
        outputs = [{"output_type": r.output_type, "short_name": r.short_name, "filename": r.filename,
                    "long_name": r.long_name, "description": r.description, "dimensions": r.dimensions}
                   # the outputs a bundle registered; a refused bundle's files are kept as partial files only
                   for r in conn.execute(select(Output).where(Output.execution_id == execution_id,
                                                              Output.partial.is_(False)).order_by(Output.id))]
    return scalars, series, outputs


def _number(value: Any) -> Any:
    """The driver tags non-finite floats; NaN and null both mean a missing value in both products."""
    if isinstance(value, dict) and "nonfinite" in value:
        value = float(value["nonfinite"])
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value) if isinstance(value, int | float) else value


def _theirs(rows: list[Row]) -> list[Row]:
    """Climate-REF's rows in this product's shape: ``kind`` is one of its dimension columns, not ours."""
    shaped = []
    for row in rows:
        copy = {**row, "dimensions": {k: v for k, v in row["dimensions"].items() if k != "kind"}}
        if "value" in copy:
            copy["value"] = _number(copy["value"])
        if "values" in copy:
            copy["values"] = [_number(v) for v in copy["values"]]
        shaped.append(copy)
    return shaped


def _sorted(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda row: json.dumps(row, sort_keys=True, default=str))


def _compared(name: str, table: str, theirs: list[Row]) -> list[Row]:
    divergence = DIVERGENCES.get(name)
    return divergence.expected(theirs) if divergence is not None and divergence.table == table else theirs


@pytest.mark.parametrize("name", list(BUNDLES))
def test_compat_mode_stores_what_climate_ref_stores(name: str, climate_ref: dict[str, Any],
                                                    ours: dict[str, Ours]) -> None:
    bundle, theirs, mine = BUNDLES[name], climate_ref["bundles"][name], ours[name]
    if bundle.refused is not None:
        assert theirs["successful"] is False and theirs["failure_reason"] == "result_error", theirs["warnings"]
        assert theirs["dirty"] is True  # Climate-REF: retried at its next solve
        assert not mine.summary.ingested and bundle.refused in (mine.summary.bundle_error or "")
        assert theirs["scalars"] == theirs["series"] == theirs["outputs"] == []
        assert mine.scalars == mine.series == mine.outputs == []
        verdict = classify(Evidence(exit_record=SUCCESS, publish=publish_outcome(mine.summary)), 60)
        assert verdict is not None
        assert (verdict.failure_class, verdict.reason) == (FailureClass.DIAGNOSTIC_ERROR, "InvalidResults")
        spec = make_spec()
        outcome = decide(verdict.failure_class, spec, spec.resources, [verdict.failure_class], 0)
        assert outcome.decision is Decision.GIVE_UP and dirty_after(outcome.decision, True) is False
        return

    assert theirs["successful"] is True, theirs["warnings"]
    assert mine.summary.ingested, mine.summary.bundle_error
    for table in ("scalars", "series", "outputs"):
        shaped = _theirs(theirs[table])
        expected = _compared(name, table, shaped)
        assert _sorted(getattr(mine, table)) == _sorted(expected), table
        if name in DIVERGENCES and DIVERGENCES[name].table == table:
            assert _sorted(shaped) != _sorted(expected), f"{name}: Climate-REF no longer differs here"
    assert mine.summary.counts.dropped == sum(bundle.dropped.values())


@pytest.mark.parametrize("name", [name for name, bundle in BUNDLES.items() if bundle.refused is None])
def test_dropped_items_are_counted_by_kind(name: str, folders: Path) -> None:
    assert load_results(folders / name, FILES).dropped == BUNDLES[name].dropped


def test_every_kind_of_drop_is_compared_with_climate_ref() -> None:
    seen = {kind for bundle in BUNDLES.values() for kind in bundle.dropped}
    assert seen == set(DropKind)


def test_the_strict_reader_refuses_every_folder_but_the_clean_ones(folders: Path, ours: dict[str, Ours]) -> None:
    """The default is unchanged: what compat mode drops or makes missing, the strict reader refuses."""
    accepted = []
    for name in BUNDLES:
        try:
            load_results(folders / name, ResultFiles())
        except BundleError:
            continue
        accepted.append(name)
    assert sorted(accepted) == ["clean", "empty-structure-with-attributes", "one-dimension",
                                "one-dimension-without-values"]
    assert ours["clean"].summary.counts.dropped == 0
