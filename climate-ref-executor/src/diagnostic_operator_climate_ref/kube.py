"""The DiagnosticExecution objects through the Kubernetes API (lightkube, the operator's own client)."""

from __future__ import annotations

from typing import Any, Protocol

from diagnostic_operator.spec import API_GROUP, API_VERSION, KIND, PLURAL


class DxApi(Protocol):
    """The calls the executor makes; ``LightkubeDxApi`` is the real one."""

    def create(self, manifest: dict[str, Any]) -> None:
        """Create it; an object of the same name that already exists is left as it is."""

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""

    def annotate(self, namespace: str, name: str, key: str, value: str) -> None:
        """Set one annotation (nothing when the object is gone)."""

    def list(self, namespace: str) -> list[dict[str, Any]]:
        """Every DiagnosticExecution of the namespace."""


class LightkubeDxApi:
    def __init__(self) -> None:
        from lightkube import Client  # noqa: PLC0415
        from lightkube.generic_resource import create_namespaced_resource  # noqa: PLC0415

        self._client = Client()
        self._resource = create_namespaced_resource(API_GROUP, API_VERSION, KIND, PLURAL)

    def create(self, manifest: dict[str, Any]) -> None:
        from lightkube import ApiError  # noqa: PLC0415

        try:
            self._client.create(self._resource.from_dict(manifest))
        except ApiError as exc:
            if exc.status.code != 409:  # AlreadyExists: a run() repeated for the same execution
                raise

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        from lightkube import ApiError  # noqa: PLC0415

        try:
            obj = self._client.get(self._resource, name, namespace=namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                return None
            raise
        as_dict: Any = obj.to_dict  # lightkube's to_dict is untyped
        return dict(as_dict())

    def annotate(self, namespace: str, name: str, key: str, value: str) -> None:
        from lightkube import ApiError  # noqa: PLC0415
        from lightkube.types import PatchType  # noqa: PLC0415

        try:
            self._client.patch(self._resource, name, {"metadata": {"annotations": {key: value}}},
                               namespace=namespace, patch_type=PatchType.MERGE)
        except ApiError as exc:
            if exc.status.code != 404:
                raise

    def list(self, namespace: str) -> list[dict[str, Any]]:
        items = []
        for obj in self._client.list(self._resource, namespace=namespace):
            as_dict: Any = obj.to_dict
            items.append(dict(as_dict()))
        return items
