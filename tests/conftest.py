"""Shared pytest configuration. Service fixtures live in plugin modules, one per real dependency."""

pytest_plugins = [
    "tests.services.postgres",
    "tests.services.s3",
    "tests.cluster.fixtures",
]
