"""The example diagnostic, run as a subprocess the way the runner runs it.

These tests check the files against the formats by hand (result-formats reference, sections 2-4), not with
the operator's parsers: the integration tests validate the same output with those.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

np = pytest.importorskip("numpy")  # the example diagnostic needs numpy and matplotlib (the "example" extra)
pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[3]
PROJECT = ROOT / "examples" / "example-diagnostic"
MODELS = ("ACCESS-ESM1-5", "CanESM5", "CESM2")
REGIONS = ("global", "NHEX", "SHEX", "Tropics")
METRICS = ("bias", "rmse")
YEARS = list(range(1980, 2015))
CV_NAMES = {"source_id", "reference_source_id", "region", "metric"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
KNOB_VARS = ("EXAMPLE_EXIT_CODE", "EXAMPLE_ALLOCATE_MIB", "EXAMPLE_INVALID_BUNDLE", "EXAMPLE_SLEEP",
             "EXAMPLE_SEED", "EXAMPLE_INPUT_DIR", "DIAGNOSTIC_RESULTS_DIR")


def run(out: Path, *args: str, env: dict[str, str] | None = None, code: str | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m example_diagnostic ARGS`` with DIAGNOSTIC_OUTPUT_DIR=out as its working directory."""
    out.mkdir(parents=True, exist_ok=True)
    environ = {k: v for k, v in os.environ.items() if k not in KNOB_VARS}
    environ.update({"DIAGNOSTIC_OUTPUT_DIR": str(out), "MPLBACKEND": "Agg",
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT), os.environ.get("PYTHONPATH")]))})
    environ.update(env or {})
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "example_diagnostic"]
    return subprocess.run([*command, *args], cwd=out, env=environ, capture_output=True, text=True,
                          timeout=timeout, check=False)


def strict_load(path: Path) -> Any:
    """JSON without NaN/Infinity tokens, written sorted with 2-space indentation."""
    text = path.read_text(encoding="utf-8")

    def refuse(token: str) -> None:
        raise AssertionError(f"{path.name} contains the non-standard token {token}")

    document = json.loads(text, parse_constant=refuse)
    assert text == json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n"
    return document


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("run") / "out"
    proc = run(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc


@pytest.fixture(scope="module")
def out(result: tuple[Path, subprocess.CompletedProcess[str]]) -> Path:
    return result[0]


@pytest.fixture(scope="module")
def bundle(out: Path) -> dict[str, Any]:
    document = strict_load(out / "diagnostic.json")
    assert isinstance(document, dict)
    return document


# ---------------------------------------------------------------------------------------------- success


def test_run_writes_the_three_result_files_and_logs_progress(result: tuple[Path, Any]) -> None:
    out, proc = result
    for name in ("diagnostic.json", "output.json", "series.json", "index.html"):
        assert (out / name).is_file(), name
    assert not (out / "out.log").exists()  # the runner writes the log, not the diagnostic
    assert "computing area-weighted" in proc.stdout and "done in" in proc.stdout
    for model in MODELS:  # the results table
        assert any(line.startswith(model) for line in proc.stdout.splitlines())


def test_metric_bundle_dimensions(bundle: dict[str, Any]) -> None:
    dims = bundle["DIMENSIONS"]
    assert dims["json_structure"] == ["source_id", "region", "metric"]
    assert set(dims) == {"json_structure", "source_id", "region", "metric"}
    assert set(dims["source_id"]) == set(MODELS)
    assert set(dims["region"]) == set(REGIONS)
    assert set(dims["metric"]) == set(METRICS)
    assert all(isinstance(meta, dict) for name in ("source_id", "region", "metric") for meta in dims[name].values())
    for key in ("PROVENANCE", "NOTES"):
        assert isinstance(bundle[key], dict)


def test_metric_bundle_has_24_finite_leaves_with_leaf_attributes(bundle: dict[str, Any]) -> None:
    results = bundle["RESULTS"]
    assert set(results) == set(MODELS)
    leaves = 0
    for model in MODELS:
        assert set(results[model]) == set(REGIONS)  # no attributes at intermediate levels
        for region in REGIONS:
            node = results[model][region]
            assert set(node) == {*METRICS, "attributes"}
            assert node["attributes"] == {"reference": "HadCRUT5-synthetic", "period": "1980-2014", "units": "K"}
            for metric in METRICS:
                assert is_number(node[metric]), (model, region, metric, node[metric])
                leaves += 1
    assert leaves == len(MODELS) * len(REGIONS) * len(METRICS) == 24


def test_bias_values_are_plausible(bundle: dict[str, Any]) -> None:
    r = bundle["RESULTS"]
    for model in MODELS:
        for region in REGIONS:
            bias, rmse = r[model][region]["bias"], r[model][region]["rmse"]
            assert abs(bias) < 3.0 and 0.05 < rmse < 4.0
            assert rmse >= abs(bias) - 1e-3  # RMSE bounds the mean error
        # The regions partition the sphere: tropics 1/2 of the area, each extratropical band 1/4.
        combined = 0.5 * r[model]["Tropics"]["bias"] + 0.25 * (r[model]["NHEX"]["bias"] + r[model]["SHEX"]["bias"])
        assert combined == pytest.approx(r[model]["global"]["bias"], abs=0.03)
    # The bias patterns the models were given show up where they should.
    assert r["ACCESS-ESM1-5"]["Tropics"]["bias"] < -0.3  # cold tropics
    assert r["CanESM5"]["global"]["bias"] > 0.3  # warm everywhere, warmest in the Arctic
    assert r["CanESM5"]["NHEX"]["bias"] == max(r["CanESM5"][g]["bias"] for g in REGIONS)
    assert r["CESM2"]["SHEX"]["bias"] < 0  # cold Antarctica


def test_series_file(out: Path) -> None:
    series = strict_load(out / "series.json")
    assert isinstance(series, list) and len(series) == 4
    models = [s for s in series if s.get("kind", "model") == "model"]
    references = [s for s in series if s.get("kind") == "reference"]
    assert sorted(s["dimensions"]["source_id"] for s in models) == sorted(MODELS)
    assert len(references) == 1
    assert references[0]["dimensions"] == {"reference_source_id": "HadCRUT5-synthetic", "region": "global",
                                           "metric": "tas_anomaly"}
    for s in series:
        assert set(s["dimensions"]) <= CV_NAMES
        assert all(isinstance(v, str) for v in s["dimensions"].values())
        assert s["index_name"] == "year"
        assert s["index"] == YEARS and all(type(y) is int for y in s["index"])
        assert len(s["values"]) == len(s["index"])
        assert all(is_number(v) for v in s["values"])
        assert all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in s["attributes"].values())
        baseline = s["values"][YEARS.index(1981):YEARS.index(2010) + 1]
        assert abs(sum(baseline) / len(baseline)) < 0.01  # anomalies relative to 1981-2010
        assert sum(s["values"][-5:]) > sum(s["values"][:5])  # it warms


