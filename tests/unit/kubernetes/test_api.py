"""The operator's API adapter: URL building, and the one private Kopf function it relies on (pinned Kopf)."""

from __future__ import annotations

import inspect

import pytest
from kopf._cogs.clients import api as kopf_api
from kopf._cogs.clients import errors as kopf_errors

from diagnostic_operator.transports.kubernetes.api import path, status_of


@pytest.mark.parametrize(("args", "kwargs", "url"), [
    (("batch", "v1", "jobs", "science"), {}, "/apis/batch/v1/namespaces/science/jobs"),
    (("batch", "v1", "jobs", "science", "gmb-a1"), {}, "/apis/batch/v1/namespaces/science/jobs/gmb-a1"),
    (("", "v1", "pods", "science"), {"params": {"labelSelector": "a=b,c=d"}},
     "/api/v1/namespaces/science/pods?labelSelector=a%3Db%2Cc%3Dd"),
    (("diagnostic-operator.io", "v1alpha1", "diagnosticexecutions", "ns", "x", "status"), {},
     "/apis/diagnostic-operator.io/v1alpha1/namespaces/ns/diagnosticexecutions/x/status"),
    (("diagnostic-operator.io", "v1alpha1", "diagnosticexecutions"), {"params": {"limit": "1"}},
     "/apis/diagnostic-operator.io/v1alpha1/diagnosticexecutions?limit=1"),   # every namespace
    (("", "v1", "pods", "a/b", "../x"), {}, "/api/v1/namespaces/a%2Fb/pods/..%2Fx"),  # never a path escape
])
def test_path(args: tuple[str, ...], kwargs: dict[str, object], url: str) -> None:
    assert path(*args, **kwargs) == url  # type: ignore[arg-type]


def test_kopf_request_takes_what_the_adapter_passes() -> None:
    """If a Kopf upgrade changes its private request function, this fails before the cluster tests do."""
    parameters = inspect.signature(kopf_api.request).parameters
    for name in ("method", "url", "payload", "headers", "timeout", "backoffs", "settings", "logger"):
        assert name in parameters, name


@pytest.mark.parametrize(("exc", "status"), [
    (kopf_errors.APIConflictError(None, status=409, headers={}), 409),
    (kopf_errors.APINotFoundError(None, status=404, headers={}), 404),
    (kopf_errors.APIServerError(None, status=503, headers={}), 503),
    (TimeoutError(), None),
])
def test_status_of(exc: BaseException, status: int | None) -> None:
    assert status_of(exc) == status
