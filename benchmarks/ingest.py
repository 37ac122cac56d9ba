"""Ingest throughput: ``db.ingest.ingest`` against a plain psycopg ``COPY`` of the same rows.

Starts its own PostgreSQL server (tests/services/postgres.py: initdb + pg_ctl on 127.0.0.1, fsync off) or uses
``--url`` / ``DIAGNOSTIC_OPERATOR_TEST_DATABASE_URL`` (its user needs CREATEDB). Generates S scalar rows and
N series of length L (default 100,000 scalars + 5,000 series x 120), then, interleaved for ``--repeat``
rounds (median reported):

  (a) baseline: psycopg ``COPY`` (text format, rows serialised with json.dumps) into two plain tables with
      the same columns and no constraints or indexes, in one transaction, in a fresh database;
  (b) ``ingest()`` into a fresh migrated database (unique natural keys, GIN indexes, foreign keys);
  (c) a replay: ``ingest()`` of the same attempt again, which must insert zero rows.

Also runs ``ingest()`` on SQLite, for information. Prints one JSON line; exits 1 when median(b)/median(a) > 2
(``--max-ratio``) unless ``--no-check``, and always when the replay inserts anything.

    .venv/bin/python benchmarks/ingest.py
    .venv/bin/python benchmarks/ingest.py --scalars 20000 --series 1000 --repeat 3   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from diagnostic_operator.db.engine import create_engine_for, upgrade  # noqa: E402
from diagnostic_operator.db.ingest import IngestReport, ingest  # noqa: E402
from diagnostic_operator.db.lifecycle_writes import allocate_execution, record_attempt_start  # noqa: E402
from diagnostic_operator.results.rows import ResultSet, ScalarRow, SeriesRow  # noqa: E402
from diagnostic_operator.spec import AttemptResources, DiagnosticExecutionSpec  # noqa: E402

SPEC = DiagnosticExecutionSpec.model_validate({
    "diagnostic": {"provider": "bench", "slug": "ingest"}, "groupKey": "g", "image": "x", "command": ["true"],
})
RES = AttemptResources(memory="1Gi", cpu="1", wall_clock="1h")


def generate(n_scalars: int, n_series: int, length: int) -> ResultSet:
    sources = [f"MODEL-{i:03d}" for i in range(100)]
    regions = ["global", "Tropics", "NH", "SH", "Arctic", "Antarctic", "land", "ocean", "NHext", "SHext"]
    metrics = ["bias", "rmse", "corr", "std", "mae"]
    shared_attrs = {"reference": "HadCRUT5", "period": "1980-2014"}
    scalars = []
    i = 0
    while len(scalars) < n_scalars:
        dims = {"source_id": sources[i % 100], "region": regions[(i // 100) % 10], "metric": metrics[(i // 1000) % 5],
                "statistic": f"s{i // 5000}"}
        value = None if i % 997 == 0 else (i % 1000) / 7.0
        scalars.append(ScalarRow.make(dims, value, shared_attrs if i % 3 == 0 else None))
        i += 1
    index = list(range(1850, 1850 + length))
    series = []
    for j in range(n_series):
        dims = {"source_id": sources[j % 100], "region": regions[(j // 100) % 10], "metric": f"tas_{j // 1000}"}
        values: list[float | None] = [None if (j + k) % 101 == 0 else ((j * 31 + k) % 1000) / 13.0 for k in range(length)]
        series.append(SeriesRow.make(dims, values, index, "year", {"units": "K"}, value_units="K"))
    return ResultSet(scalars=scalars, series=series)


BASELINE_DDL = """
CREATE TABLE bench_scalars (execution_id integer, attempt_id integer, kind text, dimensions jsonb,
    dimensions_hash text, value float8, attributes json);
CREATE TABLE bench_series (execution_id integer, attempt_id integer, kind text, dimensions jsonb,
    dimensions_hash text, "values" json, index_axis_id integer, attributes json, value_units text,
    value_long_name text, index_units text, calendar text);
