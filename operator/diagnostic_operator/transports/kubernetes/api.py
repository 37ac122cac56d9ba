"""The operator's own Kubernetes API calls, on Kopf's client: aiohttp, with the credentials Kopf logged in with
(re-authenticated by Kopf on a 401) and the connection pool its watches use.

Why not lightkube (used here before): per request it cost ~3× the CPU (httpx2 over anyio's pure-Python TLS
stream, plus model conversions): 0.8–1.1 ms against 0.27 ms for aiohttp for the same GET on this machine
(/tmp micro-benchmark, session 6), and at 500 executions arriving at once its status PATCHes alone were ~10 %
of the operator's CPU (py-spy, benchmarks/operator_scale.py). Every byte of CPU the operator spends there is
taken from the API server on the same cores.

Kopf's request function is not part of its public API (``kopf._cogs.clients.api``); Kopf is pinned
(operator/constraints.txt), this module is the only one that imports it, and tests/unit/kubernetes/test_api.py
fails when the function or the parameters used here change. Requests are tried once (our reconcile retries a
failed pass in 10 s), within ``TIMEOUT`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Mapping
from typing import Any, cast

import aiohttp
import kopf
from kopf._cogs.clients import api as kopf_api
from kopf._cogs.clients import errors as kopf_errors

TIMEOUT = 30.0
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
log = logging.getLogger("diagnostic_operator.api")

#: The errors of a request: the API server's answer (4xx/5xx), or no answer (connection, timeout)
ApiError = kopf_errors.APIError
TransportError = (aiohttp.ClientError, TimeoutError, OSError)


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an API error (404, 409, …), None for anything else."""
    return exc.status if isinstance(exc, kopf_errors.APIError) else None


def path(group: str, version: str, plural: str, namespace: str | None = None, name: str | None = None,
         subresource: str | None = None, params: Mapping[str, str] | None = None) -> str:
    """``/api/v1/...`` (core group "") or ``/apis/GROUP/VERSION/...``; no namespace: every namespace."""
    parts = ["api", version] if group == "" else ["apis", group, version]
    if namespace is not None:
        parts += ["namespaces", namespace]
    parts.append(plural)
    if name is not None:
        parts.append(name)
    if subresource is not None:
        parts.append(subresource)
    url = "/" + "/".join(urllib.parse.quote(p, safe="") for p in parts)
    return f"{url}?{urllib.parse.urlencode(dict(params))}" if params else url


class KubeApi:
    """Requests with Kopf's settings (its credentials vault comes from the task context: call from handlers,
    daemons and probes)."""

    def __init__(self, settings: kopf.OperatorSettings) -> None:
        self.settings = settings
        self._timeout = aiohttp.ClientTimeout(total=TIMEOUT, sock_connect=10.0)

    async def _request(self, method: str, url: str, payload: object | None = None,
                       headers: dict[str, str] | None = None) -> Any:
        async with asyncio.timeout(TIMEOUT):
            response = await kopf_api.request(
                method, url, payload=payload, headers=headers, timeout=self._timeout, backoffs=(),
                settings=self.settings, logger=log)
            async with response:
                return await response.json()

    async def create(self, url: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return cast(dict[str, Any], await self._request("post", url, body))

    async def merge_patch(self, url: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        return cast(dict[str, Any], await self._request("patch", url, patch, MERGE_PATCH))

    async def get(self, url: str) -> dict[str, Any] | None:
        """The object, or None when there is none (404)."""
        try:
            return cast(dict[str, Any], await self._request("get", url))
        except kopf_errors.APINotFoundError:
            return None

    async def items(self, url: str) -> list[dict[str, Any]]:
        """The items of a LIST (one page: pass ``limit`` in the URL to bound it)."""
        return list(cast(dict[str, Any], await self._request("get", url)).get("items") or [])

    async def delete(self, url: str, propagation: str = "Background") -> bool:
        """Delete; False when it was gone already (404)."""
        try:
            await self._request("delete", url, {"kind": "DeleteOptions", "apiVersion": "v1",
                                                "propagationPolicy": propagation})
        except kopf_errors.APINotFoundError:
            return False
        return True
