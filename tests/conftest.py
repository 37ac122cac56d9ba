"""Shared pytest configuration. Service fixtures live in plugin modules, one per real dependency."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.services.postgres",
    "tests.services.s3",
    "tests.cluster.fixtures",
]

LAYER_BY_DIRECTORY = {"integration": "integration", "k8s": "cluster"}
TESTS = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects anything
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test belongs to the layer of its directory (tests/integration → integration, tests/k8s → cluster),
    so a test that forgets its marker still runs in its layer instead of in none."""
    for item in items:
        try:
            top = Path(str(item.path)).resolve().relative_to(TESTS).parts[0]
        except (ValueError, IndexError):
            continue
        marker = LAYER_BY_DIRECTORY.get(top)
        if marker is not None and item.get_closest_marker(marker) is None:
            item.add_marker(getattr(pytest.mark, marker))
