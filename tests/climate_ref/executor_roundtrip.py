"""Solve the same synthetic CMIP6 data twice with real Climate-REF and dump what each database holds.

Run with the Python of ``tests/climate_ref/ensure-env``:  python executor_roundtrip.py OUT.json

- ``inprocess``: Climate-REF's own SynchronousExecutor (``execute_locally`` in the ``ref solve`` process).
- ``kubernetes``: ``KubernetesExecutor`` (climate-ref-executor) with the Kubernetes API replaced by
  ``ProcessDxApi`` below, which runs each DiagnosticExecution's command in a subprocess as a Pod would: the
  executor's ``run`` serialises the definition beside the output folder, the Pod-side entry point
  (``python -m diagnostic_operator_climate_ref.run``) runs Climate-REF's ``execute_locally`` and writes the
  serialised result, and the executor's ``join`` ingests it with ``handle_execution_result``.

Both are real ``ref solve`` commands on the example provider's global-mean-timeseries: two synthetic models
(18x36 grid, 5 years monthly tas + areacella) succeed; a third model's data is broken after
ingestion (a third model whose tas file is cut short), so a failed result travels the same way. The dump: executions
(successful, failure_reason, fragment), groups (dirty), metric values, series, outputs, and the SHA-256 of
every result file but the logs.
"""
# ruff: noqa: PLC0415

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

MODELS = ("ACCESS-ESM1-5", "CanESM5", "MIROC6")
#: Its tas file is cut short after ``ref datasets ingest`` read it, so its execution fails in the diagnostic.
BROKEN = "MIROC6"


def make_cmip6(root: Path) -> None:
    """tas (Amon) and areacella (fx) of each model, in the directory layout and with the global
    attributes Climate-REF's "complete" CMIP6 parser reads."""
    import pandas as pd
    import xarray as xr

    lat = np.linspace(-85, 85, 18)
    lon = np.linspace(5, 355, 36)
    times = pd.date_range("2000-01-01", periods=60, freq="MS")
    ends = pd.date_range("2000-02-01", periods=60, freq="MS")
    for i, source in enumerate(MODELS):
        common = {"activity_id": "CMIP", "institution_id": "INST", "source_id": source,
                  "experiment_id": "historical", "variant_label": "r1i1p1f1", "grid_label": "gn",
                  "member_id": "r1i1p1f1", "mip_era": "CMIP6", "Conventions": "CF-1.7 CMIP-6.2",
                  "further_info_url": "https://example.org", "grid": "synthetic", "nominal_resolution": "1000 km",
                  "product": "model-output", "source_type": "AOGCM", "sub_experiment_id": "none",
                  "variant_info": "synthetic"}
        base = root / "CMIP6" / "CMIP" / "INST" / source / "historical" / "r1i1p1f1"
        rng = np.random.default_rng(i)
        seasonal = 10 * np.cos(2 * np.pi * np.arange(60) / 12)[:, None, None]
        tas = 280 + i + seasonal + np.cos(np.deg2rad(lat))[None, :, None] * 20 + rng.normal(0, 1, (60, 18, 36))
        ds = xr.Dataset(
            {"tas": (("time", "lat", "lon"), tas.astype("float32"), {"units": "K", "standard_name": "air_temperature"}),
             "time_bnds": (("time", "bnds"), np.stack([times.values, ends.values], axis=1))},
            coords={"time": ("time", times.values, {"bounds": "time_bnds"}),
                    "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
                    "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"})},
            attrs={**common, "table_id": "Amon", "variable_id": "tas", "frequency": "mon", "realm": "atmos"})
        enc = {"time": {"units": "days since 2000-01-01", "calendar": "standard"},
               "time_bnds": {"units": "days since 2000-01-01", "calendar": "standard"}}
        folder = base / "Amon" / "tas" / "gn" / "v20200101"
        folder.mkdir(parents=True)
        ds.to_netcdf(folder / f"tas_Amon_{source}_historical_r1i1p1f1_gn_200001-200412.nc", encoding=enc)
        area = np.cos(np.deg2rad(lat))[:, None] * np.ones((18, 36)) * 1e10
        fx = xr.Dataset(
            {"areacella": (("lat", "lon"), area, {"units": "m2", "standard_name": "cell_area"})},
            coords={"lat": ("lat", lat, {"units": "degrees_north"}), "lon": ("lon", lon, {"units": "degrees_east"})},
            attrs={**common, "table_id": "fx", "variable_id": "areacella", "frequency": "fx", "realm": "atmos"})
        folder = base / "fx" / "areacella" / "gn" / "v20200101"
        folder.mkdir(parents=True)
        fx.to_netcdf(folder / f"areacella_fx_{source}_historical_r1i1p1f1_gn.nc")


