"""Property tests of the DiagnosticExecution models: any manifest either validates or is refused with a
ManifestError naming the field (and, for a scalar, the value); quantities and durations raise only
QuantityError; the resource bounds and the name limits are exact; and the CRD's schema never refuses what
the models accept. (The CRD's CEL rules run only in an API server: tests/k8s/test_crd.py.)"""

from __future__ import annotations

import contextlib
import copy
import re
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from diagnostic_operator.crd import build_crd
from diagnostic_operator.manifest import ManifestError, parse_manifest
from diagnostic_operator.quantities import QuantityError, cpu_millicores, memory_bytes, parse_duration
from diagnostic_operator.spec import MAX_DURATION_SECONDS, DiagnosticExecution, camel
from diagnostic_operator.transports.kubernetes.names import attempt_labels, job_name, label_value
from tests.helpers import openapi_to_json_schema

VALID: dict[str, Any] = {
    "apiVersion": "diagnostic-operator.io/v1alpha1",
    "kind": "DiagnosticExecution",
    "metadata": {"name": "gmst-bias"},
    "spec": {
        "diagnostic": {"provider": "example", "slug": "global-mean-bias", "version": "1"},
        "groupKey": "cesm2-historical",
        "datasetHash": "abc",
        "image": "example-diagnostic:0.1",
        "command": ["python3", "-m", "example_diagnostic"],
        "args": ["--seed", "1"],
        "env": [{"name": "SEED", "value": "1850"}],
        "resources": {"memory": "4Gi", "cpu": "1", "cpuLimit": "2", "wallClock": "6h", "queue": "batch", "gpu": 0},
        "retry": {"maxAttempts": 3, "memoryGrowth": 1.5, "maxMemory": "64Gi", "infrastructureRetries": 5,
                  "backoff": {"initial": "10s", "max": "10m", "factor": 2.0}, "maxWallClock": "12h",
                  "retryableExitCodes": [3]},
        "pendingTimeout": "10m",
        "results": {"metricBundle": "diagnostic.json", "outputBundle": "output.json", "series": "series.json",
                    "controlledVocabulary": "warn"},
        "output": {"store": "s3://bucket/prefix"},
        "runtime": {"shim": True},
        "cancel": False,
    },
}

hostile_text = st.one_of(
    st.sampled_from(["", " ", "\x00", "a\x00b", "../x", "/etc/passwd", "1Ei", "1e9", "100y", "876000h", "36500d",
                     "-1", "0", "0.0", "NaN", "inf", "'; DROP TABLE executions; --", '"', "\\", "\u2028", "🙂",
                     "a" * 64, "a" * 254, "x" * 5000, "4GB", "1.5.3", "DIAGNOSTIC_OUTPUT_DIR", "null"]),
    st.text(max_size=20),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), hostile_text)
values = st.recursive(scalars, lambda c: st.one_of(st.lists(c, max_size=3),
                                                   st.dictionaries(hostile_text, c, max_size=3)), max_leaves=8)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            found += _paths(child, (*prefix, i))
    return found


@st.composite
def mutated_manifest(draw: st.DrawFn) -> tuple[dict[str, Any], tuple[Any, ...], Any]:
    doc = copy.deepcopy(VALID)
    path = draw(st.sampled_from([p for p in _paths(doc) if len(p) >= 2]))
    value = draw(values)
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return doc, path, value


def _shown(value: Any) -> str:
    return f"{value!r}"


@given(mutated_manifest())
def test_a_mutated_manifest_validates_or_names_the_field_and_value(case: tuple[dict[str, Any], tuple[Any, ...], Any]) -> None:
    doc, path, value = case
    try:
        parse_manifest(doc, "m.yaml")
    except ManifestError as exc:
        message = str(exc)
        note(message)
        assert message.startswith("m.yaml: invalid DiagnosticExecution:")
        # the field: its (camelCase) name appears, in the location or in a cross-field message
        names = [camel(str(p)) for p in path if isinstance(p, str)]
        assert any(name in message for name in names), (path, message)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and len(repr(value)) < 60:
            assert _shown(value) in message or str(value) in message, (value, message)
    except Exception as exc:  # pragma: no cover - the property
        pytest.fail(f"{type(exc).__name__} (not ManifestError) for {path}={value!r}: {exc}")


