"""Definitions and results on disk: Climate-REF's own wire form (``climate_ref_core.serialisation``, what
its Celery executor sends), as JSON, written atomically so a reader never sees half a file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from climate_ref_core.diagnostics import ExecutionDefinition, ExecutionResult
from climate_ref_core.serialisation import from_wire, to_wire


def write_atomic(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_definition(path: Path, definition: ExecutionDefinition) -> None:
    write_atomic(path, to_wire(definition))


def _read[T](path: Path, kind: type[T]) -> T:
    value = from_wire(json.loads(path.read_text()))
    if not isinstance(value, kind):
        raise ValueError(f"{path} holds a {type(value).__name__}, not an {kind.__name__}")
    return value


def read_definition(path: Path) -> ExecutionDefinition:
    return _read(path, ExecutionDefinition)


def write_result(path: Path, result: ExecutionResult) -> None:
    write_atomic(path, to_wire(result))


def read_result(path: Path) -> ExecutionResult:
    return _read(path, ExecutionResult)
