"""Render the field reference of ``DiagnosticExecutionSpec`` (docs/spec.md) from the models themselves."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from diagnostic_operator.spec import DiagnosticExecutionSpec

HEADER = """# `DiagnosticExecution` spec reference

Generated from `operator/diagnostic_operator/spec.py` by `diagnostic-operator spec-reference`
(a test fails when this page and the models drift apart). Quantities (`memory`, `cpu`, `cpuLimit`,
`maxMemory`) are Kubernetes quantities, a string or an integer (`512Mi`, `4Gi`, `500m`, `1e3`, `2`); a
fraction is written quoted (`cpu: "0.5"`) or with a suffix (`500m`): an unquoted `0.5` is a YAML float, which
the cluster refuses. Durations are Go-style (`30s`, `10m`, `6h`, `1h30m`, `2d`).

| field | type | default | meaning |
|---|---|---|---|
"""


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in typing.get_args(annotation) if a is not type(None)]
        return " or ".join(names) + (" (optional)" if type(None) in typing.get_args(annotation) else "")
    if origin is list:
        return f"list of {_type_name(typing.get_args(annotation)[0])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    if isinstance(annotation, type) and hasattr(annotation, "__members__"):
        return "one of " + ", ".join(f"`{m.value}`" for m in annotation.__members__.values())
    if isinstance(annotation, type):
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
            annotation.__name__, annotation.__name__)
    return str(annotation)


def _default(info: FieldInfo) -> str:
    if info.default is not PydanticUndefined:
        value = info.default
        if value is None:
            return "—"
        if value == "":
            return '`""`'
        if isinstance(value, bool):
            return f"`{str(value).lower()}`"
        return f"`{getattr(value, 'value', value)}`"
    if info.default_factory is not None:
        return "(see fields)" if _model_of(info.annotation) else "`[]`"
    return "**required**"


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        path = f"{prefix}{key}"
        doc = (info.description or "").replace("|", "\\|")
        rows.append(f"| `{path}` | {_type_name(info.annotation)} | {_default(info)} | {doc} |")
        nested = _model_of(info.annotation)
        if nested is not None:
            rows.extend(_rows(nested, f"{path}." if typing.get_origin(info.annotation) is not list
                              else f"{path}[]."))
    return rows


def render() -> str:
    return HEADER + "\n".join(_rows(DiagnosticExecutionSpec, "spec.")) + "\n"
