"""Builders and helpers the test layers and the benchmarks share (importable without pytest's fixtures)."""

from __future__ import annotations

import json
import socket
from typing import Any

from diagnostic_operator.contracts.publish_summary import PublishSummary, parse_summary
from tests.cluster.fixtures import KWOK_NODE_SELECTOR, REAL_NODE_SELECTOR, TEST_NODE_TOLERATION

PRODUCT = "diagnostic-operator:0.1.0"  # the product image the test cluster loads


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now. Another process may take it before the caller binds it: a caller
    that starts a server on it retries on another port when the port turns out taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def site_config(store: str, *, node: str = "real", pod_network: bool = False, **changes: Any) -> dict[str, Any]:
    """The operator configuration of the test site, storing in ``store``: every execution Pod on the real node
    (or the kwok nodes), images never pulled, the database URL and S3 credentials from the Secret ``do-db``.
    ``pod_network``: the Pods on the Pod network (they reach the test services on the node's address;
    restricted Pod Security allows nothing else), else on the host network (the fault suite's proxies listen on
    127.0.0.1). ``changes`` replace top-level keys."""
    selector = REAL_NODE_SELECTOR if node == "real" else KWOK_NODE_SELECTOR
    config: dict[str, Any] = {
        "image": PRODUCT, "imagePullPolicy": "Never", "databaseSecret": "do-db", "defaultStore": store,
        "publishGrace": "60s", "initAllowance": "30s",
        "podDefaults": {"hostNetwork": not pod_network, "imagePullPolicy": "Never", "serviceAccountName": "default",
                        "nodeSelector": dict(selector), "tolerations": [dict(TEST_NODE_TOLERATION)]},
    }
    config.update(changes)
    return config


def openapi_to_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI v3.0 (nullable) → JSON Schema, for the jsonschema package; no additional properties."""
    out = {k: v for k, v in node.items() if not k.startswith("x-kubernetes-") and k not in ("nullable", "default")}
    if node.get("nullable") and "type" not in node:  # an int-or-string quantity
        out["anyOf"] = [*out["anyOf"], {"type": "null"}]
    elif node.get("nullable"):
        out["type"] = [node["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if "properties" in node:
        out["properties"] = {k: openapi_to_json_schema(v) for k, v in node["properties"].items()}
        out["additionalProperties"] = False
    if "items" in node:
        out["items"] = openapi_to_json_schema(node["items"])
    return out


# ------------------------------------------------------------------------------------------ the publish summary

#: What the sidecar reports after a successful attempt 1 (JSON names).
SUCCESS_SUMMARY: dict[str, Any] = {
    "attempt": 1, "exitRecordPresent": True, "exitCode": 0, "logPublished": True,
    "outputLocation": "s3://b/p/attempt-1", "ingested": True,
    "counts": {"outputs": 6, "scalarValues": 24, "seriesValues": 4}, "wallSeconds": 12.5,
}


def publish_summary(**fields: Any) -> PublishSummary:
    """A publish summary: a successful attempt 1 with ``fields`` (JSON names) over it; a field given as None
    takes the model's default."""
    return PublishSummary.model_validate({key: value for key, value in (SUCCESS_SUMMARY | fields).items()
                                         if value is not None})


def summary_message(summary: PublishSummary | None = None, /, **raw: Any) -> str:
    """``summary``'s termination message (default: :func:`publish_summary`), with ``raw`` JSON fields written
    over it as they are (None: the field left out) — for what no sidecar writes, a garbled or unknown field."""
    data = json.loads((summary or publish_summary()).to_message())
    for key, value in raw.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return json.dumps(data)


def kwok_summary(**fields: Any) -> str:
    """The termination message a kwok Pod's ingest container carries: a successful attempt that ingested
    nothing, with ``fields`` (JSON names) over it."""
    return publish_summary(**({"outputLocation": "s3://kwok/none", "counts": {}, "wallSeconds": 1.0} | fields)
                           ).to_message()


def read_summary(message: str) -> PublishSummary:
    """The summary in a termination message, as the operator reads it; fails the test when there is none."""
    parsed = parse_summary(message)
    assert parsed.summary is not None, parsed.reason
    return parsed.summary