@given(values)
def test_any_document_is_refused_only_with_manifest_error(doc: Any) -> None:
    for candidate in (doc, {**VALID, "spec": doc}, {**VALID, "metadata": doc}):
        with contextlib.suppress(ManifestError):
            parse_manifest(candidate, "m.yaml")


@given(st.one_of(hostile_text, st.from_regex(r"[0-9.]{0,30}[a-zA-Z]{0,3}", fullmatch=True)))
def test_quantities_and_durations_raise_only_quantity_error(text: str) -> None:
    for parse in (memory_bytes, cpu_millicores, parse_duration):
        try:
            parse(text)
        except QuantityError as exc:
            assert repr(text) in str(exc)


# ---------------------------------------------------------------------------------------- resource bounds

def _spec_with(resources: dict[str, Any], retry: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = copy.deepcopy(VALID)
    doc["spec"]["resources"] = resources
    doc["spec"]["retry"] = retry or {}
    return doc


@given(st.integers(min_value=1, max_value=2**70))
def test_memory_is_bounded_at_32Ti(num_bytes: int) -> None:
    doc = _spec_with({"memory": str(num_bytes)}, {"maxMemory": str(num_bytes)})
    ok = num_bytes <= 32 * 2**40
    try:
        parse_manifest(doc)
        assert ok
    except ManifestError as exc:
        assert not ok and "more than the limit of 32Ti" in str(exc) and repr(str(num_bytes)) in str(exc)


@given(st.integers(min_value=1, max_value=10**12))
def test_cpu_is_bounded_at_1024(millicores: int) -> None:
    doc = _spec_with({"cpu": f"{millicores}m", "cpuLimit": f"{millicores}m"})
    ok = millicores <= 1024_000
    try:
        parse_manifest(doc)
        assert ok
    except ManifestError as exc:
        assert not ok and "more than the limit of 1024 CPUs" in str(exc)


@given(st.integers(min_value=1, max_value=10**10), st.sampled_from(["s", "m", "h", "d"]))
def test_durations_are_bounded_at_30_days(amount: int, unit: str) -> None:
    seconds = amount * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    text = f"{amount}{unit}"
    doc = _spec_with({"wallClock": text}, {"maxWallClock": text, "backoff": {"initial": "1s", "max": text}})
    doc["spec"]["pendingTimeout"] = text
    ok = seconds <= MAX_DURATION_SECONDS
    try:
        parse_manifest(doc)
        assert ok
    except ManifestError as exc:
        assert not ok and "longer than the limit of 30d" in str(exc) and repr(text) in str(exc)


@pytest.mark.parametrize(("resources", "retry", "words"), [
    ({"memory": "1Ei"}, {"maxMemory": "1Ei"}, ["spec.resources.memory", "'1Ei' is more than the limit of 32Ti"]),
    ({"cpu": "1e9"}, None, ["spec.resources.cpu", "'1e9'"]),
    ({"cpu": "1000000000"}, None, ["spec.resources.cpu", "'1000000000' is more than the limit of 1024 CPUs"]),
    ({"wallClock": "100y"}, None, ["spec.resources.wallClock", "'100y'"]),
    ({"wallClock": "876000h"}, None, ["spec.resources.wallClock", "'876000h' is longer than the limit of 30d"]),
    ({"memory": "0"}, None, ["spec.resources.memory", "must be greater than zero"]),
    ({"gpu": 1000}, None, ["spec.resources.gpu", "less than or equal to 16"]),
])
def test_absurd_resources_are_refused_clearly(resources: dict[str, Any], retry: dict[str, Any] | None,
                                               words: list[str]) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(_spec_with(resources, retry))
    for word in words:
        assert word in str(info.value)


# ---------------------------------------------------------------------------------------- names

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
names = st.one_of(
    st.text(alphabet="abz09-", min_size=0, max_size=300),
    st.text(alphabet="abz09-.A_", min_size=1, max_size=80),
    st.sampled_from(["a" * 63, "a" * 64, "a" * 253, "a" * 254, "-a", "a-", "a.b", "A"]),
)


@given(names)
def test_metadata_name_is_a_dns_label_of_at_most_63_like_the_crd_says(name: str) -> None:
    doc = copy.deepcopy(VALID)
    doc["metadata"]["name"] = name
    expected = len(name) <= 63 and bool(DNS_LABEL.match(name))
    try:
        parse_manifest(doc)
        assert expected
    except ManifestError as exc:
        assert not expected and "metadata.name" in str(exc)
    # the CRD says the same: its two root CEL rules, and the API server's own 253 for metadata.name
    root = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rules = [r["rule"] for r in root["x-kubernetes-validations"]]
    assert rules == ["self.metadata.name.size() <= 63", f"self.metadata.name.matches('{DNS_LABEL.pattern}')"]
    assert root["properties"]["metadata"]["properties"]["name"]["maxLength"] == 253


@given(st.integers(min_value=1, max_value=100_000), st.text(alphabet="abz09-", min_size=1, max_size=63))
def test_job_names_and_labels_fit_for_every_valid_name(attempt: int, name: str) -> None:
    if not DNS_LABEL.match(name):
        return
    job = job_name(name, attempt)
    assert len(job) <= 63 and DNS_LABEL.match(job)
    for value in attempt_labels(name, "0f1e2d3c-0000-4000-8000-000000000000", attempt).values():
        assert len(value) <= 63 and LABEL_VALUE.match(value)


def test_names_at_the_limits() -> None:
    longest = "a" * 63
    assert DiagnosticExecution.model_validate({**VALID, "metadata": {"name": longest}}).metadata.name == longest
    assert len(job_name(longest, 1)) <= 63 and job_name(longest, 1).endswith("-a1")
    assert job_name(longest, 1) != job_name(longest[:-1] + "b", 1)  # the hash keeps cut names apart
    assert len(job_name(longest, 99_999)) <= 63
    assert label_value(longest) == longest
    assert len(label_value("a" * 253)) <= 63
    for too_long in ("a" * 64, "a" * 253):
        with pytest.raises(ManifestError, match=r"metadata\.name"):
            parse_manifest({**VALID, "metadata": {"name": too_long}})
    group = copy.deepcopy(VALID)
    group["spec"]["groupKey"] = "g" * 253  # the database column is varchar(253)
    parse_manifest(group)
    group["spec"]["groupKey"] = "g" * 254
    with pytest.raises(ManifestError, match=r"spec\.groupKey"):
        parse_manifest(group)


# ---------------------------------------------------------------------------------------- CRD agreement

jsonschema = pytest.importorskip("jsonschema")


SPEC_SCHEMA = openapi_to_json_schema(build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"])
VALIDATOR = jsonschema.Draft202012Validator(SPEC_SCHEMA)


@given(mutated_manifest())
def test_the_crd_schema_never_refuses_what_the_models_accept(case: tuple[dict[str, Any], tuple[Any, ...], Any]) -> None:
    """The models coerce types leniently (``gpu: false`` is 0, ``maxAttempts: "3"`` is 3) where the API server
    does not, so the typed comparison is on the models' output; string constraints (patterns, lengths, the
    NUL rule) are compared on the input itself."""
    doc, path, value = case
    try:
        parsed = parse_manifest(doc)
    except ManifestError:
        return
    dumped = parsed.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert [e.message for e in VALIDATOR.iter_errors(dumped)] == []
    original: Any = VALID
    for part in path:
        original = original[part]
    if isinstance(original, str) and isinstance(value, str):
        assert [e.message for e in VALIDATOR.iter_errors(doc["spec"])] == []


def test_the_crd_schema_refuses_nul_like_the_models() -> None:
    for field, value in (("groupKey", "a\x00b"), ("image", "img\x00"), ("command", ["a\x00"]),
                         ("args", ["\x00"]), ("datasetHash", "\x00"), ("env", [{"name": "A", "value": "\x00"}])):
        doc = copy.deepcopy(VALID)
        doc["spec"][field] = value
        with pytest.raises(ManifestError, match=rf"spec\.{field}"):
            parse_manifest(doc)
        assert list(VALIDATOR.iter_errors(doc["spec"])), field
