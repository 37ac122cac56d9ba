"""What GitOps tools compute from a DiagnosticExecution's status, without the tools themselves.

``kstatus(obj)``: the kstatus rules (sigs.k8s.io/cli-utils ``pkg/kstatus/status``, used by Flux and kpt) for a
custom resource: ``deletionTimestamp`` → Terminating; ``status.observedGeneration`` present and not equal to
``metadata.generation`` → InProgress; a ``Reconciling=True`` condition → InProgress; a ``Stalled=True``
condition → Failed; anything else (no status at all, too) → Current. (kstatus has type-specific rules only for
built-in kinds.)

``argocd_health(obj)``: runs docs/argocd-health.lua the way Argo CD does (the object as the global ``obj``; the
returned table's ``status`` and ``message``) in Lua 5.1, the dialect of Argo CD's interpreter (gopher-lua).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
ARGOCD_HEALTH = ROOT / "docs" / "argocd-health.lua"


def kstatus(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if metadata.get("deletionTimestamp"):
        return "Terminating"
    generation = metadata.get("generation")
    if generation is not None and "observedGeneration" in status and status["observedGeneration"] != generation:
        return "InProgress"
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Reconciling" and condition.get("status") == "True":
            return "InProgress"
        if condition.get("type") == "Stalled" and condition.get("status") == "True":
            return "Failed"
    return "Current"


def _to_lua(lua: Any, value: Any) -> Any:
    if isinstance(value, Mapping):
        return lua.table_from({k: _to_lua(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([_to_lua(lua, v) for v in value])
    return value


def argocd_health(obj: Mapping[str, Any], script: Path = ARGOCD_HEALTH) -> dict[str, str]:
    import lupa.lua51  # type: ignore[import-untyped]  # noqa: PLC0415 - only the tests that run the script need it

    lua = lupa.lua51.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = _to_lua(lua, obj)
    result = lua.execute(script.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in result.items()}
