"""Ingest on SQLite and on a real PostgreSQL: exact counts, replay adds nothing, errors write nothing."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, func, select

from diagnostic_operator.db.errors import IngestError
from diagnostic_operator.db.ingest import IngestReport, ingest
from diagnostic_operator.db.lifecycle_writes import allocate_execution, record_attempt_start
from diagnostic_operator.db.models import Output, ScalarValue, SeriesIndexAxis, SeriesValue
from diagnostic_operator.db.queries import count_rows, query_scalars
from diagnostic_operator.results.rows import ResultSet, ScalarRow, SeriesRow
from diagnostic_operator.spec import AttemptResources, IngestCounts
from tests.integration.db.examples import (
    SERIES_ATTRS,
    TROPICS_ATTRS,
    YEARS,
    make_spec,
    result_set,
    series_rows,
    stored_objects,
)

pytestmark = pytest.mark.integration

RES = AttemptResources(memory="4Gi", cpu="1", wall_clock="6h")
EXAMPLE = IngestCounts(outputs=4, scalar_values=8, series_values=3)


def _execution(engine: Engine, uid: str = "uid-1") -> tuple[int, int]:
    a = allocate_execution(engine, namespace="default", name=uid, uid=uid, spec=make_spec(),
                           output_location="s3://bucket/runs")
    return a.execution_id, record_attempt_start(engine, a.execution_id, 1, resources=RES)


def _rows(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def _all_counts(engine: Engine) -> tuple[int, int, int, int]:
    return (_rows(engine, Output), _rows(engine, ScalarValue), _rows(engine, SeriesValue),
            _rows(engine, SeriesIndexAxis))


def test_reference_examples_exact_counts_then_replay_inserts_nothing(db_engine: Engine) -> None:
    execution_id, attempt_id = _execution(db_engine)
    results = result_set()
    objects = stored_objects(results)
    report = ingest(db_engine, execution_id=execution_id, attempt_id=attempt_id, results=results,
                    objects=objects)
    assert report.inserted == EXAMPLE and report.total == EXAMPLE
    assert _all_counts(db_engine) == (4, 8, 3, 1)  # the three series share one index axis

    again = ingest(db_engine, execution_id=execution_id, attempt_id=attempt_id, results=results,
                   objects=objects)
    assert again.inserted == IngestCounts() and again.total == EXAMPLE
    assert _all_counts(db_engine) == (4, 8, 3, 1)

    # a later attempt of the same execution ingesting the same rows also adds nothing
    attempt_2 = record_attempt_start(db_engine, execution_id, 2, resources=RES)
    third = ingest(db_engine, execution_id=execution_id, attempt_id=attempt_2, results=results,
                   objects=objects)
    assert third.inserted == IngestCounts()

    # another execution with the same rows gets its own rows but reuses the axis
    other_id, other_attempt = _execution(db_engine, "uid-2")
    fourth = ingest(db_engine, execution_id=other_id, attempt_id=other_attempt, results=results,
                    objects=objects)
    assert fourth.inserted == EXAMPLE
    assert _all_counts(db_engine) == (8, 16, 6, 1)


def test_stored_values_round_trip(db_engine: Engine) -> None:
    execution_id, attempt_id = _execution(db_engine)
    results = result_set()
    objects = stored_objects(results)
    ingest(db_engine, execution_id=execution_id, attempt_id=attempt_id, results=results, objects=objects)
    with db_engine.connect() as conn:
        outputs = {r.short_name: r for r in conn.execute(select(Output))}
        series = {r.dimensions.get("source_id") or r.dimensions["reference_source_id"]: r
                  for r in conn.execute(select(SeriesValue))}
        axis = conn.execute(select(SeriesIndexAxis)).one()
    summary = outputs["summary_page"]
    assert (summary.output_type, summary.filename, summary.uri) == ("html", "index.html",
                                                                     objects["index.html"].uri)
    assert summary.sha256 == objects["index.html"].sha256 and summary.attempt_id == attempt_id
    assert outputs["bias_map_access"].dimensions == {"source_id": "ACCESS-ESM1-5", "metric": "bias"}
    assert series["ACCESS-ESM1-5"].values == [0.61, 0.58, 0.70, None, 0.83]  # missing kept in position
    assert series["ACCESS-ESM1-5"].attributes == SERIES_ATTRS
    assert series["HadCRUT5"].kind == "reference" and series["HadCRUT5"].value_units == "K"
    assert {s.index_axis_id for s in series.values()} == {axis.id}
    assert (axis.name, axis.values) == ("year", YEARS)


def test_query_scalars_by_dimension(db_engine: Engine) -> None:
    execution_id, attempt_id = _execution(db_engine)
    results = result_set()
    ingest(db_engine, execution_id=execution_id, attempt_id=attempt_id, results=results,
           objects=stored_objects(results))
    everything = query_scalars(db_engine, execution_id, None)
    assert len(everything) == 8
    tropics = query_scalars(db_engine, execution_id, {"region": "Tropics"})
    assert len(tropics) == 4 and all(r.dimensions["region"] == "Tropics" for r in tropics)
    one = query_scalars(db_engine, execution_id, {"source_id": "ACCESS-ESM1-5", "region": "Tropics",
                                                       "metric": "bias"})
    assert [(r.value, r.attributes, r.kind) for r in one] == [(-0.18, TROPICS_ATTRS, "model")]
    assert query_scalars(db_engine, execution_id, {"region": "tropics"}) == []  # exact, case-sensitive
    assert query_scalars(db_engine, execution_id, {"nope": "x"}) == []
    assert query_scalars(db_engine, execution_id, {"region": "global"}, kind="reference") == []


def test_missing_and_nan_are_null(db_engine: Engine) -> None:
    execution_id, attempt_id = _execution(db_engine)
    results = ResultSet(
        scalars=[ScalarRow.make({"metric": "a"}, None), ScalarRow.make({"metric": "b"}, math.nan),
                 ScalarRow.make({"metric": "c"}, math.inf), ScalarRow.make({"metric": "d"}, 1.5),
                 ScalarRow.make({"metric": "d"}, 1.5, kind="reference")],
        series=[SeriesRow.make({"metric": "s"}, [1.0, math.nan, None, -math.inf], [1, 2, 3, 4], "month")],
    )
    report = ingest(db_engine, execution_id=execution_id, attempt_id=attempt_id, results=results, objects={})
    assert report.inserted == IngestCounts(scalar_values=5, series_values=1)
    got = {(r.dimensions["metric"], r.kind): r.value for r in query_scalars(db_engine, execution_id)}
    assert got == {("a", "model"): None, ("b", "model"): None, ("c", "model"): None, ("d", "model"): 1.5,
                   ("d", "reference"): 1.5}
    with db_engine.connect() as conn:
        assert conn.execute(select(ScalarValue).where(ScalarValue.value.is_(None))).all().__len__() == 3
        assert conn.execute(select(SeriesValue.values)).scalar_one() == [1.0, None, None, None]


def test_series_axes_shared_and_typed(db_engine: Engine) -> None:
    execution_id, attempt_id = _execution(db_engine)
    results = ResultSet(series=[
        SeriesRow.make({"m": "a"}, [1.0, 2.0], [2010, 2011], "year"),
        SeriesRow.make({"m": "b"}, [3.0, 4.0], [2010, 2011], "year"),
        SeriesRow.make({"m": "c"}, [5.0, 6.0], ["2010", "2011"], "year"),  # strings: another axis
        SeriesRow.make({"m": "d"}, [7.0, 8.0], [2010, 2011], "time"),      # another name: another axis
        SeriesRow.make({"m": "e"}, [], [], "year"),
    ])
    report = ingest(db_engine, execution_id=execution_id, attempt_id=attempt_id, results=results, objects={})
    assert report.inserted.series_values == 5
    with db_engine.connect() as conn:
        axes = {(a.name, tuple(a.values)) for a in conn.execute(select(SeriesIndexAxis))}
        by_series = dict(conn.execute(select(SeriesValue.dimensions_hash, SeriesValue.index_axis_id)).all())
    assert axes == {("year", (2010, 2011)), ("year", ("2010", "2011")), ("time", (2010, 2011)), ("year", ())}
    a, b, c = (by_series[r.key] for r in results.series[:3])
    assert a == b != c


@pytest.mark.parametrize("break_it", ["missing_object", "bad_kind_last", "unknown_attempt"])
def test_error_mid_ingest_writes_nothing(db_engine: Engine, break_it: str) -> None:
    execution_id, attempt_id = _execution(db_engine)
    results = result_set()
    objects = stored_objects(results)
    if break_it == "missing_object":
        del objects["index.html"]
        match = "index.html"
    elif break_it == "bad_kind_last":  # violates a CHECK constraint after every other row was inserted
        bad = SeriesRow.make({"metric": "bad"}, [1.0], [1], "year", kind="bogus")  # type: ignore[arg-type]
        results = ResultSet(scalars=results.scalars, series=[*series_rows(), bad], outputs=results.outputs)
        match = "nothing was written"
    else:  # foreign key violation
        attempt_id += 1000
        match = "nothing was written"
    with pytest.raises(IngestError, match=match):
        ingest(db_engine, execution_id=execution_id, attempt_id=attempt_id, results=results, objects=objects)
    assert _all_counts(db_engine) == (0, 0, 0, 0)
    assert count_rows(db_engine, execution_id) == IngestCounts()


def test_duplicate_rows_within_one_result_set_are_stored_once(db_engine: Engine) -> None:
    execution_id, attempt_id = _execution(db_engine)
    base = result_set()
    results = ResultSet(scalars=base.scalars + base.scalars, series=base.series + base.series,
                        outputs=base.outputs + base.outputs)
    report = ingest(db_engine, execution_id=execution_id, attempt_id=attempt_id, results=results,
                    objects=stored_objects(base))
    assert report.inserted == EXAMPLE


def _run_concurrently(n: int, work: Callable[[], IngestReport]) -> list[IngestReport]:
    barrier = threading.Barrier(n)
    reports: list[IngestReport] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait()
            report = work()
            with lock:
                reports.append(report)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return reports


def test_concurrent_ingest_of_the_same_attempt(db_engine: Engine) -> None:
    execution_id, attempt_id = _execution(db_engine)
    big = ResultSet(
        scalars=[ScalarRow.make({"i": str(i), "region": "global"}, float(i)) for i in range(3000)],
        series=[SeriesRow.make({"i": str(i)}, [float(j) for j in range(24)], list(range(24)), "month")
                for i in range(200)],
        outputs=result_set().outputs,
    )
    objects = stored_objects(big)
    reports = _run_concurrently(
        4, lambda: ingest(db_engine, execution_id=execution_id, attempt_id=attempt_id, results=big,
                          objects=objects))
    assert sum(r.inserted.scalar_values for r in reports) == 3000
    assert sum(r.inserted.series_values for r in reports) == 200
    assert sum(r.inserted.outputs for r in reports) == 4
    assert all(r.total == IngestCounts(outputs=4, scalar_values=3000, series_values=200) for r in reports)
    assert _all_counts(db_engine) == (4, 3000, 200, 1)


def test_concurrent_ingests_of_different_executions_share_axes(db_engine: Engine) -> None:
    ids = [_execution(db_engine, f"uid-{i}") for i in range(4)]
    series = [SeriesRow.make({"i": str(i)}, [1.0, 2.0], [k, k + 1], "year") for i, k in enumerate(range(50))]
    results = ResultSet(series=series)
    queue = list(ids)
    lock = threading.Lock()

    def work() -> IngestReport:
        with lock:
            execution_id, attempt_id = queue.pop()
        return ingest(db_engine, execution_id=execution_id, attempt_id=attempt_id, results=results, objects={})

    reports = _run_concurrently(4, work)
    assert [r.inserted.series_values for r in reports] == [50] * 4
    assert _rows(db_engine, SeriesIndexAxis) == 50
