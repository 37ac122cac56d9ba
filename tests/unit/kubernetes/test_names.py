"""Job names, label values and selectors (docs/pod-layout.md, "Names and labels")."""

from __future__ import annotations

import hashlib
import re

import pytest

from diagnostic_operator.transports.kubernetes.names import (
    ATTEMPT_LABEL,
    EXECUTION_LABEL,
    EXECUTION_UID_LABEL,
    MANAGED_BY_LABEL,
    attempt_labels,
    attempt_of,
    attempt_selector,
    job_name,
    label_value,
    selector,
)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
UID = "0b6f1c1e-6d0a-4c1e-9a43-5b2a3c4d5e6f"


def name_of(length: int, seed: str = "x") -> str:
    base = f"gmst-bias-{seed}-" * 20
    return base[:length - 1] + "z"


def digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:5]


@pytest.mark.parametrize("length", [1, 52, 53, 59, 60, 61, 63])
@pytest.mark.parametrize("attempt", [1, 9, 10, 99, 100])
def test_job_names_are_dns_labels_of_at_most_63(length: int, attempt: int) -> None:
    name = name_of(length)
    job = job_name(name, attempt)
    assert len(job) <= 63 and DNS_LABEL.match(job), job
    assert job.endswith(f"-a{attempt}")
    if len(name) + len(f"-a{attempt}") <= 63:
        assert job == f"{name}-a{attempt}"
    else:
        assert job == f"{name[:52]}-{digest(name)}-a{attempt}"


@pytest.mark.parametrize(("length", "attempt", "expected"), [
    (1, 1, 4),  # "z-a1"
    (52, 1, 55),
    (60, 1, 63),
    (61, 1, 61),  # cut: 52 + 1 + 5 + 3
    (63, 1, 61),
    (63, 100, 63),
    (59, 100, 63),  # 59 + 5 > 63: cut
    (58, 100, 63),  # fits exactly
])
def test_name_length_table(length: int, attempt: int, expected: int) -> None:
    assert len(job_name(name_of(length), attempt)) == expected


def test_short_name_examples() -> None:
    assert job_name("gmst-bias", 1) == "gmst-bias-a1"
    assert job_name("gmst-bias", 100) == "gmst-bias-a100"


def test_every_attempt_up_to_100_has_its_own_name() -> None:
    for name in ("gmst-bias", name_of(63)):
        names = {job_name(name, attempt) for attempt in range(1, 101)}
        assert len(names) == 100
        assert all(len(n) <= 63 for n in names)


def test_names_that_share_the_cut_prefix_stay_distinct() -> None:
    prefix = "a" * 52
    names = [f"{prefix}{i:011d}" for i in range(200)]
    jobs = {job_name(n, 1) for n in names}
    assert len(jobs) == len(names)
    assert all(j.startswith(prefix + "-") for j in jobs)


def test_job_names_are_deterministic() -> None:
    long = name_of(70)
    assert job_name(long, 3) == job_name(long, 3)


def test_large_attempt_numbers_still_fit() -> None:
    job = job_name(name_of(63), 12345)
    assert len(job) <= 63 and job.endswith("-a12345") and DNS_LABEL.match(job)


def test_names_with_dots_become_dns_labels() -> None:
    job = job_name("cmip6.tas-bias", 1)
    assert DNS_LABEL.match(job) and job == f"cmip6-tas-bias-{digest('cmip6.tas-bias')}-a1"
    assert job_name("cmip6.tas-bias", 1) != job_name("cmip6-tas-bias", 1)


@pytest.mark.parametrize("attempt", [0, -1])
def test_attempts_start_at_one(attempt: int) -> None:
    with pytest.raises(ValueError, match="attempt"):
        job_name("x", attempt)


@pytest.mark.parametrize(("length", "cut"), [(1, False), (52, False), (53, False), (63, False), (64, True), (253, True)])
def test_label_values(length: int, cut: bool) -> None:
    name = name_of(length)
    value = label_value(name)
    assert len(value) <= 63
    assert value == (f"{name[:52]}-{digest(name)}" if cut else name)


def test_attempt_labels_and_selectors() -> None:
    labels = attempt_labels("gmst-bias", UID, 2)
    assert labels == {
        MANAGED_BY_LABEL: "diagnostic-operator",
        EXECUTION_LABEL: "gmst-bias",
        EXECUTION_UID_LABEL: UID,
        ATTEMPT_LABEL: "2",
    }
    assert attempt_labels(name_of(80), UID, 1)[EXECUTION_LABEL] == label_value(name_of(80))
    assert selector(UID) == f"app.kubernetes.io/managed-by=diagnostic-operator,diagnostic-operator.io/execution-uid={UID}"
    assert attempt_selector(UID, 2) == f"{selector(UID)},diagnostic-operator.io/attempt=2"
    # every selector term matches the labels
    for term in attempt_selector(UID, 2).split(","):
        key, value = term.split("=")
        assert labels[key] == value


def test_attempt_of() -> None:
    assert attempt_of({"metadata": {"labels": attempt_labels("x", UID, 7)}}) == 7
    assert attempt_of({"metadata": {"labels": {ATTEMPT_LABEL: "seven"}}}) is None
    assert attempt_of({"metadata": {}}) is None
