"""The three result files (CMEC metric bundle, CMEC output bundle, REF series file) and the HTML page.

Formats: sections 2–4 of the result-formats reference. Dimension names come from the default
controlled vocabulary: ``source_id``, ``reference_source_id``, ``region``, ``metric``.
"""

from __future__ import annotations

import html
import json
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from example_diagnostic import __version__
from example_diagnostic.data import BASELINE, FIRST_YEAR, LAST_YEAR, MODELS, REFERENCE_ID, ModelSpec
from example_diagnostic.metrics import METRICS, REGIONS

PROVIDER = "example"
SLUG = "global-mean-bias"
PERIOD = f"{FIRST_YEAR}-{LAST_YEAR}"
UNITS = "K"
DIGITS = 4  # values are rounded so that the files are readable; the fields are synthetic anyway

METRIC_BUNDLE = "diagnostic.json"
OUTPUT_BUNDLE = "output.json"
SERIES_FILE = "series.json"
LOG_FILE = "out.log"  # written by the runner, not by the diagnostic
HTML_FILE = "index.html"
DATA_FILE = "data/tas_fields.npz"
SUMMARY_PLOT = "plots/regional_bias_summary.png"

Stats = Mapping[str, Mapping[str, Mapping[str, float]]]  # source_id -> region -> metric -> value


def bias_map_file(source_id: str) -> str:
    return f"plots/{source_id}_tas_bias_map.png"


def _spec(source_id: str) -> ModelSpec:
    return next(m for m in MODELS if m.source_id == source_id)


def dataset_id(source_id: str) -> str:
    """A CMIP6-style dataset id for provenance (the data are synthetic)."""
    m = _spec(source_id)
    return f"CMIP6.CMIP.{m.institution}.{m.source_id}.historical.{m.member_id}.Amon.tas.gn.{m.version}"


def write_json(path: Path, document: Any) -> None:
    """Strict JSON (no NaN/Infinity), sorted keys, 2-space indent, like climate-ref; atomically."""
    text = json.dumps(document, allow_nan=False, indent=2, sort_keys=True) + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def metric_bundle(stats: Stats, seed: int) -> dict[str, Any]:
    leaf_attributes = {"reference": REFERENCE_ID, "period": PERIOD, "units": UNITS}
    results: dict[str, Any] = {}
    for source_id, regions in stats.items():
        results[source_id] = {
            region: {**{metric: round(value, DIGITS) for metric, value in metrics.items()},
                     "attributes": dict(leaf_attributes)}
            for region, metrics in regions.items()
        }
    return {
        "DIMENSIONS": {
            "json_structure": ["source_id", "region", "metric"],
            "source_id": {
                s: {"long_name": f"{s} ({_spec(s).institution})", "bias_pattern": _spec(s).description}
                for s in stats
            },
            "region": {r.name: {"long_name": r.long_name} for r in REGIONS},
            "metric": {name: {"long_name": text, "units": UNITS} for name, text in METRICS.items()},
        },
        "RESULTS": results,
        "PROVENANCE": {"diagnostic": f"{PROVIDER}/{SLUG}", "diagnostic_version": __version__,
                       "seed": seed, "reference": REFERENCE_ID},
        "DISCLAIMER": None,
        "NOTES": {"summary": "Regional bias and RMSE of the 1980-2014 annual-mean tas climatology of three "
                             "synthetic CMIP6-like models against a synthetic HadCRUT5-like reference, "
                             "area-weighted by cos(latitude)."},
    }


def invalidate(bundle: dict[str, Any]) -> str:
    """Break rule 7 of the metric-bundle checklist on purpose: turn one leaf number into a string."""
    first = next(iter(bundle["RESULTS"]))
    leaf = bundle["RESULTS"][first]["global"]
    leaf["bias"] = str(leaf["bias"])
    return f'RESULTS.{first}.global.bias = "{leaf["bias"]}" (a string leaf)'


def series_file(anomalies: Mapping[str, Sequence[float]], reference: Sequence[float],
                years: Sequence[int]) -> list[dict[str, Any]]:
    """One model series per source_id plus the reference series, sorted as climate-ref sorts them."""
    index = [int(y) for y in years]
    attributes = {"long_name": "Annual global-mean surface air temperature anomaly", "units": UNITS,
                  "baseline": f"{BASELINE[0]}-{BASELINE[1]}"}
    common = {"index": index, "index_name": "year", "value_units": UNITS,
              "value_long_name": "Global-mean surface air temperature anomaly", "attributes": attributes}
    series: list[dict[str, Any]] = [
        {"dimensions": {"source_id": source_id, "region": "global", "metric": "tas_anomaly"},
         "values": [round(float(v), DIGITS) for v in values], **common}
        for source_id, values in anomalies.items()
    ]
    series.append({"dimensions": {"reference_source_id": REFERENCE_ID, "region": "global",
                                  "metric": "tas_anomaly"},
                   "kind": "reference", "values": [round(float(v), DIGITS) for v in reference], **common})
    series.sort(key=lambda s: (json.dumps(s["dimensions"], sort_keys=True), s.get("kind", "model"),
                               s["index_name"]))
    return series


