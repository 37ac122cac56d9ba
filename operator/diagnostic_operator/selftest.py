"""The chart's ``helm test``: a tiny DiagnosticExecution that runs the product image itself.

``diagnostic-operator selftest-diagnostic`` is the diagnostic: it writes the smallest valid CMEC metric and
output bundles (one scalar value, no files) into ``DIAGNOSTIC_OUTPUT_DIR``. ``diagnostic-operator selftest``
creates an execution running it, with the Pod's service account through the standard-library client of
``incluster``, waits until it ends, and deletes it when it succeeded (a failed one stays, for
``kubectl describe``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from diagnostic_operator.incluster import ApiError, Client, Request
from diagnostic_operator.spec import API_GROUP, API_VERSION, KIND, PLURAL, Phase

METRIC_BUNDLE: dict[str, Any] = {
    "DIMENSIONS": {"json_structure": ["region", "statistic"], "region": {"global": {}},
                   "statistic": {"selftest": {}}},
    "RESULTS": {"global": {"selftest": 1.0}},
}
OUTPUT_BUNDLE: dict[str, Any] = {
    "provenance": {"environment": {}, "modeldata": [], "obsdata": {}, "log": "cmec_output.log"},
    "data": {}, "plots": {}, "html": {},
}


def write_bundles(folder: Path) -> list[Path]:
    """diagnostic.json and output.json (the spec's default names) in ``folder``."""
    written = []
    for name, doc in (("diagnostic.json", METRIC_BUNDLE), ("output.json", OUTPUT_BUNDLE)):
        path = folder / name
        path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def execution(name: str, image: str) -> dict[str, Any]:
    """The test's DiagnosticExecution: the product image running ``selftest-diagnostic``, no retry."""
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": KIND,
        "metadata": {"name": name, "labels": {"app.kubernetes.io/component": "helm-test"}},
        "spec": {
            "diagnostic": {"provider": "diagnostic-operator", "slug": "selftest", "version": "1"},
            "groupKey": name,
            "image": image,
            "command": ["diagnostic-operator", "selftest-diagnostic"],
            "resources": {"memory": "256Mi", "cpu": "100m", "wallClock": "2m"},
            "retry": {"maxAttempts": 1},
        },
    }


def collection_path(namespace: str) -> str:
    return f"/apis/{API_GROUP}/{API_VERSION}/namespaces/{namespace}/{PLURAL}"


def run(client: Client, namespace: str, name: str, image: str, timeout: float, interval: float = 2.0,
        say: Callable[[str], None] = print) -> dict[str, Any]:
    """Create the execution, wait for a final phase (``ApiError`` after ``timeout`` s), delete it if it
    succeeded; returns its last status."""
    path = collection_path(namespace)
    client.request(Request("POST", path, json.dumps(execution(name, image)).encode(),
                           {"Content-Type": "application/json"}))
    say(f"created {KIND} {namespace}/{name} (image {image})")
    deadline = time.monotonic() + timeout
    phase = ""
    while True:
        status: dict[str, Any] = client.request(Request("GET", f"{path}/{name}")).get("status") or {}
        if status.get("phase") != phase:
            phase = str(status.get("phase") or "")
            say(f"phase: {phase or '(none yet)'}")
        if phase in {p.value for p in Phase if p.terminal}:
            break
        if time.monotonic() >= deadline:
            raise ApiError(f"timed out after {timeout:g} s: {namespace}/{name} is still {phase or 'not started'} "
                           f"(kubectl -n {namespace} describe {PLURAL} {name})")
        time.sleep(interval)
    if phase == Phase.SUCCEEDED:
        client.request(Request("DELETE", f"{path}/{name}"))
        say(f"deleted {namespace}/{name}")
    return status
