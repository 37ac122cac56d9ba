"""The DiagnosticExecution models: defaults, quantities, and errors that name the field and the value."""

import re
from pathlib import Path

import pytest

from diagnostic_operator.manifest import ManifestError, load_manifests, parse_manifest
from diagnostic_operator.quantities import (
    QUANTITY_PATTERN,
    QuantityError,
    cpu_millicores,
    format_duration,
    format_memory,
    memory_bytes,
    parse_duration,
)

BASE = {
    "apiVersion": "diagnostic-operator.io/v1alpha1",
    "kind": "DiagnosticExecution",
    "metadata": {"name": "gmst-bias"},
    "spec": {"diagnostic": {"provider": "example", "slug": "global-mean-bias", "version": "1"},
             "groupKey": "cesm2-historical", "image": "example-diagnostic:0.1",
             "command": ["python3", "-m", "example_diagnostic"]},
}


def with_spec(**changes: object) -> dict:
    return {**BASE, "spec": {**BASE["spec"], **changes}}


def test_defaults_match_the_resource_hint_table() -> None:
    spec = parse_manifest(BASE).spec
    assert (spec.resources.memory, spec.resources.cpu, spec.resources.wall_clock) == ("4Gi", "1", "6h")
    assert spec.resources.memory_bytes == 4 * 2**30 and spec.resources.wall_clock_seconds == 6 * 3600
    assert spec.retry.max_attempts == 3 and spec.retry.infrastructure_retries == 5
    assert spec.results.metric_bundle == "diagnostic.json" and spec.pending_timeout == "10m"
    assert spec.cancel is False


def test_full_example_from_the_issue_is_accepted() -> None:
    spec = parse_manifest(with_spec(
        datasetHash="sha256:abc", args=[], env=[{"name": "FOO", "value": "bar"}],
        resources={"memory": "4Gi", "cpu": "1", "wallClock": "6h", "queue": "bigmem", "gpu": 0},
        retry={"maxAttempts": 3, "backoff": {"initial": "10s", "max": "10m"}, "memoryGrowth": 1.5,
               "maxMemory": "64Gi", "wallClockGrowth": 1.0, "retryableExitCodes": [], "infrastructureRetries": 5},
        pendingTimeout="10m", results={"metricBundle": "diagnostic.json", "outputBundle": "output.json",
                                       "series": "series.json"},
        output={"store": "s3://bucket/prefix"}, cancel=False)).spec
    assert spec.resources.queue == "bigmem" and spec.output.store == "s3://bucket/prefix"


@pytest.mark.parametrize(("changes", "field", "value"), [
    ({"resources": {"memory": "4GB"}}, "spec.resources.memory", "4GB"),
    ({"resources": {"memory": "0"}}, "spec.resources.memory", "0"),
    ({"resources": {"cpu": "one"}}, "spec.resources.cpu", "one"),
    ({"resources": {"wallClock": "6 hours"}}, "spec.resources.wallClock", "6 hours"),
    ({"resources": {"gpu": -1}}, "spec.resources.gpu", "-1"),
    ({"retry": {"maxAttempts": 0}}, "spec.retry.maxAttempts", "0"),
    ({"retry": {"memoryGrowth": 0.5}}, "spec.retry.memoryGrowth", "0.5"),
    ({"retry": {"retryableExitCodes": [0]}}, "spec.retry.retryableExitCodes[0]", "0"),
    ({"pendingTimeout": "soon"}, "spec.pendingTimeout", "soon"),
    ({"env": [{"name": "1BAD=", "value": "x"}]}, "spec.env[0].name", "1BAD="),
    ({"command": []}, "spec.command", "[]"),
    ({"diagnostic": {"provider": "Example", "slug": "x"}}, "spec.diagnostic.provider", "Example"),
    ({"output": {"store": "ftp://x"}}, "spec.output.store", "ftp://x"),
    ({"resourcez": {}}, "spec.resourcez", "unknown field"),
])
def test_errors_name_the_field_and_the_value(changes: dict, field: str, value: str) -> None:
    with pytest.raises(ManifestError) as err:
        parse_manifest(with_spec(**changes), "m.yaml")
    text = str(err.value)
    assert field in text and value in text, text


