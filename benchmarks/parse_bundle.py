"""Benchmark: parse + validate of result files against a bare ``json.load`` of the same file.

Generates, in a temporary directory, a metric bundle with 100,000 scalar values (5 dimensions of
10 values) and a series file with 5,000 series of length 120, both written the way climate-ref
writes them (sorted keys, 2-space indent). Times, in the same process, the median of N runs of:

- ``json.load`` of the file (the baseline);
- our ``read_json_file`` + ``validate_*`` ("parse+validate": size-capped read, UTF-8 check,
  duplicate-key and depth checks, full validation; for the series file this includes building the
  ``SeriesRow``s, for the metric bundle it does not);
- for the metric bundle also ``derive_scalar_rows`` on top ("parse+validate+rows").

Prints one JSON line and exits 1 if a parse+validate ratio exceeds the limit (default 3.0) unless
``--no-check`` is given. Run: ``python benchmarks/parse_bundle.py [--runs 7] [--no-check]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from diagnostic_operator.results import (
    ParseOptions,
    derive_scalar_rows,
    read_json_file,
    validate_metric_bundle,
    validate_series,
)


def make_metric_bundle(path: Path, sizes: tuple[int, ...] = (10, 10, 10, 10, 10)) -> int:
    rng = random.Random(1)
    names = ["source_id", "experiment_id", "region", "season", "metric"][: len(sizes)]
    values = {name: [f"{name}-{i}" for i in range(size)] for name, size in zip(names, sizes, strict=True)}

    def build(level: int) -> dict[str, Any]:
        if level == len(names) - 1:
            return {value: rng.uniform(-10, 10) for value in values[names[level]]}
        return {value: build(level + 1) for value in values[names[level]]}

    doc = {
        "DIMENSIONS": {"json_structure": names, **{n: {v: {} for v in values[n]} for n in names}},
        "RESULTS": build(0),
        "PROVENANCE": {"diagnostic": "benchmark"},
    }
    path.write_text(json.dumps(doc, indent=2, sort_keys=True, allow_nan=False))
    count = 1
    for size in sizes:
        count *= size
    return count


def make_series(path: Path, count: int = 5000, length: int = 120) -> int:
    rng = random.Random(2)
    series = [
        {
            "dimensions": {"source_id": f"model-{i % 50}", "region": "global", "metric": f"m{i // 50}"},
            "index": list(range(1900, 1900 + length)),
            "index_name": "year",
            "values": [rng.uniform(-5, 5) for _ in range(length)],
            "attributes": {"units": "K", "long_name": "anomaly"},
        }
        for i in range(count)
    ]
    path.write_text(json.dumps(series, indent=2, sort_keys=True, allow_nan=False))
    return count


def median_times(fns: list[Callable[[], object]], runs: int) -> list[float]:
    """Median wall time of each function; runs are interleaved so that machine load hits all alike."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, bucket in zip(fns, times, strict=True):
            gc.collect()
            start = time.perf_counter()
            result = fn()
            bucket.append(time.perf_counter() - start)
            del result
    return [statistics.median(bucket) for bucket in times]


def bare_load(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="timed runs per measurement (median; >= 5)")
    parser.add_argument("--limit", type=float, default=3.0, help="largest acceptable parse+validate ratio")
    parser.add_argument("--no-check", action="store_true", help="report only; never fail")
    args = parser.parse_args(argv)
    runs = max(5, args.runs)
    options = ParseOptions()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n_values = make_metric_bundle(root / "diagnostic.json")
        n_series = make_series(root / "series.json")

        def ours_metric() -> object:
            doc = read_json_file(root, "diagnostic.json", max_bytes=options.max_metric_bundle_bytes)
            return validate_metric_bundle(doc, options=options)

        def ours_metric_rows() -> object:
            rows = derive_scalar_rows(ours_metric())  # type: ignore[arg-type]
            assert len(rows) == n_values
            return rows

        def ours_series() -> object:
            doc = read_json_file(root, "series.json", max_bytes=options.max_series_bytes)
            result = validate_series(doc, options=options)
            assert len(result.series) == n_series
            return result

        results: dict[str, Any] = {}
        ours_metric_rows()  # warm up (imports, caches)
        ours_series()
        metric_path = root / "diagnostic.json"
        base, mine, rows_time = median_times(
            [lambda: bare_load(metric_path), ours_metric, ours_metric_rows], runs
        )
        results["metric_bundle"] = {
            "bytes": metric_path.stat().st_size,
            "json_load_s": round(base, 4),
            "parse_validate_s": round(mine, 4),
            "ratio": round(mine / base, 2),
            "parse_validate_rows_s": round(rows_time, 4),
            "rows_ratio": round(rows_time / base, 2),
        }
        series_path = root / "series.json"
        base, mine = median_times([lambda: bare_load(series_path), ours_series], runs)
        results["series"] = {
            "bytes": series_path.stat().st_size,
            "json_load_s": round(base, 4),
            "parse_validate_s": round(mine, 4),
            "ratio": round(mine / base, 2),
        }
        results["metric_bundle"]["values"] = n_values
        results["series"]["series"] = n_series
    worst = max(results["metric_bundle"]["ratio"], results["series"]["ratio"])
    results["ratio"] = worst
    results["limit"] = args.limit
    results["runs"] = runs
    results["python"] = sys.version.split()[0]
    print(json.dumps(results))
    if worst > args.limit and not args.no_check:
        print(f"parse+validate is {worst}x json.load, above the limit of {args.limit}x", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
