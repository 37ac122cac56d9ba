"""The manifest of one execution: table tests of ``mapping`` (pure)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import pytest
from diagnostic_operator.spec import DiagnosticExecution

from diagnostic_operator_climate_ref import exit_codes
from diagnostic_operator_climate_ref.mapping import (
    LABEL_EXECUTION_ID,
    ExecutionFacts,
    build_manifest,
    group_key,
    resource_name,
    sidecar_paths,
)
from diagnostic_operator_climate_ref.settings import ExecutorSettings

OUT = PurePosixPath("/ref/scratch/example/global-mean-timeseries/abc123")


def settings(**extra: Any) -> ExecutorSettings:
    base: dict[str, Any] = {
        "namespace": "ref",
        "images": {"example": "registry.example.org/ref-example:1"},
        "dataVolumes": [{"name": "cmip6", "path": "/data/cmip6"}],
        "scratchVolume": {"name": "scratch", "path": "/ref/scratch"},
    }
    return ExecutorSettings.model_validate({**base, **extra})


def facts(**extra: Any) -> ExecutionFacts:
    base: dict[str, Any] = dict(execution_id=42, provider="example", slug="global-mean-timeseries", version="1",
                                key="cmip6_ACCESS-ESM1-5_tas", dataset_hash="d41d8", output_directory=OUT)
    return ExecutionFacts(**{**base, **extra})


@pytest.mark.parametrize(("prefix", "execution_id", "slug", "expected"), [
    ("ref", 42, "global-mean-timeseries", "ref-42-global-mean-timeseries"),
    ("ref", 7, "Sea_Ice.Area", "ref-7-sea-ice-area"),
    ("ref", 123456789, "x" * 80, ("ref-123456789-" + "x" * 80)[:63]),
    ("ref", 9, "---", "ref-9"),
    ("ref", 5, "a" * 57 + "-bcd", "ref-5-" + "a" * 57),  # cut at 63, the trailing - dropped
])
def test_resource_name(prefix: str, execution_id: int, slug: str, expected: str) -> None:
    name = resource_name(prefix, execution_id, slug)
    assert name == expected
    assert len(name) <= 63


def test_group_key_short_is_kept_long_is_hashed() -> None:
    assert group_key("cmip6_tas") == "cmip6_tas"
    long_a, long_b = "k" * 300 + "a", "k" * 300 + "b"
    assert len(group_key(long_a)) == 253
    assert group_key(long_a) != group_key(long_b)
    assert group_key(long_a).startswith("k" * 100)


def test_sidecar_files_are_beside_the_output_folder() -> None:
    definition, result = sidecar_paths(OUT)
    assert definition == PurePosixPath("/ref/scratch/example/global-mean-timeseries/abc123.definition.json")
    assert result.parent == OUT.parent and not str(result).startswith(str(OUT) + "/")


def test_manifest() -> None:
    manifest = build_manifest(facts(), settings())
    DiagnosticExecution.model_validate(manifest)
    meta, spec = manifest["metadata"], manifest["spec"]
    assert meta["name"] == "ref-42-global-mean-timeseries"
    assert meta["namespace"] == "ref"
    assert meta["labels"][LABEL_EXECUTION_ID] == "42"
    assert spec["diagnostic"] == {"provider": "example", "slug": "global-mean-timeseries", "version": "1"}
    assert spec["groupKey"] == "cmip6_ACCESS-ESM1-5_tas"
    assert spec["datasetHash"] == "d41d8"
    assert spec["image"] == "registry.example.org/ref-example:1"
    assert spec["command"] == ["python", "-m", "diagnostic_operator_climate_ref.run", f"{OUT}.definition.json"]
    assert spec["volumes"] == [
        {"name": "cmip6", "mountPath": "/data/cmip6", "readOnly": True},
        {"name": "scratch", "mountPath": "/ref/scratch"},
    ]
    assert spec["results"] == {"directory": str(OUT), "compat": "climate-ref"}
    assert spec["resources"] == {"memory": "4Gi", "cpu": "1", "wallClock": "6h"}
    assert spec["retry"]["retryableExitCodes"] == [exit_codes.SYSTEM_ERROR]


@pytest.mark.parametrize(("extra", "provider", "slug", "expected"), [
    ({}, "example", "global-mean-timeseries", {"memory": "4Gi", "cpu": "1", "wallClock": "6h"}),
    ({"sizing": {"memory": "8Gi", "cpu": "2", "wallClock": "2h"}}, "example", "global-mean-timeseries",
     {"memory": "8Gi", "cpu": "2", "wallClock": "2h"}),
    ({"sizing": {"memory": "8Gi"}, "diagnostics": {"ilamb/gpp": {"memory": "48Gi", "wallClock": "30m"}}},
     "ilamb", "gpp", {"memory": "48Gi", "cpu": "1", "wallClock": "30m"}),
    ({"sizing": {"memory": "8Gi"}, "diagnostics": {"ilamb/gpp": {"memory": "48Gi"}}},
     "ilamb", "lai", {"memory": "8Gi", "cpu": "1", "wallClock": "6h"}),
])
def test_sizing_explicit_else_default(extra: dict[str, Any], provider: str, slug: str,
                                      expected: dict[str, str]) -> None:
    manifest = build_manifest(facts(provider=provider, slug=slug),
                              settings(defaultImage="ref:1", **extra))
    assert manifest["spec"]["resources"] == expected


def test_retry_policy_from_settings() -> None:
    retry = {"maxAttempts": 4, "memoryGrowth": 2.0, "maxMemory": "96Gi", "wallClockGrowth": 1.5,
             "maxWallClock": "12h", "infrastructureRetries": 2}
    spec = build_manifest(facts(), settings(retry=retry))["spec"]
    assert spec["retry"] == {**retry, "retryableExitCodes": [exit_codes.SYSTEM_ERROR]}


@pytest.mark.parametrize(("extra", "fact", "message"), [
    ({"images": {}}, {}, "no image for provider 'example'"),
    ({}, {"output_directory": PurePosixPath("/elsewhere/out")}, "not inside the scratch volume"),
    ({"sizing": {"memory": "128Gi"}}, {}, "larger than retry.maxMemory"),
])
def test_refused(extra: dict[str, Any], fact: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_manifest(facts(**fact), settings(**extra))


@pytest.mark.parametrize("extra", [
    {"scratchVolume": {"name": "scratch", "path": "/data/cmip6"}},
    {"scratchVolume": {"name": "scratch", "path": "/tmp/scratch"}},
    {"namespace": "Not_A_Label"},
    {"unknown": 1},
])
def test_settings_refused(extra: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        settings(**extra)
