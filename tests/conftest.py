"""Shared pytest configuration. Service fixtures live in plugin modules, one per real dependency."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests: a quick profile by default, so the unit layer stays within seconds; a long search with
# HYPOTHESIS_PROFILE=thorough (e.g. `HYPOTHESIS_PROFILE=thorough tests/run unit`). A test that sets
# max_examples itself keeps its own number.
settings.register_profile("quick", max_examples=40, deadline=None)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))

# tests.cluster.fixtures first: the service plugins import it (through tests.helpers), and a plugin imported
# before pytest registers it is not assertion-rewritten.
pytest_plugins = [
    "tests.cluster.fixtures",
    "tests.services.postgres",
    "tests.services.s3",
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
