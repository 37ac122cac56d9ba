"""The init container's shim installer: copy with mode 0755, output folder 0777, idempotent."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from diagnostic_operator.cli import app
from diagnostic_operator.runtime.install_shim import InstallError, install_shim
from diagnostic_operator.runtime.shim import shim_path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_installs_the_shim_and_creates_the_output_folder(tmp_path: Path) -> None:
    old = os.umask(0o077)  # a narrow umask must not narrow the modes
    try:
        result = install_shim(tmp_path / "bin", tmp_path / "out" / "deep")
    finally:
        os.umask(old)
    assert result.shim == tmp_path / "bin" / "shim.sh"
    assert result.shim.read_bytes() == shim_path().read_bytes()
    assert mode(result.shim) == 0o755
    assert mode(tmp_path / "out" / "deep") == 0o777
    assert result.shim_copied
    assert [p.name for p in (tmp_path / "bin").iterdir()] == ["shim.sh"]  # no temp file left


def test_is_idempotent_and_repairs(tmp_path: Path) -> None:
    install_shim(tmp_path / "bin", tmp_path / "out")
    again = install_shim(tmp_path / "bin", tmp_path / "out")
    assert not again.shim_copied
    (tmp_path / "bin" / "shim.sh").chmod(0o600)
    (tmp_path / "out").chmod(0o700)
    assert not install_shim(tmp_path / "bin", tmp_path / "out").shim_copied
    assert mode(tmp_path / "bin" / "shim.sh") == 0o755
    assert mode(tmp_path / "out") == 0o777
    (tmp_path / "bin" / "shim.sh").write_text("#!/bin/sh\nold\n")
    assert install_shim(tmp_path / "bin", tmp_path / "out").shim_copied
    assert (tmp_path / "bin" / "shim.sh").read_bytes() == shim_path().read_bytes()


def test_errors_name_the_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(InstallError, match=r"into .*file/bin"):
        install_shim(tmp_path / "file" / "bin", tmp_path / "out")
    with pytest.raises(InstallError, match=r"output directory .*file/out"):
        install_shim(tmp_path / "bin", tmp_path / "file" / "out")
    with pytest.raises(InstallError, match="cannot read the runner shim"):
        install_shim(tmp_path / "bin", tmp_path / "out", source=tmp_path / "missing.sh")


def test_cli(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["install-shim", str(tmp_path / "b"), str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"event": "shim-installed", "shim": str(tmp_path / "b" / "shim.sh"),
                                         "copied": True, "outputDir": str(tmp_path / "o")}
    (tmp_path / "f").write_text("x")
    result = CliRunner().invoke(app, ["install-shim", str(tmp_path / "f"), str(tmp_path / "o")])
    assert result.exit_code == 1
