"""A small Kubernetes API client on the standard library, for the chart's hook Pods.

``diagnostic-operator crd --apply`` (the pre-install/pre-upgrade hook) and ``diagnostic-operator selftest``
(``helm test``) run once and make a handful of requests; they use the Pod's service account (token and CA from
``/var/run/secrets/kubernetes.io/serviceaccount/``, address from ``KUBERNETES_SERVICE_HOST``/``_PORT``) through
urllib, without the operator's Kopf/lightkube stack. The request-building functions are pure; ``Client.request``
is the only network call.
"""

from __future__ import annotations

import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
FIELD_MANAGER = "diagnostic-operator"
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


class ApiError(RuntimeError):
    """A request the API server refused or could not be reached for; the message says which and why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Client:
    base_url: str
    token: str | None = None
    context: ssl.SSLContext | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        # urlopen would also open file: and other schemes; the API server is only ever reached over HTTP(S).
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError(f"the API server address {self.base_url!r} is not an https:// or http:// URL")

    @classmethod
    def in_cluster(cls, env: Mapping[str, str] | None = None, sa_dir: Path | None = None) -> Client:
        """The Pod's own service account; a clear error outside a Pod or without a mounted token."""
        env = os.environ if env is None else env
        sa_dir = SERVICE_ACCOUNT_DIR if sa_dir is None else sa_dir
        host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
        if not host or not port:
            raise ApiError("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: not inside a Pod "
                           "(or the chart's kubernetesApi values are empty and the kubelet set nothing)")
        try:
            token = (sa_dir / "token").read_text().strip()
            context = ssl.create_default_context(cafile=str(sa_dir / "ca.crt"))
        except OSError as exc:
            raise ApiError(f"no service account credentials in {sa_dir} ({exc}): the Pod needs "
                           "automountServiceAccountToken: true") from None
        if ":" in host:  # an IPv6 address
            host = f"[{host}]"
        return cls(base_url=f"https://{host}:{port}", token=token, context=context)

    def build(self, req: Request) -> urllib.request.Request:
        headers = {"Accept": "application/json", **req.headers}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return urllib.request.Request(self.base_url + req.path, data=req.body, headers=headers,  # noqa: S310 - scheme checked
                                      method=req.method)

    def request(self, req: Request) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(  # noqa: S310 - the scheme is checked in __post_init__
                    self.build(req), timeout=self.timeout, context=self.context) as resp:
                data: dict[str, Any] = json.loads(resp.read() or b"{}")
                return data
        except urllib.error.HTTPError as exc:
            raise ApiError(f"{req.method} {req.path}: HTTP {exc.code}: {_status_message(exc.read())}",
                           status=exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiError(f"{req.method} {req.path}: cannot reach the API server at {self.base_url}: {reason}") \
                from None


def _status_message(body: bytes) -> str:
    """The ``message`` of a Kubernetes ``Status`` body, else the body's start."""
    try:
        data = json.loads(body)
    except ValueError:
        return body[:300].decode(errors="replace") or "(empty body)"
    return str(data.get("message") or data)[:1000] if isinstance(data, dict) else str(data)[:300]


def apply_request(path: str, obj: Mapping[str, Any], field_manager: str = FIELD_MANAGER,
                  force: bool = True) -> Request:
    """A server-side apply (PATCH, ``application/apply-patch+yaml``; JSON is YAML) of ``obj`` at ``path``."""
    query = urllib.parse.urlencode({"fieldManager": field_manager, "force": "true" if force else "false"})
    return Request("PATCH", f"{path}?{query}", json.dumps(obj).encode(),
                   {"Content-Type": "application/apply-patch+yaml"})


def crd_apply_request(crd: Mapping[str, Any]) -> Request:
    return apply_request(f"{CRD_PATH}/{crd['metadata']['name']}", crd)


def established(crd: Mapping[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def wait_for(client: Client, req: Request, done: Callable[[dict[str, Any]], bool], timeout: float,
             interval: float = 1.0, what: str = "the condition") -> dict[str, Any]:
    """GET ``req`` until ``done`` holds; ``ApiError`` naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        obj = client.request(req)
        if done(obj):
            return obj
        if time.monotonic() >= deadline:
            raise ApiError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def apply_crd(client: Client, crd: Mapping[str, Any], timeout: float = 60.0, interval: float = 1.0) -> dict[str, Any]:
    """Server-side apply the CRD and wait until the API server serves it (Established)."""
    client.request(crd_apply_request(crd))
    name = crd["metadata"]["name"]
    return wait_for(client, Request("GET", f"{CRD_PATH}/{name}"), established, timeout, interval,
                    what=f"CustomResourceDefinition {name} to be Established")