"""


def baseline_copy(url: str, results: ResultSet) -> float:
    dumps = json.dumps
    with psycopg.connect(url) as conn:
        conn.execute(BASELINE_DDL)
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy("COPY bench_scalars FROM STDIN") as copy:
                for r in results.scalars:
                    copy.write_row((1, 1, r.kind, dumps(r.dimensions), r.key, r.value,
                                    None if r.attributes is None else dumps(r.attributes)))
            with cur.copy("COPY bench_series FROM STDIN") as copy:
                for s in results.series:
                    copy.write_row((1, 1, s.kind, dumps(s.dimensions), s.key, dumps(s.values), 1,
                                    None if s.attributes is None else dumps(s.attributes), s.value_units,
                                    s.value_long_name, s.index_units, s.calendar))
        conn.commit()
        return time.perf_counter() - t0


def fresh_database(admin_url: str, name: str, template: str | None) -> str:
    admin = create_engine_for(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    finally:
        admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    admin = create_engine_for(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def our_ingest(url: str, results: ResultSet) -> tuple[float, float, IngestReport, IngestReport]:
    engine = create_engine_for(url)
    try:
        alloc = allocate_execution(engine, namespace="bench", name="ingest", uid="bench-uid", spec=SPEC,
                                   output_location="file:///tmp/bench")
        attempt_id = record_attempt_start(engine, alloc.execution_id, 1, resources=RES)
        with engine.connect() as conn:  # warm the pool: connecting is not ingesting
            conn.execute(text("SELECT 1"))
        t0 = time.perf_counter()
        first = ingest(engine, execution_id=alloc.execution_id, attempt_id=attempt_id, results=results,
                       objects={})
        t1 = time.perf_counter()
        replay = ingest(engine, execution_id=alloc.execution_id, attempt_id=attempt_id, results=results,
                        objects={})
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, first, replay
    finally:
        engine.dispose()


def median(xs: list[float]) -> float:
    return round(statistics.median(xs), 4)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default=os.environ.get("DIAGNOSTIC_OPERATOR_TEST_DATABASE_URL"),
                   help="an existing PostgreSQL (user with CREATEDB); default: start a throw-away server")
    p.add_argument("--scalars", type=int, default=100_000)
    p.add_argument("--series", type=int, default=5_000)
    p.add_argument("--length", type=int, default=120)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--max-ratio", type=float, default=2.0)
    p.add_argument("--no-check", action="store_true")
    p.add_argument("--no-sqlite", action="store_true")
    args = p.parse_args(argv)

    server = None
    if args.url:
        admin_url = args.url
    else:
        from tests.services.postgres import start_postgres  # noqa: PLC0415 - only when no --url

        server = start_postgres()
        admin_url = server.url()
    try:
        t = time.perf_counter()
        results = generate(args.scalars, args.series, args.length)
        generate_s = time.perf_counter() - t
        template = "bench_template"
        upgrade(fresh_database(admin_url, template, None))

        base_times: list[float] = []
        ours: list[float] = []
        replays: list[float] = []
        first: IngestReport | None = None
        replay: IngestReport | None = None
        for i in range(args.repeat):
            name = f"bench_plain_{i}"
            base_times.append(baseline_copy(fresh_database(admin_url, name, None), results))
            drop_database(admin_url, name)
            name = f"bench_ours_{i}"
            a, b, first, replay = our_ingest(fresh_database(admin_url, name, template), results)
            drop_database(admin_url, name)
            ours.append(a)
            replays.append(b)
        drop_database(admin_url, template)
        assert first is not None and replay is not None

        sqlite: dict[str, Any] = {}
        if not args.no_sqlite:
            sqlite_times: list[float] = []
            for _ in range(min(args.repeat, 3)):
                with tempfile.TemporaryDirectory() as tmp:
                    url = f"sqlite:///{tmp}/bench.db"
                    upgrade(url)
                    a, b, _, sreplay = our_ingest(url, results)
                    sqlite_times.append(a)
                    sqlite = {"ingest_s": a, "replay_s": b, "replay_inserted": sreplay.inserted.model_dump()}
            sqlite["ingest_s"] = median(sqlite_times)
            sqlite["replay_s"] = round(sqlite["replay_s"], 4)

        ratio = statistics.median(ours) / statistics.median(base_times)
        out = {
            "benchmark": "ingest",
            "rows": {"scalars": args.scalars, "series": args.series, "series_length": args.length},
            "repeat": args.repeat,
            "generate_s": round(generate_s, 3),
            "baseline_copy_s": median(base_times),
            "ingest_s": median(ours),
            "replay_s": median(replays),
            "ratio": round(ratio, 3),
            "max_ratio": args.max_ratio,
            "baseline_copy_all_s": [round(x, 4) for x in base_times],
            "ingest_all_s": [round(x, 4) for x in ours],
            "inserted": first.inserted.model_dump(),
            "replay_inserted": replay.inserted.model_dump(),
            "sqlite": sqlite,
            "postgres_server": "throw-away (tests/services/postgres.py)" if server else "external",
        }
        print(json.dumps(out))
        if replay.inserted.scalar_values or replay.inserted.series_values or replay.inserted.outputs:
            print("FAIL: the replay inserted rows", file=sys.stderr)
            return 1
        if first.inserted.scalar_values != args.scalars or first.inserted.series_values != args.series:
            print("FAIL: ingest did not insert every row", file=sys.stderr)
            return 1
        if ratio > args.max_ratio and not args.no_check:
            print(f"FAIL: ingest is {ratio:.2f}x the plain COPY (limit {args.max_ratio})", file=sys.stderr)
            return 1
        return 0
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