def test_output_bundle_entries_exist_and_use_cv_dimensions(out: Path) -> None:
    bundle = strict_load(out / "output.json")
    provenance = bundle["provenance"]
    assert provenance["log"] == "out.log"
    assert provenance["environment"] and all(isinstance(v, str) for v in provenance["environment"].values())
    assert isinstance(provenance["modeldata"], list) and len(provenance["modeldata"]) == 3
    assert isinstance(provenance["obsdata"], dict | list | str)
    assert bundle["index"] == "index.html"
    plots = bundle["plots"]
    assert {e["filename"] for e in plots.values()} == {
        *(f"plots/{m}_tas_bias_map.png" for m in MODELS), "plots/regional_bias_summary.png"}
    assert any(e["filename"].endswith(".npz") for e in bundle["data"].values())
    assert any(e["filename"] == "index.html" for e in bundle["html"].values())
    for section in ("plots", "data", "html", "metrics"):
        for short_name, entry in bundle[section].items():
            assert isinstance(entry["long_name"], str) and entry["long_name"], short_name
            assert isinstance(entry["description"], str), short_name
            path = Path(entry["filename"])
            assert not path.is_absolute() and ".." not in path.parts, short_name
            assert (out / path).is_file(), short_name
            dims = entry.get("dimensions") or {}
            assert set(dims) <= CV_NAMES and all(isinstance(v, str) for v in dims.values()), short_name
    for model in MODELS:
        assert plots[f"bias_map_{model}"]["dimensions"]["source_id"] == model


def test_plots_are_real_pngs(out: Path) -> None:
    pngs = sorted((out / "plots").glob("*.png"))
    assert len(pngs) == 4
    for png in pngs:
        data = png.read_bytes()
        assert data[:8] == PNG_MAGIC, png.name
        assert len(data) > 10_000, png.name  # a real figure, not an empty canvas
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert width >= 600 and height >= 300, (png.name, width, height)