def ref_toml(root: Path, executor: str, executor_config: str) -> str:
    return f"""
log_level = "INFO"
ignore_datasets_url = ""
[paths]
log = "{root}/log"
scratch = "{root}/scratch"
software = "{root}/software"
results = "{root}/results"
[db]
database_url = "sqlite:///{root}/db/climate_ref.db"
[executor]
executor = "{executor}"
{executor_config}
[[diagnostic_providers]]
provider = "climate_ref_example:provider"
"""


def solve(name: str, work: Path, source: Path, executor: str, executor_config: str = "",
          extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    root = work / name
    (root / "db").mkdir(parents=True)
    data = root / "data"  # each side its own copy: one file is broken after ingestion
    shutil.copytree(source, data)
    (root / "ref.toml").write_text(ref_toml(root, executor, executor_config))
    env = {**os.environ, "REF_CONFIGURATION": str(root), **(extra_env or {})}
    ref = str(Path(sys.executable).with_name("ref"))
    for args in (["datasets", "ingest", "--source-type", "cmip6", str(data)],
                 ["solve", "--provider", "example", "--diagnostic", "global-mean-timeseries", "--timeout", "300"]):
        done = subprocess.run([ref, *args], env=env, capture_output=True, text=True, check=False)
        # `ref solve` exits 1 when an execution failed, as one does here by design
        if done.returncode not in ((0, 1) if args[0] == "solve" else (0,)):
            raise SystemExit(f"{name}: ref {' '.join(args)} exited {done.returncode}\n{done.stderr[-4000:]}")
        if args[0] == "datasets":
            for path in data.rglob(f"tas_Amon_{BROKEN}_*.nc"):
                path.write_bytes(path.read_bytes()[:200])
    return dump(root)


def dump(root: Path) -> dict[str, Any]:
    import sqlite3

    con = sqlite3.connect(root / "db" / "climate_ref.db")
    con.row_factory = sqlite3.Row

    def rows(sql: str) -> list[dict[str, Any]]:
        return [dict(r) for r in con.execute(sql)]

    executions = rows("""select g.key, e.successful, e.failure_reason, e.output_fragment, e.path, g.dirty
                         from execution e join execution_group g on g.id = e.execution_group_id order by g.key""")
    values = rows("""select g.key, m.* from metric_value m join execution e on e.id = m.execution_id
                     join execution_group g on g.id = e.execution_group_id""")
    outputs = rows("""select g.key, o.* from execution_output o join execution e on e.id = o.execution_id
                      join execution_group g on g.id = e.execution_group_id""")
    for table in (values, outputs):
        for row in table:
            for column in ("id", "execution_id", "created_at", "updated_at"):
                row.pop(column, None)
    files = {str(path.relative_to(root / "results")): _digest(path)
             for path in sorted((root / "results").rglob("*")) if path.is_file() and path.suffix != ".log"}
    logs = {str(p.relative_to(root / "results")): p.read_text()[-2000:] for p in (root / "results").rglob("*.log")}
    sort = lambda rs: sorted(rs, key=lambda r: json.dumps(r, sort_keys=True, default=str))  # noqa: E731
    return {"executions": executions, "values": sort(values), "outputs": sort(outputs), "files": files,
            "logs": logs}


def _digest(path: Path) -> str:
    """SHA-256 of the file; of a NetCDF file, of its decoded contents (variables, values, attributes): HDF5
    does not always write the same bytes for the same data, so the bytes alone would compare the library."""
    if path.suffix != ".nc":
        return hashlib.sha256(path.read_bytes()).hexdigest()
    import xarray as xr

    with xr.open_dataset(path) as ds:
        text = json.dumps(ds.to_dict(data="list"), sort_keys=True, default=str)
    return "nc:" + hashlib.sha256(text.encode()).hexdigest()


def main(out: Path) -> int:
    work = Path(tempfile.mkdtemp(prefix="ref-executor-", dir=os.environ.get("WORK_PARENT", "/var/tmp")))
    os.environ["HOME"] = str(work / "home")
    (work / "home").mkdir()
    data = work / "data"
    make_cmip6(data)
    here = Path(__file__).resolve().parent
    config = f"""
[executor.config]
defaultImage = "unused-in-this-test"
pollSeconds = 0.2
dataVolumes = [{{name = "cmip6", path = "{work}/kubernetes/data"}}]
scratchVolume = {{name = "scratch", path = "{work}/kubernetes/scratch"}}
"""
    try:
        report = {
            "inprocess": solve("inprocess", work, data, "climate_ref.executor.SynchronousExecutor"),
            "kubernetes": solve("kubernetes", work, data, "executor_roundtrip_api.ProcessKubernetesExecutor",
                                config, {"PYTHONPATH": str(here), "ROUNDTRIP_STATUS_LOG": str(work / "statuses.json")}),
        }
        report["statuses"] = json.loads((work / "statuses.json").read_text())
        out.write_text(json.dumps(report, indent=1, sort_keys=True, default=str))
    finally:
        if not os.environ.get("KEEP_WORK"):  # KEEP_WORK=1 keeps the folders to look at
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
