"""From one Climate-REF execution to one DiagnosticExecution manifest: pure functions, no I/O.

Climate-REF's objects are reduced to ``ExecutionFacts`` by ``facts_of`` (in ``definitions.py``), so the
decisions here are table-tested without a database or a provider.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from diagnostic_operator.spec import FULL_API_VERSION, KIND, DiagnosticExecution, inside

from . import exit_codes
from .settings import ExecutorSettings, Sizing

LABEL_EXECUTION_ID = "climate-ref.org/execution-id"
LABEL_PROVIDER = "climate-ref.org/provider"
LABEL_DIAGNOSTIC = "climate-ref.org/diagnostic"
ANNOTATION_SLUG = "climate-ref.org/execution-slug"
#: Set on a DiagnosticExecution once its outcome is in Climate-REF's database (see ``collect``).
ANNOTATION_COLLECTED = "climate-ref.org/collected"
MODULE = "diagnostic_operator_climate_ref.run"
GROUP_KEY_MAX = 253
NAME_MAX = 63


@dataclass(frozen=True)
class ExecutionFacts:
    """What the manifest needs from a definition and its ``Execution`` row."""

    execution_id: int
    provider: str
    slug: str
    version: str
    key: str
    dataset_hash: str
    output_directory: PurePosixPath


def sidecar_paths(output_directory: PurePosixPath) -> tuple[PurePosixPath, PurePosixPath]:
    """Where the serialised definition and result live: beside the output folder, which
    ``execute_locally`` deletes and recreates, so they survive it (``<folder>.definition.json``)."""
    parent, name = output_directory.parent, output_directory.name
    return parent / f"{name}.definition.json", parent / f"{name}.result.json"


def _dns(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def resource_name(prefix: str, execution_id: int, slug: str) -> str:
    """``<prefix>-<id>-<slug>``, a DNS label of at most 63 characters; the id is always kept whole
    (it makes the name unique within one Climate-REF database), the slug is there to be read."""
    head = f"{prefix}-{execution_id}"
    tail = _dns(slug)
    name = f"{head}-{tail}" if tail else head
    return name[:NAME_MAX].rstrip("-")


def group_key(key: str) -> str:
    """Climate-REF's group key, or, when longer than the spec allows, its start and its SHA-256 (still
    unique, still recognisable)."""
    if len(key) <= GROUP_KEY_MAX:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[:GROUP_KEY_MAX - len(digest) - 1]}#{digest}"


def _volumes(facts: ExecutionFacts, settings: ExecutorSettings) -> list[dict[str, Any]]:
    scratch = settings.scratch_volume
    if not inside(str(facts.output_directory), scratch.path):
        raise ValueError(f"the output folder {facts.output_directory} is not inside the scratch volume "
                         f"{scratch.name!r} at {scratch.path}")
    mounts = [{"name": v.name, "mountPath": v.path, "readOnly": True} for v in settings.data_volumes]
    mounts.append({"name": scratch.name, "mountPath": scratch.path})
    return mounts


def build_manifest(facts: ExecutionFacts, settings: ExecutorSettings, sizing: Sizing | None = None) -> dict[str, Any]:
    """The DiagnosticExecution for one execution, validated by the operator's own model. ``sizing``: its
    starting resources (sizing.py); by default the diagnostic's explicit setting or the default."""
    definition_path, _ = sidecar_paths(facts.output_directory)
    if sizing is None:
        sizing = settings.diagnostics.get(f"{facts.provider}/{facts.slug}", settings.sizing)
    retry = settings.retry
    retry_spec: dict[str, Any] = {
        "maxAttempts": retry.max_attempts,
        "memoryGrowth": retry.memory_growth,
        "maxMemory": retry.max_memory,
        "wallClockGrowth": retry.wall_clock_growth,
        "infrastructureRetries": retry.infrastructure_retries,
        "retryableExitCodes": list(exit_codes.RETRYABLE),
    }
    if retry.max_wall_clock is not None:
        retry_spec["maxWallClock"] = retry.max_wall_clock
    manifest: dict[str, Any] = {
        "apiVersion": FULL_API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": resource_name(settings.name_prefix, facts.execution_id, facts.slug),
            "namespace": settings.namespace,
            "labels": {
                LABEL_EXECUTION_ID: str(facts.execution_id),
                LABEL_PROVIDER: _dns(facts.provider)[:63],
                LABEL_DIAGNOSTIC: _dns(facts.slug)[:63],
            },
            "annotations": {ANNOTATION_SLUG: f"{facts.provider}/{facts.slug}/{facts.key}"},
        },
        "spec": {
            "diagnostic": {"provider": facts.provider, "slug": facts.slug, "version": facts.version},
            "groupKey": group_key(facts.key),
            "datasetHash": facts.dataset_hash,
            "image": settings.image_for(facts.provider),
            "command": [settings.python, "-m", MODULE, str(definition_path)],
            "env": [{"name": k, "value": v} for k, v in sorted(settings.env.items())],
            "envSources": list(settings.env_sources),
            "volumes": _volumes(facts, settings),
            "resources": {"memory": sizing.memory, "cpu": sizing.cpu, "wallClock": sizing.wall_clock},
            "retry": retry_spec,
            "results": {"directory": str(facts.output_directory), "compat": "climate-ref"},
        },
    }
    DiagnosticExecution.model_validate(manifest)
    return manifest
