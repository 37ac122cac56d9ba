"""The lean diff-base builds exactly the essence Kopf's own storage builds, without copying the status."""

from __future__ import annotations

import copy
import json
from typing import Any

import kopf
import pytest

from diagnostic_operator.transports.kubernetes.diffbase import LeanAnnotationsDiffBaseStorage

PREFIX, KEY = "diagnostic-operator.io", "last-handled-configuration"


def body(**extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "diagnostic-operator.io/v1alpha1", "kind": "DiagnosticExecution",
        "metadata": {
            "name": "gmst", "namespace": "science", "uid": "u-1", "generation": 3, "resourceVersion": "812",
            "labels": {"team": "climate"},
            "annotations": {"note": "x", f"{PREFIX}/{KEY}": json.dumps({"spec": {"image": "old"}}),
                            "kubectl.kubernetes.io/last-applied-configuration": "{}"},
            "finalizers": [f"{PREFIX}/finalizer"],
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {"f:image": {}}}}] * 20,
        },
        "spec": {"image": "example-diagnostic:0.1", "command": ["python3"], "resources": {"memory": "1Gi"}},
        "status": {"phase": "Running", "attempts": [{"number": n, "job": f"gmst-a{n}"} for n in range(1, 9)]},
        **extra,
    }


@pytest.mark.parametrize("raw", [body(), body(status=None), {"kind": "DiagnosticExecution", "spec": {}},
                                 body(metadata={"name": "bare"})])
def test_same_essence_as_kopf(raw: dict[str, Any]) -> None:
    kopf_storage = kopf.AnnotationsDiffBaseStorage(prefix=PREFIX, key=KEY)
    lean = LeanAnnotationsDiffBaseStorage(prefix=PREFIX, key=KEY)
    before = copy.deepcopy(raw)
    assert lean.build(body=kopf.Body(raw)) == kopf_storage.build(body=kopf.Body(copy.deepcopy(raw)))
    assert raw == before, "the body is not changed"


def test_the_essence_is_a_copy() -> None:
    raw = body()
    essence = LeanAnnotationsDiffBaseStorage(prefix=PREFIX, key=KEY).build(body=kopf.Body(raw))
    essence["spec"]["resources"]["memory"] = "9Gi"  # type: ignore[index]
    assert raw["spec"]["resources"]["memory"] == "1Gi"
    assert "status" not in essence and set(essence["metadata"]) <= {"labels", "annotations"}  # type: ignore[arg-type]