def output_bundle(source_ids: Sequence[str], seed: int, versions: Mapping[str, str],
                  input_dir: str | None = None) -> dict[str, Any]:
    environment = {
        "DIAGNOSTIC": f"{PROVIDER}/{SLUG}",
        "DIAGNOSTIC_VERSION": __version__,
        "PYTHON_VERSION": platform.python_version(),
        "SEED": str(seed),
        **{f"{name.upper()}_VERSION": version for name, version in versions.items()},
    }
    plots: dict[str, Any] = {
        f"bias_map_{s}": {
            "filename": bias_map_file(s),
            "long_name": f"{s} surface air temperature bias map",
            "description": f"Map of the {PERIOD} annual-mean tas bias of {s} against {REFERENCE_ID}.",
            "dimensions": {"source_id": s, "reference_source_id": REFERENCE_ID, "region": "global",
                           "metric": "bias"},
        }
        for s in source_ids
    }
    plots["regional_summary"] = {
        "filename": SUMMARY_PLOT,
        "long_name": "Regional tas bias and RMSE summary",
        "description": f"Bar charts of the area-weighted {PERIOD} tas bias and RMSE per region and model.",
        "dimensions": {"reference_source_id": REFERENCE_ID},
    }
    return {
        "index": HTML_FILE,
        "provenance": {
            "environment": environment,
            "modeldata": [dataset_id(s) for s in source_ids],
            "obsdata": {REFERENCE_ID: f"synthetic, seed {seed}" + (f", read from {input_dir}" if input_dir else "")},
            "log": LOG_FILE,
        },
        "plots": plots,
        "data": {
            "tas_fields": {
                "filename": DATA_FILE,
                "long_name": "Gridded tas climatologies and bias fields",
                "description": "NumPy .npz archive: lat, lon, years, the reference climatology, and per "
                               "model its climatology and bias (float32, K).",
                "dimensions": {"reference_source_id": REFERENCE_ID},
            },
        },
        "html": {
            "summary_page": {
                "filename": HTML_FILE,
                "long_name": "Global-mean bias summary page",
                "description": "Landing page with the metric table and links to the plots.",
            },
        },
        "metrics": {
            "scalar_bundle": {
                "filename": METRIC_BUNDLE,
                "long_name": "Scalar metric bundle",
                "description": "CMEC metric bundle holding the regional bias and RMSE values.",
            },
        },
    }


def index_html(stats: Stats, source_ids: Sequence[str]) -> str:
    e = html.escape
    header = "".join(f"<th>{e(r.name)} bias</th><th>{e(r.name)} RMSE</th>" for r in REGIONS)
    rows = "".join(
        "<tr><td>{}</td>{}</tr>\n".format(
            e(s), "".join(f"<td>{stats[s][r.name]['bias']:+.2f}</td><td>{stats[s][r.name]['rmse']:.2f}</td>"
                          for r in REGIONS))
        for s in source_ids
    )
    figures = "".join(
        f'<figure><a href="{e(f)}"><img src="{e(f)}" alt="{e(alt)}" width="640"></a>'
        f"<figcaption>{e(alt)}</figcaption></figure>\n"
        for f, alt in [(SUMMARY_PLOT, "Regional bias and RMSE summary")]
        + [(bias_map_file(s), f"{s} bias map") for s in source_ids]
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{e(PROVIDER)}/{e(SLUG)}: tas bias vs {e(REFERENCE_ID)}</title>
<style>body{{font-family:sans-serif;max-width:70em;margin:auto}}
td,th{{padding:0 .6em;text-align:right}}</style>
</head>
<body>
<h1>Annual-mean surface air temperature bias, {PERIOD}</h1>
<p>Reference: {e(REFERENCE_ID)}. Area-weighted (cos latitude) bias and RMSE of the climatology, in {UNITS}.
Metric bundle: <a href="{METRIC_BUNDLE}">{METRIC_BUNDLE}</a>,
series: <a href="{SERIES_FILE}">{SERIES_FILE}</a>, data: <a href="{DATA_FILE}">{DATA_FILE}</a>.</p>
<table>
<tr><th>source_id</th>{header}</tr>
{rows}</table>
{figures}</body>
</html>
"""
