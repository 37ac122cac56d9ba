"""Climate-REF's Kubernetes executor on diagnostic-operator.

``KubernetesExecutor`` is imported on first use, so the Pod-side entry point (``run``) starts without
loading the executor's database and Kubernetes code.
"""

from typing import Any

__all__ = ["KubernetesExecutor"]


def __getattr__(name: str) -> Any:
    if name == "KubernetesExecutor":
        from .executor import KubernetesExecutor  # noqa: PLC0415

        return KubernetesExecutor
    raise AttributeError(name)