def test_data_file_and_html_page(out: Path) -> None:
    with np.load(out / "data" / "tas_fields.npz") as data:
        lat, lon = data["lat"], data["lon"]
        assert lat.shape == (72,) and lon.shape == (144,) and data["years"].tolist() == YEARS
        for model in MODELS:
            assert data[f"bias_{model}"].shape == (72, 144)
            assert np.isfinite(data[f"bias_{model}"]).all()
        ref = data["reference_climatology"]
        assert 200 < ref.min() < ref.max() < 320  # K
    page = (out / "index.html").read_text(encoding="utf-8")
    for model in MODELS:
        assert f'href="plots/{model}_tas_bias_map.png"' in page
    assert 'href="plots/regional_bias_summary.png"' in page


def test_two_runs_are_identical(out: Path, tmp_path: Path) -> None:
    proc = run(tmp_path / "again")
    assert proc.returncode == 0, proc.stderr
    for name in ("diagnostic.json", "series.json", "output.json"):
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name


def test_another_seed_gives_other_numbers(tmp_path: Path) -> None:
    code = ("import json\nfrom example_diagnostic import bundles, data, metrics\n"
            "def values(seed):\n"
            "    e = data.generate(seed)\n"
            "    return bundles.metric_bundle(metrics.all_stats(e, metrics.bias_fields(e)), seed)['RESULTS']\n"
            "print(json.dumps([values(1850) == values(1850), values(1850) == values(7)]))")
    proc = run(tmp_path, code=code)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [True, False]


# ---------------------------------------------------------------------------------------------- knobs


def test_exit_code_exits_without_results(tmp_path: Path) -> None:
    proc = run(tmp_path / "o", "--exit-code", "3")
    assert proc.returncode == 3
    assert "computing area-weighted" in proc.stdout  # it logged its work first
    assert "exit code 3" in proc.stderr
    assert list((tmp_path / "o").iterdir()) == []


def test_knobs_read_the_environment_and_flags_win(tmp_path: Path) -> None:
    assert run(tmp_path / "a", env={"EXAMPLE_EXIT_CODE": "75"}).returncode == 75
    assert run(tmp_path / "b", "--exit-code", "4", env={"EXAMPLE_EXIT_CODE": "75"}).returncode == 4
    bad = run(tmp_path / "c", env={"EXAMPLE_EXIT_CODE": "seventy"})
    assert bad.returncode != 0 and "EXAMPLE_EXIT_CODE" in bad.stderr
    assert run(tmp_path / "d", "--exit-code", "256").returncode == 2  # argparse usage error


def test_allocate_runs_after_numpy_and_before_matplotlib(tmp_path: Path) -> None:
    code = ("import sys\nimport example_diagnostic.cli as cli\n"
            "real = cli.allocate\n"
            "def spy(mib):\n"
            "    print('numpy', 'numpy' in sys.modules, 'matplotlib', 'matplotlib' in sys.modules, flush=True)\n"
            "    real(mib)\n"
            "cli.allocate = spy\n"
            "sys.exit(cli.main(sys.argv[1:]))\n")
    proc = run(tmp_path / "o", "--exit-code", "0", code=code, env={"EXAMPLE_ALLOCATE_MIB": "16"})
    assert proc.returncode == 0, proc.stderr
    assert "numpy True matplotlib False" in proc.stdout
    assert "allocated and touched 16 MiB" in proc.stdout
    assert proc.stdout.index("allocated and touched") < proc.stdout.index("generating synthetic")


def test_invalid_bundle_writes_a_string_leaf_and_exits_0(tmp_path: Path) -> None:
    out = tmp_path / "o"
    proc = run(out, "--invalid-bundle")
    assert proc.returncode == 0, proc.stderr
    assert "INVALID metric bundle" in proc.stdout
    document = json.loads((out / "diagnostic.json").read_text(encoding="utf-8"))
    leaf = document["RESULTS"]["ACCESS-ESM1-5"]["global"]["bias"]
    assert isinstance(leaf, str) and float(leaf) == pytest.approx(float(leaf))
    strings = [(m, r, k) for m, regions in document["RESULTS"].items() for r, node in regions.items()
               for k, v in node.items() if k != "attributes" and not is_number(v)]
    assert strings == [("ACCESS-ESM1-5", "global", "bias")]
    for name in ("output.json", "series.json"):
        assert (out / name).is_file()
    # The environment variable alone does it too, and --no-invalid-bundle overrides it.
    env = {"EXAMPLE_INVALID_BUNDLE": "1", "EXAMPLE_EXIT_CODE": "0"}
    assert "--invalid-bundle" not in run(tmp_path / "p", "--no-invalid-bundle", env=env).stdout


