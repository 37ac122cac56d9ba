"""The command's entry point: the Pod's two commands skip the CLI's imports; everything else is the CLI."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from diagnostic_operator.entrypoint import fast_command
from diagnostic_operator.transports.kubernetes.job import INIT_CONTAINER, SIDECAR_CONTAINER
from tests.unit.kubernetes.test_job import build, container

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("argv", "fast"), [
    (["install-shim", "/do/bin", "/do/output"], True),
    (["sidecar"], True),
    (["install-shim", "/do/bin"], False),  # the CLI says what is missing
    (["install-shim", "--help", "/x"], False),
    (["install-shim", "/do/bin", "--help"], False),
    (["sidecar", "--max-wait", "5"], False),
    (["sidecar", "--help"], False),
    (["run", "x.yaml"], False),
    ([], False),
    (["--version"], False),
])
def test_which_forms_skip_the_cli(argv: list[str], fast: bool) -> None:
    assert (fast_command(argv) is not None) is fast


def test_the_pods_commands_are_the_fast_forms() -> None:
    job = build()
    for name in (INIT_CONTAINER, SIDECAR_CONTAINER):
        command = container(job, name)["command"]
        assert command[0] == "diagnostic-operator"
        assert fast_command(command[1:]) is not None, name


def test_the_console_script_is_the_entry_point() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["diagnostic-operator"] == "diagnostic_operator.entrypoint:main"


PROBE = """
import sys
sys.argv = ["diagnostic-operator", *sys.argv[1:]]
from diagnostic_operator.entrypoint import main
try:
    main()
except SystemExit as exc:
    code = exc.code
print(repr(("CLI-LOADED", "typer" in sys.modules, "rich" in sys.modules, code)), file=sys.stderr)
"""


def _probe(*args: str, env: dict[str, str] | None = None) -> tuple[str, str, tuple[bool, bool, int]]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], check=False, capture_output=True, text=True, env=env,
                          timeout=60)
    last = proc.stderr.strip().splitlines()[-1]
    _, typer_loaded, rich_loaded, code = ast.literal_eval(last)
    return proc.stdout, proc.stderr, (typer_loaded, rich_loaded, code)


def test_install_shim_runs_without_the_cli(tmp_path: Path) -> None:
    out, _, (typer_loaded, rich_loaded, code) = _probe("install-shim", str(tmp_path / "b"), str(tmp_path / "o"))
    assert (typer_loaded, rich_loaded, code) == (False, False, 0)
    assert json.loads(out) == {"event": "shim-installed", "shim": str(tmp_path / "b" / "shim.sh"), "copied": True,
                               "outputDir": str(tmp_path / "o")}
    assert (tmp_path / "b" / "shim.sh").stat().st_mode & 0o777 == 0o755


def test_install_shim_error_without_the_cli(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    _, err, (typer_loaded, _, code) = _probe("install-shim", str(tmp_path / "f"), str(tmp_path / "o"))
    assert (typer_loaded, code) == (False, 1)
    assert err.startswith(f"error: cannot install the shim into {tmp_path / 'f'}")


def test_sidecar_runs_without_the_cli(tmp_path: Path) -> None:
    # no settings at all: the sidecar's own usage error (exit 2), reached without typer
    env = {"PATH": "/usr/bin:/bin", "DIAGNOSTIC_TERMINATION_LOG": str(tmp_path / "termination")}
    out, _, (typer_loaded, _, code) = _probe("sidecar", env=env)
    assert (typer_loaded, code) == (False, 2)
    assert any(json.loads(line).get("event") == "usage-error" for line in out.splitlines() if line.startswith("{"))


def test_other_commands_are_the_cli() -> None:
    out, _, (typer_loaded, _, code) = _probe("--version")
    assert (typer_loaded, code) == (True, 0)
    assert "0.1.0" in out
