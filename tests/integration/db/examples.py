"""The reference examples of result-formats.md section 6, as rows built by hand (the parser is separate)."""

from __future__ import annotations

import hashlib

from diagnostic_operator.results.rows import OutputRow, ResultSet, ScalarRow, SeriesRow
from diagnostic_operator.spec import DiagnosticExecutionSpec
from diagnostic_operator.store.base import StoredObject

TROPICS_ATTRS = {"reference": "HadCRUT5", "period": "1980-2014"}
SERIES_ATTRS = {"long_name": "Annual global-mean surface air temperature anomaly", "units": "K",
                "baseline": "1961-1990"}
YEARS = [2010, 2011, 2012, 2013, 2014]


def scalar_rows() -> list[ScalarRow]:
    rows = []
    table = [
        ("ACCESS-ESM1-5", "global", "bias", 0.42, None),
        ("ACCESS-ESM1-5", "global", "rmse", 1.15, None),
        ("ACCESS-ESM1-5", "Tropics", "bias", -0.18, TROPICS_ATTRS),
        ("ACCESS-ESM1-5", "Tropics", "rmse", 0.87, TROPICS_ATTRS),
        ("CanESM5", "global", "bias", 1.03, None),
        ("CanESM5", "global", "rmse", 1.62, None),
        ("CanESM5", "Tropics", "bias", 0.77, None),
        ("CanESM5", "Tropics", "rmse", 1.21, None),
    ]
    for source, region, metric, value, attrs in table:
        rows.append(ScalarRow.make({"source_id": source, "region": region, "metric": metric}, value,
                                   dict(attrs) if attrs else None))
    return rows


def series_rows() -> list[SeriesRow]:
    return [
        SeriesRow.make({"source_id": "ACCESS-ESM1-5", "region": "global", "metric": "tas_anomaly"},
                       [0.61, 0.58, 0.70, None, 0.83], list(YEARS), "year", dict(SERIES_ATTRS)),
        SeriesRow.make({"source_id": "CanESM5", "region": "global", "metric": "tas_anomaly"},
                       [0.95, 0.91, 1.02, 1.10, 1.18], list(YEARS), "year", dict(SERIES_ATTRS)),
        SeriesRow.make({"reference_source_id": "HadCRUT5", "region": "global", "metric": "tas_anomaly"},
                       [0.68, 0.54, 0.62, 0.68, 0.75], list(YEARS), "year", dict(SERIES_ATTRS),
                       kind="reference", value_units="K"),
    ]


def output_rows() -> list[OutputRow]:
    return [
        OutputRow("plot", "bias_map_access", "plots/ACCESS-ESM1-5_tas_bias_map.png",
                  "ACCESS-ESM1-5 surface air temperature bias map", "", {"source_id": "ACCESS-ESM1-5", "metric": "bias"}),
        OutputRow("plot", "bias_map_canesm", "plots/CanESM5_tas_bias_map.png",
                  "CanESM5 surface air temperature bias map", "", {"source_id": "CanESM5", "metric": "bias"}),
        OutputRow("data", "bias_fields", "data/tas_bias_fields.nc", "Gridded tas bias fields", "", {}),
        OutputRow("html", "summary_page", "index.html", "GMST bias summary page", "", {}),
    ]


def result_set() -> ResultSet:
    return ResultSet(scalars=scalar_rows(), series=series_rows(), outputs=output_rows())


def stored_objects(results: ResultSet, prefix: str = "s3://bucket/runs/x") -> dict[str, StoredObject]:
    out = {}
    for row in results.outputs:
        digest = hashlib.sha256(row.filename.encode()).hexdigest()
        out[row.filename] = StoredObject(key=f"outputs/{row.filename}", size=len(row.filename), sha256=digest,
                                         uri=f"{prefix}/outputs/{row.filename}")
    return out


def make_spec(group_key: str = "cmip6_tas_ACCESS-ESM1-5", slug: str = "gmst-bias") -> DiagnosticExecutionSpec:
    return DiagnosticExecutionSpec.model_validate({
        "diagnostic": {"provider": "example", "slug": slug, "version": "1.0"},
        "groupKey": group_key,
        "datasetHash": "sha256:abc",
        "image": "python:3.12-slim",
        "command": ["python", "-m", "gmst_bias"],
    })