@pytest.mark.parametrize(("changes", "words"), [
    ({"resources": {"memory": "8Gi"}, "retry": {"maxMemory": "4Gi"}}, "larger than retry.maxMemory"),
    ({"retry": {"backoff": {"initial": "1h", "max": "1m"}}}, "longer than retry.backoff.max"),
    ({"env": [{"name": "DIAGNOSTIC_OUTPUT_DIR", "value": "/"}]}, "set by the runner"),
    ({"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}, "appears twice"),
    ({"results": {"metricBundle": "../escape.json"}}, "relative path inside the output folder"),
    ({"results": {"outputBundle": "/abs/output.json"}}, "relative path inside the output folder"),
])
def test_cross_field_rules(changes: dict, words: str) -> None:
    with pytest.raises(ManifestError, match=words):
        parse_manifest(with_spec(**changes))


def test_wrong_kind_and_metadata_name() -> None:
    with pytest.raises(ManifestError) as err:
        parse_manifest({**BASE, "kind": "Job", "metadata": {"name": "Bad_Name"}})
    assert "kind" in str(err.value) and "metadata.name" in str(err.value) and "Bad_Name" in str(err.value)


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: x\nspec: [unclosed\n")
    with pytest.raises(ManifestError, match=r"malformed YAML at line \d+"):
        load_manifests(path)


def test_empty_and_non_mapping(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ManifestError, match="no YAML document"):
        load_manifests(tmp_path / "empty.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ManifestError, match="expected a YAML mapping"):
        load_manifests(tmp_path / "list.yaml")
    with pytest.raises(ManifestError, match="cannot read"):
        load_manifests(tmp_path / "missing.yaml")


@pytest.mark.parametrize(("text", "expected"), [
    ("4Gi", 4 * 2**30), ("512Mi", 512 * 2**20), ("1G", 10**9), ("1.5Gi", 1536 * 2**20), ("100", 100), ("1k", 1000),
])
def test_memory_quantities(text: str, expected: int) -> None:
    assert memory_bytes(text) == expected


@pytest.mark.parametrize(("text", "expected"), [("1", 1000), ("500m", 500), ("0.25", 250), ("2", 2000)])
def test_cpu_quantities(text: str, expected: int) -> None:
    assert cpu_millicores(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("6h", 21600), ("10m", 600), ("10s", 10), ("1h30m", 5400), ("2d", 172800), ("500ms", 0.5), ("1.5h", 5400),
])
def test_durations(text: str, expected: float) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["", "6", "h", "6 h", "-1s", "1y", "1e3s"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(QuantityError):
        parse_duration(bad)


def test_formatting_round_trips() -> None:
    assert format_memory(1536 * 2**20) == "1536Mi" and format_memory(4 * 2**30) == "4Gi"
    assert format_duration(5400) == "1h30m" and parse_duration(format_duration(7261)) == 7261


# ------------------------------------------------------------------------- quantities: apimachinery's grammar

@pytest.mark.parametrize(("text", "millicores"), [
    ("1e3", 1_000_000), ("1E3", 1_000_000), ("+1", 1000), ("0.5", 500), ("100m", 100), ("1.", 1000), (".5", 500),
    ("1e-3", 1), ("2", 2000),
])
def test_cpu_quantity_grammar(text: str, millicores: int) -> None:
    assert cpu_millicores(text) == millicores
    assert re.match(QUANTITY_PATTERN, text), "the CRD's pattern accepts it too"


@pytest.mark.parametrize(("text", "message"), [
    ("1e3M", "memory '1e3M': not a Kubernetes quantity; write a number with an optional suffix"),
    ("4GB", "memory '4GB': not a Kubernetes quantity; did you mean 4G or 4Gi?"),
    ("512MiB", "memory '512MiB': not a Kubernetes quantity; did you mean 512Mi?"),
    ("512mb", "memory '512mb': not a Kubernetes quantity; did you mean 512M or 512Mi?"),
    ("4 Gi", "memory '4 Gi': not a Kubernetes quantity; did you mean 4Gi?"),
    ("4gi", "memory '4gi': not a Kubernetes quantity; did you mean 4Gi?"),
    ("4kb", "memory '4kb': not a Kubernetes quantity; did you mean 4k or 4Ki?"),
    ("lots", "memory 'lots': not a Kubernetes quantity; write a number"),
])
def test_bad_quantities_get_the_products_message(text: str, message: str) -> None:
    assert not re.match(QUANTITY_PATTERN, text)
    with pytest.raises(QuantityError) as err:
        memory_bytes(text)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(("given", "kept"), [
    (2, "2"), ("2", "2"), (2.0, "2"), (1000, "1000"), ("500m", "500m"), ("1e3", "1e3"),
])
def test_a_yaml_number_is_kept_as_the_string_kubernetes_prints(given: object, kept: str) -> None:
    spec = parse_manifest(with_spec(resources={"cpu": given, "cpuLimit": given, "memory": "4Gi"})).spec
    assert (spec.resources.cpu, spec.resources.cpu_limit) == (kept, kept)


def test_an_integer_memory_is_bytes() -> None:
    spec = parse_manifest(with_spec(resources={"memory": 1073741824}, retry={"maxMemory": 2147483648})).spec
    assert (spec.resources.memory, spec.retry.max_memory, spec.resources.memory_bytes) == (
        "1073741824", "2147483648", 2**30)


@pytest.mark.parametrize(("field", "value", "words"), [
    ("cpu", 0.5, "0.5 is an unquoted YAML number with a fraction, which a Kubernetes quantity field cannot take: "
                 'quote it ("0.5") or write it with a suffix (e.g. 500m)'),
    ("cpuLimit", 1.5, 'quote it ("1.5")'),
    ("memory", 0.5, 'quote it ("0.5")'),
    ("cpu", True, "True is not a quantity"),
])
def test_a_fraction_in_yaml_says_to_quote_it(field: str, value: object, words: str) -> None:
    with pytest.raises(ManifestError) as err:
        parse_manifest(with_spec(resources={field: value}))
    assert f"spec.resources.{field}" in str(err.value) and words in str(err.value), str(err.value)


@pytest.mark.parametrize(("changes", "words"), [
    ({"resources": {"memory": "4GB"}}, "spec.resources.memory: memory '4GB': not a Kubernetes quantity; "
                                       "did you mean 4G or 4Gi?"),
    ({"resources": {"cpu": "1e3M"}}, "spec.resources.cpu: cpu '1e3M': not a Kubernetes quantity"),
    ({"pendingTimeout": "10"}, "spec.pendingTimeout: '10' is not a duration: write a number with a unit"),
    ({"diagnostic": {"provider": "Bad.Provider", "slug": "s"}},
     "spec.diagnostic.provider: 'Bad.Provider' is not a DNS label"),
    ({"env": [{"name": "1X", "value": "1"}]}, "spec.env[0].name: '1X' is not an environment variable name"),
    ({"envSources": ["Bad_Source"]}, "'Bad_Source' is not a DNS label"),
])
def test_no_message_quotes_a_regex(changes: dict, words: str) -> None:
    with pytest.raises(ManifestError) as err:
        parse_manifest(with_spec(**changes))
    assert words in str(err.value) and "pattern" not in str(err.value) and "^" not in str(err.value), str(err.value)


def test_a_bad_metadata_name_gets_the_products_message() -> None:
    with pytest.raises(ManifestError) as err:
        parse_manifest({**BASE, "metadata": {"name": "Bad.Name"}})
    assert "metadata.name: 'Bad.Name' is not a DNS label" in str(err.value) and "^" not in str(err.value)
