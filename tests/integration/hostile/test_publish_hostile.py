"""Hostile bundles through the whole publish step (``publish_and_ingest``: load, upload, ingest) on SQLite and
PostgreSQL, with a local folder and the S3 server as the store.

- Strings made to break SQL or JSON (quotes, backslashes, COPY's ``\\N`` and ``\\.``, tabs, newlines, U+2028,
  emoji, very long) round-trip exactly: dimension names and values, attributes, units, index values, output
  short names, titles and file names.
- A rejected bundle ingests nothing: no value, no bundle output; its folder is kept as partial files only
  (its own regular files: no symlink followed, nothing over the caps), besides the log and the exit record,
  which are published for every attempt.
- A row the database refuses is a bundle error, not retried and not an infrastructure failure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from diagnostic_operator.contracts.exit_record import ExitRecord
from diagnostic_operator.db.lifecycle_writes import allocate_execution, record_attempt_start
from diagnostic_operator.db.models import Output, ScalarValue, SeriesIndexAxis, SeriesValue
from diagnostic_operator.lifecycle.evidence import publish_outcome
from diagnostic_operator.results import ParseOptions, ResultSet, ScalarRow
from diagnostic_operator.runtime import publish
from diagnostic_operator.runtime.publish import AttemptTarget, RetrySettings, publish_and_ingest
from diagnostic_operator.spec import AttemptResources, ResultFiles, VocabularyMode
from diagnostic_operator.store import LocalStore, ObjectStore, attempt_prefix, open_store
from tests.integration.db.examples import make_spec

pytestmark = pytest.mark.integration

NO_CV = ParseOptions(vocabulary_mode=VocabularyMode.OFF)
RES = AttemptResources(memory="4Gi", cpu="1", wall_clock="6h")
SUCCESS = ExitRecord.model_validate({"exitCode": 0})
PROVENANCE = {"environment": {}, "modeldata": "m", "obsdata": "o", "log": "out.log"}
NO_SLEEP = RetrySettings(attempts=3, sleep=lambda _: None)
_uids = iter(range(10**9))


@dataclass
class Case:
    engine: Engine
    store: ObjectStore
    root: Path

    def target(self) -> AttemptTarget:
        uid = f"uid-{os.getpid()}-{next(_uids)}"
        a = allocate_execution(self.engine, namespace="hostile", name="x", uid=uid, spec=make_spec(),
                               output_location=self.store.url)
        attempt = record_attempt_start(self.engine, a.execution_id, 1, resources=RES)
        return AttemptTarget("hostile", "x", uid, 1, a.execution_id, attempt)

    def folder(self) -> Path:
        out = self.root / f"out-{next(_uids)}"
        (out / "plots").mkdir(parents=True)
        (out / "out.log").write_text("log\n")
        return out


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    target = request.getfixturevalue("s3_store_url")
    return open_store(target.url, env=target.env)


@pytest.fixture
def case(db_engine: Engine, store: ObjectStore, tmp_path: Path) -> Iterator[Case]:
    yield Case(db_engine, store, tmp_path)


def write(out: Path, metric: Any, output: Any, series: Any) -> None:
    for name, doc in (("diagnostic.json", metric), ("output.json", output), ("series.json", series)):
        (out / name).write_text(doc if isinstance(doc, str) else json.dumps(doc, ensure_ascii=False),
                                encoding="utf-8")


def counts(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(int(conn.execute(select(func.count()).select_from(m)).scalar_one())
                     for m in (Output, ScalarValue, SeriesValue, SeriesIndexAxis))


# ------------------------------------------------------------------------------------- round trip

BREAKERS = ["'", "''", '"', "\\", "\\N", "\\.", "\t", "\n", "\r\n", "%s", "?", ":name", "$1", "{}", "[]",
            "'); DROP TABLE scalar_values; --", "\u2028", "\ufeff", "🙂", "é", "中文", "\x7f", "\x01", " ",
            "null", "NaN", "true", "0", "{\"a\": 1}", "</script>", "a" * 10_000]
text = st.one_of(st.sampled_from(BREAKERS),
                 st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=25))
dim_name = text.filter(lambda s: s not in ("", "kind", "attributes", "json_structure", "created_at",
                                           "updated_at", "value", "id"))
dim_value = text.filter(lambda s: s != "attributes")
# file names: anything POSIX allows and an object key takes (no control characters: refused as unsafe)
file_part = st.text(st.characters(codec="utf-8", exclude_categories=("Cc",), exclude_characters="/\\"),
                    min_size=1, max_size=40).filter(
    lambda s: s not in (".", "..") and len(s.encode()) <= 200 and not (len(s) >= 2 and s[1] == ":"))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
@given(names=st.lists(dim_name, min_size=2, max_size=2, unique=True),
       values=st.lists(dim_value, min_size=2, max_size=2, unique=True),
       words=st.lists(text, min_size=6, max_size=6), short_name=text.filter(lambda s: len(s) <= 512),
       filename=file_part)
def test_strings_that_break_sql_or_json_round_trip_exactly(
    case: Case, names: list[str], values: list[str], words: list[str], short_name: str, filename: str
) -> None:
    out = case.folder()
    (out / "plots" / filename).write_bytes(b"png")
    n1, n2 = names
    metric = {"DIMENSIONS": {"json_structure": [n1, n2], n1: {v: {} for v in values}, n2: {values[0]: {}}},
              "RESULTS": {v: {values[0]: 1.5, "attributes": {words[0]: words[1]}} for v in values}}
    series = [{"dimensions": {n1: values[0], n2: values[1]}, "values": [1.0, None], "index": [words[2], 7],
               "index_name": words[3], "value_units": words[4], "attributes": {words[5]: words[0]}}]
    output = {"provenance": PROVENANCE, "plots": {short_name: {
        "filename": f"plots/{filename}", "long_name": words[1], "description": words[2],
        "dimensions": {n1: values[1]}}}}
    write(out, metric, output, series)
    target = case.target()
    summary = publish_and_ingest(out, SUCCESS, ResultFiles(), target, case.store, case.engine, options=NO_CV,
                                 retry=NO_SLEEP)
    assert summary.ingested, summary.bundle_error or summary.infrastructure_error
    with case.engine.connect() as conn:
        scalars = conn.execute(select(ScalarValue.dimensions, ScalarValue.value, ScalarValue.attributes)
                               .where(ScalarValue.execution_id == target.execution_id)).all()
        assert sorted((json.dumps(d, sort_keys=True), v, json.dumps(a)) for d, v, a in scalars) == sorted(
            (json.dumps({n1: v, n2: values[0]}, sort_keys=True), 1.5, json.dumps({words[0]: words[1]}))
            for v in values)
        (s,) = conn.execute(select(
            SeriesValue.dimensions, SeriesValue.values, SeriesValue.value_units, SeriesValue.attributes,
            SeriesIndexAxis.name, SeriesIndexAxis.values.label("index")).join(
            SeriesIndexAxis, SeriesIndexAxis.id == SeriesValue.index_axis_id).where(
            SeriesValue.execution_id == target.execution_id)).all()
        assert tuple(s) == ({n1: values[0], n2: values[1]}, [1.0, None], words[4], {words[5]: words[0]},
                            words[3], [words[2], 7])
        (o,) = conn.execute(select(Output.short_name, Output.filename, Output.long_name, Output.description,
                                   Output.dimensions).where(Output.execution_id == target.execution_id)).all()
        assert tuple(o) == (short_name, f"plots/{filename}", words[1], words[2], {n1: values[1]})
    prefix = attempt_prefix("hostile", "x", target.uid, 1)
    assert case.store.get_bytes(f"{prefix}/outputs/plots/{filename}") == b"png"


# ------------------------------------------------------------------------------------- rejected: nothing ingested

def _ok_metric() -> dict[str, Any]:
    return {"DIMENSIONS": {"json_structure": ["metric"], "metric": {"bias": {}}}, "RESULTS": {"bias": 0.5}}


def _plots(filename: str, short_name: str = "p") -> dict[str, Any]:
    return {"provenance": PROVENANCE, "plots": {short_name: {"filename": filename, "long_name": "L",
                                                             "description": ""}}}


def _escape(out: Path) -> tuple[Any, Any, Any]:
    return _ok_metric(), _plots("../secret.txt"), []


def _dotdot(out: Path) -> tuple[Any, Any, Any]:
    return _ok_metric(), _plots("plots/../plots/a.png"), []


def _symlink_out(out: Path) -> tuple[Any, Any, Any]:
    (out / "plots" / "link.png").symlink_to(out.parent / "secret.txt")
    return _ok_metric(), _plots("plots/link.png"), []


def _fifo(out: Path) -> tuple[Any, Any, Any]:
    os.mkfifo(out / "plots" / "fifo.png")
    return _ok_metric(), _plots("plots/fifo.png"), []


def _huge(out: Path) -> tuple[Any, Any, Any]:
    with (out / "plots" / "huge.nc").open("wb") as fh:
        fh.truncate(65 * 1024**3)  # sparse: no disk used
    return _ok_metric(), _plots("plots/huge.nc"), []


def _nul_dimension(out: Path) -> tuple[Any, Any, Any]:
    metric = ('{"DIMENSIONS": {"json_structure": ["metric"], "metric": {"bi\\u0000as": {}}}, '
              '"RESULTS": {"bi\\u0000as": 0.5}}')
    return metric, _plots("plots/a.png"), []


def _long_short_name(out: Path) -> tuple[Any, Any, Any]:
    return _ok_metric(), _plots("plots/a.png", short_name="s" * 5000), []


def _bad_series_after_good_files(out: Path) -> tuple[Any, Any, Any]:
    return _ok_metric(), _plots("plots/a.png"), [{"dimensions": {}, "values": [1], "index": [1, 2],
                                                  "index_name": "i"}]


@pytest.mark.parametrize("make", [_escape, _dotdot, _symlink_out, _fifo, _huge, _nul_dimension, _long_short_name,
                                  _bad_series_after_good_files], ids=lambda f: f.__name__.strip("_"))
def test_a_rejected_bundle_ingests_nothing_and_keeps_only_its_own_files(case: Case, make: Any) -> None:
    """Nothing of a rejected bundle is ingested; its folder is kept as partial files (docs/object-store.md),
    which never reach outside it: the symlink, the fifo and the file over the size cap are left out."""
    out = case.folder()
    (out.parent / "secret.txt").write_text("secret")
    (out / "plots" / "a.png").write_bytes(b"png")
    write(out, *make(out))
    own = sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                 if p.is_file() and not p.is_symlink() and p.name != "out.log" and p.stat().st_size < 64 * 1024**3)
    before = counts(case.engine)
    target = case.target()
    summary = publish_and_ingest(out, SUCCESS, ResultFiles(), target, case.store, case.engine, options=NO_CV,
                                 retry=NO_SLEEP)
    assert summary.bundle_error and not summary.ingested and summary.infrastructure_error is None
    assert counts(case.engine)[1:] == before[1:], "no value and no index axis"
    with case.engine.connect() as conn:
        rows = conn.execute(select(Output.filename, Output.partial).where(
            Output.execution_id == target.execution_id)).all()
    assert sorted((f, bool(p)) for f, p in rows) == [(f, True) for f in own]
    assert (summary.partial_files, summary.partial_skipped) == (
        len(own), int(make in (_symlink_out, _fifo, _huge)))
    prefix = attempt_prefix("hostile", "x", target.uid, 1)
    assert case.store.list_keys(f"{prefix}/outputs/") == []
    # the log (no exit record here) and the folder's own regular files
    assert case.store.list_keys(f"{prefix}/") == sorted([f"{prefix}/out.log"] + [f"{prefix}/partial/{f}" for f in own])
    assert all(case.store.get_bytes(k) != b"secret" for k in case.store.list_keys(f"{prefix}/"))
    assert publish_outcome(summary).bundle_error  # -> DiagnosticError: the diagnostic's fault, not retried


def test_a_row_the_database_refuses_is_a_bundle_error_not_retried(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: should the parser ever let through a row ingest refuses (here one without its natural
    key), the publish step does not retry it nor call it an infrastructure failure."""
    out = case.folder()
    write(out, _ok_metric(), {"provenance": PROVENANCE}, [])
    monkeypatch.setattr(publish, "load_results", lambda *a, **k: ResultSet(scalars=[ScalarRow({"m": "x"}, 1.0)]))
    sleeps: list[float] = []
    target = case.target()
    before = counts(case.engine)
    summary = publish_and_ingest(out, SUCCESS, ResultFiles(), target, case.store, case.engine,
                                 retry=RetrySettings(attempts=5, sleep=sleeps.append))
    assert sleeps == []
    assert summary.bundle_error and "the database refused the results" in summary.bundle_error
    assert summary.infrastructure_error is None and not summary.ingested
    assert counts(case.engine) == before
