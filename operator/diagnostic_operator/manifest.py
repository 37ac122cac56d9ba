"""Read ``DiagnosticExecution`` manifests from YAML, with errors that name the field and the value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from diagnostic_operator.spec import DiagnosticExecution, camel


class ManifestError(ValueError):
    """A manifest that cannot be used. The message is one paragraph a user can act on."""


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("function-after", "function-before") or "[" in str(part):
            continue
        else:
            text += ("." if text else "") + camel(str(part))
    return text or "(document)"


def validation_problems(exc: ValidationError, root: str = "") -> list[str]:
    """One line per problem: ``field: what is wrong (got value)``, the field under ``root`` (e.g. ``spec``)."""
    lines = []
    for err in exc.errors(include_url=False):
        where = _location(tuple(err.get("loc", ())))
        if root:
            where = root if where == "(document)" else f"{root}.{where}"
        msg = str(err.get("msg", "invalid"))
        msg = msg.removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown field (not part of the DiagnosticExecution schema; check the spelling)"
        elif err.get("type") == "missing":
            msg = "required field is missing"
        value = err.get("input")
        shown = "" if err.get("type") == "missing" or isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"{where}: {msg}{shown}")
    return lines


def describe_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem: ``where: field: value -> what is wrong``."""
    lines = "\n".join(f"  {line}" for line in validation_problems(exc))
    return f"{source}: invalid DiagnosticExecution:\n" + lines


def parse_manifest(document: Any, source: str = "manifest") -> DiagnosticExecution:
    if not isinstance(document, dict):
        raise ManifestError(
            f"{source}: expected a YAML mapping with apiVersion, kind, metadata and spec, "
            f"got {type(document).__name__}"
        )
    try:
        return DiagnosticExecution.model_validate(document)
    except ValidationError as exc:
        raise ManifestError(describe_validation_error(exc, source)) from None


def load_manifests(path: Path) -> list[DiagnosticExecution]:
    """Every ``DiagnosticExecution`` in a (possibly multi-document) YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the manifest: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: the manifest is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ManifestError(f"{path}: malformed YAML{where}: {problem}") from None
    if not documents:
        raise ManifestError(f"{path}: the file holds no YAML document")
    return [parse_manifest(doc, f"{path} (document {i + 1})" if len(documents) > 1 else str(path))
            for i, doc in enumerate(documents)]
