"""Climate-REF's Kubernetes executor against Climate-REF 0.20.2 itself: the same synthetic data solved
in-process (Climate-REF's SynchronousExecutor) and through ``KubernetesExecutor`` (definition serialised on
the scratch volume, the Pod-side entry point in its own process, the result ingested in ``join``) leaves the
same rows and the same result files in Climate-REF's database and results folder.

The driver (``tests/climate_ref/executor_roundtrip.py``) runs in the Python 3.12 virtualenv of
``tests/climate_ref/ensure-env``; the Kubernetes API is replaced by subprocesses there, everything else
is real. Two executions succeed; a third reads a NetCDF file cut short after ingestion, so its entry point
writes Climate-REF's retryable failure and exits with the retryable exit code.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
ENSURE_ENV = ROOT / "tests" / "climate_ref" / "ensure-env"
DRIVER = ROOT / "tests" / "climate_ref" / "executor_roundtrip.py"
SYSTEM_ERROR_EXIT = 75  # diagnostic_operator_climate_ref.exit_codes.SYSTEM_ERROR (not importable here: 3.11)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    python = subprocess.run([str(ENSURE_ENV)], check=True, capture_output=True, text=True).stdout.split()[-1]
    out = tmp_path_factory.mktemp("roundtrip") / "report.json"
    done = subprocess.run([python, str(DRIVER), str(out)], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path_factory.getbasetemp(), check=False)
    assert done.returncode == 0, done.stderr[-6000:]
    return dict(json.loads(out.read_text()))


def test_same_executions_groups_and_failure(report: dict[str, Any]) -> None:
    ours, theirs = report["kubernetes"]["executions"], report["inprocess"]["executions"]
    assert ours == theirs
    outcomes = {row["key"].split("_")[2]: (row["successful"], row["failure_reason"], row["dirty"]) for row in ours}
    assert outcomes == {"ACCESS-ESM1-5": (1, None, 0), "CanESM5": (1, None, 0), "MIROC6": (0, "system_error", 1)}


def test_same_values_outputs_and_files(report: dict[str, Any]) -> None:
    ours, theirs = report["kubernetes"], report["inprocess"]
    assert ours["values"] == theirs["values"] and len(ours["values"]) > 0
    assert ours["outputs"] == theirs["outputs"] and len(ours["outputs"]) > 0
    assert ours["files"] == theirs["files"]
    assert any(name.endswith(".nc") for name in ours["files"])


def test_exit_codes_the_operator_reads(report: dict[str, Any]) -> None:
    codes = sorted(status["exitCode"] for status in report["statuses"].values())
    assert codes == [0, 0, SYSTEM_ERROR_EXIT]


def test_failure_log_is_in_the_results(report: dict[str, Any]) -> None:
    logs = report["kubernetes"]["logs"]
    failed = [text for name, text in logs.items() if "MIROC6" in name]
    assert failed and "execution failed (system_error)" in failed[0]