def test_sleep_prints_heartbeats(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = run(tmp_path / "o", "--sleep", "2.2", "--exit-code", "0")
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started >= 2.2
    beats = [line for line in proc.stdout.splitlines() if "] heartbeat " in line]
    assert len(beats) == 3, proc.stdout  # one a second, and one for the last 0.2 s
    assert proc.stdout.index("] heartbeat ") < proc.stdout.index("generating synthetic")


def test_missing_output_dir_is_a_usage_error(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if k not in ("DIAGNOSTIC_OUTPUT_DIR", "DIAGNOSTIC_RESULTS_DIR")}
    environ["PYTHONPATH"] = str(PROJECT)
    proc = subprocess.run([sys.executable, "-m", "example_diagnostic"], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "DIAGNOSTIC_OUTPUT_DIR" in proc.stderr
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------- input folder


@pytest.fixture(scope="module")
def input_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("input") / "cmip-sample"
    proc = run(tmp_path_factory.mktemp("make"), "make-input", str(folder))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return folder


def test_make_input_writes_one_array_per_dataset_and_an_index(input_dir: Path) -> None:
    index = json.loads((input_dir / "dataset.json").read_text(encoding="utf-8"))
    assert index["seed"] == 1850 and index["format"] == "example-diagnostic/input/v1"
    assert [d["source_id"] for d in index["datasets"]] == ["HadCRUT5-synthetic", *MODELS]
    tas = np.load(input_dir / "tas_CanESM5.npy")
    assert tas.shape == (len(YEARS), 72, 144) and tas.dtype == np.float32
    assert float(tas.min()) > 200 and float(tas.max()) < 320


def test_reading_the_input_folder_gives_the_numbers_of_the_synthetic_run(input_dir: Path, bundle: dict[str, Any],
                                                                        tmp_path: Path) -> None:
    proc = run(tmp_path / "o", env={"EXAMPLE_INPUT_DIR": str(input_dir), "EXAMPLE_SEED": "7"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"reading annual-mean tas from {input_dir}" in proc.stdout and "generating synthetic" not in proc.stdout
    read = strict_load(tmp_path / "o" / "diagnostic.json")
    assert read["RESULTS"] == bundle["RESULTS"]  # float32 storage changes nothing at 4 digits
    assert read["PROVENANCE"]["seed"] == 1850  # the folder's seed, not EXAMPLE_SEED's
    obsdata = strict_load(tmp_path / "o" / "output.json")["provenance"]["obsdata"]
    assert obsdata == {"HadCRUT5-synthetic": f"synthetic, seed 1850, read from {input_dir}"}


@pytest.mark.parametrize(("damage", "words"), [
    ("no-index", "no dataset.json (write one with `python3 -m example_diagnostic make-input"),
    ("missing-model", "no dataset for CESM2"),
    ("wrong-shape", "expected floats of shape (35, 72, 144)"),
])
def test_a_broken_input_folder_is_a_usage_error(input_dir: Path, tmp_path: Path, damage: str, words: str) -> None:
    broken = tmp_path / "in"
    broken.mkdir()
    index = json.loads((input_dir / "dataset.json").read_text(encoding="utf-8"))
    for entry in index["datasets"]:
        (broken / entry["file"]).write_bytes((input_dir / entry["file"]).read_bytes())
    if damage == "missing-model":
        index["datasets"] = [d for d in index["datasets"] if d["source_id"] != "CESM2"]
    if damage == "wrong-shape":
        np.save(broken / "tas_CESM2.npy", np.zeros((3, 4), dtype=np.float32))
    if damage != "no-index":
        (broken / "dataset.json").write_text(json.dumps(index), encoding="utf-8")
    proc = run(tmp_path / "o", "--input-dir", str(broken))
    assert proc.returncode == 2 and words in proc.stderr, proc.stderr
    assert not (tmp_path / "o" / "diagnostic.json").exists()


def test_results_go_to_diagnostic_results_dir_when_it_is_set(tmp_path: Path) -> None:
    results = tmp_path / "results" / "run-1"
    proc = run(tmp_path / "o", "--exit-code", "0",
               env={"DIAGNOSTIC_RESULTS_DIR": str(results)})
    assert proc.returncode == 0, proc.stderr
    assert f"output folder {results}" in proc.stdout and results.is_dir()
